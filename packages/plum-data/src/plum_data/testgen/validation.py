"""Keep only tests that a reference solution backs up, and say why each other test was dropped.

Two filters, in order:
1. ``screen_tests`` (static, per test): it must parse, be one ``assert``, not be constant, call
   the entry point, use no name the policy's program would lack, and not repeat an earlier test
   (same normalized AST).
2. ``validate`` (execution): every surviving test runs against every reference, one sandbox job
   per reference. References are grouped by the set of tests they pass and the group with the
   highest size x tests-passed wins (CodeT's dual agreement, arXiv 2207.10397); its tests are kept
   and its first member becomes the canonical solution. With one reference this is simply "keep
   the tests the reference passes".

``benchmarks/testgen_filter.py`` measures exactly these functions on MBPP with corrupted tests.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from plum_data.testgen.parsing import calls_in
from plum_exec import pysource
from plum_exec.extraction import sanitize
from plum_exec.records import INFRA_ERROR, PASS, TestCase, TestOutcome
from plum_exec.sandbox import UNJUDGEABLE, Job, JobResult, Sandbox

# Static reasons first, in the order they are checked, then execution reasons.
REJECTION_REASONS = (
    "syntax_error",
    "not_assert",
    "constant",
    "no_entry_call",
    "free_name",
    "duplicate",
    "reference_fail",
    "reference_error",
    "reference_timeout",
)
_BUILTINS = frozenset(dir(builtins))


@dataclass(frozen=True)
class Rejection:
    test: str
    reason: str


@dataclass
class Candidate:
    """One problem's material: reference programs and test statements, checked together."""

    entry_point: str
    references: list[str]
    tests: list[str]
    setup: str = ""


@dataclass
class Validation:
    """The verdict on a candidate. ``reference`` indexes ``Candidate.references`` (None: no winner);
    ``infra_error`` means the sandbox failed, so nothing here says anything about the tests."""

    tests: list[str] = field(default_factory=list)
    reference: int | None = None
    group_size: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    infra_error: bool = False


def screen_tests(
    tests: Sequence[str], entry_point: str, known_names: AbstractSet[str] = frozenset()
) -> tuple[list[str], list[Rejection]]:
    """Static filter: tests worth running, and a rejection for each of the others."""
    kept: list[str] = []
    rejected: list[Rejection] = []
    seen: set[str] = set()
    for test in tests:
        reason = _static_reason(test, entry_point, known_names)
        if reason is None:
            key = ast.dump(pysource.parse(test).body[0])
            reason = "duplicate" if key in seen else None
            seen.add(key)
        if reason is None:
            kept.append(test)
        else:
            rejected.append(Rejection(test, reason))
    return kept, rejected


def bound_names(code: str) -> set[str]:
    """Top-level names a piece of code (a problem's setup) binds: imports, defs, assignments."""
    names: set[str] = set()
    try:
        body = pysource.parse(code).body
    except SyntaxError:
        return names  # a broken setup fails every job, which rejects every test anyway
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        else:
            names.update(
                n.id
                for n in ast.walk(node)
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
            )
    return names


def needed_imports(imports: Sequence[str], tests: Sequence[str], own_names: set[str]) -> list[str]:
    """The import statements some test relies on (``math.isclose``, ``Counter``), once each.

    They go to the problem's setup so that a policy program that does not import them still
    runs its tests. Imports of the problem's own definitions (``from solution import add``) are
    left out: they would fail and shadow the program.
    """
    used = _names_used(tests)
    unique = dict.fromkeys(imports)
    return [i for i in unique if (names := bound_names(i)) & used and not names & own_names]


def helper_definitions(reference: str, tests: Sequence[str], entry_point: str) -> str:
    """Definitions of the reference other than the entry point that tests use (``Pair``,
    ``TreeNode``), with what they need, as one block of code for the setup and the policy's prompt.

    The entry point itself never comes along (a helper may call it): the prompt would show the
    solution, and the policy's own definition must be the one tested.
    """
    defined = bound_names(reference) - {entry_point}  # empty if the reference does not parse
    statements: dict[str, str] = {}  # normalized AST -> source, in first-seen order
    for name in sorted(_names_used(tests) & defined):
        for node in pysource.parse(sanitize(reference, name)).body:
            if entry_point not in bound_names(ast.unparse(node)):
                statements.setdefault(ast.dump(node), ast.unparse(node))
    return "\n\n".join(statements.values())


def validate(
    sandbox: Sandbox,
    candidates: Sequence[Candidate],
    *,
    time_limit: float = 2.0,
    load_time_limit: float = 10.0,
) -> list[Validation]:
    """Screen, run and agree, for many problems at once (one sandbox batch keeps workers busy)."""
    screened = [screen_tests(c.tests, c.entry_point, bound_names(c.setup)) for c in candidates]
    cases = [[TestCase(kind="assert", code=t) for t in tests] for tests, _ in screened]
    results = run_references(sandbox, candidates, cases, time_limit, load_time_limit)
    return [_agree(tests, rejected, results[ci]) for ci, (tests, rejected) in enumerate(screened)]


