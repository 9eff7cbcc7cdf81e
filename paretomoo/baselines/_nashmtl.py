"""Nash-MTL (Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik and Fetaya, ICML 2022).

The Nash bargaining update is ``Jᵀα`` with ``α > 0`` solving ``G α = 1/α``
(``G = J Jᵀ``, J the per-task gradients of the shared parameters). The paper
approximates α by a sequence of convex cvxpy problems; here it is solved to
machine precision: α is the minimiser of the strictly convex

    φ(α) = ½ αᵀGα - Σ_i log α_i,   ∇φ = Gα - 1/α,   ∇²φ = G + diag(1/α²),

found by damped Newton in float64 (a step never leaves α > 0; backtracking
keeps φ decreasing). The equation is invariant under a diagonal rescaling:
with ``D = diag(G)`` and ``C = D^-½ G D^-½`` (the gradients' cosines),
``α = D^-½ β`` where ``C β = 1/β``; so it is solved on C, whatever the sizes of
the task gradients. A ridge ``RIDGE · I`` on C keeps φ bounded below when
the gradients' cone holds a line (two exactly opposite gradients: the update
along that line is then 0). A task whose gradient is exactly zero has no
finite α (its α_i would grow without bound, with no effect on the update): it
gets α_i = 0 and the others are solved without it.

Unlike the authors' code (github.com/AvivNavon/nash-mtl), α is not rescaled by
``√‖G‖_F`` (their conditioning; under Adam a per-step scale of the update
mostly cancels), and the task heads get their own task's plain gradient rather
than ``α_i`` times it (the convention of every gradient-aggregation method here).
"""

from __future__ import annotations

import numpy as np
import torch

from paretomoo.baselines._base import GramianMethod

RIDGE = 1e-10
TOL = 1e-12  # stop when every |β_i (Cβ)_i - 1| is below this
MAX_ITER = 100


def nash_weights(gramian: np.ndarray) -> np.ndarray:
    """The α > 0 with ``G α = 1/α`` for a symmetric PSD ``gramian[T, T]`` (see the module docstring).

    Tasks with a zero gradient (``G_ii = 0``) get α_i = 0; a zero Gramian gives α = 0.
    """
    g = np.asarray(gramian, dtype=np.float64)
    if not np.all(np.isfinite(g)):
        raise ValueError("the Gramian must be finite")
    d = np.diag(g).copy()
    live = d > 0
    alpha = np.zeros(g.shape[0])
    if live.any():
        s = 1.0 / np.sqrt(d[live])
        c = g[np.ix_(live, live)] * s[:, None] * s[None, :]
        alpha[live] = _solve(c + RIDGE * np.eye(len(s))) * s
    return alpha


def _solve(h: np.ndarray) -> np.ndarray:
    """The minimiser of ``½ βᵀhβ - Σ log β`` for a symmetric positive definite ``h`` with a diagonal near 1."""
    b = 1.0 / np.sqrt(np.diag(h))  # exact when the gradients are orthogonal

    def phi(x: np.ndarray) -> float:
        return float(0.5 * x @ h @ x - np.sum(np.log(x)))

    for _ in range(MAX_ITER):
        hb = h @ b
        if np.max(np.abs(b * hb - 1.0)) < TOL:
            break
        grad = hb - 1.0 / b
        step = np.linalg.solve(h + np.diag(1.0 / b**2), grad)
        t = 1.0
        shrink = step > 0
        if shrink.any():  # stay inside β > 0
            t = min(1.0, 0.99 * float(np.min(b[shrink] / step[shrink])))
        f0, decrement = phi(b), float(grad @ step)
        while phi(b - t * step) > f0 - 0.25 * t * decrement and t > 1e-12:
            t *= 0.5
        b = b - t * step
    return b


class NashMTL(GramianMethod):
    """Nash-MTL's weights, solved exactly every step (the paper's ``update_weights_every = 1``)."""

    def weights(self, gramian: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(nash_weights(gramian.numpy()))
