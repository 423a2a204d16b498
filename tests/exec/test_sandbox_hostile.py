"""The hostile suite: attacks (``hostile_programs``) end as non-passes, controls pass, the run
finishes, and nothing outside the job changes or leaks: no file, no network peer, no process
left, no secret value in the results.

Each run is a separate process (``hostile_programs.py``) started with planted secrets in its
environment, on its command line (``--api-key``), in a home folder (dotfiles, cloud credentials)
and in the Hub token file, as root and, through ``setpriv``, as the ordinary user 65534, at each
isolation level this machine offers.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hostile_programs import ATTACKS_ALLOWED_INFRA_ERROR, HOSTILE, SECRET_PREFIX, processes_with

from plum_exec.records import INFRA_ERROR, PASS
from plum_exec.sandbox import SandboxConfig, namespace_available
from plum_exec.sandbox.confinement import landlock_abi, seccomp_unavailable_reason

HERE = Path(__file__).resolve().parent
PLUM_EXEC_SRC = HERE.parents[1] / "packages" / "plum-exec" / "src"
NOBODY = 65534
SECRET_VARIABLES = ("OPENAI_API_KEY", "HF_TOKEN", "WANDB_API_KEY", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD")
DOTFILES = (
    ".bashrc", ".netrc", ".git-credentials", ".aws/credentials", ".config/gcloud/credentials.db", ".ssh/id_rsa",
    ".docker/config.json", ".kube/config", ".cache/huggingface/token",
)
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]


def _nobody_can_run_the_driver() -> bool:
    """The system interpreter runs the driver as 65534 (the test's own may live in /root)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None or not os.access("/usr/bin/python3", os.X_OK):
        return False
    probe = subprocess.run([*AS_NOBODY, "/usr/bin/python3", "-c", "import plum_exec.sandbox.pool"],
                           env={"PYTHONPATH": str(PLUM_EXEC_SRC), "PATH": os.environ.get("PATH", "")}, capture_output=True, cwd="/")
    return probe.returncode == 0


def _process_level_contains(root: bool) -> bool:
    """Root has a dedicated uid; an ordinary user needs seccomp and Landlock with signal scoping."""
    return root or (seccomp_unavailable_reason() is None and landlock_abi() >= 6)


def _runs() -> list[tuple[str, str]]:
    users = ["root" if os.geteuid() == 0 else "user", *(["nobody"] if _nobody_can_run_the_driver() else [])]
    runs = []
    for user in users:
        if namespace_available()[0]:
            runs.append((user, "namespace"))
        if _process_level_contains(user == "root"):
            runs.append((user, "process"))
    return runs


RUNS = _runs()
pytestmark = pytest.mark.skipif(not RUNS, reason="no isolation level that contains hostile programs here")

# For suites that run the same programs in this process (test_livecodebench's stdin variant).
__all__ = ["HOSTILE", "LEVELS", "_config", "_marker_processes"]
LEVELS = sorted({isolation for user, isolation in RUNS if user != "nobody"})
_marker_processes = processes_with


def _config(isolation: str) -> SandboxConfig:
    return SandboxConfig(workers=2, isolation=isolation, memory_mb=1024, max_processes=32)  # type: ignore[arg-type]


@dataclass
class Run:
    user: str
    isolation: str
    report: dict
    report_text: str
    secrets: list[str]
    home: Path
    home_before: dict[str, bytes]
    canary: Path


def _plant_home(home: Path, hf_home: Path) -> list[str]:
    """Dotfiles and credentials, each holding its own secret; returns the secrets."""
    planted = []
    for name in DOTFILES:
        path = home / name
        path.parent.mkdir(parents=True, exist_ok=True)
        value = f"{SECRET_PREFIX}{name.strip('.').replace('/', '-')}-{secrets.token_hex(8)}"
        path.write_text(f"secret = {value}\n")
        planted.append(value)
    hf_home.mkdir()
    value = f"{SECRET_PREFIX}hub-token-{secrets.token_hex(8)}"
    (hf_home / "token").write_text(value)
    return [*planted, value]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _open_to(folder: Path, owner: int | None) -> None:
    """World-traversable (so no permission bit hides anything from the job), owned by the user."""
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
        if owner is not None:
            os.chown(path, owner, owner)


def _driver_command(user: str, isolation: str, report: Path, home: Path, scratch: Path, base: Path, cli_secret: str) -> tuple[list[str], str]:
    args = [str(HERE / "hostile_programs.py"), isolation, str(report), str(home), str(scratch), "--api-key", cli_secret]
    if user != "nobody":
        return [sys.executable, *args], os.environ.get("PYTHONPATH", "")
    # pyseccomp is one pure-Python file: put a copy where the system interpreter finds it.
    spec = importlib.util.find_spec("pyseccomp")
    assert spec is not None and spec.origin is not None
    lib = base / "lib"
    lib.mkdir()
    shutil.copy(spec.origin, lib / "pyseccomp.py")
    return [*AS_NOBODY, "/usr/bin/python3", *args], f"{PLUM_EXEC_SRC}:{lib}"


@pytest.fixture(scope="module", params=RUNS, ids=[f"{user}-{isolation}" for user, isolation in RUNS])
def run(request: pytest.FixtureRequest) -> Iterator[Run]:
    user, isolation = request.param
    base = Path(tempfile.mkdtemp(prefix="plumcode-hostile-"))
    home, hf_home, scratch, out = base / "home", base / "hf", base / "scratch", base / "out"
    planted = _plant_home(home, hf_home)
    env_secrets = {name: f"{SECRET_PREFIX}{name.lower()}-{secrets.token_hex(8)}" for name in SECRET_VARIABLES}
    cli_secret = f"{SECRET_PREFIX}command-line-{secrets.token_hex(8)}"
    scratch.mkdir()
    canary = scratch / "canary.txt"
    canary.write_text("keep me")
    out.mkdir()
    _open_to(base, NOBODY if user == "nobody" else None)
    scratch.chmod(0o777)  # even a world-writable folder outside the job folder must stay intact
    canary.chmod(0o666)
    out.chmod(0o777)
    home_before = _snapshot(home)
    report_path = out / "report.json"
    command, pythonpath = _driver_command(user, isolation, report_path, home, scratch, base, cli_secret)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": pythonpath, "HOME": str(home), "HF_HOME": str(hf_home), **env_secrets}
    proc = subprocess.run(command, env=env, cwd="/", capture_output=True, text=True, timeout=600)
    try:
        assert proc.returncode == 0, f"the run did not finish (exit {proc.returncode}): {proc.stderr[-2000:]}"
        text = report_path.read_text()
        report = json.loads(text)
        yield Run(user, isolation, report, text, [*planted, *env_secrets.values(), cli_secret], home, home_before, canary)
    finally:
        for target in json.loads(report_path.read_text())["targets"] if report_path.exists() else []:
            Path(target).unlink(missing_ok=True)
        shutil.rmtree(base, ignore_errors=True)


def test_every_sample_gets_a_verdict_and_the_run_finishes_in_time(run: Run) -> None:
    report = run.report
    assert sorted(report["results"]) == sorted([*report["attacks"], *report["controls"]])
    for name, result in report["results"].items():
        assert len(result["statuses"]) == 3, name
        if name not in ATTACKS_ALLOWED_INFRA_ERROR:
            assert INFRA_ERROR not in result["statuses"], (name, result["statuses"], result["messages"])
    assert report["elapsed"] < 120
    assert report["honest_after"] == [PASS] * 3  # the pool still works afterwards


def test_every_attack_is_a_non_pass(run: Run) -> None:
    passed = {name: run.report["results"][name]["statuses"] for name in run.report["attacks"] if PASS in run.report["results"][name]["statuses"]}
    assert passed == {}


def test_every_control_passes(run: Run) -> None:
    results = run.report["results"]
    failed = {name: results[name]["messages"] for name in run.report["controls"] if results[name]["statuses"] != [PASS] * 3}
    assert failed == {}


def test_no_secret_value_anywhere_in_the_results(run: Run) -> None:
    assert [s for s in run.secrets if s in run.report_text] == []
    assert SECRET_PREFIX not in run.report_text


def test_files_outside_the_job_folder_are_untouched(run: Run) -> None:
    assert run.canary.read_text() == "keep me"
    assert [t for t in run.report["targets"] if Path(t).exists()] == []
    assert _snapshot(run.home) == run.home_before


def test_nothing_reached_the_network(run: Run) -> None:
    assert run.report["reached"] == {"tcp": 0, "udp": 0, "abstract_unix": 0}


def test_no_process_is_left(run: Run) -> None:
    assert run.report["job_processes_left_while_open"] == []
    assert run.report["processes_left_after_close"] == []


def test_the_level_names_each_mechanism_in_force(run: Run) -> None:
    level = run.report["level"]
    if run.isolation == "namespace":
        assert level == "namespace (bubblewrap)"
    else:
        assert level.startswith("process") and "seccomp" in level and "landlock (ABI" in level, level
