"""The pool of sandbox workers: dispatch jobs, turn the judge's records into outcomes, survive faults."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import re
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
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
MESSAGE_LIMIT = 500  # characters of a test's message kept (the judge cuts too)
STDIO_COUNT_FROM = 1 << 20  # characters of stdout from which tokens are counted before comparing
_TOKEN = re.compile(r"\S+")
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


def process_confinement_here() -> tuple[int, bool]:
    """(Landlock ABI, seccomp available): what the process level would confine with here."""
    return confinement.landlock_abi(), confinement.seccomp_unavailable_reason() is None


def describe_level(isolation: str, landlock_abi: int = 0, seccomp: bool = False) -> str:
    """The level with each mechanism in force: ``namespace (bubblewrap)``,
    ``process + seccomp + landlock (ABI 7)``, ``process (dedicated uid) + seccomp``, ..."""
    if isolation == "namespace":
        return "namespace (bubblewrap)"
    base = "process (dedicated uid)" if os.geteuid() == 0 else "process"
    return " + ".join([base, *confinement.describe(landlock_abi, seccomp)])


def process_level_gaps(landlock_abi: int, seccomp: bool) -> list[str]:
    return confinement.uncontained(landlock_abi, seccomp, os.geteuid() == 0)


@dataclass
class _Busy:
    index: int
    job: Job
    deadline: float
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)  # by role, as they arrive


class _WorkerHandle:
    def __init__(self, proc: subprocess.Popen[bytes], role: str):
        self.proc = proc
        self.role = role
        assert proc.stdin is not None and proc.stdout is not None
        self.stdin = proc.stdin
        self.stdout = proc.stdout

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()
        for stream in (self.stdin, self.stdout):
            with contextlib.suppress(OSError):
                stream.close()


class _Slot:
    """A program worker and a judge worker, joined by a Unix socket: one job at a time."""

    def __init__(self, program: _WorkerHandle, judge: _WorkerHandle):
        self.program = program
        self.judge = judge
        self.busy: _Busy | None = None

    @property
    def workers(self) -> tuple[_WorkerHandle, _WorkerHandle]:
        return self.program, self.judge

    def kill(self) -> None:
        for worker in self.workers:
            worker.kill()


class Sandbox:
    """Pre-started worker pairs that run jobs in isolated, forked children. Use as a context manager."""

    def __init__(self, config: SandboxConfig | None = None):
        self.config = config or SandboxConfig()
        self.isolation = resolve_isolation(self.config.isolation)
        # What the workers confine each child with (process level), as they report it.
        self.landlock_abi, self.seccomp = 0, False
        self._redactor = Redactor.from_environment()
        self._dir = tempfile.mkdtemp(prefix="plumcode-sandbox-")
        os.chmod(self._dir, 0o711)  # a dedicated job uid must be able to enter its job folder
        self._selector = selectors.DefaultSelector()
        self._slots: list[_Slot] = []
        try:
            self._slots = [self._start_slot(i) for i in range(self.config.workers)]
            for slot in self._slots:
                self._await_ready(slot)
        except BaseException:
            self.close()
            raise
        log.info("sandbox: %s, %d workers", self.level, self.config.workers)
        gaps = process_level_gaps(self.landlock_abi, self.seccomp) if self.isolation == "process" else []
        if gaps:
            log.warning(
                "sandbox: %s does not contain: %s. Namespace isolation contains all of it: install "
                "bubblewrap and allow unprivileged user namespaces (or run as root).", self.level, "; ".join(gaps),
            )

    @property
    def level(self) -> str:
        """The isolation level with each mechanism in force, for logs and results' metadata."""
        return describe_level(self.isolation, self.landlock_abi, self.seccomp)

    # -- lifecycle -------------------------------------------------------------------------
    def _start_slot(self, index: int) -> _Slot:
        program_end, judge_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with program_end, judge_end:
            program = self._start_worker(index, "program", program_end.fileno())
            try:
                judge = self._start_worker(index, "judge", judge_end.fileno())
            except BaseException:
                program.kill()
                raise
        return _Slot(program, judge)

    def _start_worker(self, index: int, role: str, channel: int) -> _WorkerHandle:
        uid = 100_000 + (os.getpid() * 64 + index) % 4_000_000
        settings = {
            "index": index,
            "role": role,
            "channel": channel,
            # The judge's uid differs from the program's: a program cannot signal or trace it.
            "uid": uid if role == "program" else uid + 4_000_000,
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
        # -P: the folder it starts in is not on its path (a job's files must never be importable
        # by a worker or the judge).
        command = [sys.executable, "-P", "-m", "plum_exec.sandbox.worker", json.dumps(settings)]
        if self.isolation == "namespace":
            command = [*bubblewrap_command(self._dir), *command]
        proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True, env=worker_environment(self._dir, _package_root_path()), cwd=self._dir,
            pass_fds=(channel,),
        )
        return _WorkerHandle(proc, role)

    def _process_level_settings(self) -> dict[str, Any]:
        """Hidden paths and what Python needs: mounts (as root) and Landlock rules of the process level."""
        if self.isolation != "process":
            return {"confine": False, "expose": {}, "hidden": [], "needed": []}
        needed, hidden = paths.interpreter_paths(), paths.hidden_paths()
        return {"confine": True, "expose": paths.blocked_ancestors(needed, hidden), "hidden": hidden, "needed": needed}

    def _await_ready(self, slot: _Slot) -> None:
        for worker in slot.workers:
            with selectors.DefaultSelector() as sel:
                sel.register(worker.stdout, selectors.EVENT_READ)
                if not sel.select(WORKER_START_TIMEOUT):
                    raise PlumError("sandbox: a worker did not start within 60 s")
            message = read_message(worker.stdout)
            ready = json.loads(message) if message is not None else {}
            if not ready.get("ready"):
                reason = f": {ready['error']}" if ready.get("error") else ""
                raise PlumError(f"sandbox: a worker failed to start ({self.isolation} isolation){reason}")
            confined = ready.get("confinement") or {}
            self.landlock_abi, self.seccomp = confined.get("landlock_abi", 0), confined.get("seccomp", False)
        for worker in slot.workers:
            self._selector.register(worker.stdout, selectors.EVENT_READ, (slot, worker.role))

    def _replace_slot(self, slot: _Slot) -> None:
        for worker in slot.workers:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(worker.stdout)
        slot.kill()
        position = self._slots.index(slot)
        for attempt in range(3):
            fresh = self._start_slot(position)
            try:
                self._await_ready(fresh)
                break
            except PlumError:
                fresh.kill()
                if attempt == 2:
                    raise
        self._slots[position] = fresh

    def close(self) -> None:
        for slot in self._slots:
            slot.kill()
        self._slots = []
        self._selector.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running ---------------------------------------------------------------------------
    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[int, JobResult]]:
        """Run jobs in parallel; yield ``(index, result)`` as each finishes.

        A worker that dies or hangs is replaced (with its partner) and its job retried once; a
        second fault yields ``infra_error`` outcomes (never counted as the program failing).
        """
        pending: deque[int] = deque(range(len(jobs)))
        attempts = [0] * len(jobs)
        while pending or any(s.busy for s in self._slots):
            for slot in self._slots:
                if slot.busy is None and pending:
                    index = pending.popleft()
                    early = _reject_early(jobs[index])
                    if early is not None:
                        yield index, early
                        continue
                    self._dispatch(slot, index, jobs[index])
            for slot, reports in self._collect():
                busy = slot.busy
                assert busy is not None
                slot.busy = None
                if reports is not None:
                    yield busy.index, self._redactor.result(_to_result(busy.job, reports["judge"], reports["program"]))
                    continue
                self._replace_slot(slot)
                attempts[busy.index] += 1
                if attempts[busy.index] < 2:
                    pending.appendleft(busy.index)
                else:
                    yield busy.index, _infra_result(busy.job, "sandbox worker failed twice on this job")

    def _dispatch(self, slot: _Slot, index: int, job: Job) -> None:
        deadline = time.monotonic() + job.budget() + self.config.grace + HUNG_WORKER_MARGIN
        slot.busy = _Busy(index, job, deadline)
        job_id, grace = secrets.token_hex(8), self.config.grace
        messages = {"judge": job.judge_message(job_id, grace), "program": job.program_message(job_id, grace)}
        for worker in slot.workers:
            with contextlib.suppress(OSError):  # a dead worker is noticed as EOF by _collect
                write_message(worker.stdin, pickle.dumps(messages[worker.role]))

    def _collect(self) -> list[tuple[_Slot, dict[str, dict[str, Any]] | None]]:
        """Wait for finished jobs (both reports in); a dead or hung worker reports ``None``."""
        busy = [s for s in self._slots if s.busy]
        if not busy:
            return []
        timeout = max(0.0, min(s.busy.deadline for s in busy if s.busy) - time.monotonic())
        done: list[tuple[_Slot, dict[str, dict[str, Any]] | None]] = []
        idle_and_dead: list[_Slot] = []
        for key, _ in self._selector.select(timeout):
            slot, role = key.data
            raw = read_message(key.fileobj)  # type: ignore[arg-type]
            if slot.busy is None and raw is None and slot not in idle_and_dead:
                idle_and_dead.append(slot)  # died between jobs: replace it, or it reads as EOF forever
            if slot.busy is None or any(slot is s for s, _ in done):
                continue
            if raw is None:
                done.append((slot, None))
                continue
            slot.busy.reports[role] = json.loads(raw)
            if len(slot.busy.reports) == 2:
                done.append((slot, slot.busy.reports))
        for slot in idle_and_dead:
            self._replace_slot(slot)
        now = time.monotonic()
        done += [(s, None) for s in busy if s.busy and s.busy.deadline < now and not any(s is d for d, _ in done)]
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


