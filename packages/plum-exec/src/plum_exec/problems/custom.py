"""The custom problems JSONL format (docs/evaluation.md): one problem per line.

``task_id``, ``prompt``, optional ``entry_point``, either ``tests`` (assertion strings) or
``test`` (HumanEval-style code defining ``check(candidate)``), optional ``setup`` and optional
``canonical_solution`` (a body appended to a code prompt, as in HumanEval, or a whole program).

Competitive-programming problems set ``test_type``: ``stdio`` (``tests`` are ``{input, output}``
objects: the program reads ``input`` on stdin and must print ``output``) or ``functional``
(``{input, output}`` objects: ``entry_point``, a method of ``Solution()`` or a function, is
called with one JSON value per input line and must return the JSON value ``output``). Both are
judged by LiveCodeBench's rules (docs/livecodebench.md); ``time_limit`` sets their per-test
seconds when there is no reference to time.
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
from plum_exec.problems.livecodebench import lcb_test
from plum_exec.records import Problem, TestCase

TEST_TYPES = ("assert", "stdio", "functional")


def load_problems_jsonl(path: str | Path) -> dict[str, Problem]:
    return index_unique((where, _custom_problem(row, where)) for where, row in numbered_rows(path))


def _custom_problem(row: dict[str, Any], where: str) -> Problem:
    prompt = require(row, "prompt", where, str)
    solution = _optional_str(row, "canonical_solution", where)
    reference = reference_program(prompt, solution) if solution is not None else None
    test_type = _optional_str(row, "test_type", where) or "assert"
    if test_type not in TEST_TYPES:
        raise PlumError(f"{where}: test_type {test_type!r} is not one of {', '.join(TEST_TYPES)}")
    if test_type != "assert":
        return _stdio_or_functional_problem(row, where, test_type, reference)
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


def _stdio_or_functional_problem(row: dict[str, Any], where: str, kind: str, reference: str | None) -> Problem:
    entry_point = _optional_str(row, "entry_point", where)
    if kind == "functional" and not entry_point:
        raise PlumError(f"{where}: functional tests need 'entry_point' (the method or function to call)")
    cases = require(row, "tests", where, list)
    if not cases:
        raise PlumError(f"{where}: field 'tests' must be a non-empty list of {{input, output}} objects")
    time_limit = row.get("time_limit")
    if time_limit is not None and (not isinstance(time_limit, int | float) or time_limit <= 0):
        raise PlumError(f"{where}: time_limit must be a positive number of seconds")
    return Problem(
        task_id=require(row, "task_id", where, str),
        prompt=require(row, "prompt", where, str),
        entry_point=entry_point if kind == "functional" else None,
        tests=[lcb_test(case, kind, f"{where}: tests[{i}]") for i, case in enumerate(cases)],
        reference=reference,
        metadata={"time_limit": float(time_limit)} if time_limit is not None else {},
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
