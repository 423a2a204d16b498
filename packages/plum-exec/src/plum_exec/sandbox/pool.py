"""The pool of sandbox workers: dispatch jobs, turn worker reports into verdicts, survive faults."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from plum_exec import lcb_judge
from plum_exec.errors import PlumError
from plum_exec.records import ERROR, FAIL, INFRA_ERROR, PASS, TIMEOUT, TestOutcome
from plum_exec.sandbox import confinement, paths, values
from plum_exec.sandbox.config import MAX_PROGRAM_BYTES, Job, JobResult, SandboxConfig
from plum_exec.sandbox.environment import worker_environment
from plum_exec.sandbox.protocol import read_message, write_message
from plum_exec.sandbox.redaction import Redactor

log = logging.getLogger("plum_exec.sandbox")
WORKER_START_TIMEOUT = 60.0
JOB_TMPFS_BYTES = 512 * 1024 * 1024
HUNG_WORKER_MARGIN = 30.0  # beyond a job's own deadline: the worker itself is stuck (infra fault)


def bubblewrap_command(bind_dir: str) -> list[str]:
    """bwrap arguments: new PID/net/IPC/UTS namespaces, read-only root with homes and credentials
    hidden, one writable tmpfs."""
    exposure = paths.bubblewrap_exposure_args(paths.blocked_ancestors(paths.interpreter_paths(), paths.hidden_paths()))
    return [
        "bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", *exposure,
        # Job folders live on a private, size-capped tmpfs: fast to create and remove (the host
        # disk may discard on every delete) and a program cannot fill the host's disk.
        "--perms", "0711", "--size", str(JOB_TMPFS_BYTES), "--tmpfs", bind_dir, "--unshare-pid", "--unshare-net", "--unshare-ipc",
        "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--as-pid-1",
        "--chdir", bind_dir,
    ]


@cache
def namespace_available() -> tuple[bool, str]:
    """Whether bubblewrap can create the namespaces here (tried once per process)."""
    if shutil.which("bwrap") is None:
        return False, "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    probe_dir = tempfile.mkdtemp(prefix="plumcode-probe-")
    try:
        proc = subprocess.run(
            [*bubblewrap_command(probe_dir), sys.executable, "-c", "import os; assert os.getpid() == 1"],
            capture_output=True, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bubblewrap failed to start: {exc}"
    finally:
        shutil.rmtree(probe_dir, ignore_errors=True)
    if proc.returncode != 0:
        reason = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["unknown error"]
        return False, f"bubblewrap cannot create namespaces here: {reason[0]}"
    return True, "bubblewrap"


def resolve_isolation(requested: str) -> str:
    if requested == "process":
        return "process"
    ok, reason = namespace_available()
    if ok:
        return "namespace"
    if requested == "namespace":
        raise PlumError(f"--isolation namespace is not available: {reason}")
    log.warning("sandbox: namespace isolation unavailable (%s); using process isolation", reason)
    return "process"


def process_mechanisms() -> list[str]:
    """What the process level adds on this machine (e.g. ``["seccomp", "landlock (ABI 7)"]``)."""
    return confinement.describe(confinement.landlock_abi(), confinement.seccomp_unavailable_reason() is None)


def describe_level(isolation: str, mechanisms: list[str]) -> str:
    """The level with each mechanism in force: ``namespace (bubblewrap)``,
    ``process + seccomp + landlock (ABI 7)``, ``process (dedicated uid) + seccomp``, ..."""
    if isolation == "namespace":
        return "namespace (bubblewrap)"
    base = "process (dedicated uid)" if os.geteuid() == 0 else "process"
    return " + ".join([base, *mechanisms])


def process_level_gaps(mechanisms: list[str]) -> list[str]:
    abi = next((int(m.split("ABI ")[1].rstrip(")")) for m in mechanisms if m.startswith("landlock")), 0)
    return confinement.uncontained(abi, "seccomp" in mechanisms, os.geteuid() == 0)


@dataclass
class _Busy:
    index: int
    job: Job
    deadline: float


class _WorkerHandle:
    def __init__(self, proc: subprocess.Popen[bytes]):
        self.proc = proc
        assert proc.stdin is not None and proc.stdout is not None
        self.stdin = proc.stdin
        self.stdout = proc.stdout
        self.busy: _Busy | None = None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()
        for stream in (self.stdin, self.stdout):
            with contextlib.suppress(OSError):
                stream.close()


class Sandbox:
    """Pre-started workers that run jobs in isolated, forked children. Use as a context manager."""

    def __init__(self, config: SandboxConfig | None = None):
        self.config = config or SandboxConfig()
        self.isolation = resolve_isolation(self.config.isolation)
        self.mechanisms: list[str] = []  # what the workers confine each child with (process level)
        self._redactor = Redactor.from_environment()
        self._dir = tempfile.mkdtemp(prefix="plumcode-sandbox-")
        os.chmod(self._dir, 0o711)  # a dedicated job uid must be able to enter its job folder
        self._selector = selectors.DefaultSelector()
        self._workers: list[_WorkerHandle] = []
        try:
            self._workers = [self._start_worker(i) for i in range(self.config.workers)]
            for worker in self._workers:
                self._await_ready(worker)
        except BaseException:
            self.close()
            raise
        log.info("sandbox: %s, %d workers", self.level, self.config.workers)
        gaps = process_level_gaps(self.mechanisms) if self.isolation == "process" else []
        if gaps:
            log.warning(
                "sandbox: %s does not contain: %s. Namespace isolation contains all of it: install "
                "bubblewrap and allow unprivileged user namespaces (or run as root).", self.level, "; ".join(gaps),
            )

    @property
    def level(self) -> str:
        """The isolation level with each mechanism in force, for logs and results' metadata."""
        return describe_level(self.isolation, self.mechanisms)

    # -- lifecycle -------------------------------------------------------------------------
    def _start_worker(self, index: int) -> _WorkerHandle:
        settings = {
            "index": index,
            "uid": 100_000 + (os.getpid() * 64 + index) % 4_000_000,
            "workdir": self._dir,
            "preload": list(self.config.preload),
            "memory_mb": self.config.memory_mb,
            "max_processes": self.config.max_processes,
            "max_file_mb": self.config.max_file_mb,
            "max_open_files": self.config.max_open_files,
            "output_limit": self.config.output_limit,
            "grace": self.config.grace,
            "tmpfs_bytes": JOB_TMPFS_BYTES,
            **self._process_level_settings(),
        }
        command = [sys.executable, "-m", "plum_exec.sandbox.worker", json.dumps(settings)]
        if self.isolation == "namespace":
            command = [*bubblewrap_command(self._dir), *command]
        proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True, env=worker_environment(self._dir, _package_root_path()), cwd=self._dir,
        )
        return _WorkerHandle(proc)

    def _process_level_settings(self) -> dict[str, Any]:
        """Hidden paths and what Python needs: mounts (as root) and Landlock rules of the process level."""
        if self.isolation != "process":
            return {"confine": False, "expose": {}, "hidden": [], "needed": []}
        needed, hidden = paths.interpreter_paths(), paths.hidden_paths()
        return {"confine": True, "expose": paths.blocked_ancestors(needed, hidden), "hidden": hidden, "needed": needed}

    def _await_ready(self, worker: _WorkerHandle) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(worker.stdout, selectors.EVENT_READ)
            if not sel.select(WORKER_START_TIMEOUT):
                raise PlumError("sandbox: a worker did not start within 60 s")
        message = read_message(worker.stdout)
        ready = json.loads(message) if message is not None else {}
        if not ready.get("ready"):
            reason = f": {ready['error']}" if ready.get("error") else ""
            raise PlumError(f"sandbox: a worker failed to start ({self.isolation} isolation){reason}")
        self.mechanisms = ready.get("confinement", [])
        self._selector.register(worker.stdout, selectors.EVENT_READ, worker)

    def _replace_worker(self, worker: _WorkerHandle) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(worker.stdout)
        worker.kill()
        position = self._workers.index(worker)
        for attempt in range(3):
            fresh = self._start_worker(position)
            try:
                self._await_ready(fresh)
                break
            except PlumError:
                fresh.kill()
                if attempt == 2:
                    raise
        self._workers[position] = fresh

    def close(self) -> None:
        for worker in self._workers:
            worker.kill()
        self._workers = []
        self._selector.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running ---------------------------------------------------------------------------
    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[int, JobResult]]:
        """Run jobs in parallel; yield ``(index, result)`` as each finishes.

        A worker that dies or hangs is replaced and its job retried once; a second fault yields
        ``infra_error`` outcomes (never counted as the program failing).
        """
        pending: deque[int] = deque(range(len(jobs)))
        attempts = [0] * len(jobs)
        while pending or any(w.busy for w in self._workers):
            for worker in self._workers:
                if worker.busy is None and pending:
                    index = pending.popleft()
                    early = _reject_early(jobs[index])
                    if early is not None:
                        yield index, early
                        continue
                    self._dispatch(worker, index, jobs[index])
            for worker, message in self._collect():
                busy = worker.busy
                assert busy is not None
                worker.busy = None
                if message is not None:
                    yield busy.index, self._redactor.result(_to_result(busy.job, message))
                    continue
                self._replace_worker(worker)
                attempts[busy.index] += 1
                if attempts[busy.index] < 2:
                    pending.appendleft(busy.index)
                else:
                    yield busy.index, _infra_result(busy.job, "sandbox worker failed twice on this job")

    def _dispatch(self, worker: _WorkerHandle, index: int, job: Job) -> None:
        deadline = time.monotonic() + job.budget() + self.config.grace + HUNG_WORKER_MARGIN
        worker.busy = _Busy(index, job, deadline)
        with contextlib.suppress(OSError):  # a dead worker is noticed as EOF by _collect
            write_message(worker.stdin, pickle.dumps(job.to_message()))

    def _collect(self) -> list[tuple[_WorkerHandle, dict[str, Any] | None]]:
        """Wait for finished jobs; a dead or hung worker reports ``None``."""
        busy = [w for w in self._workers if w.busy]
        if not busy:
            return []
        timeout = max(0.0, min(w.busy.deadline for w in busy if w.busy) - time.monotonic())
        done: list[tuple[_WorkerHandle, dict[str, Any] | None]] = []
        for key, _ in self._selector.select(timeout):
            worker: _WorkerHandle = key.data
            if worker.busy is None:
                continue
            raw = read_message(worker.stdout)
            done.append((worker, json.loads(raw) if raw is not None else None))
        now = time.monotonic()
        seen = {id(w) for w, _ in done}
        done += [(w, None) for w in busy if w.busy and w.busy.deadline < now and id(w) not in seen]
        return done


