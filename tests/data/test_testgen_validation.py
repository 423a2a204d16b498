"""The validation filter: static screening, execution against references, dual agreement."""

from __future__ import annotations

import pytest

from plum_data.testgen.validation import (
    Candidate,
    _agree,
    bound_names,
    dual_agreement,
    helper_definitions,
    needed_imports,
    screen_tests,
    validate,
)
from plum_exec import records
from plum_exec.sandbox import JobResult, Sandbox


@pytest.mark.parametrize(
    ("test", "reason"),
    [
        ("assert add(1, 2) == 3 +", "syntax_error"),
        ("x = add(1, 2)", "not_assert"),
        ("assert add(1, 2) == 3; assert add(0, 0) == 0", "not_assert"),
        ("assert True", "constant"),
        ("assert 1 + 1 == 2", "constant"),
        ("assert add(1, 2) == add(1, 2)", "constant"),
        ("assert ad(1, 2) == 3", "no_entry_call"),
        ("assert callable(add)", "no_entry_call"),
        ("assert len([1, 2]) == 2", "no_entry_call"),
        ("assert add(x, 2) == 3", "free_name"),
        ("assert add(1, 2) == expected", "free_name"),
    ],
)
def test_static_rejections(test: str, reason: str) -> None:
    kept, rejected = screen_tests([test], "add")
    assert kept == []
    assert [(r.test, r.reason) for r in rejected] == [(test, reason)]


def test_static_screen_keeps_good_tests_and_drops_normalized_duplicates() -> None:
    tests = [
        "assert add(1, 2) == 3",
        "assert (add(1,2)) == 3   ",
        "assert all(add(i, 0) == i for i in range(5))",
        "assert sorted(map(lambda v: add(v, 1), [2, 1])) == [2, 3]",
        "assert math.isclose(add(0.1, 0.2), 0.3)",
        "assert Stack().size() == 0",
    ]
    kept, rejected = screen_tests(tests, "add", known_names={"math"})
    assert kept == [tests[0], tests[2], tests[3], tests[4]]
    assert [(r.test, r.reason) for r in rejected] == [
        (tests[1], "duplicate"),
        (tests[5], "no_entry_call"),
    ]
    class_kept, _ = screen_tests(
        ["assert Stack().size() == 0", "assert Stack.empty().size() == 0"], "Stack"
    )
    assert len(class_kept) == 2


def test_dual_agreement_prefers_size_times_tests() -> None:
    # References 0 and 2 agree on 3 tests (score 6); reference 1 alone passes 4 (score 4).
    members, tests = dual_agreement(
        [frozenset({0, 1, 2}), frozenset({0, 1, 2, 3}), frozenset({0, 1, 2})]
    )
    assert (members, tests) == ([0, 2], frozenset({0, 1, 2}))
    # Equal scores: more tests wins; then the earlier reference.
    assert dual_agreement([frozenset({0}), frozenset({0}), frozenset({1, 2})]) == (
        [2],
        frozenset({1, 2}),
    )
    assert dual_agreement([frozenset({1}), frozenset({2})]) == ([0], frozenset({1}))


def test_needed_imports_and_bound_names() -> None:
    imports = [
        "import math",
        "from collections import Counter",
        "import os",
        "from solution import add",
        "import math",
    ]
    tests = [
        "assert math.isclose(add(1, 2), 3)",
        "assert add(1, 1) == Counter('aa')['a']",
        "assert add(",
    ]
    assert needed_imports(imports, tests, {"add"}) == [
        "import math",
        "from collections import Counter",
    ]
    assert bound_names(
        "import os.path as p, sys\nfrom a import b as c\nX, Y = 1, 2\nclass K: pass\n"
    ) == {"p", "sys", "c", "X", "Y", "K"}
    assert bound_names("def broken(:") == set()


def test_helper_definitions_bring_what_the_tests_use() -> None:
    reference = (
        "import math\n\nSCALE = 2\n\nclass Pair:\n    def __init__(self, a, b):\n        self.a, self.b = a, b\n"
        "    def norm(self):\n        return math.hypot(self.a, self.b) * SCALE\n\n"
        "def unrelated():\n    return 1\n\ndef longest(pairs):\n    return max(p.norm() for p in pairs)\n"
    )
    helpers = helper_definitions(reference, ["assert longest([Pair(3, 4)]) == 10"], "longest")
    assert "class Pair" in helpers and "import math" in helpers and "SCALE = 2" in helpers
    assert "unrelated" not in helpers and "def longest" not in helpers
    assert helper_definitions(reference, ["assert longest([]) == 0"], "longest") == ""
    # A helper that calls the entry point must not bring the solution along.
    calling = "def solve(x):\n    return x + 1\n\ndef twice(x):\n    return solve(solve(x))\n"
    assert helper_definitions(calling, ["assert solve(1) == twice(0)"], "solve") == (
        "def twice(x):\n    return solve(solve(x))"
    )


