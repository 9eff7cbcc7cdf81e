"""How sure is the front? Plausible values of every trial's mean, and what they say.

A trial's mean metric carries two errors:

* seed noise: retraining the same λ under another seed moves it. Assumed the
  same for every λ, it is pooled over the trials with ≥ 2 seeds and enters a
  trial's mean as variance ``pooled / r_t`` (r_t seeds);
* row noise: the validation set is a finite sample of rows. ``row_dev[n, B, m]``
  holds each trial's deviation under B bootstrap resamples of the rows, the same
  resamples for every trial, so it is paired: it does not shrink with seeds, and
  it largely cancels in differences between trials.

``evidence`` draws B replicates of all means at once (replicate b = means +
``row_dev[:, b]`` + a normal seed draw); every other function reads those
replicates. The seed draws are independent across trials and objectives: trials
trained under the same seeds (common random numbers) may differ by less, so more
differences are called "within noise" than shared seeds would warrant, and joint
quantities (``p_front``, ``pick_stability``) ignore any seed correlation between
objectives. Intervals of differences are percentile intervals of the replicates, not posteriors;
the hypervolume's interval is corrected for the replicates' optimism (``hypervolume_band``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from paretomoo.conditions import OPS, ORDERS
from paretomoo.front import hypervolume, pareto_mask, signs, to_min


def pooled_seed_variance(seeds: Sequence[np.ndarray]) -> np.ndarray | None:
    """Within-trial variance ``[m]`` of the per-seed values, pooled over trials with ≥ 2 seeds.

    ``seeds[t]`` is ``[r_t, m]``. Each such trial adds its squared deviations from
    its own seed mean and r_t − 1 degrees of freedom: ``Σ_t SS_t / Σ_t (r_t − 1)``.
    Returns None when no trial has 2 seeds.
    """
    ss, dof = [], 0
    for x in seeds:
        x = np.asarray(x, dtype=np.float64)
        if x.shape[0] >= 2:
            ss.append(((x - x.mean(axis=0)) ** 2).sum(axis=0))
            dof += x.shape[0] - 1
    return np.sum(ss, axis=0) / dof if dof else None


@dataclass(frozen=True)
class Evidence:
    """Replicates of the n trials' means over m objectives (arrays are read-only).

    ``means[n, m]`` natural values; ``directions[m]``; ``replicates[B, n, m]`` natural
    plausible values of the means; ``se[n, m]`` = sqrt(pooled / r_t + row variance);
    ``p_front[n]`` the share of replicates in which a trial is non-dominated.
    """

    means: np.ndarray
    directions: tuple[str, ...]
    replicates: np.ndarray
    se: np.ndarray
    p_front: np.ndarray
    seed_noise_measured: bool
    row_noise_measured: bool

    def minimised(self) -> np.ndarray:
        """``replicates`` in minimisation form, ``[B, n, m]``."""
        return self.replicates * signs(self.directions)


def evidence(
    means: np.ndarray,
    seeds: Sequence[np.ndarray],
    row_dev: np.ndarray | None,
    directions: Sequence[str],
    *,
    replicates: int | None = None,
    seed: int = 0,
) -> Evidence:
    """Draw the replicates and what follows directly from them.

    Args:
        means: ``[n, m]`` each trial's mean over its seeds (natural form).
        seeds: n arrays ``[r_t, m]``, the per-seed values (r_t ≥ 1).
        row_dev: ``[n, B, m]`` deviations of each mean under B paired bootstrap
            resamples of the validation rows, or None (no row noise).
        directions: ``[m]`` "maximize" / "minimize".
        replicates: B when ``row_dev`` is None (default 200); with ``row_dev`` it
            must be None or equal ``row_dev.shape[1]``.
        seed: seeds ``np.random.default_rng`` for the seed draws; same inputs and
            seed give the same result.
    """
    means = np.asarray(means, dtype=np.float64)
    n, m = _check_inputs(means, seeds, directions)
    row = None if row_dev is None else np.asarray(row_dev, dtype=np.float64)
    B = _check_replicates(row, n, m, replicates)
    dev = np.zeros((B, n, m)) if row is None else row.transpose(1, 0, 2)
    row_var = np.zeros((n, m)) if row is None else row.var(axis=1, ddof=1)
    pooled = pooled_seed_variance(seeds)
    r = np.array([len(x) for x in seeds], dtype=np.float64)[:, None]
    seed_var = np.zeros((n, m)) if pooled is None else pooled / r
    draw = np.random.default_rng(seed).standard_normal((B, n, m)) * np.sqrt(seed_var)
    reps = means + dev + draw
    F = reps * signs(directions)
    p_front = np.mean([pareto_mask(f) for f in F], axis=0)
    arrays = [means.copy(), reps, np.sqrt(seed_var + row_var), p_front]
    for a in arrays:
        a.flags.writeable = False
    return Evidence(arrays[0], tuple(directions), arrays[1], arrays[2], arrays[3], pooled is not None, row_dev is not None)


class HypervolumeInterval(NamedTuple):
    """The hypervolume of the noise-free means, estimated from noisy ones (``hypervolume_band`` states the rule).

    ``estimate`` lies in [``low``, ``high``] by construction; ``means`` is the volume of the
    observed means' front, which overstates the noise-free one and can lie above ``high``.
    """

    estimate: float
    low: float
    high: float
    means: float

    def text(self, level: float) -> str:
        """What follows the means' volume in a report line: the interval, and why the means' volume is outside it."""
        if self.high <= self.low:  # no noise measured
            return ""
        if self.low <= self.means <= self.high:
            return f" [{self.low:.4g}, {self.high:.4g}] ({level:.0%} interval)"
        return (
            f" (the front of noisy means overstates it: {self.estimate:.4g} [{self.low:.4g}, {self.high:.4g}]"
            f" corrected for noise, {level:.0%} interval)"
        )


# How far the means' front overstates the noise-free front's volume grows with the noise variance s between two shapes:
# linearly (a few points compete for each part of the front: a smooth function of the means) and like √s (many do: the
# best of many noisy values). Extrapolating from s = 1 (the means) and s = 2 (the replicates) back to s = 0 under each
# gives two estimates; the noise-free volume lay between them in the simulations of tests/test_calibration.py.
SQRT_STEP = 1.0 / (np.sqrt(2.0) - 1.0)


def hypervolume_band(
    means_hv: np.ndarray, replicate_hv: np.ndarray, q: tuple[float, float] = (0.05, 0.95)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(estimate, low, high), each ``[t]``, of the noise-free hypervolume from ``means_hv[t]`` and ``replicate_hv[B, t]``.

    ``means_hv`` is the volume of the means' front (e.g. after each of t trials), ``replicate_hv`` those of B
    replicates of the means, which carry the noise twice. With d = median(replicates) − means_hv (the bootstrap's
    bias): estimate = means_hv − d (the basic bootstrap); the interval runs from the lower of that and the √s
    extrapolation means_hv − d / (√2 − 1), less the replicates' spread above their median (q[1]), to the higher
    of the two, plus their spread below it (q[0]). ``estimate`` always lies inside.
    """
    means_hv = np.asarray(means_hv, dtype=np.float64)
    reps = np.asarray(replicate_hv, dtype=np.float64)
    if reps.ndim != means_hv.ndim + 1 or reps.shape[1:] != means_hv.shape or reps.shape[0] < 2:
        raise ValueError(f"replicate_hv must be [B >= 2, *{means_hv.shape}], got shape {reps.shape}")
    lo_q, mid, hi_q = np.quantile(reps, [q[0], 0.5, q[1]], axis=0)
    d = mid - means_hv
    linear, sqrt = means_hv - d, means_hv - SQRT_STEP * d
    return linear, np.minimum(linear, sqrt) - (hi_q - mid), np.maximum(linear, sqrt) + (mid - lo_q)