def _to_result(job: Job, judged: dict[str, Any], program: dict[str, Any]) -> JobResult:
    """Turn the judge's records into one outcome per test. Missing records are not passes: the
    program's process ended during that test, and ``program`` says how."""
    records = judged["records"]
    timed_out = judged["timed_out"] or program["timed_out"]
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
        message = loaded.get("error") if loaded else _exit_message(program)
        status = TIMEOUT if timed_out or (message or "").startswith("timeout") else ERROR
        outcomes = [TestOutcome(status, 0.0, str(message)[:500])] * len(job.tests)
    else:
        outcomes = _fill_missing(outcomes, tests, timed_out, program)
    return JobResult(outcomes, outputs, program["stdout"], program["stderr"], program["duration"])


def _judge(test: Any, record: dict[str, Any] | None, atol: float) -> tuple[TestOutcome, Any]:
    if record is None:
        return TestOutcome(ERROR), None  # placeholder, replaced by _fill_missing
    status, duration, message = record.get("s"), float(record.get("t", 0.0)), str(record.get("m", ""))[:MESSAGE_LIMIT]
    if status not in (PASS, FAIL, TIMEOUT, ERROR, INFRA_ERROR):
        return TestOutcome(FAIL, duration, "malformed record"), None
    if status == PASS and test.kind == "stdio" and type(record.get("o")) is str:
        wrong = _too_many_tokens(record["o"], test.expected)
        if wrong is not None:
            return TestOutcome(FAIL, duration, wrong), None
    if status == PASS and test.kind in lcb_judge.KINDS:
        return lcb_judge.judge_record(test.kind, test.expected, record, duration), None
    if status != PASS or test.kind != "io":
        return TestOutcome(status, duration, message), None
    try:
        output = values.decode(record.get("o"))
    except (ValueError, TypeError, AttributeError, LookupError, RecursionError):
        return TestOutcome(FAIL, duration, "unreadable output"), None
    if test.has_expected and not values.outputs_match(output, test.expected, atol, test.oracle, test.inputs):
        return TestOutcome(FAIL, duration, f"wrong output: {_short(output)}"), output
    return TestOutcome(PASS, duration), output


