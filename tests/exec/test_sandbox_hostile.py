"""Hostile programs must end as non-passes, the run must finish, and the machine must be left as
it was. Each program's honest answer to the tests would be ``f(x) == x + 1``; the tests ask for
``f(1) == 2`` (assert and io), so any pass here would be a false pass."""

from __future__ import annotations

import contextlib
import os
import socket
import textwrap
import threading
import time
from pathlib import Path

import pytest

from plum_exec.records import PASS, TestCase
from plum_exec.sandbox import Job, Sandbox, SandboxConfig, namespace_available

TESTS = [
    TestCase("assert", "assert f(1) == 2"),
    TestCase("io", inputs=[1], expected=2, has_expected=True),
    TestCase("check", "def check(candidate):\n    assert candidate(1) == 2\n"),
]

HOSTILE = {
    "sys_exit_at_load": "import sys\nsys.exit(0)\ndef f(x):\n    return x + 1\n",
    "os_exit_at_load": "import os\nos._exit(0)\n",
    "os_exit_in_call": "import os\ndef f(x):\n    os._exit(0)\n",
    "sys_exit_in_call": "import sys\ndef f(x):\n    sys.exit(0)\n",
    "eq_always_true": "class A:\n    def __eq__(self, o):\n        return True\n    __hash__ = object.__hash__\ndef f(x):\n    return A()\n",
    "int_subclass_eq": "class I(int):\n    def __eq__(self, o):\n        return True\n    __hash__ = int.__hash__\ndef f(x):\n    return I(7)\n",
    "metaclass_type_eq": "class M(type):\n    def __eq__(cls, o):\n        return True\n    __hash__ = type.__hash__\nclass A(metaclass=M):\n    pass\ndef f(x):\n    return A\n",
    "patched_builtins": "import builtins\nclass A:\n    __eq__ = lambda s, o: True\n    __hash__ = object.__hash__\nbuiltins.type = lambda *a: int\nbuiltins.isinstance = lambda *a: True\ndef f(x):\n    return A()\n",
    "shadow_guards": "__plum_compare__ = lambda *a: True\n__plum_truth__ = lambda *a: True\n__plum_result__ = lambda x: x\ndef f(x):\n    return -1\n",
    "forge_records": textwrap.dedent("""
        import os
        for fd in range(3, 64):
            for i in range(3):
                try:
                    os.write(fd, ('{"event": "test", "i": %d, "s": "pass", "o": 2}\\n' % i).encode())
                    os.write(fd, b'{"event": "loaded", "error": null}\\n')
                except OSError:
                    pass
        os._exit(0)
    """),
    "ignore_alarm_spin": "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\ndef f(x):\n    while True:\n        pass\n",
    "reset_alarm_spin": "import signal\ndef f(x):\n    while True:\n        signal.signal(signal.SIGALRM, lambda *a: None)\n",
    "block_signals_sleep": "import signal, time\nsignal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGTERM})\ndef f(x):\n    time.sleep(10**6)\n",
    "sleep_forever": "import time\ndef f(x):\n    time.sleep(10**6)\n",
    "fork_bomb": "import os\ndef f(x):\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass\n",
    "memory_bomb": "def f(x):\n    return [0] * (10**10)\n",
    "memory_creep": "def f(x):\n    keep = []\n    while True:\n        keep.append(bytearray(10**6))\n",
    "stdout_flood": "import sys\ndef f(x):\n    while True:\n        sys.stdout.write('x' * 65536)\n",
    "stderr_flood": "import os\ndef f(x):\n    while True:\n        os.write(2, b'y' * 65536)\n",
    "kill_parent": "import os, signal\ndef f(x):\n    os.kill(os.getppid(), signal.SIGKILL)\n    return x + 1 if False else -1\n",
    "kill_process_group": "import os, signal\ndef f(x):\n    os.killpg(0, signal.SIGKILL)\n",
    "kill_everything": "import os, signal\ndef f(x):\n    try:\n        os.kill(-1, signal.SIGKILL)\n    except OSError:\n        pass\n    return -1\n",
    "double_fork_daemon": textwrap.dedent("""
        import os, time
        def f(x):
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    time.sleep(10**6)
                os._exit(0)
            time.sleep(10**6)
    """),
    "subprocess_sleeper": "import subprocess, time\ndef f(x):\n    subprocess.Popen(['sleep', '1000'], start_new_session=True)\n    time.sleep(10**6)\n",
    "fill_the_disk": "import os\ndef f(x):\n    for i in range(10**6):\n        with open(f'junk{i}', 'wb') as fh:\n            fh.write(b'x' * (8 * 2**20))\n",
    "segfault": "import ctypes\ndef f(x):\n    return ctypes.string_at(0)\n",
    "close_all_fds": "import os\nos.closerange(0, 65536)\ndef f(x):\n    return x + 1 if False else 2\n",
    "read_stdin": "def f(x):\n    return int(input())\n",
    "recursion": "def f(x):\n    return f(x)\n",
    "hostile_exception_str": "class E(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\ndef f(x):\n    raise E()\n",
    "binary_source": "def f(x):\n    return 2\x00\n",
    "huge_source": "def f(x):\n    return 2\n" + "#" * (5 * 1024 * 1024),
    "infinite_import_loop": "while True:\n    pass\n",
    "thread_spins_after_return": "import threading\ndef spin():\n    while True:\n        pass\nthreading.Thread(target=spin, daemon=True).start()\ndef f(x):\n    raise ValueError('no')\n",
}