def hypervolume_interval(ev: Evidence, ref: np.ndarray, q: tuple[float, float] = (0.05, 0.95)) -> HypervolumeInterval:
    """The noise-free front's hypervolume: an estimate and its ``q`` interval, beside the means' volume.

    ``ref[m]`` is in minimisation form, as ``front.reference_point`` returns it. The front of noisy means
    lies beyond the noise-free one (the best of noisy values is optimistic), and the more trials compete
    near it the more: with ~1,000 conditioned points the means' volume sits above the whole interval,
    which ``HypervolumeInterval.text`` says. Coverage measured in docs/noise-and-evidence.md.
    """
    hv = hypervolume(to_min(ev.means, ev.directions), ref)
    hvs = np.array([hypervolume(f, ref) for f in ev.minimised()])
    est, lo, hi = hypervolume_band(np.array(hv), hvs, q)
    return HypervolumeInterval(float(est), float(lo), float(hi), hv)


def indistinguishable(ev: Evidence, i: int, level: float = 0.9) -> np.ndarray:
    """Indices (sorted, ``[k]`` int) of the trials within noise of trial i on every objective.

    Trial t is within noise on objective j when the central ``level`` interval of
    ``replicate[t, j] − replicate[i, j]`` over replicates contains 0. Trial i itself is
    left out.
    """
    ok = np.asarray(_within(ev, i, level).all(axis=1))
    ok[i] = False
    return np.flatnonzero(ok)