def _too_many_tokens(output: str, expected: Any) -> str | None:
    """LiveCodeBench compares stdout as Decimals token by token (~100 bytes each: a legal 16M
    characters of output would take ~1 GB here). A long output is counted first, in constant
    memory: a token count other than the expected output's cannot match, whatever the lines."""
    if len(output) <= STDIO_COUNT_FROM or type(expected) is not str or len(output) <= 4 * len(expected):
        return None
    got, want = sum(1 for _ in _TOKEN.finditer(output)), len(expected.split())
    return None if got == want else f"wrong answer: {got} output tokens, expected {want}"


def _fill_missing(
    outcomes: list[TestOutcome], tests: dict[int, dict[str, Any]], timed_out: bool, program: dict[str, Any]
) -> list[TestOutcome]:
    """Tests without a record: the one running when the process ended, and those never reached."""
    status = TIMEOUT if timed_out else ERROR
    message = "wall-clock limit reached" if timed_out else _exit_message(program)
    return [o if i in tests else TestOutcome(status, 0.0, message) for i, o in enumerate(outcomes)]


def _exit_message(report: dict[str, Any]) -> str:
    code = report.get("exit_code")
    if code is not None and code < 0:
        return f"process killed by signal {signal.Signals(-code).name if -code in signal.valid_signals() else -code} before finishing its tests"
    return f"process exited (code {code}) before finishing its tests"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."
