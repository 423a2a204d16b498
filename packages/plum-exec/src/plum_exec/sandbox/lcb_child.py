"""LiveCodeBench's two test kinds, as they run inside the sandboxed child.

``stdio``: the program reads a test's input from stdin and writes its answer to stdout.
``functional``: a method of ``Solution()`` (or a module-level function) is called with one JSON
value per input line. This module reproduces how LiveCodeBench's grader
(``lcb_runner/evaluation/testing_util.py``) loads and runs a program, because those details
decide verdicts on real model output:

- the import header it puts before every program (``IMPORT_HEADER``);
- stdio programs: a trailing ``if __name__ == '__main__':`` block is inlined, the top-level
  imports stay at module level and everything else becomes the body of ``wrapped_function``,
  called once per test (so a nested function's ``global x`` no longer sees the program's ``x``);
- the module is named ``tmp_sol``, not ``__main__``; a program whose text contains
  ``class Solution`` is judged through ``Solution()`` (one instance for all tests);
- stdin is its stand-in object, not a real file: ``sys.stdin.read()`` returns the whole input
  at every call, ``sys.stdin.buffer.readline()`` always the first line, ``readlines()`` the
  lines without their newlines, ``for line in sys.stdin`` fails; the stdin object bound before
  the test (``from sys import stdin``) answers ``readline`` with newline-free lines;
- stdout is captured in memory (``sys.stdout.buffer`` does not exist), ``SystemExit`` ends a
  stdio test normally, ``quit`` and the process-changing ``os`` functions are ``None``;
- ``sys.set_int_max_str_digits(50000)`` and ``sys.setrecursionlimit(50000)``.

Nothing here judges: the child sends back the captured stdout or the returned value (encoded
by ``values``); ``plum_exec.lcb_judge`` compares them with the expected output in the trusted
process. docs/livecodebench.md lists where this differs from LiveCodeBench.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import json
import sys
import types
from typing import Any

from plum_exec.sandbox import values

KINDS = ("stdio", "functional")
STAR_MODULES = (
    "string", "re", "datetime", "collections", "heapq", "bisect", "copy", "math", "random",
    "statistics", "itertools", "functools", "operator", "io", "sys", "json", "builtins", "typing",
)
PLAIN_MODULES = STAR_MODULES[:16]  # every module above except builtins and typing
IMPORT_HEADER = (
    "".join(f"from {m} import *\n" for m in STAR_MODULES)
    + "".join(f"import {m}\n" for m in PLAIN_MODULES)
    + "sys.setrecursionlimit(50000)\n"
)
INT_MAX_STR_DIGITS = 50000
WRAPPED = "wrapped_function"
MODULE_NAME = "tmp_sol"
OUTPUT_LIMIT = 16 * 1024 * 1024  # characters of one test's stdout sent back
_TARGET = "__plum_lcb_target__"
# What LiveCodeBench's reliability_guard sets to None before the program loads.
_DISABLED = {
    "os": (
        "kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork",
        "forkpty", "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod",
        "fchown", "chmod", "chown", "chroot", "lchflags", "lchmod", "lchown", "getcwd", "chdir",
    ),
    "shutil": ("rmtree", "move", "chown"),
    "subprocess": ("Popen",),
}
_BLOCKED_MODULES = ("ipdb", "joblib", "resource", "psutil", "tkinter")


def is_lcb_job(job: dict[str, Any]) -> bool:
    return bool(job["tests"]) and job["tests"][0]["kind"] in KINDS


# ---------------------------------------------------------------- program text


def inline_main_block(code: str) -> str:
    """A last top-level ``if __name__ == '__main__':`` becomes plain top-level code."""
    try:
        tree = ast.parse(code)
        last = tree.body[-1]
        if isinstance(last, ast.If) and ast.unparse(last.test).strip() == "__name__ == '__main__'":
            return ast.unparse(tree.body[:-1]) + "\n" + ast.unparse(last.body)
    except Exception:  # noqa: BLE001 - unparsable or empty programs stay as they are
        pass
    return code


def wrap_in_function(code: str) -> str:
    """Header, the program's top-level imports, then the rest as ``def wrapped_function():``.
    A program that does not parse is returned unchanged (loading it then fails)."""
    try:
        tree = ast.parse(code)
        imports = [s for s in tree.body if isinstance(s, ast.Import | ast.ImportFrom)]
        body = [s for s in tree.body if not isinstance(s, ast.Import | ast.ImportFrom)]
        function = ast.FunctionDef(
            name=WRAPPED,
            args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[]),
            body=body, decorator_list=[], lineno=-1,
        )
        return IMPORT_HEADER + "\n" + ast.unparse(imports) + "\n" + ast.unparse(function)
    except Exception:  # noqa: BLE001 - as LiveCodeBench: fall back to the program itself
        return code


def stdio_source(program: str) -> str:
    return wrap_in_function(inline_main_block(program))


def functional_source(program: str) -> str:
    return IMPORT_HEADER + "\n\n" + program


# ---------------------------------------------------------------- loading (in the child)


def load(job: dict[str, Any], namespace: dict[str, Any]) -> str | None:
    """Load the program as LiveCodeBench does; keep the callable under ``_TARGET``.
    Returns an error message, or None. Runs inside the harness's load time limit."""
    sys.set_int_max_str_digits(INT_MAX_STR_DIGITS)
    _import_numpy()  # before the guard, as there (numpy's import needs what the guard removes)
    _reliability_guard()
    stdio = job["tests"][0]["kind"] == "stdio"
    code = stdio_source(job["program"]) if stdio else functional_source(job["program"])
    module = types.ModuleType(MODULE_NAME, "")
    exec(compile(code, "<program>", "exec"), module.__dict__)
    holder: Any = module.Solution() if "class Solution" in code else module
    name = WRAPPED if stdio else job["entry_point"] or ""
    target = getattr(holder, name, None)
    if target is None:
        return f"{name!r} is not defined"
    namespace[_TARGET] = target
    return None