def run_references(
    sandbox: Sandbox,
    candidates: Sequence[Candidate],
    cases: Sequence[list[TestCase]],
    time_limit: float,
    load_time_limit: float,
) -> list[list[JobResult]]:
    """Run each candidate's tests (``cases[i]``) against each of its references, all candidates
    in one sandbox batch; per candidate, one result per reference ([] when it has no tests)."""
    jobs: list[Job] = []
    owners: list[tuple[int, int]] = []  # (candidate, reference) per job
    for ci, (candidate, tests) in enumerate(zip(candidates, cases, strict=True)):
        for ri, program in enumerate(candidate.references if tests else []):
            jobs.append(
                Job(
                    program=program,
                    tests=tests,
                    entry_point=candidate.entry_point,
                    setup=candidate.setup,
                    time_limits=[time_limit] * len(tests),
                    load_time_limit=load_time_limit,
                )
            )
            owners.append((ci, ri))
    results: list[list[JobResult | None]] = [
        [None] * len(c.references) if tests else []
        for c, tests in zip(candidates, cases, strict=True)
    ]
    for index, result in sandbox.run(jobs):
        ci, ri = owners[index]
        results[ci][ri] = result
    return results  # type: ignore[return-value]


def dual_agreement(passed: Sequence[frozenset[int]]) -> tuple[list[int], frozenset[int]]:
    """CodeT's consensus: group references by the tests they pass; score = group size x tests.

    Ties go to the group passing more tests, then to the one whose first member came first.
    Returns the winning references and the tests they pass.
    """
    groups: dict[frozenset[int], list[int]] = {}
    for reference, tests in enumerate(passed):
        groups.setdefault(tests, []).append(reference)
    tests, members = max(groups.items(), key=lambda g: (len(g[1]) * len(g[0]), len(g[0]), -g[1][0]))
    return members, tests


def _agree(tests: list[str], rejected: list[Rejection], results: list[JobResult]) -> Validation:
    if not results:
        return Validation(rejections=rejected)
    # A test that needs a reference's own code to be judged is that test's fault: it alone goes.
    unjudgeable = {i for r in results for i, o in enumerate(r.outcomes) if _unjudgeable(o)}
    if any(o.status == INFRA_ERROR for r in results for i, o in enumerate(r.outcomes) if i not in unjudgeable):
        return Validation(rejections=rejected, infra_error=True)
    passed = [
        frozenset(i for i, o in enumerate(r.outcomes) if o.status == PASS and i not in unjudgeable)
        for r in results
    ]
    members, kept = dual_agreement(passed)
    if not kept:
        members = []
    witness = results[members[0]] if members else results[0]
    failed = [
        Rejection(test, "unjudgeable" if i in unjudgeable else f"reference_{witness.outcomes[i].status}")
        for i, test in enumerate(tests)
        if i not in kept
    ]
    return Validation(
        tests=[t for i, t in enumerate(tests) if i in kept],
        reference=members[0] if members else None,
        group_size=len(members),
        rejections=rejected + failed,
    )


def _unjudgeable(outcome: TestOutcome) -> bool:
    return outcome.status == INFRA_ERROR and outcome.message.startswith(UNJUDGEABLE)


def _static_reason(test: str, entry_point: str, known_names: AbstractSet[str]) -> str | None:
    try:
        tree = pysource.parse(test)
    except SyntaxError:
        return "syntax_error"
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return "not_assert"
    check = tree.body[0].test
    if _is_constant(check):
        return "constant"
    if entry_point not in calls_in(check):
        return "no_entry_call"
    if _free_names(check) - known_names - _BUILTINS - {entry_point}:
        return "free_name"
    return None


def _is_constant(expr: ast.expr) -> bool:
    """True for checks whose value cannot depend on the program: no names at all (``assert True``,
    ``assert 1 == 1``), or a comparison of an expression with itself."""
    if not any(isinstance(n, ast.Name) for n in ast.walk(expr)):
        return True
    if isinstance(expr, ast.Compare) and all(isinstance(op, ast.Eq | ast.Is) for op in expr.ops):
        first = ast.dump(expr.left)
        return all(ast.dump(c) == first for c in expr.comparators)
    return False


def _names_used(tests: Sequence[str]) -> set[str]:
    names: set[str] = set()
    for test in tests:
        try:
            names.update(n.id for n in ast.walk(pysource.parse(test)) if isinstance(n, ast.Name))
        except SyntaxError:
            continue
    return names


def _free_names(expr: ast.expr) -> set[str]:
    """Names read but not bound inside the expression (comprehension targets and lambda args are bound)."""
    loaded = {
        n.id for n in ast.walk(expr) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }
    stored = {
        n.id for n in ast.walk(expr) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    params = {
        a.arg
        for n in ast.walk(expr)
        if isinstance(n, ast.arguments)
        for a in (*n.posonlyargs, *n.args, *n.kwonlyargs, n.vararg, n.kwarg)
        if a
    }
    return loaded - stored - params