def pick_stability(ev: Evidence, choose: Callable[[np.ndarray], int], chosen: int, level: float = 0.9) -> float:
    """Share of replicates on which ``choose`` picks ``chosen`` or a trial indistinguishable from it.

    ``choose(values[n, m]) -> int`` gets a copy of each replicate's natural values,
    e.g. ``lambda v: pick(v, names, directions).index``. Its exceptions propagate;
    to count a replicate where it cannot choose as unstable, return -1 instead.
    """
    same = {int(chosen), *indistinguishable(ev, chosen, level).tolist()}
    return float(np.mean([int(choose(v.copy())) in same for v in ev.replicates]))


def probability(ev: Evidence, i: int, j: int, op: str, value: float) -> float:
    """Share of replicates in which objective j of trial i satisfies ``op value``.

    ``op`` is one of ">=", "<=", ">", "<"; e.g. ``fraud_pr_auc>=0.20`` holds with this probability.
    """
    if op not in ORDERS:
        raise ValueError(f"op must be one of {', '.join(ORDERS)}, got {op!r}")
    return float(np.mean(OPS[op](ev.replicates[:, i, j], value)))


@dataclass(frozen=True)
class Verdict:
    """Which pairs of objectives trade off beyond noise, and a few lines saying so.

    ``trade_off[m, m]`` symmetric booleans (False on the diagonal); ``witnesses[(j, k)]``
    for j < k that trade off: the trials ``(a, b)`` with the best mean on j and on k;
    ``near_best[k]`` the trials within noise of the best on every objective;
    ``suggested`` the one of them whose λ is closest to equal weights (None when
    ``near_best`` is empty), which ``text`` names when no pair trades off.
    """

    names: tuple[str, ...]
    trade_off: np.ndarray
    witnesses: dict[tuple[int, int], tuple[int, int]]
    near_best: np.ndarray
    suggested: int | None
    text: str


