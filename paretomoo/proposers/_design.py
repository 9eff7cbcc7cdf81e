"""What the proposers share: random's points, and the maps between logits and directions."""

from __future__ import annotations

import numpy as np

from paretomoo.space import directions_to_logits


def centred(x: np.ndarray) -> np.ndarray:
    """Logits ``x[n, d]`` minus their row mean: the centred log-ratios of the free tasks' λ (exact without bounds;
    the softmax is shift-invariant, so two logit rows that differ by a constant are one λ)."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    return x - x.mean(axis=1, keepdims=True)


def random_design(n: int, dim: int, zmax: float, seed: int, start: int = 0) -> np.ndarray:
    """Points ``start`` to ``start + n - 1`` ``[n, dim]`` of what ``random`` proposes under ``seed``: the k-th a
    Dirichlet(1) direction drawn from ``default_rng([seed, k])``, mapped to logits."""
    rows = [np.random.default_rng([seed, k]).dirichlet(np.ones(dim)) for k in range(start, start + n)]
    return directions_to_logits(np.array(rows).reshape(n, dim), zmax)


def to_directions(x: np.ndarray, zmax: float) -> np.ndarray:
    """Logits ``x[n, d]`` → directions ``[n, d]`` on the simplex whose logits (``directions_to_logits``) give the same
    λ (the softmax is shift-invariant): random's plane of the box; a λ beyond the plane's reach is clipped onto it."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    d = np.clip(centred(x) / (2.0 * zmax) + 1.0 / x.shape[1], 0.0, None)
    return d / d.sum(axis=1, keepdims=True)


def from_directions(u: np.ndarray, zmax: float) -> np.ndarray:
    """Variables ``u[n, d] ∈ [0, 1]`` → logits of the direction ``u / Σu`` (the centre where ``Σu`` is 0)."""
    u = np.atleast_2d(np.asarray(u, dtype=np.float64))
    total = u.sum(axis=1, keepdims=True)
    d = np.where(total > 1e-12, u / np.maximum(total, 1e-12), 1.0 / u.shape[1])
    return directions_to_logits(d, zmax)
