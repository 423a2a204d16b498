"""Expected outputs and reference times, from running each problem's reference in the sandbox.

io tests (HumanEval+, MBPP+) arrive without expected outputs; the reference's outputs become
them, as in EvalPlus. The reference's time on every test gives the per-test time limits
``max(floor, factor * reference time)``. Results are cached per problem under
``<cache>/ground_truth/<content hash>.json``: the hash covers everything that decides the
outcome (reference, setup, entry point, tests), so an edited dataset never reuses stale values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from plum_exec.errors import PlumError
from plum_exec.jsonl import atomic_path
from plum_exec.problems.common import cache_dir
from plum_exec.records import INFRA_ERROR, PASS, Problem, TestCase, TestOutcome
from plum_exec.sandbox import Job, JobResult, Sandbox, values

FORMAT_VERSION = 3  # bump when the cached content or its meaning changes
REFERENCE_TIME_LIMIT = 20.0  # per test: generous, a reference is trusted to finish
# Raw extra inputs (metadata "unchecked_plus_inputs") were never run through the reference, and
# some it cannot handle (invalid inputs, or sizes it takes minutes on): those are dropped.
UNCHECKED_TIME_LIMIT = 2.0
# Tests per reference job. Long test lists (MBPP+ has ~100 per task, some taking seconds each)
# are split so that one slow task spreads over all workers instead of running alone at the end.
CHUNK_TESTS = 32

# Per test list ("tests", "plus_tests"): (expected value, reference seconds) per test, or None
# for a dropped test: an unchecked input the reference fails on, or one whose reference output
# is too large to leave the sandbox (values.MAX_NODES; Mbpp/255's largest inputs).
Truth = dict[str, list[tuple[Any, float] | None]]
TEST_LISTS = ("tests", "plus_tests")


def attach_ground_truth(
    problems: dict[str, Problem],
    sandbox: Sandbox,
    *,
    cache: Path | None = None,
    advance: Callable[[int], None] = lambda n: None,
) -> dict[str, Problem]:
    """Return the problems with expected outputs filled in and reference times in
    ``metadata["reference_times"]`` (one list per test list), for every problem with a reference.

    The reference must pass every test: otherwise the benchmark (or the environment running
    it) is broken, and that is an error rather than a score. ``advance(n)`` reports progress.
    """
    folder = (cache or cache_dir()) / "ground_truth"
    paths = {
        task_id: folder / f"{_content_hash(p)}.json"
        for task_id, p in problems.items()
        if p.reference is not None
    }
    known = {task_id: _read_cached(path) for task_id, path in paths.items()}
    missing = [task_id for task_id, truth in known.items() if truth is None]
    advance(len(paths) - len(missing))
    chunks = [(task_id, start) for task_id in missing for start in _chunk_starts(problems[task_id])]
    jobs = [_reference_job(problems[task_id], start) for task_id, start in chunks]
    parts: dict[str, dict[int, JobResult]] = {task_id: {} for task_id in missing}
    for index, result in sandbox.run(jobs):
        task_id, start = chunks[index]
        parts[task_id][start] = result
        if len(parts[task_id]) == len(_chunk_starts(problems[task_id])):
            truth = _truth_from(
                problems[task_id], [parts[task_id][s] for s in sorted(parts[task_id])]
            )
            _write_cached(paths[task_id], truth)
            known[task_id] = truth
            advance(1)
    return {task_id: _with_truth(p, known.get(task_id)) for task_id, p in problems.items()}


def _content_hash(problem: Problem) -> str:
    # repr keeps what JSON would lose (tuple vs list, sets, complex numbers, exact floats).
    tests = [
        (t.kind, t.code, t.inputs, t.oracle, t.has_expected, t.expected)
        for t in (*problem.tests, *problem.plus_tests)
    ]
    content = (
        FORMAT_VERSION,
        problem.task_id,
        problem.reference,
        problem.setup,
        problem.entry_point,
        problem.atol,
        tests,
    )
    return hashlib.sha256(repr(content).encode()).hexdigest()


def _read_cached(path: Path) -> Truth | None:
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        return {
            key: [None if row is None else (values.decode(row[0]), row[1]) for row in stored[key]]
            for key in TEST_LISTS
        }
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None  # absent or damaged: recompute


def _write_cached(path: Path, truth: Truth) -> None:
    stored = {
        key: [None if row is None else [values.encode(row[0]), row[1]] for row in truth[key]]
        for key in TEST_LISTS
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(stored, separators=(",", ":")), encoding="utf-8")


def _chunk_starts(problem: Problem) -> range:
    return range(0, max(1, len(problem.tests) + len(problem.plus_tests)), CHUNK_TESTS)


def _reference_job(problem: Problem, start: int) -> Job:
    tests = [*problem.tests, *problem.plus_tests][start : start + CHUNK_TESTS]
    return Job(
        program=problem.reference or "",
        tests=tests,
        entry_point=problem.entry_point,
        setup=problem.setup,
        time_limits=[UNCHECKED_TIME_LIMIT if _unchecked(problem) else REFERENCE_TIME_LIMIT]
        * len(tests),
        atol=problem.atol,
    )


def _unchecked(problem: Problem) -> bool:
    return bool(problem.metadata.get("unchecked_plus_inputs"))


def _truth_from(problem: Problem, chunks: list[JobResult]) -> Truth:
    outcomes = [o for chunk in chunks for o in chunk.outcomes]
    outputs = [out for chunk in chunks for out in chunk.outputs]
    split = len(problem.tests)
    rows: list[tuple[Any, float] | None] = []
    for index, (outcome, output) in enumerate(zip(outcomes, outputs, strict=True)):
        if outcome.status == PASS:
            rows.append((output, outcome.duration))
        elif outcome.status != INFRA_ERROR and index >= split and _unchecked(problem):
            rows.append(None)
        elif outcome.message == values.TOO_LARGE:
            rows.append(None)  # an output too large to cross the sandbox boundary: no usable truth
        else:
            raise PlumError(_failure_message(problem, index, outcome))
    return {"tests": rows[:split], "plus_tests": rows[split:]}


def _failure_message(problem: Problem, index: int, outcome: TestOutcome) -> str:
    if outcome.status == INFRA_ERROR:
        return f"{problem.task_id}: the sandbox failed twice running the reference ({outcome.message}); rerun to retry"
    split = len(problem.tests)
    where = f"base test {index}" if index < split else f"plus test {index - split}"
    return f"{problem.task_id}: the reference solution does not pass {where} ({outcome.status}: {outcome.message or 'no message'})"


def _with_truth(problem: Problem, truth: Truth | None) -> Problem:
    if truth is None:
        return problem
    kept = {
        key: [
            (test, row) for test, row in zip(getattr(problem, key), truth[key], strict=True) if row
        ]
        for key in TEST_LISTS
    }
    return replace(
        problem,
        tests=[_with_expected(test, expected) for test, (expected, _) in kept["tests"]],
        plus_tests=[_with_expected(test, expected) for test, (expected, _) in kept["plus_tests"]],
        metadata={
            **problem.metadata,
            "reference_times": {
                key: [seconds for _, (_, seconds) in pairs] for key, pairs in kept.items()
            },
            "dropped_tests": len(problem.tests) + len(problem.plus_tests) - len(kept["tests"]) - len(kept["plus_tests"]),
        },
    )


def _with_expected(test: TestCase, expected: Any) -> TestCase:
    if test.kind != "io" or test.has_expected:
        return test
    return replace(test, expected=expected, has_expected=True)
