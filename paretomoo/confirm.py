"""Confirm a trial before exporting it: does its λ, retrained under fresh seeds, land where the study measured it?

The study holds trial t's validation metrics as the mean of the r seeds it trained
under; N fresh seeds (``paretomoo.noise``) give another mean of the same λ on the
same validation rows, so the two differ by seed noise alone, with standard deviation
``sd · sqrt(1/r + 1/N)`` (``sd`` the seed standard deviation, estimated from the N
fresh values). The trial's interval is its stored mean ± ``t · sd · sqrt(1/r + 1/N)``,
``t`` Student's quantile with N − 1 degrees of freedom, two-sided at
``1 − (1 − level) / m`` for each of the m objectives (Bonferroni), so that a trial
whose stored means are what its λ gives fails on some objective in at most
``1 − level`` of confirmations. The confirmation holds when the fresh mean lies within
the interval on every objective; where it does not, the stored mean was a seed fluke
(or the front's best, picked among many noisy trials, was picked for its luck): the λ
does not do what the front says it does.

``paretomoo export --noise N`` confirms the pick this way, and when it fails, the next
candidates in the pick rule's order (``CANDIDATES`` of them, in one training pass).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from paretomoo.noise import Noise
    from paretomoo.spec import StudySpec
    from paretomoo.store import Record

CANDIDATES = 3  # the trials after a pick that fails its confirmation that are confirmed in its place, at most


@dataclass(frozen=True)
class Confirmation:
    """Trial ``trial`` (stored means ``stored[m]`` over ``repeats`` seeds) retrained under fresh seeds (``noise``).

    ``low[m]``, ``high[m]``: its interval, jointly at ``level`` over the objectives; ``holds_each[m]``: whether the
    fresh mean lies within it.
    """

    trial: int
    stored: np.ndarray
    repeats: int
    noise: Noise
    low: np.ndarray
    high: np.ndarray
    level: float

    @property
    def fresh(self) -> np.ndarray:
        """``[m]`` the mean over the fresh seeds."""
        return np.asarray(self.noise.val.mean(axis=0))

    @property
    def holds_each(self) -> np.ndarray:
        return np.asarray((self.fresh >= self.low) & (self.fresh <= self.high))

    @property
    def holds(self) -> bool:
        return bool(self.holds_each.all())

    def line(self, names: Sequence[str]) -> str:
        """One line: confirmed, or a seed fluke and where."""
        n = len(self.noise.seeds)
        if self.holds:
            return f"confirmed: trial {self.trial} retrained under {n} fresh seeds lands within its interval on every objective ({self.level:.0%} jointly)"
        sd = self.noise.val.std(axis=0, ddof=1)
        where = "; ".join(
            f"{names[j]} {self.fresh[j]:.4f} ± {sd[j]:.4f} outside {self.low[j]:.4f}–{self.high[j]:.4f} (stored {self.stored[j]:.4f})"
            for j in map(int, np.flatnonzero(~self.holds_each))
        )
        return f"trial {self.trial} is a seed fluke: retrained under {n} fresh seeds, {where} (intervals {self.level:.0%} jointly)"

    def to_dict(self, names: Sequence[str]) -> dict[str, object]:
        return {
            "holds": self.holds,
            "level": self.level,
            "interval": {n: [float(lo), float(hi)] for n, lo, hi in zip(names, self.low, self.high, strict=True)},
            "fresh_mean": {n: float(v) for n, v in zip(names, self.fresh, strict=True)},
        }


def confirm(trial: int, stored: Sequence[float], repeats: int, noise: Noise, level: float = 0.9) -> Confirmation:
    """Whether ``noise`` (N ≥ 2 fresh retrainings of trial ``trial``'s λ) confirms its stored means ``stored[m]``
    over ``repeats`` seeds; see the module doc for the interval."""
    n = len(noise.seeds)
    if n < 2:
        raise ValueError(f"a confirmation needs at least 2 fresh seeds, got {n}")
    mean = np.asarray(stored, dtype=np.float64)
    sd = noise.val.std(axis=0, ddof=1)
    each = 1 - (1 - level) / len(mean)  # Bonferroni: every objective's interval at this level
    half = student_quantile((1 + each) / 2, n - 1) * sd * np.sqrt(1 / max(repeats, 1) + 1 / n)
    return Confirmation(trial, mean, repeats, noise, mean - half, mean + half, level)


def confirm_trials(spec: StudySpec, recs: Sequence[Record], n: int, level: float = 0.9) -> list[Confirmation]:
    """Each trial of ``recs`` retrained under ``n`` (≥ 2) fresh seeds, the ones after its own, in one training pass,
    and whether that confirms it."""
    from paretomoo.errors import UserError
    from paretomoo.noise import seed_noise_many

    if n < 2:
        raise UserError(f"noise needs at least 2 seeds to measure a spread, got {n}")
    lam = np.array([[r.lam[t] for t in spec.task_names] for r in recs])
    first = [spec.training.seed + max(r.repeats, 1) for r in recs]  # repeat r of a λ trained under training.seed + r
    noises = seed_noise_many(spec, lam, n, spec.training.device, first)
    return [confirm(r.number, r.values, r.repeats, z, level) for r, z in zip(recs, noises, strict=True)]


def replacement(fluke: Confirmation, others: Sequence[Confirmation], names: Sequence[str], method: str, take: bool) -> Confirmation:
    """The confirmation to export in place of a pick that failed its own (``fluke``): the first of ``others`` (the next
    candidates in the rule's order) that holds, when ``take``; otherwise a ``UserError`` that says so in one line."""
    from paretomoo.errors import UserError

    held = next((c for c in others if c.holds), None)
    anyway = f"or export trial {fluke.trial} anyway with --trial {fluke.trial}"
    if held is None:
        tried = ", ".join(str(c.trial) for c in others)
        none = (
            f"none of the next {len(others)} in the {method} order (trials {tried}) holds either" if others else "no other trial to confirm"
        )
        raise UserError(f"{fluke.line(names)}; {none}: the front's differences are within seed noise here; add repeats, {anyway}")
    if not take:
        raise UserError(
            f"{fluke.line(names)}; trial {held.trial}, the next in the {method} order that holds, can be exported with --take-confirmed, {anyway}"
        )
    return held


def student_quantile(p: float, dof: int) -> float:
    """The ``p``-quantile (p > 0.5) of Student's t with ``dof`` degrees of freedom: exact for 1 and 2, else the
    Cornish-Fisher expansion around the normal quantile (Abramowitz and Stegun 26.7.5; within 0.3 % from 3 on)."""
    if dof == 1:
        return math.tan(math.pi * (p - 0.5))
    if dof == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    z = NormalDist().inv_cdf(p)
    g = [
        (z**3 + z) / 4,
        (5 * z**5 + 16 * z**3 + 3 * z) / 96,
        (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384,
        (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160,
    ]
    return z + sum(gk / dof ** (k + 1) for k, gk in enumerate(g))
