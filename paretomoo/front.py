"""Front kernels: minimisation in one place, pure numpy over stored values.

Objectives are stored in their natural form (AUC up, logloss down). This module
is the one place that turns them into minimisation: ``F = sign * values`` with
sign −1 for maximised metrics (``signs``, ``to_min``, ``from_min``), and the one
home of dominance (``dominates``, ``pareto_mask``) and of the front's
normalisation to [0, 1] between its ideal and nadir points (``normalise``). The dominance filter and the hypervolume come
from moocore (which pymoo's ``HV`` indicator also calls), not a new
implementation.

Reference point rule (stated once, used everywhere): for each objective the
reference value is the metric's floor where it has one that does not depend on
the data (``Metric.floor`` in ``paretomoo.metrics``: 0.5 for AUC, 0 for PR-AUC
and NDCG), and otherwise the worst value among the finished trials plus 10 % of
their range. Points that do not improve on the reference in every objective add
no volume.
"""

from __future__ import annotations

from collections.abc import Sequence

import moocore
import numpy as np

from paretomoo.metrics import get_metric


def signs(directions: Sequence[str]) -> np.ndarray:
    """+1 for minimised objectives, −1 for maximised ones."""
    bad = [d for d in directions if d not in ("minimize", "maximize")]
    if bad:
        raise ValueError(f"direction must be 'minimize' or 'maximize', got {bad[0]!r}")
    return np.array([1.0 if d == "minimize" else -1.0 for d in directions])


def to_min(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Natural values ``[n, m]`` → minimisation form ``[n, m]``."""
    values = np.asarray(values, dtype=np.float64).reshape(-1, len(directions))
    return values * signs(directions)


def from_min(F: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Minimisation form ``[..., m]`` → natural values, the same shape (the inverse of :func:`to_min`)."""
    return np.asarray(F, dtype=np.float64) * signs(directions)


def dominates(F: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``[n]``: whether each row of ``F[n, m]`` dominates ``f[m]`` (minimisation): no worse anywhere, better somewhere."""
    return np.all(F <= f, axis=1) & np.any(F < f, axis=1)


def normalise(F: np.ndarray, by: np.ndarray | None = None) -> np.ndarray:
    """``F[n, m]`` (minimisation form) scaled per objective over the rows of ``by`` (default: its own rows): their
    ideal point (each objective's best) → 0, their nadir (its worst) → 1; an objective without spread there →
    shifted only."""
    by = F if by is None else by
    ideal, nadir = by.min(axis=0), by.max(axis=0)
    return np.asarray((F - ideal) / np.where(nadir > ideal, nadir - ideal, 1.0))


def pareto_mask(F: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``F[n, m]`` (minimisation).

    Rows with a NaN are never on the front. Duplicated points are all kept, so
    two trials that reached the same metrics are both reported.
    """
    F = np.asarray(F, dtype=np.float64)
    if F.ndim != 2:
        raise ValueError(f"F must be 2-D [n_points, n_objectives], got shape {F.shape}")
    mask = np.zeros(F.shape[0], dtype=bool)
    ok = np.isfinite(F).all(axis=1)
    if ok.any():
        mask[ok] = moocore.is_nondominated(F[ok], keep_weakly=True)
    return mask


def hypervolume(F: np.ndarray, ref: np.ndarray) -> float:
    """Volume dominated by ``F[n, m]`` (minimisation) and bounded by ``ref[m]``.

    Points with a NaN, or not strictly better than ``ref`` in every objective,
    add nothing. The empty set has volume 0.
    """
    F = np.asarray(F, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if F.ndim != 2 or ref.shape != (F.shape[1],):
        raise ValueError(f"F must be [n, m] and ref [m]; got {F.shape} and {ref.shape}")
    F = F[np.isfinite(F).all(axis=1)]
    F = F[(F < ref).all(axis=1)]
    if F.shape[0] == 0:
        return 0.0
    return float(moocore.hypervolume(F, ref=ref))


def largest_contributions(F: np.ndarray, k: int, ref: float = 1.1) -> np.ndarray:
    """Indices of the ``k`` rows of ``F[n, m]`` (mutually non-dominated, minimisation, normalised) with the largest
    exclusive hypervolume contributions against the reference point ``ref`` in every objective, largest first (ties
    in row order)."""
    contrib = moocore.hv_contributions(F, ref=np.full(F.shape[1], ref))
    return np.argsort(-contrib, kind="stable")[:k]


def hypervolume_history(F: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Hypervolume of the first t rows for t = 1..n (rows in trial order)."""
    F = np.asarray(F, dtype=np.float64)
    out = np.zeros(F.shape[0])
    front = np.empty((0, F.shape[1]))
    for t in range(F.shape[0]):
        if np.isfinite(F[t]).all():
            # Only the running front matters, which keeps each step small.
            front = np.vstack([front, F[t]])
            front = front[pareto_mask(front)]
        out[t] = hypervolume(front, ref)
    return out


def reference_point(metrics: Sequence[str], directions: Sequence[str], values: np.ndarray) -> np.ndarray:
    """The reference point in minimisation form, by the rule in the module doc.

    ``values[n, m]`` are natural metric values of the finished trials.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1, len(metrics))
    s = signs(directions)
    ref = np.zeros(len(metrics))
    for j, name in enumerate(metrics):
        metric = get_metric(name)
        base = metric.floor if metric is not None else None
        if base is not None:
            ref[j] = s[j] * base
            continue
        col = s[j] * values[:, j]
        col = col[np.isfinite(col)]
        if col.size == 0:
            ref[j] = np.inf
            continue
        span = float(col.max() - col.min())
        ref[j] = float(col.max()) + 0.1 * (span if span > 0 else max(abs(float(col.max())), 1.0))
    return ref