def _package_root_path() -> str:
    """Make ``plumcode`` importable in the worker even when run from a source checkout."""
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    existing = os.environ.get("PYTHONPATH")
    return here if not existing else f"{here}{os.pathsep}{existing}"


def _reject_early(job: Job) -> JobResult | None:
    """Programs the sandbox refuses to start (too large) fail every test without running."""
    if len(job.program.encode("utf-8", "surrogatepass")) <= MAX_PROGRAM_BYTES:
        return None
    outcome = TestOutcome(ERROR, 0.0, f"program larger than {MAX_PROGRAM_BYTES} bytes")
    return JobResult([outcome] * len(job.tests), [None] * len(job.tests))


def _infra_result(job: Job, message: str) -> JobResult:
    outcome = TestOutcome(INFRA_ERROR, 0.0, message)
    return JobResult([outcome] * len(job.tests), [None] * len(job.tests))


def _to_result(job: Job, report: dict[str, Any]) -> JobResult:
    """Turn the worker's records into one outcome per test. Missing records are not passes."""
    records = report["records"]
    loaded = next((r for r in records if r.get("event") == "loaded"), None)
    tests: dict[int, dict[str, Any]] = {}
    for record in records:
        index = record.get("i")
        if record.get("event") == "test" and type(index) is int and index not in tests:
            tests[index] = record
    outcomes: list[TestOutcome] = []
    outputs: list[Any] = []
    for i, test in enumerate(job.tests):
        outcome, output = _judge(test, tests.get(i), job.atol)
        outcomes.append(outcome)
        outputs.append(output)
    if loaded is None or loaded.get("error"):
        message = loaded.get("error") if loaded else _exit_message(report)
        status = TIMEOUT if report["timed_out"] or (message or "").startswith("timeout") else ERROR
        outcomes = [TestOutcome(status, 0.0, str(message)[:500])] * len(job.tests)
    else:
        outcomes = _fill_missing(outcomes, tests, report)
    return JobResult(outcomes, outputs, report["stdout"], report["stderr"], report["duration"])


