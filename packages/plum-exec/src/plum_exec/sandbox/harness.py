"""What runs inside the sandboxed child: load the program, run each test, write one record each.

The verdict comes only from these records, never from the exit code: a program that exits
early (``sys.exit(0)``, ``os._exit(0)``) leaves tests without a record, and those count as not
passed. Each record carries a per-run nonce held here in a closure, so stray writes to the
record pipe are ignored.

Test code is rewritten before it runs so that a program cannot pass by returning an object
that lies about equality: every comparison operand, every asserted value and every value the
entry point returns must be plain data or a builtin iterator (see ``values``).
"""

from __future__ import annotations

import ast
import builtins
import json
import os
import signal
import time
import types

# Pin the real builtins: a program may replace names in the builtins module to fool the guards.
from builtins import BaseException, bool, callable, float, getattr, max, str, type, zip  # noqa: UP029
from typing import Any

from plum_exec.sandbox import lcb_child, values

GUARD_COMPARE = "__plum_compare__"
GUARD_TRUTH = "__plum_truth__"
GUARD_RESULT = "__plum_result__"
MESSAGE_LIMIT = 500


class TestTimeout(BaseException):
    """Raised by the per-test alarm. A BaseException, so ``except Exception`` in a program cannot
    swallow it (a program that blocks signals is stopped by the wall clock outside)."""


def _builtin_iterator_types() -> frozenset[type]:
    samples: list[Any] = [
        iter([]), iter(()), iter(""), iter(set()), iter({}), iter(range(0)), iter(b""),
        {}.keys(), {}.values(), {}.items(), iter({}.values()), iter({}.items()),
        reversed([]), reversed(range(0)), enumerate([]), zip(), map(abs, []), filter(None, []),
        range(0), (x for x in ()),
    ]
    return frozenset(type(s) for s in samples)


_ITERATOR_TYPES = _builtin_iterator_types()
_COMPARE_OPS = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
}


def _plain(value: Any) -> Any:
    """Return ``value`` if it is plain data (numpy values as Python data), else raise."""
    if type(value) is type and getattr(builtins, value.__name__, None) is value:
        return value  # `type(x) == int` style checks compare builtin classes
    values.encode(value)
    if type(value) in values._numpy_types():
        return value.tolist()
    return value


def _guard_compare(ops: tuple[str, ...], *operands: Any) -> bool:
    checked = [_plain(x) for x in operands]
    for op, left, right in zip(ops, checked, checked[1:], strict=False):
        if not _apply(op, left, right):
            return False
    return True


def _apply(op: str, a: Any, b: Any) -> bool:
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    if op == "is":
        return a is b
    if op == "is not":
        return a is not b
    if op == "in":
        return a in b
    return a not in b


def _guard_truth(value: Any) -> bool:
    return bool(_plain(value))


def _guard_result(value: Any) -> Any:
    """Let the entry point return plain data or a builtin iterator (``list(f(x))`` is common)."""
    if type(value) in _ITERATOR_TYPES:
        return value
    return _plain(value)


class _GuardTests(ast.NodeTransformer):
    """Route comparisons, asserted values and entry-point results through the guards."""

    def __init__(self, callee_names: set[str]):
        self.callee_names = callee_names

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        ops = ast.Tuple(elts=[ast.Constant(_COMPARE_OPS[type(op)]) for op in node.ops], ctx=ast.Load())
        call = ast.Call(
            func=ast.Name(GUARD_COMPARE, ast.Load()), args=[ops, node.left, *node.comparators], keywords=[]
        )
        return ast.copy_location(call, node)

    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        self.generic_visit(node)
        node.test = ast.copy_location(
            ast.Call(func=ast.Name(GUARD_TRUTH, ast.Load()), args=[node.test], keywords=[]), node.test
        )
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id in self.callee_names:
            wrapped = ast.Call(func=ast.Name(GUARD_RESULT, ast.Load()), args=[node], keywords=[])
            return ast.copy_location(wrapped, node)
        return node


def compile_test(code: str, entry_point: str | None) -> types.CodeType:
    compiled = _compiled_tests.get((code, entry_point))
    if compiled is not None:
        return compiled
    tree = ast.parse(code)
    names = {"candidate"} | ({entry_point} if entry_point else set())
    tree = ast.fix_missing_locations(_GuardTests(names).visit(tree))
    return compile(tree, "<test>", "exec")


# Test code compiled by the worker before it forks, shared by every child it forks afterwards.
# Parsing and rewriting a test costs more than running it (1.3 ms of a 4.6 ms HumanEval job
# when done in the freshly forked child) and a task's tests repeat for each of its samples.
# Bounded: every cached megabyte makes each fork a little slower.
_compiled_tests: dict[tuple[str, str | None], types.CodeType] = {}
COMPILED_TESTS_LIMIT = 4096


