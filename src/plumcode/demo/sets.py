"""The demo's fixed problem sets: PLUM instructions and one evaluation set per split.

Evaluation problems are distinct instances (no two share a reference body) drawn from their own
random stream; instructions come from ``instructions_only`` compositions, from another stream,
and share no reference body with any evaluation problem. The training script leaves all of
these instances out of both models' training data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from plum_exec.jsonl import write_jsonl
from plum_exec.records import Problem
from plumcode.demo.family import SPLITS, ProblemFamily

EVAL_PER_SPLIT = 240
INSTRUCTIONS = 400


def eval_problems(family: ProblemFamily, split: str, count: int = EVAL_PER_SPLIT) -> list[Problem]:
    return family.sample_problems(split, "eval", count)


def instruction_problems(family: ProblemFamily, count: int = INSTRUCTIONS, eval_count: int = EVAL_PER_SPLIT) -> list[Problem]:
    exclude = {_body(p) for p in eval_problems(family, "instructions_only", eval_count)}
    return family.sample_problems("instructions_only", "instructions", count, exclude=exclude)


def held_out_bodies(family: ProblemFamily, eval_count: int = EVAL_PER_SPLIT, instructions: int = INSTRUCTIONS) -> set[str]:
    """Reference bodies of every evaluation problem and instruction (kept out of training data)."""
    problems = [p for split in SPLITS for p in eval_problems(family, split, eval_count)]
    problems += instruction_problems(family, instructions, eval_count)
    return {_body(p) for p in problems}


def write_problems(path: str | Path, problems: list[Problem], *, with_reference: bool) -> int:
    """Write problems in the custom problems JSONL format (``plum_exec.problems.load_problems_jsonl``).

    Instructions are written without their reference: the policy must never see it.
    """
    return write_jsonl(path, (_row(p, with_reference) for p in problems))


def _row(problem: Problem, with_reference: bool) -> dict[str, Any]:
    row: dict[str, Any] = {
        "task_id": problem.task_id,
        "prompt": problem.prompt,
        "entry_point": problem.entry_point,
        "tests": [t.code for t in problem.tests],
    }
    if with_reference:
        row["canonical_solution"] = _body(problem)
    return row


def _body(problem: Problem) -> str:
    return problem.metadata["body"]