def _judge(test: Any, record: dict[str, Any] | None, atol: float) -> tuple[TestOutcome, Any]:
    if record is None:
        return TestOutcome(ERROR), None  # placeholder, replaced by _fill_missing
    status, duration, message = record.get("s"), float(record.get("t", 0.0)), str(record.get("m", ""))
    if status not in (PASS, FAIL, TIMEOUT, ERROR):
        return TestOutcome(FAIL, duration, "malformed record"), None
    if status == PASS and test.kind in lcb_judge.KINDS:
        return lcb_judge.judge_record(test.kind, test.expected, record, duration), None
    if status != PASS or test.kind != "io":
        return TestOutcome(status, duration, message), None
    try:
        output = values.decode(record.get("o"))
    except (ValueError, TypeError, AttributeError):
        return TestOutcome(FAIL, duration, "unreadable output"), None
    if test.has_expected and not values.outputs_match(output, test.expected, atol, test.oracle, test.inputs):
        return TestOutcome(FAIL, duration, f"wrong output: {_short(output)}"), output
    return TestOutcome(PASS, duration), output


def _fill_missing(outcomes: list[TestOutcome], tests: dict[int, dict[str, Any]], report: dict[str, Any]) -> list[TestOutcome]:
    """Tests without a record: the one running when the process ended, and those never reached."""
    status = TIMEOUT if report["timed_out"] else ERROR
    message = "wall-clock limit reached" if report["timed_out"] else _exit_message(report)
    return [o if i in tests else TestOutcome(status, 0.0, message) for i, o in enumerate(outcomes)]


def _exit_message(report: dict[str, Any]) -> str:
    code = report.get("exit_code")
    if code is not None and code < 0:
        return f"process killed by signal {signal.Signals(-code).name if -code in signal.valid_signals() else -code} before finishing its tests"
    return f"process exited (code {code}) before finishing its tests"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."