def test_sandbox_failure_says_nothing_about_the_tests() -> None:
    ok = JobResult(outcomes=[records.TestOutcome("pass")], outputs=[None])
    broken = JobResult(
        outcomes=[records.TestOutcome("infra_error", message="worker died")], outputs=[None]
    )
    verdict = _agree(["assert f() == 1"], [], [ok, broken])
    assert verdict.infra_error and verdict.tests == [] and verdict.rejections == []


def test_validate_keeps_what_the_reference_passes(sandbox: Sandbox) -> None:
    reference = (
        "import time\n\ndef add(a, b):\n    if a == 99:\n        time.sleep(5)\n    return a + b\n"
    )
    tests = [
        "assert add(1, 2) == 3",
        "assert add(2, 2) == 5",  # wrong expected value
        "assert add(1, 'x') == 1",  # raises TypeError
        "assert add(99, 1) == 100",  # too slow
        "assert True",
        "assert add(0, 0) == 0",
    ]
    (validation,) = validate(sandbox, [Candidate("add", [reference], tests)], time_limit=0.5)
    assert validation.tests == ["assert add(1, 2) == 3", "assert add(0, 0) == 0"]
    assert validation.reference == 0 and validation.group_size == 1 and not validation.infra_error
    assert {r.test: r.reason for r in validation.rejections} == {
        "assert add(2, 2) == 5": "reference_fail",
        "assert add(1, 'x') == 1": "reference_error",
        "assert add(99, 1) == 100": "reference_timeout",
        "assert True": "constant",
    }


def test_validate_uses_dual_agreement_and_setup(sandbox: Sandbox) -> None:
    right = "def absolute(x):\n    return x if x >= 0 else -x\n"
    wrong = "def absolute(x):\n    return x\n"
    tests = [
        "assert absolute(3) == 3",
        "assert absolute(-3) == 3",
        "assert absolute(-3) == -3",
        "assert absolute(0) == 0",
    ]
    candidates = [
        Candidate("absolute", [wrong, right, right], tests),
        Candidate("absolute", [right], ["assert absolute(-2) == ONE + 1"], setup="ONE = 1"),
        Candidate("absolute", [right], ["assert True"]),  # nothing to run: no sandbox job at all
    ]
    agreed, with_setup, empty = validate(sandbox, candidates)
    assert agreed.reference == 1 and agreed.group_size == 2
    assert agreed.tests == [
        "assert absolute(3) == 3",
        "assert absolute(-3) == 3",
        "assert absolute(0) == 0",
    ]
    assert [(r.test, r.reason) for r in agreed.rejections] == [
        ("assert absolute(-3) == -3", "reference_fail")
    ]
    assert with_setup.tests == ["assert absolute(-2) == ONE + 1"]
    assert empty.tests == [] and empty.reference is None


def test_reference_that_does_not_load_keeps_nothing(sandbox: Sandbox) -> None:
    (validation,) = validate(
        sandbox, [Candidate("f", ["def f(:\n    pass"], ["assert f() is None"])]
    )
    assert validation.tests == [] and validation.reference is None
    assert [r.reason for r in validation.rejections] == ["reference_error"]


def test_a_test_the_judge_cannot_split_is_rejected_alone(sandbox: Sandbox) -> None:
    """``len()`` of an object of the program needs the program's own code: that test goes with
    its own reason, the problem and its other tests stay (it used to drop the whole problem as
    a sandbox failure)."""
    setup = (
        "class Bag:\n    def __init__(self, items):\n        self.items = list(items)\n"
        "    def __len__(self):\n        return len(self.items)\n"
    )
    reference = "def size(items):\n    return len(items)\n"
    tests = ["assert size(Bag([1, 2])) == len(Bag([1, 2]))", "assert size([1, 2]) == 2", "assert size([]) == 0"]
    (validation,) = validate(sandbox, [Candidate("size", [reference], tests, setup)], time_limit=2.0)
    assert not validation.infra_error
    assert validation.tests == ["assert size([1, 2]) == 2", "assert size([]) == 0"]
    assert {r.test: r.reason for r in validation.rejections} == {tests[0]: "unjudgeable"}
