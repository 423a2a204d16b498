"""Settings and records of the execution engine (immutable, validated once, like vLLM's SamplingParams)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

from plum_exec.records import TestCase, TestOutcome

Isolation = Literal["auto", "process", "namespace"]
MAX_PROGRAM_BYTES = 4 * 1024 * 1024
# Beyond the load and test limits: the judge waits a little past a limit for the program's own
# timeout reply (remote.STUCK_MARGIN), and imports the modules tests use from the program.
JUDGE_MARGIN = 2.0
LCB_KINDS = ("stdio", "functional")
# How an outcome says its test needs the program's own code to be judged (an ``infra_error`` of
# the test, not of the sandbox): testgen rejects such a test alone.
UNJUDGEABLE = "the test cannot be judged outside the program"  # lcb_child.KINDS, without importing the child's module here

# Imported once per worker before any fork, so candidates pay nothing for them. numpy is left
# out: its 11 MB would make every fork of every job ~0.3 ms slower (fork time grows ~13 us per
# resident MB here), while few benchmark programs import it (none of gpt-3.5's MBPP+ samples);
# add it to ``preload`` for numpy-heavy problem sets.
DEFAULT_PRELOAD = (
    "math", "re", "string", "collections", "itertools", "functools", "heapq", "bisect", "typing",
    "operator", "random", "statistics", "decimal", "fractions", "datetime", "copy", "json",
    "hashlib",
)


@dataclass(frozen=True)
class SandboxConfig:
    """How candidate programs are isolated and limited.

    Parameters:
        workers: parallel pre-started workers (default: CPU cores). Results do not depend on it.
        isolation: ``namespace`` (bubblewrap: PID, network, mount namespaces; read-only file
            system outside the job folder), ``process`` (own session, rlimits, wall clock, a
            dedicated uid when started as root), or ``auto`` (namespace when available).
        memory_mb: address-space limit of a candidate (RLIMIT_AS).
        max_processes: processes a candidate may create (RLIMIT_NPROC, counted per uid).
        max_file_mb: largest file a candidate may write (RLIMIT_FSIZE), stdout/stderr included.
        max_open_files: RLIMIT_NOFILE.
        output_limit: bytes of stdout/stderr kept per job.
        grace: seconds added to a job's time budget before the wall clock kills it.
        preload: modules each worker imports once before forking candidates.
    """

    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    isolation: Isolation = "auto"
    memory_mb: int = 4096
    max_processes: int = 64
    max_file_mb: int = 16
    max_open_files: int = 256
    output_limit: int = 4096
    grace: float = 1.0
    preload: tuple[str, ...] = DEFAULT_PRELOAD

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.isolation not in ("auto", "process", "namespace"):
            raise ValueError(f"isolation must be auto, process or namespace, got {self.isolation!r}")
        for name in ("memory_mb", "max_processes", "max_file_mb", "max_open_files"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")


@dataclass(frozen=True)
class Job:
    """One program against an ordered list of tests, in one sandboxed process.

    ``stop_after_timeout``: once a test times out, the rest are reported as timeouts without
    running (a verdict needs only one failure; per-test verdicts want it off).
    """

    program: str
    tests: list[TestCase]
    entry_point: str | None = None
    setup: str = ""
    time_limits: list[float] | None = None
    atol: float = 0.0
    load_time_limit: float = 10.0
    stop_after_timeout: bool = False

    def limits(self) -> list[float]:
        if self.time_limits is None:
            return [1.0] * len(self.tests)
        if len(self.time_limits) != len(self.tests):
            raise ValueError("time_limits must have one entry per test")
        return list(self.time_limits)

    def budget(self) -> float:
        """Seconds the whole job may take before the wall clock kills it (grace excluded): the
        load and test limits, plus the judge's margin (``JUDGE_MARGIN``)."""
        return self.load_time_limit + sum(self.limits()) + JUDGE_MARGIN

    def program_message(self, job_id: str, grace: float) -> dict[str, Any]:
        """What the program's worker receives: no test code, no inputs, no expected values."""
        return {
            "id": job_id,
            "program": self.program,
            "setup": self.setup,
            "entry_point": self.entry_point,
            "load_time_limit": self.load_time_limit,
            "wall_clock": self.budget() + grace,
            # LiveCodeBench problems load the program as its grader does (all tests of one kind).
            "lcb": self.tests[0].kind if self.tests and self.tests[0].kind in LCB_KINDS else None,
        }

    def judge_message(self, job_id: str, grace: float) -> dict[str, Any]:
        """What the judge's worker receives (tests as dicts; expected values never leave the parent)."""
        return {
            "id": job_id,
            "setup": self.setup,
            "entry_point": self.entry_point,
            "load_time_limit": self.load_time_limit,
            "time_limits": self.limits(),
            "stop_after_timeout": self.stop_after_timeout,
            "wall_clock": self.budget() + grace,
            "tests": [
                {"kind": t.kind, "code": t.code, "inputs": t.inputs, "oracle": t.oracle} for t in self.tests
            ],
        }


@dataclass
class JobResult:
    """Per-test outcomes (one per test, in order) and, for io tests, the returned values."""

    outcomes: list[TestOutcome]
    outputs: list[Any]
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0

    @property
    def passed(self) -> bool:
        return all(o.status == "pass" for o in self.outcomes)
