"""Expected values from running the references (``TestGenConfig.expected_values="reference"``).

A generator often picks sensible test inputs and a correct reference yet gets the expected
values wrong: it writes them by "mental arithmetic", one token at a time, and a wrong value
makes the reference fail the test, so the test is thrown away (with a small model, most tests
go). This step keeps the inputs and asks the references instead:

1. Every ``assert f(ARGS) == VALUE`` (or ``VALUE == f(ARGS)``) whose arguments are literals
   becomes an input. Other tests pass through unchanged and are validated as usual.
2. Each reference runs on all the inputs in the sandbox (``io`` tests: outputs come back as
   plain data). References are clustered by their outputs, AlphaCode-style (arXiv 2203.07814):
   the largest cluster wins (ties: the one whose first member came first).
3. Each input the winners answer gets ``assert f(ARGS) == repr(output)``; an input on which they
   raise or time out is dropped with that reason.

The rewritten candidate then goes through ``validation.validate`` like any other, so the
rewritten asserts are checked by execution too (an output whose ``repr`` does not read back,
such as ``nan``, fails there).
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from plum_data.testgen.validation import Candidate, Rejection, run_references
from plum_exec import pysource
from plum_exec.records import INFRA_ERROR, PASS, TestCase
from plum_exec.sandbox import JobResult, Sandbox


@dataclass
class Recomputed:
    """A candidate with recomputed tests and the tests it lost; no candidate when the sandbox
    failed (then nothing here says anything about the tests)."""

    candidate: Candidate | None
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def infra_error(self) -> bool:
        return self.candidate is None


def call_inputs(test: str, entry_point: str) -> tuple[str, list[Any]] | None:
    """``("f([1, 2], 3)", [[1, 2], 3])`` for ``assert f([1, 2], 3) == 6``; None for other shapes."""
    try:
        body = pysource.parse(test).body
    except SyntaxError:
        return None
    if len(body) != 1 or not isinstance(body[0], ast.Assert):
        return None
    check = body[0].test
    if not (
        isinstance(check, ast.Compare) and len(check.ops) == 1 and isinstance(check.ops[0], ast.Eq)
    ):
        return None
    call = next(
        (side for side in (check.left, check.comparators[0]) if _calls(side, entry_point)), None
    )
    if call is None:
        return None
    try:
        args = [ast.literal_eval(arg) for arg in call.args]  # type: ignore[attr-defined]
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return ast.unparse(call), args


def recompute_expected(
    sandbox: Sandbox,
    candidates: Sequence[Candidate],
    *,
    time_limit: float = 2.0,
    load_time_limit: float = 10.0,
) -> list[Recomputed]:
    """Rewrite each candidate's equality tests with the winning references' outputs."""
    plans = [_plan(c) for c in candidates]
    cases = [[TestCase(kind="io", inputs=args) for _, args in calls] for calls, _ in plans]
    results = run_references(sandbox, candidates, cases, time_limit, load_time_limit)
    return [
        _rewrite(c, calls, others, results[ci])
        for ci, (c, (calls, others)) in enumerate(zip(candidates, plans, strict=True))
    ]


def _plan(candidate: Candidate) -> tuple[list[tuple[str, list[Any]]], list[str]]:
    """Split a candidate's tests into recomputable calls (deduplicated) and the others."""
    calls: dict[str, list[Any]] = {}
    others: list[str] = []
    for test in candidate.tests:
        parsed = call_inputs(test, candidate.entry_point)
        if parsed is None:
            others.append(test)
        else:
            calls.setdefault(*parsed)
    return list(calls.items()), others


def _rewrite(
    candidate: Candidate,
    calls: list[tuple[str, list[Any]]],
    others: list[str],
    results: list[JobResult],
) -> Recomputed:
    if not results:
        return Recomputed(candidate)  # nothing to recompute: validate the tests as written
    if any(o.status == INFRA_ERROR for r in results for o in r.outcomes):
        return Recomputed(None)
    members = _largest_cluster(results)
    winner = results[members[0]]
    tests: list[str] = []
    rejected: list[Rejection] = []
    for (call, _), outcome, output in zip(calls, winner.outcomes, winner.outputs, strict=True):
        test = f"assert {call} == {output!r}"
        if outcome.status == PASS:
            tests.append(test)
        else:
            rejected.append(Rejection(f"assert {call} == ...", f"reference_{outcome.status}"))
    references = [candidate.references[i] for i in members]
    return Recomputed(replace(candidate, references=references, tests=tests + others), rejected)


def _largest_cluster(results: list[JobResult]) -> list[int]:
    """Indices of the references in the largest group with equal outputs (and statuses) on every input."""
    clusters: list[list[int]] = []
    for index, result in enumerate(results):
        for cluster in clusters:
            if _same_behaviour(results[cluster[0]], result):
                cluster.append(index)
                break
        else:
            clusters.append([index])
    return max(clusters, key=len)  # max keeps the first of equal sizes


def _same_behaviour(a: JobResult, b: JobResult) -> bool:
    return all(
        oa.status == ob.status and (oa.status != PASS or _equal(xa, xb))
        for oa, ob, xa, xb in zip(a.outcomes, b.outcomes, a.outputs, b.outputs, strict=True)
    )


def _equal(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _calls(node: ast.expr, entry_point: str) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == entry_point
        and not node.keywords
        and not any(isinstance(a, ast.Starred) for a in node.args)
    )
