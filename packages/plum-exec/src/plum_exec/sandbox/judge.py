"""The judge: runs a job's tests in a process that never runs the program's code.

It is forked by a judge worker, a process the program's process cannot reach (another process
tree, another uid or PID namespace; not dumpable), and talks to the program only through two
pipes (``remote.Channel``). The judge drives: it sends each call a test makes, in order, and
waits for the value. Verdicts exist only here; the program's process can send nothing but
values, so no record it writes can say "pass" and no test runs unless the judge runs it.

Test forms, all split at the calls into the program (see ``remote``):
- ``io``: the judge calls ``entry_point(*inputs)``; the output goes, as the program encoded it,
  to the pool, which compares it with the expected value (never sent anywhere).
- ``assert``: the statements run here; each name the program defines is a stand-in whose calls
  run in the program's process, so the rest of the expression is evaluated here.
- ``check``: ``check(candidate)`` runs here with ``candidate`` such a stand-in.

Records, one JSON line each to the worker: ``{"event": "loaded", "error": ...}`` first, then
``{"event": "test", "i": index, "s": status, "m": message, "t": seconds, "o": output}``. No
record for a test means the program's process ended during it: the pool reports how.
"""

from __future__ import annotations

import ast
import json
import os
import pickle
import socket
import time
import types
from typing import Any

from plum_exec.sandbox import values
from plum_exec.sandbox.config import LCB_KINDS, UNJUDGEABLE
from plum_exec.sandbox.harness import describe
from plum_exec.sandbox.protocol import FrameReader
from plum_exec.sandbox.remote import (
    Channel,
    Clock,
    JudgeNamespace,
    ProgramGarbage,
    ProgramGone,
    ProgramStuck,
    TestTimeout,
    Unjudgeable,
)

MESSAGE_LIMIT = 500
NOT_RUN = {
    ProgramStuck: ("timeout", "the program did not stop at its time limit"),
    ProgramGarbage: ("error", "the program's replies were unreadable"),
}


def serve(_first: dict[str, Any], jobs_fd: int, control_fd: int, record_fd: int) -> None:
    """A judge child's life (``worker``): job after job from its worker, each with the two pipe
    ends to that job's program, its records followed by ``{"event": "done", "id": ...}``. Only
    the worker can write to ``jobs_fd`` and ``control_fd``; a message out of step ends the child
    (its worker starts a fresh one)."""
    control = socket.socket(fileno=control_fd)
    jobs = FrameReader(jobs_fd)
    while (frame := jobs.read()) is not None:
        job = pickle.loads(frame)
        message, fds, _, _ = socket.recv_fds(control, 256, 2)
        if message != job["id"].encode() or len(fds) != 2:
            return
        precompile_tests(job)
        try:
            run(job, *fds, record_fd)
        finally:
            for fd in fds:
                os.close(fd)  # the program's worker sees the judge is done with this job
        _write_all(record_fd, json.dumps({"event": "done", "id": job["id"]}).encode() + b"\n")


def run(job: dict[str, Any], requests_fd: int, replies_fd: int, record_fd: int) -> None:
    """Judge one job, writing JSON-line records to ``record_fd``."""
    write = _Records(record_fd)
    try:
        _judge(job, requests_fd, replies_fd, write)
    finally:
        write.flush()


def _judge(job: dict[str, Any], requests_fd: int, replies_fd: int, write: Any) -> None:
    clock = Clock()
    channel = Channel(requests_fd, replies_fd, clock)
    started = time.perf_counter()
    entry: int | None = None
    try:
        with clock.limit(job["load_time_limit"]):
            error, entry = channel.await_loaded()
    except ProgramGone:
        return  # no record: the pool says how the process ended
    except ProgramStuck:
        error = "timeout: loading the program took too long"
    except ProgramGarbage:
        error = "the program's replies were unreadable"
    write({"event": "loaded", "error": error, "t": time.perf_counter() - started})
    if error is None:
        _run_tests(job, JudgeNamespace(channel, job["entry_point"], entry), write)


def _run_tests(job: dict[str, Any], namespace: JudgeNamespace, write: Any) -> None:
    channel = namespace.channel
    import_setup(job["setup"], namespace)
    if job["entry_point"] and dict.get(namespace, job["entry_point"]) is not None:
        channel.queue_io(_leading_io_calls(job))
    skip: tuple[str, str] | None = None
    for index, test in enumerate(job["tests"]):
        if skip is not None:
            write({"event": "test", "i": index, "s": skip[0], "m": f"not run: {skip[1]}", "t": 0.0})
            continue
        record, stop = _run_test(index, test, job, namespace, channel.clock)
        if stop is ProgramGone:
            return
        write(record)
        if stop is not None:
            skip = NOT_RUN[stop]
        elif record["s"] == "timeout" and job["stop_after_timeout"]:
            skip = ("timeout", "an earlier test timed out")


def _leading_io_calls(job: dict[str, Any]) -> list[tuple[int, Any, str, float]]:
    """The io tests before the first test of another kind: their calls can go ahead (a later
    test's own calls must not wait behind them, on its clock)."""
    calls = []
    for index, test in enumerate(job["tests"]):
        if test["kind"] != "io":
            break
        calls.append((index, test["inputs"], test["oracle"], job["time_limits"][index]))
    return calls