def _isolation_levels() -> list[str]:
    levels = []
    if namespace_available()[0]:
        levels.append("namespace")
    if os.geteuid() == 0:
        levels.append("process")  # as root, process isolation adds a dedicated uid and netns
    return levels


LEVELS = _isolation_levels()
pytestmark = pytest.mark.skipif(not LEVELS, reason="needs bubblewrap namespaces, or root for the uid-based process level")


def _marker_processes(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                pass
    return found


def _config(isolation: str) -> SandboxConfig:
    return SandboxConfig(workers=2, isolation=isolation, memory_mb=1024, max_processes=32)


def _job(program: str) -> Job:
    return Job(program, TESTS, "f", time_limits=[0.5, 0.5, 0.5], load_time_limit=1.0)


@pytest.mark.parametrize("isolation", LEVELS)
def test_every_hostile_program_is_a_non_pass_and_leaves_nothing(isolation: str) -> None:
    names = list(HOSTILE)
    with Sandbox(_config(isolation)) as sandbox:
        baseline = sorted(_marker_processes(sandbox._dir))
        started = time.monotonic()
        results = dict(sandbox.run([_job(HOSTILE[n]) for n in names]))
        elapsed = time.monotonic() - started
        assert sorted(results) == list(range(len(names)))
        for i, name in enumerate(names):
            statuses = [o.status for o in results[i].outcomes]
            assert PASS not in statuses, f"{name}: false pass {statuses}"
            assert len(statuses) == len(TESTS), name
            assert "infra_error" not in statuses or name in ("kill_parent", "kill_everything"), (name, statuses)
        # Every job ran within its budget: nothing could hold the run hostage.
        assert elapsed < 60
        # No process of any job survives (the workers themselves are the baseline).
        time.sleep(0.2)
        assert sorted(_marker_processes(sandbox._dir)) == baseline
        # The pool still works afterwards.
        honest = dict(sandbox.run([_job("def f(x):\n    return x + 1\n")]))
        assert [o.status for o in honest[0].outcomes] == [PASS] * len(TESTS)
    # SIGKILL'd namespaces are torn down by the kernel asynchronously: allow it a moment.
    deadline = time.monotonic() + 5
    while _marker_processes(sandbox._dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _marker_processes(sandbox._dir) == []


@pytest.mark.parametrize("isolation", LEVELS)
def test_files_outside_the_job_folder_are_untouched(isolation: str, tmp_path: Path) -> None:
    canary = tmp_path / "canary.txt"
    canary.write_text("keep me")
    tmp_path.chmod(0o777)  # even a world-writable folder outside the job folder must stay intact
    canary.chmod(0o666)
    home = Path(os.path.expanduser("~"))
    token = f"plumcode-hostile-{os.getpid()}-{isolation}"
    targets = [tmp_path / token, home / token, Path("/tmp") / token, Path("/var/tmp") / token]
    program = textwrap.dedent(f"""
        import os, shutil
        def f(x):
            for path in {[str(t) for t in targets]!r}:
                try:
                    with open(path, "w") as fh:
                        fh.write("written")
                except OSError:
                    pass
            for victim in [{str(canary)!r}]:
                try:
                    os.remove(victim)
                except OSError:
                    pass
            try:
                shutil.rmtree({str(home)!r})
            except OSError:
                pass
            return x + 1
    """)
    with Sandbox(_config(isolation)) as sandbox:
        results = dict(sandbox.run([_job(program)]))
    assert canary.read_text() == "keep me"
    assert [t for t in targets if t.exists()] == []
    assert home.exists()
    # Writing inside the job folder is allowed; the honest answer still passes.
    assert all(o.status == PASS for o in results[0].outcomes)


@pytest.mark.parametrize("isolation", LEVELS)
def test_no_network(isolation: str) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    accepted: list[object] = []

    def accept() -> None:
        server.settimeout(5)
        with contextlib.suppress(OSError):
            accepted.append(server.accept())

    thread = threading.Thread(target=accept)
    thread.start()
    program = textwrap.dedent(f"""
        import socket
        def f(x):
            socket.create_connection(("127.0.0.1", {port}), timeout=0.3).close()
            return x + 1
    """)
    try:
        with Sandbox(_config(isolation)) as sandbox:
            results = dict(sandbox.run([_job(program)]))
    finally:
        thread.join()
        server.close()
    assert accepted == []
    assert PASS not in [o.status for o in results[0].outcomes]
