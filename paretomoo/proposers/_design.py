"""What the population-based proposers share: random's first points, and the λ distance they keep apart."""

from __future__ import annotations

import numpy as np

from paretomoo.space import directions_to_logits


def centred(x: np.ndarray) -> np.ndarray:
    """Logits ``x[n, d]`` minus their row mean: the centred log-ratios of the free tasks' λ (exact without bounds;
    the softmax is shift-invariant, so two logit rows that differ by a constant are one λ)."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    return x - x.mean(axis=1, keepdims=True)


def chebyshev(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[len(a), len(b)]`` max-abs distances between rows, the distance ``distinct`` measures on centred λ."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    return np.abs(a[:, None, :] - b[None, :, :]).max(axis=2)


def random_design(n: int, dim: int, zmax: float, seed: int) -> np.ndarray:
    """The first ``n`` points ``[n, dim]`` that ``random`` proposes under ``seed`` (``_random.RandomProposer``)."""
    rows = [np.random.default_rng([seed, k]).dirichlet(np.ones(dim)) for k in range(n)]
    return directions_to_logits(np.array(rows).reshape(n, dim), zmax)
