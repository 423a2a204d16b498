"""Where one sandbox job's time goes: a per-phase breakdown, so the next change attacks the right phase.

Each phase is timed with the engine's own code (``plum_exec.sandbox``), one at a time, in this
process or in children it forks (medians over ``--rounds``):

- ``fork``: a bare ``fork`` + ``_exit`` + ``waitpid`` of this process (the preloads imported and
  frozen as a worker has them): the floor of any job.
- ``child_setup``: what a worker's child does before the program runs (session, job folder,
  stdio files, rlimits, closing descriptors, and seccomp + Landlock at the process level), timed
  inside the child, next to ``confinement`` alone. Paid per job by the program's child; the
  judge's child pays it once per worker (it serves job after job).
- ``load_program``: setup + program compiled and run (HumanEval/0's canonical solution).
- ``round_trip``: one call from the judge into the program's process over the engine's pipes
  (``remote.Channel`` to ``harness.serve``), next to the same call made locally.
- ``comparison``: the pool turning a judge's records into outcomes (``pool._to_result``) for an
  io job of 100 tests.
- ``teardown``: killing and reaping what a job left, removing its folder (``Worker._finish``'s
  steps) as a process-level worker does it (this process is not PID 1 of a namespace, so the
  namespace level's ``kill(-1)`` is not what is timed); ``root_sweep`` is the ``kill(-1)`` as the
  job's uid and the sweep of world-writable folders, which a root worker does only where seccomp
  or Landlock is missing.
- ``result_writing``: redaction of a result and its JSON row.

End to end, through a real ``Sandbox`` (1 worker, so the numbers are per job, not per core):
an empty job, HumanEval/0's canonical solution, and a job whose one test makes 50 calls.

    python benchmarks/bench_engine_phases.py --isolation process --out benchmarks/results/engine_phases.json

The machine's load average is recorded before and after: on a loaded machine the absolute
numbers move, the proportions much less.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import itertools
import json
import os
import secrets
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from plum_exec.records import TestCase
from plum_exec.sandbox import Job, Sandbox, SandboxConfig, harness, paths, pool, worker
from plum_exec.sandbox.config import DEFAULT_PRELOAD
from plum_exec.sandbox.redaction import Redactor
from plum_exec.sandbox.remote import Channel, Clock, JudgeNamespace

PROGRAM = '''
def has_close_elements(numbers, threshold):
    for idx, elem in enumerate(numbers):
        for idx2, elem2 in enumerate(numbers):
            if idx != idx2 and abs(elem - elem2) < threshold:
                return True
    return False
'''
CHECK = '''
def check(candidate):
    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True
    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05) == False
    assert candidate([1.0, 2.0, 5.9, 4.0, 5.0], 0.95) == True
    assert candidate([1.0, 2.0, 5.9, 4.0, 5.0], 0.8) == False
    assert candidate([1.0, 2.0, 3.0, 4.0, 5.0, 2.0], 0.1) == True
    assert candidate([1.1, 2.2, 3.1, 4.1, 5.1], 1.0) == True
    assert candidate([1.1, 2.2, 3.1, 4.1, 5.1], 0.5) == False
'''
CALLS_50 = "def check(candidate):\n    for i in range(50):\n        assert candidate([1.0, 2.0 + i], 0.5) == False\n"


def median_us(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1e6, 1)


def timed_in_child(body: Any, rounds: int) -> dict[str, float]:
    """Median microseconds of ``body()`` measured inside a fresh fork, and of the whole fork +
    exit + wait measured outside."""
    inside, outside = [], []
    for _ in range(rounds):
        read_fd, write_fd = os.pipe()
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            began = time.perf_counter()
            body()
            os.write(write_fd, repr(time.perf_counter() - began).encode())
            os._exit(0)
        os.close(write_fd)
        data = os.read(read_fd, 64)
        os.waitpid(pid, 0)
        outside.append(time.perf_counter() - started)
        os.close(read_fd)
        inside.append(float(data))
    return {"inside_us": median_us(inside), "fork_exit_wait_us": median_us(outside)}


def make_worker(isolation: str, role: str) -> worker.Worker:
    """A worker as the pool configures one (process level: confined), in this process."""
    workdir = tempfile.mkdtemp(prefix="plumcode-phases-")
    os.chmod(workdir, 0o711)
    needed, hidden = paths.interpreter_paths(), paths.hidden_paths()
    confine = isolation == "process"
    left, _right = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    settings = {
        "role": role, "uid": 100_000 + os.getpid() % 1000, "workdir": workdir, "channel": os.dup(left.fileno()),
        "max_processes": 64, "memory_mb": 4096, "max_file_mb": 16, "max_open_files": 256, "output_limit": 4096,
        "confine": confine, "hidden": hidden if confine else [], "needed": needed if confine else [],
    }
    return worker.Worker(settings)


def child_setup(w: worker.Worker, rounds: int) -> dict[str, Any]:
    """The worker's own child set-up (``Worker._child``) up to the body, timed inside the child."""
    job = {"wall_clock": 10.0}
    inside, outside = [], []
    for _ in range(rounds):
        read_fd, write_fd = os.pipe()
        jobdir = os.path.join(w.workdir, f"job-{secrets.token_hex(6)}")
        os.mkdir(jobdir, 0o700)
        if w.is_root:
            os.chown(jobdir, w.uid, w.uid)
        confined_r, confined_w = os.pipe()
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            began = time.perf_counter()

            def report(_job: Any, fd: int, began: float = began) -> None:
                os.write(fd, repr(time.perf_counter() - began).encode())

            w._child(job, jobdir, [write_fd], report, confined_w)
        os.close(confined_w)
        data = os.read(read_fd, 64)
        os.waitpid(pid, 0)
        outside.append(time.perf_counter() - started)
        inside.append(float(data))
        for fd in (read_fd, write_fd, confined_r):
            os.close(fd)
        worker._remove_tree(jobdir)
    return {"inside_us": median_us(inside), "with_fork_and_wait_us": median_us(outside)}


