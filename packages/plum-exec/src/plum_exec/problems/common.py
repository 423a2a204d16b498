"""Helpers the loaders share: entry-point inference, reference programs, io tests, the cache folder."""

from __future__ import annotations

import ast
import builtins
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from plum_exec import pysource
from plum_exec.errors import PlumError
from plum_exec.jsonl import read_jsonl_numbered
from plum_exec.records import Problem, TestCase
from plum_exec.sandbox import paths


def cache_dir() -> Path:
    """Where downloads and ground truth are cached: ``$XDG_CACHE_HOME/plumcode`` or ``~/.cache/plumcode``."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "plumcode"


def parse(code: str) -> ast.Module | None:
    """The syntax tree of ``code``, or None if it is not valid Python."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. invalid escape sequences in dataset code
        try:
            return pysource.parse(code)
        except (SyntaxError, ValueError):
            return None


def parses(code: str) -> bool:
    return parse(code) is not None


def reference_program(prompt: str, solution: str) -> str:
    """HumanEval/EvalPlus references are a body appended to a code prompt; MBPP's stand alone
    (its prompt is prose). So: prompt + solution where that is valid Python, else the solution."""
    joined = prompt + solution
    return joined if parses(joined) else solution


def infer_entry_point(program: str | None, tests: Sequence[str] = ()) -> str | None:
    """The function the tests call, preferring one the program defines; else its last function."""
    defined = _top_level_functions(program or "")
    called = [name for test in tests for name in _called_names(test)]
    for name in called:
        if name in defined:
            return name
    if not defined:
        return next((name for name in called if not hasattr(builtins, name)), None)
    return defined[-1]


def _top_level_functions(code: str) -> list[str]:
    tree = parse(code)
    if tree is None:
        return []
    return [
        node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def _called_names(code: str) -> list[str]:
    tree = parse(code)
    if tree is None:
        return []
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    calls.sort(key=lambda n: (n.lineno, n.col_offset))
    return [n.func.id for n in calls]  # type: ignore[attr-defined]


def io_tests(inputs: Iterable[Any], oracle: str = "exact") -> list[TestCase]:
    """One io test per argument list; expected outputs come later from the reference."""
    return [TestCase(kind="io", inputs=list(args), oracle=oracle) for args in inputs]


def numbered_rows(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, row)`` pairs with ``where`` = ``file:line``, so every error names its row. The
    file holds tests or references: sandboxes started from now on hide it from programs."""
    paths.hide_data(path)
    for line, row in read_jsonl_numbered(path):
        yield f"{path}:{line}", row


def index_unique(problems: Iterable[tuple[str, Problem]]) -> dict[str, Problem]:
    """Build ``{task_id: problem}`` from ``(where, problem)`` pairs, rejecting a repeated task id."""
    out: dict[str, Problem] = {}
    for where, problem in problems:
        if problem.task_id in out:
            raise PlumError(f"{where}: duplicate task_id {problem.task_id!r}")
        out[problem.task_id] = problem
    return out
