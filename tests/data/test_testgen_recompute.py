"""Expected values from running the references: which tests qualify, clustering, rewriting."""

from __future__ import annotations

import pytest

from plum_data.testgen.recompute import call_inputs, recompute_expected
from plum_data.testgen.validation import Candidate, validate
from plum_exec.sandbox import Sandbox


@pytest.mark.parametrize(
    ("test", "expected"),
    [
        ("assert f([1, 2], 3) == 6", ("f([1, 2], 3)", [[1, 2], 3])),
        ("assert 'ab' == f('ba')", ("f('ba')", ["ba"])),
        ("assert f() == None", ("f()", [])),
        ("assert f((1, -2), {3}) == 0", ("f((1, -2), {3})", [(1, -2), {3}])),
        ("assert f(x) == 1", None),  # argument not a literal
        ("assert f([1] * 3) == 3", None),
        ("assert f(1) != 2", None),  # not an equality
        ("assert f(1) == 2 == g(1)", None),
        ("assert abs(f(1) - 2) < 1e-9", None),
        ("assert f(k=1) == 2", None),  # keywords
        ("assert f(*[1]) == 2", None),
        ("assert g(1) == 2", None),  # another function
        ("assert f(1) == 2; x = 1", None),
        ("assert f(1 == 2", None),
    ],
)
def test_call_inputs(test: str, expected: tuple | None) -> None:
    assert call_inputs(test, "f") == expected


def test_expected_values_come_from_the_largest_cluster(sandbox: Sandbox) -> None:
    right = "def absolute(x):\n    return x if x >= 0 else -x\n"
    wrong = "def absolute(x):\n    return x\n"
    tests = [
        "assert absolute(-3) == 5",  # wrong arithmetic, good input
        "assert absolute(4) == 4",
        "assert absolute(-3) == 3",  # same input again: asked once
        "assert absolute('a') == 1",  # the references raise: dropped
        "assert absolute(-1) > 0",  # not an equality: kept as written
    ]
    (result,) = recompute_expected(sandbox, [Candidate("absolute", [wrong, right, right], tests)])
    assert not result.infra_error and result.candidate is not None
    assert result.candidate.references == [right, right]
    assert result.candidate.tests == [
        "assert absolute(-3) == 3",
        "assert absolute(4) == 4",
        "assert absolute(-1) > 0",
    ]
    assert [(r.test, r.reason) for r in result.rejections] == [
        ("assert absolute('a') == ...", "reference_error")
    ]
    (validation,) = validate(sandbox, [result.candidate])
    assert validation.tests == result.candidate.tests and validation.group_size == 2


def test_outputs_of_every_plain_type_read_back(sandbox: Sandbox) -> None:
    reference = (
        "def shape(kind):\n"
        "    return {'t': (1, 'a'), 's': {2, 3}, 'd': {'k': [1.5, None]}, 'b': True,\n"
        "            'e': set(), 'n': float('nan')}[kind]\n"
    )
    tests = [f"assert shape({k!r}) == 0" for k in "tsdben"]
    (result,) = recompute_expected(sandbox, [Candidate("shape", [reference], tests)])
    assert result.candidate is not None
    (validation,) = validate(sandbox, [result.candidate])
    # nan has no literal that reads back; its test names a free variable and is screened out
    assert len(validation.tests) == 5
    assert [r.reason for r in validation.rejections] == ["free_name"]


def test_candidate_without_equality_tests_is_unchanged(sandbox: Sandbox) -> None:
    candidate = Candidate("f", ["def f(x):\n    return x\n"], ["assert f(1) > 0"])
    (result,) = recompute_expected(sandbox, [candidate])
    assert result.candidate is candidate and result.rejections == []