def _import_numpy() -> None:
    """Free when the worker preloads numpy (evaluation does for these kinds)."""
    with contextlib.suppress(ImportError):
        import numpy  # noqa: F401


def _reliability_guard() -> None:
    import os
    import shutil
    import subprocess

    os.environ["OMP_NUM_THREADS"] = "1"
    builtins.quit = None  # type: ignore[assignment]
    builtins.help = None  # type: ignore[assignment]
    for module in (os, shutil, subprocess):
        for name in _DISABLED[module.__name__]:
            setattr(module, name, None)
    for name in _BLOCKED_MODULES:
        sys.modules[name] = None  # type: ignore[assignment]


# ---------------------------------------------------------------- one test (in the child)


def execute(test: dict[str, Any], namespace: dict[str, Any]) -> dict[str, Any]:
    """Run one test; return the record's fields: ``s`` and ``o`` (stdout text, or the JSON text
    of the encoded return value), ``nd`` (the value was a numpy array) or ``m`` (a message).
    Timeouts propagate to the harness; an ``Exception`` from the program is a runtime error."""
    target = namespace[_TARGET]
    try:
        if test["kind"] == "stdio":
            return _stdout_fields(_run_with_stdin(target, test["inputs"]))
        args = [json.loads(line) for line in test["inputs"].split("\n")]
        return _return_fields(target(*args))
    except Exception as exc:  # noqa: BLE001 - the program's runtime error
        return {"s": "error", "m": _describe(exc)}


def _stdout_fields(output: str) -> dict[str, Any]:
    if len(output) > OUTPUT_LIMIT:
        return {"s": "pass", "big": len(output)}
    return {"s": "pass", "o": output}


def _return_fields(result: Any) -> dict[str, Any]:
    numpy = sys.modules.get("numpy")
    try:
        encoded = values.encode(result)
    except values.NotPlainError as exc:
        return {"s": "pass", "np": str(exc)}
    fields: dict[str, Any] = {"s": "pass", "o": json.dumps(encoded)}
    if numpy is not None and type(result) is numpy.ndarray:
        fields["nd"] = True
    return fields


class _Capture(io.StringIO):
    def close(self) -> None:  # a program closing stdout must not lose what it wrote
        pass


class _StdinStandIn:
    """LiveCodeBench's stdin object: ``read`` gives the whole input every time, ``readlines``
    the lines without newlines, ``buffer.readline`` the first line; the rest is a StringIO's."""

    def __init__(self, inputs: str):
        self.inputs = inputs
        self._stringio = io.StringIO(inputs)
        self.buffer = _BufferStandIn(inputs)

    def read(self, *args: Any) -> str:
        return self.inputs

    def readline(self, *args: Any) -> str:
        return self._stringio.readline(*args)

    def readlines(self, *args: Any) -> list[str]:
        return self.inputs.split("\n")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stringio, name)


class _BufferStandIn:
    def __init__(self, inputs: str):
        self.inputs = inputs.encode("utf-8")

    def read(self, *args: Any) -> bytes:
        return self.inputs

    def readline(self, *args: Any) -> bytes:
        return self.inputs.split(b"\n")[0] + b"\n"


def _run_with_stdin(target: Any, inputs: str) -> str:
    """Call ``target()`` with LiveCodeBench's stdin stand-ins and stdout captured; return stdout."""
    lines = iter(inputs.split("\n"))
    real_stdin, real_stdout, real_open = sys.stdin, sys.stdout, builtins.open
    overrides = {
        "read": lambda *a: inputs,
        "readline": lambda *a: next(lines),
        "readlines": lambda *a: inputs.split("\n"),
    }
    capture = _Capture()
    patched = _patch_instance(real_stdin, overrides)
    try:
        sys.stdin = _StdinStandIn(inputs)  # type: ignore[assignment]
        sys.stdout = capture
        builtins.open = lambda *a, **k: io.StringIO(inputs)  # type: ignore[assignment]
        with contextlib.suppress(SystemExit):  # exit() ends a test normally there
            target()
    finally:
        sys.stdin, sys.stdout, builtins.open = real_stdin, real_stdout, real_open
        _unpatch_instance(real_stdin, patched)
    return capture.getvalue()


def _patch_instance(obj: Any, overrides: dict[str, Any]) -> list[str]:
    """Set instance attributes (LiveCodeBench patches the stdin object bound before the test);
    return the names set, for undoing."""
    done = []
    for name, value in overrides.items():
        try:
            setattr(obj, name, value)
            done.append(name)
        except (AttributeError, TypeError):
            pass
    return done


def _unpatch_instance(obj: Any, names: list[str]) -> None:
    for name in names:
        with contextlib.suppress(AttributeError, TypeError):
            delattr(obj, name)


def _describe(exc: BaseException) -> str:
    from plum_exec.sandbox.harness import describe

    return describe(exc)