def precompile_tests(job: dict[str, Any]) -> bool:
    """Compile the job's test code into the worker's cache (only compiling, nothing runs);
    return whether the cache changed. Code that does not compile is left to the child, which
    reports the error as the test's outcome."""
    changed = False
    for test in job["tests"]:
        key = (test["code"], job["entry_point"])
        if test["kind"] in ("io", *lcb_child.KINDS) or key in _compiled_tests:
            continue
        if len(_compiled_tests) >= COMPILED_TESTS_LIMIT:
            _compiled_tests.clear()
        try:
            _compiled_tests[key] = compile_test(*key)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        changed = True
    return changed


def run(job: dict[str, Any], record_fd: int, nonce: str) -> None:
    """Run one job in this (already isolated) process, writing JSON-line records to record_fd."""
    write = _record_writer(record_fd, nonce)
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    started = time.perf_counter()
    error = _load(job, namespace)
    write({"event": "loaded", "error": error, "t": time.perf_counter() - started})
    if error is None:
        timed_out = False
        for index, test in enumerate(job["tests"]):
            if timed_out and job["stop_after_timeout"]:
                write({"event": "test", "i": index, "s": "timeout", "m": "not run: an earlier test timed out", "t": 0.0})
                continue
            record = _run_test(index, test, job, namespace)
            timed_out = timed_out or record["s"] == "timeout"
            write(record)
    write({"event": "done"})


def _load(job: dict[str, Any], namespace: dict[str, Any]) -> str | None:
    """Exec setup and program under the load time limit; return an error message or None."""
    try:
        with _alarm(job["load_time_limit"]):
            if lcb_child.is_lcb_job(job):
                return lcb_child.load(job, namespace)
            for part, name in ((job["setup"], "<setup>"), (job["program"], "<program>")):
                if part:
                    exec(compile(part, name, "exec"), namespace)
        entry = job["entry_point"]
        if entry and not callable(namespace.get(entry)):
            return f"entry point {entry!r} is not defined"
    except TestTimeout:
        return "timeout: loading the program took too long"
    except BaseException as exc:  # noqa: BLE001 - anything the program raises is its failure
        return _describe(exc)
    return None


def _run_test(index: int, test: dict[str, Any], job: dict[str, Any], namespace: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {"event": "test", "i": index}
    # Guards are (re)bound right before each test so a program cannot replace them in advance.
    namespace.update({GUARD_COMPARE: _guard_compare, GUARD_TRUTH: _guard_truth, GUARD_RESULT: _guard_result})
    started = time.perf_counter()
    try:
        if test["kind"] in lcb_child.KINDS:  # stdin/stdout and LiveCodeBench-style calls
            with _alarm(job["time_limits"][index]):
                record.update(lcb_child.execute(test, namespace))
            record["t"] = time.perf_counter() - started
            return record
        with _alarm(job["time_limits"][index]):
            output = _execute(test, job["entry_point"], namespace)
        record["s"] = "pass"
        if test["kind"] == "io":
            if test["oracle"] == "not_none" and type(output) is not bool:
                output = output is not None  # EvalPlus judges only whether a value came back
            record["o"] = values.encode(output)
    except TestTimeout:
        record["s"] = "timeout"
    except AssertionError as exc:
        record["s"], record["m"] = "fail", _describe(exc)
    except values.NotPlainError as exc:
        record["s"], record["m"] = "fail", str(exc)
    except BaseException as exc:  # noqa: BLE001 - SystemExit included: exiting is not passing
        record["s"], record["m"] = "error", _describe(exc)
    record["t"] = time.perf_counter() - started
    return record


def _execute(test: dict[str, Any], entry_point: str | None, namespace: dict[str, Any]) -> Any:
    kind = test["kind"]
    if kind == "io":
        return namespace[entry_point](*test["inputs"])  # type: ignore[index]
    exec(compile_test(test["code"], entry_point), namespace)
    if kind == "check":
        candidate = namespace[entry_point] if entry_point else None  # type: ignore[index]
        namespace["check"](candidate)
    return None


class _alarm:
    """Per-test wall-clock limit with SIGALRM; the parent's hard deadline backs it up."""

    def __init__(self, seconds: float):
        self.seconds = max(float(seconds), 0.001)

    def __enter__(self) -> None:
        signal.signal(signal.SIGALRM, _raise_timeout)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc: object) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _raise_timeout(signum: int, frame: Any) -> None:
    raise TestTimeout()


def _record_writer(fd: int, nonce: str) -> Any:
    dumps, write, encode = json.dumps, os.write, str.encode

    def emit(record: dict[str, Any]) -> None:
        record["n"] = nonce
        data = encode(dumps(record) + "\n")
        while data:
            data = data[write(fd, data):]

    return emit


def _describe(exc: BaseException) -> str:
    try:
        text = f"{type(exc).__name__}: {exc}"
    except BaseException:  # noqa: BLE001 - a hostile __str__ must not break the harness
        text = type(exc).__name__
    return text[:MESSAGE_LIMIT]