def _run_test(
    index: int, test: dict[str, Any], job: dict[str, Any], namespace: JudgeNamespace, clock: Clock
) -> tuple[dict[str, Any], type[BaseException] | None]:
    """The test's record, and the reason to stop talking to the program (None: carry on)."""
    record: dict[str, Any] = {"event": "test", "i": index}
    stop: type[BaseException] | None = None
    started = time.perf_counter()
    try:
        with clock.limit(job["time_limits"][index]):
            output = _execute(index, test, namespace)
        record["s"] = "pass"
        if test["kind"] == "io":
            record["o"] = output  # as the program encoded it: the pool decodes and compares
        elif test["kind"] in LCB_KINDS:
            record.update(lcb_fields(output))  # what it printed or returned: the pool compares
    except TestTimeout:
        record["s"] = "timeout"
    except (ProgramGone, ProgramStuck, ProgramGarbage) as exc:
        stop = type(exc)
        record["s"], record["m"] = NOT_RUN.get(stop, ("error", ""))
    except Unjudgeable as exc:
        record["s"], record["m"] = "infra_error", f"{UNJUDGEABLE}: {exc}"[:MESSAGE_LIMIT]
    except AssertionError as exc:
        record["s"], record["m"] = "fail", describe(exc)
    except values.NotPlainError as exc:
        record["s"], record["m"] = "fail", str(exc)[:MESSAGE_LIMIT]
    except BaseException as exc:  # noqa: BLE001 - what the program raised (SystemExit too), or a broken test
        record["s"], record["m"] = "error", describe(exc)
    record["t"] = time.perf_counter() - started
    return record, stop


def _execute(index: int, test: dict[str, Any], namespace: JudgeNamespace) -> Any:
    kind = test["kind"]
    if kind == "io":
        return namespace.channel.call_io(namespace.entry(), test["inputs"], test["oracle"], index)
    if kind in LCB_KINDS:
        return namespace.channel.lcb({"kind": kind, "inputs": test["inputs"]})
    exec(compile_test(test["code"]), namespace)
    if kind == "check":
        check = dict.get(namespace, "check")  # the test's own, never a name of the program's
        if check is None:
            raise NameError("the test defines no check function")
        check(namespace.entry() if namespace.entry_point else None)
    return None


def lcb_fields(fields: Any) -> dict[str, Any]:
    """The fields of a LiveCodeBench test's record, as the program's process reported them:
    ``s`` says only whether it ran (``pass``) or raised (``error``); the pool compares ``o``."""
    if type(fields) is not dict or fields.get("s") not in ("pass", "error"):
        raise ProgramGarbage()
    kept = {key: fields[key] for key in ("s", "o", "big", "np", "nd", "m") if key in fields}
    for key in ("m", "np"):  # messages: cut here, whatever length the program's process sent
        if key in kept:
            kept[key] = str(kept[key])[:MESSAGE_LIMIT]
    return kept


def import_setup(setup: str, namespace: dict[str, Any]) -> None:
    """Run the setup's imports here too (the tests' ``math``, ``Counter``): the rest of the setup
    (helper classes, functions) is the program's, reached like any of its names. An import that
    fails here fails in the program's process as well, where it is reported."""
    try:
        body = ast.parse(setup).body
    except (SyntaxError, ValueError):
        return
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            try:
                exec(compile(ast.Module([node], []), "<setup>", "exec"), namespace)
            except Exception:  # noqa: BLE001, S112 - reported by the program's process
                continue


def compile_test(code: str) -> types.CodeType:
    compiled = _compiled_tests.get(code)
    return compiled if compiled is not None else compile(code, "<test>", "exec")


# Test code compiled by the judge worker before it forks, shared by every judge it forks
# afterwards (a task's tests repeat for each of its samples). Bounded: every cached megabyte
# makes each fork a little slower.
_compiled_tests: dict[str, types.CodeType] = {}
COMPILED_TESTS_LIMIT = 4096


def precompile_tests(job: dict[str, Any]) -> bool:
    """Compile the job's test code into the worker's cache (only compiling, nothing runs);
    return whether the cache changed. Code that does not compile is left to the judge, which
    reports the error as the test's outcome."""
    changed = False
    for test in job["tests"]:
        code = test["code"]
        if test["kind"] in ("io", *LCB_KINDS) or code in _compiled_tests:
            continue
        if len(_compiled_tests) >= COMPILED_TESTS_LIMIT:
            _compiled_tests.clear()
        try:
            _compiled_tests[code] = compile(code, "<test>", "exec")
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        changed = True
    return changed


class _Records:
    """Records to the worker, written in batches: waking the worker for every test of a job
    with hundreds of io tests costs more than the tests. A batch waits at most ``FLUSH_SECONDS``,
    so a judge killed by the wall clock loses only the last moments' records."""

    FLUSH_SECONDS = 0.05

    def __init__(self, fd: int):
        self.fd = fd
        self.pending: list[str] = []
        self.flushed_at = time.monotonic()

    def __call__(self, record: dict[str, Any]) -> None:
        self.pending.append(json.dumps(record) + "\n")
        if time.monotonic() - self.flushed_at > self.FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        _write_all(self.fd, "".join(self.pending).encode())
        self.pending, self.flushed_at = [], time.monotonic()


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]
