"""MBPP (the full release, by split) and MBPP+ (EvalPlus's format)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from plum_exec.errors import PlumError
from plum_exec.jsonl import require
from plum_exec.problems.common import index_unique, infer_entry_point, numbered_rows
from plum_exec.problems.evalplus import evalplus_problem, release_file
from plum_exec.records import Problem, TestCase

# Task-id ranges of the release's splits (Austin et al., 2021).
MBPP_SPLITS = {"prompt": (1, 10), "test": (11, 510), "validation": (511, 600), "train": (601, 974)}
HUB_DATASET = "google-research-datasets/mbpp"


def load_mbpp(path: str | Path | None = None, split: str = "test") -> dict[str, Problem]:
    """MBPP problems of ``split`` (or ``all``) from the release JSONL, or from the hub without a path.

    Task ids are ``Mbpp/N`` as in MBPP+; the prompt is the task text with its first test, as
    EvalPlus presents MBPP+ problems; the tests are the release's ``test_list`` assertions.
    """
    if split != "all" and split not in MBPP_SPLITS:
        raise PlumError(f"unknown MBPP split {split!r}; valid: {', '.join([*MBPP_SPLITS, 'all'])}")
    rows = numbered_rows(path) if path is not None else _hub_rows(split)
    problems = ((where, _mbpp_problem(row, where)) for where, row in rows)
    return index_unique(
        (where, p) for where, p in problems if _in_split(p.metadata["number"], split)
    )


def _in_split(number: int, split: str) -> bool:
    if split == "all":
        return True
    low, high = MBPP_SPLITS[split]
    return low <= number <= high


def _hub_rows(split: str) -> Iterable[tuple[str, dict[str, Any]]]:
    import datasets

    for name in list(MBPP_SPLITS) if split == "all" else [split]:
        try:
            rows = datasets.load_dataset(HUB_DATASET, "full", split=name)
        except Exception as exc:  # offline, hub errors, missing cache: all mean "use a local file"
            raise PlumError(
                f"could not load {HUB_DATASET} from the hub ({exc}); pass --dataset-path mbpp.jsonl"
            ) from None
        for number, row in enumerate(rows, start=1):
            yield f"{HUB_DATASET}[{name}]:{number}", row


def _mbpp_problem(row: dict[str, Any], where: str) -> Problem:
    number = require(row, "task_id", where, int)
    text = require(row, "text", where, str)
    code = require(row, "code", where, str)
    asserts = require(row, "test_list", where, list)
    if not asserts:
        raise PlumError(f"{where}: field 'test_list' is empty")
    # MBPP's setup code builds test data from the program's own classes (Mbpp/367 builds a tree of
    # its Node), so it runs after the program: as part of each test, as MBPP's harness ran it.
    setup = row.get("test_setup_code") or ""
    return Problem(
        task_id=f"Mbpp/{number}",
        prompt=f'"""\n{text}\n{asserts[0]}\n"""\n',
        entry_point=infer_entry_point(code, asserts),
        tests=[
            TestCase(kind="assert", code=f"{setup}\n{test}" if setup.strip() else test)
            for test in asserts
        ],
        reference=code,
        metadata={"number": number},
    )


def load_mbpp_plus(path: str | Path | None = None) -> dict[str, Problem]:
    """MBPP+ in EvalPlus's format; downloaded and cached (version as EvalPlus 0.3.1) without a path."""
    path = Path(path) if path is not None else release_file("mbpp+")
    return index_unique((where, evalplus_problem(row, where)) for where, row in numbered_rows(path))
