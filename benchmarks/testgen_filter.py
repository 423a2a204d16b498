"""Measure testgen's validation filter on tests whose answers are known.

MBPP's validation (511-600) and train (601-974) problems come with a reference (``code``) and
three real tests each. Every real test also gets corrupted copies:
- ``wrong_value``: the expected value changed (numbers +1, strings/containers extended,
  booleans negated; ``assert f(x)`` becomes ``assert not f(x)``);
- ``wrong_name``: the entry point misspelled in the call;
- ``syntax_error``: the statement cut short so it no longer parses.
Real and corrupted tests are shuffled together and pass through exactly the functions
``plum testgen`` uses (``plum_data.testgen.validate``: static screening, one sandbox job per
reference, agreement), with MBPP's code as the only reference. We count corrupted tests that
survive (goal < 1%) and real tests that are lost (goal < 2%).

    python benchmarks/testgen_filter.py --mbpp ../shared/data/mbpp/mbpp.jsonl --out benchmarks/results/testgen_filter.json
"""

from __future__ import annotations

import argparse
import ast
import copy
import random
import time
from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table

from plum_data.testgen import Candidate, TestGenConfig, validate
from plum_data.testgen.parsing import calls_in, parse_response
from plum_data.testgen.validation import helper_definitions, needed_imports
from plum_exec.jsonl import write_json
from plum_exec.problems import load_mbpp
from plum_exec.records import Problem
from plum_exec.sandbox import Sandbox, SandboxConfig

