"""The scale of the balanced pick: each objective's lift over chance, as a share of the best the candidates reach.

``lift[i, j] = (value[i, j] − chance[j]) / (best[j] − chance[j])`` in natural form:
1 at the best candidate, 0 at chance, below 0 under it. Objectives are compared on
this scale rather than on the front's own range, so an objective whose front spans
a few standard errors keeps every point's lift near 1 and cannot outweigh one whose
front spans half its distance to chance.

``shortfall[i, j] = 1 − lift[i, j]``, the share of the achievable lift candidate i
gives up on objective j, is set to 0

* where candidate i is within noise of the best candidate on objective j (the
  paired test of ``uncertainty.near_best``, given the trials' evidence), and
* on an objective that does not steer: one where every front point is within noise
  of the best (its front spans only noise), or whose best is no better than chance.

Pure numpy; ``decide.pick`` reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from paretomoo.front import signs
from paretomoo.uncertainty import Evidence, near_best


@dataclass(frozen=True)
class Scale:
    """The candidates on the lift scale; arrays cover all n rows given (only the candidates' rows are meaningful).

    ``best[m]`` natural best value among the candidates; ``lift[n, m]`` (NaN on an objective
    with no lift over chance); ``tied[n, m]`` within noise of the best; ``noise_only[m]`` the
    front spans only noise; ``no_lift[m]`` the best is no better than chance; ``shortfall[n, m]``.
    """

    best: np.ndarray
    lift: np.ndarray
    tied: np.ndarray
    noise_only: np.ndarray
    no_lift: np.ndarray
    shortfall: np.ndarray

    @property
    def idle(self) -> np.ndarray:
        """``[m]``: the objectives that do not steer."""
        return self.noise_only | self.no_lift


def lift(values: np.ndarray, directions: Sequence[str], chance: np.ndarray, best: np.ndarray) -> np.ndarray:
    """``[n, m]`` lift over chance of natural ``values[n, m]`` as a share of ``best[m]``'s (NaN where best ≤ chance)."""
    s = signs(directions)
    gain = s * (np.asarray(chance, dtype=np.float64) - np.asarray(best, dtype=np.float64))  # > 0: best beats chance
    out = s * (np.asarray(chance, dtype=np.float64) - np.asarray(values, dtype=np.float64)) / np.where(gain > 0, gain, np.nan)
    return np.asarray(out, dtype=np.float64)


def scale(
    values: np.ndarray,
    directions: Sequence[str],
    chance: np.ndarray,
    rows: np.ndarray,
    front: np.ndarray,
    evidence: Evidence | None = None,
    level: float = 0.9,
    tied: np.ndarray | None = None,
) -> Scale:
    """The lift scale of the candidates ``rows`` (indices into ``values[n, m]``), ``front`` ⊆ ``rows`` their
    non-dominated ones; ``chance[m]`` natural. What is within noise of the best: ``tied[n, m]`` when given, else
    what ``evidence`` (rows those of ``values``) says, else only the best itself."""
    values = np.asarray(values, dtype=np.float64)
    chance = np.asarray(chance, dtype=np.float64)
    if chance.shape != (values.shape[1],) or not np.isfinite(chance).all():
        raise ValueError(f"chance must hold one finite value per objective ({values.shape[1]}), got {chance}")
    F = values * signs(directions)
    at = np.asarray(rows)[np.argmin(F[rows], axis=0)]  # [m] the best candidate on each objective
    best = values[at, np.arange(values.shape[1])]
    lifts = lift(values, directions, chance, best)
    if tied is None and evidence is not None and evidence.means.shape == values.shape:
        tied = near_best(evidence, level, np.asarray(rows))
    best_too = F <= F[at, np.arange(values.shape[1])]  # the best itself, in a replicate too
    tied = best_too if tied is None else np.asarray(tied, dtype=bool) | best_too
    no_lift = np.isnan(lifts[rows]).all(axis=0)
    noise_only = tied[front].all(axis=0) & (len(front) > 1)
    shortfall = np.where(tied | no_lift | noise_only, 0.0, 1.0 - np.nan_to_num(lifts, nan=1.0))
    return Scale(best, lifts, tied, noise_only, no_lift, shortfall)
