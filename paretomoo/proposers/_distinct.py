"""No training wasted on a λ already tried: near-duplicate proposals are replaced before they are queued.

Under common random numbers the same λ gives nearly the same model, so a
proposal close to a stored λ (or to another proposal of its batch) buys no
information. Closeness is measured on λ, not on the proposer's logits (the
softmax is shift-invariant and bounds clamp): ``distance(a, b) = max_i
|log λ_a,i − log λ_b,i − c|`` over the free tasks, with ``c`` the mean
log-ratio (centred log-ratios: a uniform rescaling is no difference).

A proposal within ``tol`` of a point already seen is moved as little as it
takes: of draws around it (Gaussian in the logit box, at widening scales
``SCALES``), the one nearest to it that lies farther than ``tol`` from every
point seen so far, so the region the optimizer chose to exploit is kept; only
if none is free, the farthest from everything of ``CANDIDATES`` uniform draws
over the box. (Moving every duplicate to the farthest free point instead sends
it towards the corners of the box, single-task λ; on the demo benchmark the two
rules scored alike, benchmarks/front_quality.py.) The draws come from a generator
seeded by the study's search seed and the batch: a resumed study replaces
exactly as an uninterrupted one did. The proposer is then told the replacement
(its ``tell`` takes ``x`` as the truth).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# Draws per scale around a near-duplicate; the scales (standard deviations, logit units); the uniform draws over
# the box to fall back on when no nearby draw is free.
NEARBY = 64
SCALES = (0.1, 0.2, 0.4, 0.8, 1.6)
CANDIDATES = 512


def tolerance(distinct: float, free: int, budget: int, zmax: float) -> float:
    """The tolerance a study uses: ``distinct`` (``[search] distinct``), capped at half the spacing of ``budget``
    points spread evenly over the λ box, ``zmax / budget^(1/(free − 1))``.

    With few free tasks the box is small: two tasks leave one coordinate, a
    centred log-ratio between ±zmax (±3.45 at ``max_ratio`` 1000), so 0.15 fits
    only 46 distinct λ and 48 trials could not all be kept apart (on
    census-income 25–38 of every optimizer's 48 proposals were moved). The cap
    is 0.07 for two tasks and 48 trials, 1.1 for the demo's four and 32 (so
    0.15 holds there).
    """
    if free < 2 or budget < 1:
        return distinct
    return min(distinct, zmax / budget ** (1.0 / (free - 1)))


def clr(lam: np.ndarray) -> np.ndarray:
    """Centred log-ratios of λ rows ``[n, k]``: ``log λ − mean(log λ)`` (zeros and negatives floored at 1e-12)."""
    logs = np.log(np.maximum(np.atleast_2d(lam), 1e-12))
    return logs - logs.mean(axis=1, keepdims=True)


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[len(a), len(b)]`` max-abs distances between centred log-ratio rows."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    return np.abs(a[:, None, :] - b[None, :, :]).max(axis=2)


def distinct(
    x: np.ndarray,
    seen: np.ndarray,
    to_free_lambda: Callable[[np.ndarray], np.ndarray],
    tol: float,
    zmax: float,
    seed: tuple[int, ...],
) -> tuple[np.ndarray, int]:
    """Proposals ``x[n, d]`` with every near-duplicate replaced; returns them and how many were replaced.

    ``seen[m, d]``: logits of the λ already stored (every trial of the study);
    ``to_free_lambda`` maps logits to the free tasks' λ; ``tol`` ≤ 0 keeps ``x``.
    """
    x = np.array(x, dtype=np.float64)
    if tol <= 0 or len(x) == 0 or x.shape[1] < 2:  # one free task: every λ is the same, nothing to spread
        return x, 0
    points = clr(to_free_lambda(seen)) if len(seen) else None
    rng = np.random.default_rng(list(seed))
    replaced = 0
    for i in range(len(x)):
        c = clr(to_free_lambda(x[i : i + 1]))
        if points is None or distances(c, points).min() > tol:
            points = c if points is None else np.vstack([points, c])
            continue
        x[i], c = _nearest_free(x[i], c, points, to_free_lambda, tol, zmax, rng)
        points = np.vstack([points, c])
        replaced += 1
    return x, replaced


def _nearest_free(
    x: np.ndarray,
    c: np.ndarray,
    points: np.ndarray,
    to_free_lambda: Callable[[np.ndarray], np.ndarray],
    tol: float,
    zmax: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The draw nearest to ``x`` (centred log-ratios ``c``) that is farther than ``tol`` from every row of ``points``."""
    for scale in SCALES:
        near = np.clip(x + rng.normal(0.0, scale, size=(NEARBY, len(x))), -zmax, zmax)
        near_clr = clr(to_free_lambda(near))
        free = distances(near_clr, points).min(axis=1) > tol
        if free.any():
            k = np.flatnonzero(free)[int(np.argmin(distances(near_clr[free], c)[:, 0]))]
            return near[k], near_clr[k : k + 1]
    far = rng.uniform(-zmax, zmax, size=(CANDIDATES, len(x)))
    far_clr = clr(to_free_lambda(far))
    k = int(np.argmax(distances(far_clr, points).min(axis=1)))
    return far[k], far_clr[k : k + 1]