def conflict_verdict(
    ev: Evidence, names: Sequence[str], labels: Sequence[str], lam: np.ndarray | None = None, level: float = 0.9
) -> Verdict:
    """Whether the trials trade each pair of objectives off beyond noise.

    Objectives j and k trade off when no trial is within noise of the best on j
    and within noise of the best on k at once (the best: the trial with the best
    mean there; within noise: the central ``level`` interval of the paired
    difference contains 0). One test per pair, each lenient towards "alike", so
    many equivalent trials do not breed false trade-offs, as testing every pair of
    trials would (about one in ten pairs of identical trials differs at 90 %).
    The witnesses are the two best trials, of j and of k.

    Args:
        names: ``[m]`` objective names; labels: ``[n]`` trial names (``"trial 12"``).
        lam: optional ``[n, T]`` loss weights, to prefer the trial closest to equal weights.
        level: the central share of replicates a difference's interval spans.
    """
    n, m = ev.means.shape
    if len(names) != m or len(labels) != n:
        raise ValueError(f"names must have {m} entries and labels {n}, got {len(names)} and {len(labels)}")
    near = near_best(ev, level)  # [n, m]
    best = np.argmin(to_min(ev.means, ev.directions), axis=0)
    witnesses = {(j, k): (int(best[j]), int(best[k])) for j in range(m) for k in range(j + 1, m) if not (near[:, j] & near[:, k]).any()}
    trade = np.zeros((m, m), dtype=bool)
    for j, k in witnesses:
        trade[j, k] = trade[k, j] = True
    everywhere = np.flatnonzero(near.all(axis=1))
    suggested = int(preference_order(everywhere, lam, ev.p_front)[0]) if len(everywhere) else None
    if witnesses:
        lines = [f"objectives that trade off beyond noise (no trial within noise of the best on both, {level:.0%} intervals):"]
        for j in range(m):
            for k in range(j + 1, m):
                a, b = witnesses.get((j, k), (-1, -1))
                why = f"({labels[a]} best on {names[j]}, {labels[b]} best on {names[k]})"
                lines.append(f"  {names[j]} vs {names[k]}: " + (f"trade-off beyond noise {why}" if a >= 0 else "no trade-off beyond noise"))
    elif suggested is None:
        lines = ["no trade-off exceeds noise at this budget, but no single trial is within noise of the best on every objective"]
    elif not ev.seed_noise_measured and not ev.row_noise_measured:  # no noise: within noise of the best is the best
        who = f"{labels[suggested]}{_lam_text(lam, suggested)}"
        lines = [f"no trade-off at this budget: {who} is the best on every objective"]
    else:
        who = f"{labels[suggested]}{_lam_text(lam, suggested)}"
        lines = [f"no trade-off exceeds noise at this budget: {who} is within noise of the best on every objective"]
    if not ev.seed_noise_measured:
        lines.append("seed noise not measured: rerun with repeats >= 2")
        if not ev.row_noise_measured:
            lines.append("no noise measured at all, so every difference between means counts as beyond noise")
    return Verdict(tuple(names), trade, witnesses, everywhere, suggested, "\n".join(lines))


def _check_inputs(means: np.ndarray, seeds: Sequence[np.ndarray], directions: Sequence[str]) -> tuple[int, int]:
    signs(directions)  # checks each direction
    m = len(directions)
    if means.ndim != 2 or means.shape[1] != m:
        raise ValueError(f"means must be [n_trials, {m}] (one column per direction), got shape {means.shape}")
    if not np.isfinite(means).all():
        raise ValueError("means must be finite; pass only complete trials")
    n = means.shape[0]
    if n == 0:
        raise ValueError("means holds no trial; run the study first")
    if len(seeds) != n:
        raise ValueError(f"seeds must hold one [r_t, {m}] array per trial ({n}), got {len(seeds)}")
    for t, x in enumerate(seeds):
        shape = np.shape(x)
        if len(shape) != 2 or shape[0] < 1 or shape[1] != m or not np.isfinite(x).all():
            raise ValueError(f"seeds[{t}] must be a finite [r_t >= 1, {m}] array, got shape {shape}")
    return n, m