def teardown(w: worker.Worker, rounds: int) -> dict[str, float]:
    """A job's end as ``Worker._finish`` does it: kill and reap leftovers, read the captured
    output, remove the job folder (and as root outside a PID namespace: sweep + kill as the uid)."""
    steps: dict[str, list[float]] = {"kill_and_reap": [], "read_output": [], "remove_folder": [], "root_sweep": []}
    for _ in range(rounds):
        jobdir = tempfile.mkdtemp(dir=w.workdir)
        for name in ("stdout", "stderr"):
            Path(jobdir, name).write_text("")
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        marks = [time.perf_counter()]
        w._kill_leftovers(pid)
        marks.append(time.perf_counter())
        for name in ("stdout", "stderr"):
            worker._head(os.path.join(jobdir, name), 4096)
        marks.append(time.perf_counter())
        worker._remove_tree(jobdir)
        marks.append(time.perf_counter())
        if w.is_root and not w.is_pid1:
            worker._scrub_files_of(w.uid)
            worker._kill_all_of_uid(w.uid)
        marks.append(time.perf_counter())
        for values, (before, after) in zip(steps.values(), itertools.pairwise(marks), strict=True):
            values.append(after - before)
    return {name: median_us(values) for name, values in steps.items()}


def load_program(rounds: int) -> float:
    job = {"load_time_limit": 10.0, "setup": "", "program": PROGRAM, "entry_point": "has_close_elements"}
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        harness._load(job, {"__name__": "__main__"})
        times.append(time.perf_counter() - started)
    return median_us(times)


def round_trip(calls: int) -> dict[str, float]:
    """Calls from a judge (this process) into ``harness.serve`` in a forked child."""
    requests_r, requests_w = os.pipe()
    replies_r, replies_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(requests_w)
        os.close(replies_r)
        harness.serve({"load_time_limit": 10.0, "setup": "", "program": PROGRAM, "entry_point": "has_close_elements"}, requests_r, replies_w)
        os._exit(0)
    os.close(requests_r)
    os.close(replies_w)
    for fd in (requests_w, replies_r):
        os.set_blocking(fd, False)
    clock = Clock()
    channel = Channel(requests_w, replies_r, clock)
    with clock.limit(10.0):
        _, entry = channel.await_loaded()
    namespace = JudgeNamespace(channel, "has_close_elements", entry)
    candidate = namespace.entry()
    times = []
    with clock.limit(60.0):
        for _ in range(calls):
            started = time.perf_counter()
            candidate([1.0, 2.0, 3.9], 0.3)
            times.append(time.perf_counter() - started)
    os.close(requests_w)
    os.waitpid(pid, 0)
    os.close(replies_r)
    local: dict[str, Any] = {}
    exec(PROGRAM, local)
    started = time.perf_counter()
    for _ in range(calls):
        local["has_close_elements"]([1.0, 2.0, 3.9], 0.3)
    return {"remote_us": median_us(times), "local_us": round((time.perf_counter() - started) / calls * 1e6, 2)}


