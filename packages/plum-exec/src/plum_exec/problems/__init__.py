"""Benchmark and custom problem loaders, each returning ``{task_id: Problem}`` (EvalPlus style).

io tests (HumanEval+, MBPP+) arrive without expected outputs; ``ground_truth.attach_ground_truth``
computes them by running each reference in the sandbox, with its per-test times.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from plum_exec.errors import PlumError
from plum_exec.problems.custom import load_problems_jsonl
from plum_exec.problems.humaneval import load_humaneval, load_humaneval_plus
from plum_exec.problems.livecodebench import load_livecodebench
from plum_exec.problems.mbpp import MBPP_SPLITS, load_mbpp, load_mbpp_plus
from plum_exec.records import Problem

_LOADERS: dict[str, Callable[..., dict[str, Problem]]] = {
    "humaneval": load_humaneval,
    "humaneval+": load_humaneval_plus,
    "mbpp": load_mbpp,  # the test split; load_mbpp(path, split) selects another
    "mbpp+": load_mbpp_plus,
    "livecodebench": load_livecodebench,
}
BENCHMARKS = tuple(_LOADERS)
# Options a benchmark takes besides its path (release and contest-date window).
BENCHMARK_OPTIONS = {"livecodebench": ("release_version", "start_date", "end_date")}


def load_benchmark(name: str, path: str | Path | None = None, **options: Any) -> dict[str, Problem]:
    """Load a benchmark by name, from ``path`` or from its default source. ``options`` (None
    values ignored) are the benchmark's own: LiveCodeBench's ``release_version``, ``start_date``
    and ``end_date``."""
    if name not in _LOADERS:
        raise PlumError(f"unknown benchmark {name!r}; valid: {', '.join(BENCHMARKS)}")
    given = {key: value for key, value in options.items() if value is not None}
    unknown = sorted(set(given) - set(BENCHMARK_OPTIONS.get(name, ())))
    if unknown:
        flags = ", ".join("--" + key.replace("_", "-") for key in unknown)
        raise PlumError(f"{flags} do(es) not apply to benchmark {name!r}")
    return _LOADERS[name](path, **given)


__all__ = [
    "BENCHMARKS",
    "BENCHMARK_OPTIONS",
    "MBPP_SPLITS",
    "load_benchmark",
    "load_humaneval",
    "load_humaneval_plus",
    "load_livecodebench",
    "load_mbpp",
    "load_mbpp_plus",
    "load_problems_jsonl",
]