KINDS = ("wrong_value", "wrong_name", "syntax_error")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mbpp", required=True, help="MBPP release JSONL (mbpp.jsonl)")
    parser.add_argument("--splits", nargs="+", default=["validation", "train"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", help="write the summary and every misjudged test here (JSON)")
    args = parser.parse_args()

    problems = [p for split in args.splits for p in load_mbpp(args.mbpp, split).values()]
    rng = random.Random(args.seed)
    candidates, truth = zip(*(mixed_candidate(p, rng) for p in problems), strict=True)
    config = TestGenConfig()
    start = time.perf_counter()
    with Sandbox(SandboxConfig(workers=args.workers)) as sandbox:
        validations = validate(
            sandbox,
            candidates,
            time_limit=config.time_limit,
            load_time_limit=config.load_time_limit,
        )
    seconds = time.perf_counter() - start

    summary = score(problems, truth, validations)
    summary.update(
        seconds=round(seconds, 1), workers=args.workers, seed=args.seed, splits=args.splits
    )
    report(summary)
    if args.out:
        write_json(args.out, summary)


def mixed_candidate(problem: Problem, rng: random.Random) -> tuple[Candidate, dict[str, str]]:
    """The problem's real tests plus their corruptions, shuffled; and each test's true kind."""
    entry_point = problem.entry_point or ""
    truth: dict[str, str] = {}
    for test in problem.tests:
        truth.setdefault(test.code, "real")
        for kind in KINDS:
            corrupted = CORRUPT[kind](test.code, entry_point, rng)
            if corrupted is not None and corrupted not in truth:
                truth[corrupted] = kind
    tests = list(truth)
    rng.shuffle(tests)
    reference = problem.reference or ""
    # The setup the pipeline would give: imports and helper definitions the tests use.
    imports = parse_response(reference).imports
    setup = "\n".join(
        [
            problem.setup,
            *needed_imports(imports, tests, {entry_point}),
            helper_definitions(reference, tests, entry_point),
        ]
    )
    return Candidate(entry_point, [reference], tests, setup), truth


def wrong_value(test: str, entry_point: str, rng: random.Random) -> str | None:
    tree = ast.parse(test)
    # MBPP's test_setup_code may precede the assertion in a test: mutate the assertion itself.
    statement = next((node for node in tree.body if isinstance(node, ast.Assert)), None)
    if statement is None:
        return None
    check = statement.test
    if isinstance(check, ast.Compare) and len(check.ops) == 1:
        sides = [check.left, check.comparators[0]]
        expected = next((i for i, s in enumerate(sides) if entry_point not in calls_in(s)), None)
        if expected is None:
            return None
        mutated = _mutate_expr(sides[expected], rng)
        if mutated is None:
            return None
        if expected == 0:
            check.left = mutated
        else:
            check.comparators[0] = mutated
    elif isinstance(check, ast.UnaryOp) and isinstance(check.op, ast.Not):
        statement.test = check.operand
    elif isinstance(check, ast.Call) and _root(check.func) == entry_point:
        statement.test = ast.UnaryOp(ast.Not(), check)
    elif isinstance(check, ast.Call) and len(check.args) >= 2:  # math.isclose(f(x), 3.5)
        mutated = _mutate_expr(check.args[1], rng)
        if mutated is None:
            return None
        check.args[1] = mutated
    else:
        return None
    return ast.unparse(ast.fix_missing_locations(tree))


def wrong_name(test: str, entry_point: str, rng: random.Random) -> str | None:
    if not entry_point:
        return None
    misspelled = _misspell(entry_point, rng)
    tree = ast.parse(test)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == entry_point:
            node.id = misspelled
    return ast.unparse(tree)


def syntax_error(test: str, entry_point: str, rng: random.Random) -> str | None:
    """Cut the statement (as a truncated response would) somewhere that leaves it unparseable."""
    cuts = list(range(len(test) // 3, len(test)))
    rng.shuffle(cuts)
    for cut in cuts:
        if not _parses(test[:cut]):
            return test[:cut]
    return None


CORRUPT = {"wrong_value": wrong_value, "wrong_name": wrong_name, "syntax_error": syntax_error}


def _mutate_expr(node: ast.expr, rng: random.Random) -> ast.expr | None:
    """A literal with a different value, or None when the expression is not a literal."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return ast.parse(repr(_mutate_value(value, rng)), mode="eval").body


def _mutate_value(value: Any, rng: random.Random) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + rng.choice([1, -1, 2])
    if isinstance(value, complex):
        return value + 1j
    if isinstance(value, str):
        return value + rng.choice("xyz!")
    if isinstance(value, list | tuple):
        extended = [*value, copy.deepcopy(value[-1]) if value else 0]
        return type(value)(extended)
    if isinstance(value, set | frozenset):
        return type(value)(value | {("__not_there__",)})
    if isinstance(value, dict):
        return {**value, "__not_there__": 0}
    if value is None:
        return 0
    return (value,)


def _misspell(name: str, rng: random.Random) -> str:
    i = rng.randrange(len(name))
    edits = [name[:i] + name[i + 1 :], name[:i] + name[i] + name[i:], name + "_"]
    return rng.choice([e for e in edits if e and e != name and e.isidentifier()])


def _root(func: ast.expr) -> str | None:
    while isinstance(func, ast.Attribute):
        func = func.value
    return func.id if isinstance(func, ast.Name) else None


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def score(
    problems: list[Problem], truth: tuple[dict[str, str], ...], validations: list
) -> dict[str, Any]:
    """Counts per kind of test: how many went in and how many the filter kept."""
    total: Counter[str] = Counter()
    kept: Counter[str] = Counter()
    lost_reasons: Counter[str] = Counter()
    survivors, lost = [], []
    for problem, kinds, validation in zip(problems, truth, validations, strict=True):
        total.update(kinds.values())
        kept.update(kinds[t] for t in validation.tests)
        survivors += [
            {"task_id": problem.task_id, "kind": kinds[t], "test": t}
            for t in validation.tests
            if kinds[t] != "real"
        ]
        for rejection in validation.rejections:
            if kinds[rejection.test] == "real":
                lost_reasons[rejection.reason] += 1
                lost.append(
                    {"task_id": problem.task_id, "reason": rejection.reason, "test": rejection.test}
                )
    corrupted_total = sum(total[k] for k in KINDS)
    corrupted_kept = sum(kept[k] for k in KINDS)
    return {
        "problems": len(problems),
        "real_tests": total["real"],
        "real_lost": total["real"] - kept["real"],
        "real_lost_pct": round(100 * (total["real"] - kept["real"]) / max(total["real"], 1), 2),
        "real_lost_by_reason": dict(lost_reasons),
        "corrupted_tests": corrupted_total,
        "corrupted_survived": corrupted_kept,
        "corrupted_survived_pct": round(100 * corrupted_kept / max(corrupted_total, 1), 2),
        "by_kind": {k: {"tests": total[k], "kept": kept[k]} for k in ("real", *KINDS)},
        "problems_with_infra_error": sum(v.infra_error for v in validations),
        "survivors": survivors,
        "lost": lost,
    }


def report(summary: dict[str, Any]) -> None:
    table = Table(title=f"testgen validation filter on {summary['problems']} MBPP problems")
    for column in ("tests", "count", "kept by the filter", "share kept"):
        table.add_column(column, justify="right" if column != "tests" else "left")
    for kind, counts in summary["by_kind"].items():
        share = 100 * counts["kept"] / max(counts["tests"], 1)
        table.add_row(kind, str(counts["tests"]), str(counts["kept"]), f"{share:.2f}%")
    console = Console()
    console.print(table)
    console.print(
        f"corrupted survived: {summary['corrupted_survived']}/{summary['corrupted_tests']} "
        f"({summary['corrupted_survived_pct']}%); real lost: {summary['real_lost']}/{summary['real_tests']} "
        f"({summary['real_lost_pct']}%) by reason {summary['real_lost_by_reason']}; "
        f"{summary['seconds']} s with {summary['workers']} workers"
    )


if __name__ == "__main__":
    main()
