"""The λ search space: a box of logits mapped onto the (bounded) simplex.

Every proposer searches the same box ``x ∈ [-zmax, zmax]^d`` with one logit per
free task. A point maps to λ through a softmax, then onto the per-task bounds:

    w = softmax(x)                      (free tasks only)
    λ_free = lo + (M - Σlo) · w         (M = 1 - Σ fixed weights)
    any λ_i > hi_i is clamped to hi_i and its excess is shared by the unclamped
    tasks in proportion to w (repeat until none exceeds its bound)

Why logits: trade-offs between business tasks span orders of magnitude (fraud
may need 1:100 against clicks). On a linear simplex parametrisation a
ratio of 1:100 is a thin sliver near the boundary that crossover and TPE rarely
visit; in logit space it is a constant fraction of the box. ``zmax`` is
``ln(max_ratio) / 2``, so the largest reachable ratio between two free tasks is
exactly ``max_ratio`` (1000 by default).
"""

from __future__ import annotations

import math

import numpy as np

from paretomoo.spec import LambdaSpec


class LambdaSpace:
    """Maps proposer coordinates to λ vectors for a fixed list of tasks."""

    def __init__(self, tasks: list[str], spec: LambdaSpec) -> None:
        self.tasks = list(tasks)
        fixed = dict(spec.fixed)
        self.free = [t for t in self.tasks if t not in fixed]
        self.fixed = fixed
        bounds = {n: (lo, hi) for n, lo, hi in spec.bounds}
        self.lo = np.array([bounds.get(t, (0.0, 1.0))[0] for t in self.free])
        self.hi = np.array([bounds.get(t, (0.0, 1.0))[1] for t in self.free])
        self.mass = 1.0 - sum(fixed.values())
        self.zmax = math.log(spec.max_ratio) / 2.0

    @property
    def dim(self) -> int:
        return len(self.free)

    @property
    def params(self) -> list[str]:
        """Names of the stored coordinates, one per free task."""
        return [f"logit_{t}" for t in self.free]

    def ends(self) -> np.ndarray:
        """Logits ``[d, d]`` of each free task's end: +zmax for it, −zmax for the others (the box's corners where one
        task outweighs each other by ``max_ratio``)."""
        return np.where(np.eye(self.dim, dtype=bool), self.zmax, -self.zmax)

    def to_lambda(self, x: np.ndarray) -> np.ndarray:
        """Logits ``x[n, d]`` (or ``[d]``) → λ ``[n, k]`` over all tasks, on the simplex."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        x = np.clip(x, -self.zmax, self.zmax)
        w = np.exp(x - x.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        lam_free = np.stack([self._bounded(row) for row in w])
        out = np.zeros((x.shape[0], len(self.tasks)))
        for j, t in enumerate(self.tasks):
            out[:, j] = self.fixed[t] if t in self.fixed else lam_free[:, self.free.index(t)]
        return out

    def _bounded(self, w: np.ndarray) -> np.ndarray:
        lam = self.lo + (self.mass - self.lo.sum()) * w
        clamped = np.zeros(len(w), dtype=bool)
        for _ in range(len(w)):
            over = (lam > self.hi + 1e-12) & ~clamped
            if not over.any():
                break
            clamped |= over
            rest = self.mass - self.hi[clamped].sum() - self.lo[~clamped].sum()
            share = w[~clamped] / max(w[~clamped].sum(), 1e-300)
            lam = np.where(clamped, self.hi, 0.0)
            lam[~clamped] = self.lo[~clamped] + max(rest, 0.0) * share
        return lam


def directions_to_logits(d: np.ndarray, zmax: float) -> np.ndarray:
    """Simplex directions ``d[n, dim]`` (Das-Dennis, Dirichlet) → logits in the box.

    ``x = zmax · (2·d − 1)``: a corner of the simplex goes to a corner of the
    box (ratio ``max_ratio`` against every other free task), the centre to equal
    logits (uniform λ), so a uniform design over the simplex stays a uniform
    design over log-ratios.
    """
    d = np.atleast_2d(np.asarray(d, dtype=np.float64))
    return zmax * (2.0 * d - 1.0)
