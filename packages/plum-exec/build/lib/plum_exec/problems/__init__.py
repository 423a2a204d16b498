"""Benchmark and custom problem loaders, each returning ``{task_id: Problem}`` (EvalPlus style).

io tests (HumanEval+, MBPP+) arrive without expected outputs; ``ground_truth.attach_ground_truth``
computes them by running each reference in the sandbox, with its per-test times.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from plum_exec.errors import PlumError
from plum_exec.problems.custom import load_problems_jsonl
from plum_exec.problems.humaneval import load_humaneval, load_humaneval_plus
from plum_exec.problems.mbpp import MBPP_SPLITS, load_mbpp, load_mbpp_plus
from plum_exec.records import Problem

_LOADERS: dict[str, Callable[[str | Path | None], dict[str, Problem]]] = {
    "humaneval": load_humaneval,
    "humaneval+": load_humaneval_plus,
    "mbpp": load_mbpp,  # the test split; load_mbpp(path, split) selects another
    "mbpp+": load_mbpp_plus,
}
BENCHMARKS = tuple(_LOADERS)


def load_benchmark(name: str, path: str | Path | None = None) -> dict[str, Problem]:
    """Load a benchmark by name, from ``path`` or from its default source."""
    if name not in _LOADERS:
        raise PlumError(f"unknown benchmark {name!r}; valid: {', '.join(BENCHMARKS)}")
    return _LOADERS[name](path)


__all__ = [
    "BENCHMARKS",
    "MBPP_SPLITS",
    "load_benchmark",
    "load_humaneval",
    "load_humaneval_plus",
    "load_mbpp",
    "load_mbpp_plus",
    "load_problems_jsonl",
]