def _check_replicates(row_dev: np.ndarray | None, n: int, m: int, replicates: int | None) -> int:
    """B, after checking ``row_dev[n, B, m]`` and ``replicates`` agree."""
    if row_dev is None:
        B = 200 if replicates is None else replicates
    elif row_dev.ndim != 3 or row_dev.shape[0] != n or row_dev.shape[2] != m:
        raise ValueError(f"row_dev must be [{n}, B, {m}] (trials, resamples, objectives), got shape {row_dev.shape}")
    elif not np.isfinite(row_dev).all():
        raise ValueError("row_dev must be finite; a resample where a metric is undefined must be redrawn or dropped for every trial")
    elif replicates is not None and replicates != row_dev.shape[1]:
        raise ValueError(
            f"replicates={replicates} but row_dev holds {row_dev.shape[1]} resamples; pass replicates=None or {row_dev.shape[1]}"
        )
    else:
        B = row_dev.shape[1]
    if B < 2:
        raise ValueError(f"replicates (bootstrap resamples) must be >= 2, got {B}; the default is 200")
    return B


def _within(ev: Evidence, i: int, level: float) -> np.ndarray:
    """``[n, m]``: whether the central ``level`` interval of (replicate_t − replicate_i) contains 0."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if not 0 <= i < ev.means.shape[0]:
        raise ValueError(f"trial index must lie in [0, {ev.means.shape[0]}), got {i}")
    d = ev.replicates - ev.replicates[:, i : i + 1]
    lo, hi = np.quantile(d, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return (lo <= 0) & (hi >= 0)


def near_best(ev: Evidence, level: float = 0.9, rows: np.ndarray | None = None) -> np.ndarray:
    """``[n, m]``: whether each trial is within noise of the trial whose mean is best on each objective.

    ``rows`` (indices) limits where the best is looked for (e.g. the trials that satisfy
    constraints); default every trial. The best is the best mean's trial, paired replicate
    by replicate, not the minimum over trials in each replicate: that minimum lies below
    every trial's typical value once many trials are alike, so the difference's interval
    only touches 0 for trials that are the best in > (1 − level)/2 of replicates, and with
    about 20 or more equivalent trials none is.
    """
    rows = np.arange(ev.means.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
    F = to_min(ev.means[rows], ev.directions)
    return np.stack([_within(ev, int(rows[best]), level)[:, j] for j, best in enumerate(np.argmin(F, axis=0))], axis=1)


def preference_order(among: np.ndarray, lam: np.ndarray | None = None, p_front: np.ndarray | None = None) -> np.ndarray:
    """The trials ``among`` (indices) in the order the verdict prefers alike trials: λ closest to equal weights
    first (``lam[n, T]``), then the higher P(front) (``p_front[n]``), then the lower index; None: not used."""
    rows = [int(t) for t in among]
    dist = _uniform_distance(lam, len(lam)) if lam is not None else np.zeros(max(rows, default=-1) + 1)
    p = np.zeros(len(dist)) if p_front is None else np.asarray(p_front, dtype=np.float64)
    return np.array(sorted(rows, key=lambda t: (dist[t], -p[t], t)), dtype=np.int64)


def _uniform_distance(lam: np.ndarray | None, n: int) -> np.ndarray:
    """``[n]`` distance of each trial's normalised λ from equal weights (zeros without λ)."""
    if lam is None:
        return np.zeros(n)
    lam = np.asarray(lam, dtype=np.float64)
    if lam.ndim != 2 or lam.shape[0] != n or (lam < 0).any() or (lam.sum(axis=1) <= 0).any():
        raise ValueError(f"lam must be [{n}, T] with non-negative rows that are not all zero, got shape {lam.shape}")
    w = lam / lam.sum(axis=1, keepdims=True)
    return np.linalg.norm(w - 1.0 / lam.shape[1], axis=1)


def _lam_text(lam: np.ndarray | None, t: int) -> str:
    if lam is None:
        return ""
    w = np.asarray(lam, dtype=np.float64)[t]
    w = w / w.sum()
    if np.allclose(w, 1.0 / len(w), atol=1e-9):
        return " (equal weights)"
    return f" (λ = {', '.join(f'{x:.2f}' for x in w)})"
