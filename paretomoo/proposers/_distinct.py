"""No training wasted on a λ already tried: near-duplicate proposals are replaced before they are queued.

Under common random numbers the same λ gives nearly the same model, so a
proposal close to a stored λ (or to another proposal of its batch) buys no
information. Closeness is measured on λ, not on the proposer's logits (the
softmax is shift-invariant and bounds clamp): ``distance(a, b) = max_i
|log λ_a,i − log λ_b,i − c|`` over the free tasks, with ``c`` the mean log-ratio
(the centred log-ratio: a uniform rescaling is no difference). A proposal within
``tol`` of a point already seen is replaced by the candidate farthest from every
point seen so far, out of ``CANDIDATES`` uniform draws over the logit box, from
a generator seeded by the study's search seed and the batch: a resumed study
replaces exactly as an uninterrupted one did. The proposer is then told the
replacement (its ``tell`` takes ``x`` as the truth).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# Uniform candidates over the box a replacement is chosen from (the one farthest from everything seen).
CANDIDATES = 512


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
    candidates = cand_clr = None
    replaced = 0
    for i in range(len(x)):
        c = clr(to_free_lambda(x[i : i + 1]))
        if points is None or distances(c, points).min() > tol:
            points = c if points is None else np.vstack([points, c])
            continue
        if candidates is None or cand_clr is None:
            candidates = rng.uniform(-zmax, zmax, size=(CANDIDATES, x.shape[1]))
            cand_clr = clr(to_free_lambda(candidates))
        best = int(np.argmax(distances(cand_clr, points).min(axis=1)))
        x[i] = candidates[best]
        points = np.vstack([points, cand_clr[best : best + 1]])
        replaced += 1
    return x, replaced
