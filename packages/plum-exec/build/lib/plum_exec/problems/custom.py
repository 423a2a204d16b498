"""The custom problems JSONL format (docs/evaluation.md): one problem per line.

``task_id``, ``prompt``, optional ``entry_point``, either ``tests`` (assertion strings) or
``test`` (HumanEval-style code defining ``check(candidate)``), optional ``setup`` and optional
``canonical_solution`` (a body appended to a code prompt, as in HumanEval, or a whole program).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from plum_exec.errors import PlumError
from plum_exec.jsonl import require
from plum_exec.problems.common import (
    index_unique,
    infer_entry_point,
    numbered_rows,
    parses,
    reference_program,
)
from plum_exec.records import Problem, TestCase


def load_problems_jsonl(path: str | Path) -> dict[str, Problem]:
    return index_unique((where, _custom_problem(row, where)) for where, row in numbered_rows(path))


def _custom_problem(row: dict[str, Any], where: str) -> Problem:
    prompt = require(row, "prompt", where, str)
    solution = _optional_str(row, "canonical_solution", where)
    reference = reference_program(prompt, solution) if solution is not None else None
    tests, asserts = _tests(row, where)
    entry_point = _optional_str(row, "entry_point", where) or infer_entry_point(
        reference or prompt, asserts
    )
    if entry_point is None and "test" in row:
        raise PlumError(
            f"{where}: missing field 'entry_point' (check(candidate) needs it and it cannot be inferred)"
        )
    return Problem(
        task_id=require(row, "task_id", where, str),
        prompt=prompt,
        entry_point=entry_point,
        tests=tests,
        setup=_optional_str(row, "setup", where) or "",
        reference=reference,
    )


def _tests(row: dict[str, Any], where: str) -> tuple[list[TestCase], list[str]]:
    """The problem's tests, and its assertion strings (which name the entry point)."""
    if ("tests" in row) == ("test" in row):
        raise PlumError(
            f"{where}: give exactly one of 'tests' (assertions) or 'test' (check(candidate) code)"
        )
    if "test" in row:
        check = require(row, "test", where, str)
        _require_python(check, f"{where}: field 'test'")
        return [TestCase(kind="check", code=check)], []
    asserts = require(row, "tests", where, list)
    if not asserts or not all(isinstance(t, str) for t in asserts):
        raise PlumError(f"{where}: field 'tests' must be a non-empty list of assertion strings")
    for index, code in enumerate(asserts):
        _require_python(code, f"{where}: tests[{index}]")
    return [TestCase(kind="assert", code=t) for t in asserts], asserts


def _require_python(code: str, what: str) -> None:
    if not parses(code):
        raise PlumError(f"{what} is not valid Python")


def _optional_str(row: dict[str, Any], key: str, where: str) -> str | None:
    return require(row, key, where, str) if row.get(key) is not None else None