def comparison(rounds: int) -> float:
    tests = [TestCase(kind="io", inputs=[i], expected=i * 2) for i in range(100)]
    job = Job(program="", tests=tests, entry_point="f")
    judged = {"records": [{"event": "loaded", "error": None}, *({"event": "test", "i": i, "s": "pass", "t": 0.0, "o": i * 2} for i in range(100))], "timed_out": False}
    program = {"timed_out": False, "exit_code": 0, "stdout": "", "stderr": "", "duration": 0.01}
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        pool._to_result(job, judged, program)
        times.append(time.perf_counter() - started)
    return median_us(times)


def result_writing(rounds: int) -> float:
    from plum_exec.evaluation import _sample_result
    from plum_exec.problems import load_benchmark
    from plum_exec.records import Sample

    problem = load_benchmark("humaneval")["HumanEval/0"]
    sample = Sample(task_id="HumanEval/0", sample_id=0, solution=PROGRAM)
    redactor = Redactor.from_environment()
    from plum_exec.records import PASS, TestOutcome
    from plum_exec.sandbox.config import JobResult

    result = JobResult([TestOutcome(PASS, 0.001)] * len(problem.tests), [None] * len(problem.tests))
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        row = _sample_result(problem, sample, redactor.result(result)).to_dict()
        json.dumps(row, ensure_ascii=False)
        times.append(time.perf_counter() - started)
    return median_us(times)


def end_to_end(isolation: str, jobs: int) -> dict[str, float]:
    """Milliseconds per job through a real Sandbox with one worker pair."""
    shapes = {
        "empty_job": Job(program="", tests=[]),
        "humaneval_0": Job(program=PROGRAM, tests=[TestCase(kind="check", code=CHECK)], entry_point="has_close_elements"),
        "one_test_50_calls": Job(program=PROGRAM, tests=[TestCase(kind="check", code=CALLS_50)], entry_point="has_close_elements"),
    }
    report = {}
    with Sandbox(SandboxConfig(workers=1, isolation=isolation)) as sandbox:
        report["level"] = sandbox.level
        for name, job in shapes.items():
            list(sandbox.run([job] * 5))  # warm: the judge worker compiles the test once
            started = time.perf_counter()
            results = [r for _, r in sandbox.run([job] * jobs)]
            report[f"{name}_ms"] = round((time.perf_counter() - started) / jobs * 1e3, 2)
            assert all(r.passed for r in results), (name, results[0])
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--isolation", choices=["process", "namespace"], default="process")
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=300, help="jobs per end-to-end shape")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    report: dict[str, Any] = {"isolation": args.isolation, "cpus": os.cpu_count(), "uid": os.geteuid(), "load_before": os.getloadavg()}
    report["end_to_end"] = end_to_end(args.isolation, args.jobs)
    for module in DEFAULT_PRELOAD:  # as a worker has them before it forks
        importlib.import_module(module)
    gc.collect()
    gc.freeze()
    judge_side = make_worker(args.isolation, "judge")
    report["phases_us"] = {
        "fork": timed_in_child(lambda: None, args.rounds)["fork_exit_wait_us"],
        "child_setup": child_setup(judge_side, args.rounds),
        "confinement": timed_in_child(lambda: judge_side.confinement.apply(judge_side.workdir), args.rounds)["inside_us"]
        if judge_side.confinement else 0.0,
        "load_program": load_program(args.rounds),
        "round_trip": round_trip(args.rounds),
        "comparison_100_io_tests": comparison(args.rounds),
        # A namespace worker is PID 1 and ends a job with kill(-1): not something this process can time.
        "teardown": teardown(judge_side, args.rounds) if args.isolation == "process" else "see --isolation process",
        "result_writing": result_writing(args.rounds),
    }
    worker._remove_tree(judge_side.workdir)
    report["load_after"] = os.getloadavg()
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
