"""Pick one trade-off from a front, and say why.

``pick`` works on natural metric values of finished trials. Constraints filter
first (``fraud_pr_auc>=0.30``, bounds on the means); then one rule chooses:

* ``balanced`` (default) measures each objective against chance and noise, not
  against the front's range: the lift of a trial on objective j is
  ``(value − chance) / (best − chance)``, the share it keeps of the lift over
  chance that the best trial reaches (chance: the metric registry's floor, AUC
  0.5, PR-AUC and NDCG 0; for a metric without one, the worst finished value
  plus 10 % of the range, the front's reference point). It takes the trial whose
  worst objective keeps the largest share (max–min of the lift, ties broken by
  the mean lift). A trial within noise of the best on an objective counts as the
  best there, so an objective whose whole front lies within its noise does not
  steer the pick, and a trial within noise of the best on every objective (the
  conflict verdict's) is the pick; among several such, the one whose λ is
  closest to equal weights, as the verdict names it (``paretomoo._lift``);
* ``weights`` is the same rule with a preference: it minimises the largest
  weighted shortfall ``w_j · (1 − lift_j)`` (a weighted Tchebycheff distance to
  the best on every objective, on the lift scale); equal weights give ``balanced``;
* ``pseudo-weights`` takes the front point whose pseudo-weights (pymoo's
  ``PseudoWeights``, on objectives normalised to the front's range) are closest
  to the given ones;
* ``knee`` takes the front point farthest beyond the hyperplane through the
  front's extreme points (the best point of each objective), towards the ideal
  point, objectives normalised to the front's range (Das 1999; Branke et al.
  2004). Unlike pymoo's ``HighTradeoffPoints``, which may return no point and
  ignores its ``epsilon``, it always answers. It is no longer the default: an
  objective whose front spans only noise gets as much say as one that spans
  half its distance to chance, and a point near chance on two tasks can be the knee.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from paretomoo._lift import Scale, scale
from paretomoo.conditions import OPS, ORDERS
from paretomoo.errors import UserError
from paretomoo.front import from_min, normalise, pareto_mask, reference_point, signs, to_min
from paretomoo.uncertainty import Evidence, indistinguishable, near_best, pick_stability, preference_order, probability

_CONSTRAINT = re.compile(rf"^\s*([A-Za-z0-9_@]+?)\s*({'|'.join(ORDERS)})\s*([-+0-9.eE]+)\s*(?:@\s*([-+0-9.eE]+)\s*)?$")


@dataclass(frozen=True)
class Constraint:
    """``name op value`` on a trial's mean; with ``confidence``, it must hold with at least that probability
    (the share of replicates of the trial's mean under seed and row noise, ``paretomoo.uncertainty``)."""

    name: str
    op: str
    value: float
    confidence: float | None = None

    def holds(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(OPS[self.op](x, self.value), dtype=bool)

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value:g}" + (f"@{self.confidence:g}" if self.confidence is not None else "")


def parse_constraint(text: str, names: Sequence[str]) -> Constraint:
    """``"fraud_pr_auc>=0.30"``, or ``"fraud_pr_auc>=0.30@0.9"``: to hold with probability ≥ 0.9."""
    m = _CONSTRAINT.match(text)
    if not m:
        raise UserError(f'constraint {text!r} is not of the form NAME>=VALUE or NAME>=VALUE@CONFIDENCE; write e.g. "{names[-1]}>=0.30@0.9"')
    name, op, value, confidence = m.group(1), m.group(2), m.group(3), m.group(4)
    if name not in names:
        raise UserError(f"constraint {text!r}: no objective is named {name!r}; use one of {', '.join(names)}")
    try:
        number = float(value)
        conf = None if confidence is None else float(confidence)
    except ValueError:
        raise UserError(f"constraint {text!r}: {value if confidence is None else confidence!r} is not a number") from None
    if conf is not None and not 0 < conf < 1:
        raise UserError(
            f'constraint {text!r}: the confidence after @ must lie within (0, 1), got {conf:g}; write e.g. "{name}{op}{value}@0.9"'
        )
    return Constraint(name, op, number, conf)


def parse_weights(text: str, names: Sequence[str]) -> np.ndarray:
    """``"click_auc=2,fraud_pr_auc=1"`` or ``"2,1,1,1"`` → weights summing to 1 (missing names get 0)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    w = np.zeros(len(names))
    try:
        if all("=" in p for p in parts):
            for p in parts:
                key, val = p.split("=", 1)
                key = key.strip()
                if key not in names:
                    raise UserError(f"--weights: no objective is named {key!r}; use one of {', '.join(names)}")
                w[list(names).index(key)] = float(val)
        elif len(parts) == len(names):
            w = np.array([float(p) for p in parts])
        else:
            raise UserError(f'--weights: give {len(names)} numbers or NAME=VALUE pairs, got {text!r}; e.g. "{names[0]}=2,{names[-1]}=1"')
    except ValueError:
        raise UserError(f"--weights: {text!r} holds a value that is not a number") from None
    if (w < 0).any() or w.sum() <= 0:
        raise UserError(f"--weights: weights must be >= 0 and not all zero, got {text!r}")
    return w / w.sum()


METHODS = ("balanced", "knee", "weights", "pseudo-weights")
DEFAULT_METHOD = "balanced"
_WEIGHTED = ("weights", "pseudo-weights")


def resolve_method(method: str | None, weights: np.ndarray | str | Mapping[str, float] | None) -> str:
    """The rule ``pick`` applies: ``method`` as given, else ``"weights"`` when weights are given, else the default.

    A one-line error for an unknown method, a weighted method without weights, or weights with another method.
    """
    given = weights is not None and len(weights) > 0
    if method is None:
        return "weights" if given else DEFAULT_METHOD
    if method not in METHODS:
        raise UserError(f"unknown pick method {method!r}; use one of {', '.join(METHODS)}")
    if method in _WEIGHTED and not given:
        raise UserError(f'method {method!r} needs weights, e.g. --weights "click_auc=2,fraud_pr_auc=1"')
    if method not in _WEIGHTED and given:
        raise UserError(f"weights apply to the methods weights and pseudo-weights, not {method!r}; drop --method or --weights")
    return method


def chance_levels(metrics: Sequence[str], directions: Sequence[str], values: np.ndarray) -> np.ndarray:
    """``[m]`` natural value of each objective at chance: the metric registry's floor (AUC 0.5, PR-AUC and NDCG 0),
    and for a metric without one (logloss, RMSE, a user's metric) the worst finished value plus 10 % of the
    finished values' range: the front's reference point (``front.reference_point``), so one rule serves both."""
    return from_min(reference_point(metrics, directions, values), directions)


@dataclass(frozen=True)
class Choice:
    """The chosen row (an index into the values given to ``pick``), why, and by which rule.

    ``front`` indices of the (constrained) front rows; ``order`` the candidate rows in the rule's order,
    the chosen first (every row satisfying the constraints for ``balanced`` and ``weights``, the front for
    ``knee`` and ``pseudo-weights``).
    """

    index: int
    reason: str
    front: np.ndarray
    method: str
    order: np.ndarray


def pick(
    values: np.ndarray,
    names: Sequence[str],
    directions: Sequence[str],
    *,
    method: str | None = None,
    weights: np.ndarray | None = None,
    constraints: Sequence[Constraint] = (),
    labels: Sequence[str] | None = None,
    evidence: Evidence | None = None,
    chance: np.ndarray | None = None,
    lam: np.ndarray | None = None,
    level: float = 0.9,
    ties: np.ndarray | None = None,
) -> Choice:
    """Choose one row of ``values[n, m]`` (natural metrics, means over seeds; NaN for failed trials).

    Args:
        method: ``"balanced"`` (default), ``"knee"``, ``"weights"`` (the default when ``weights`` are given) or
            ``"pseudo-weights"``; the module doc states each rule.
        weights: ``[m]`` ≥ 0, for ``"weights"`` and ``"pseudo-weights"``.
        constraints: bounds on the means; a constraint with a confidence reads ``evidence``.
        labels: ``labels[i]`` names row i in the reason (e.g. ``"trial 12"``).
        evidence: the replicates of the rows' means (rows those of ``values``): what is within noise.
        chance: ``[m]`` natural chance level of each objective (``chance_levels``); default the worst
            finished value of each.
        lam: ``[n, T]`` loss weights: among rows alike under noise, the one closest to equal weights
            is chosen, as the conflict verdict names it.
        level: the central share of replicates a difference's interval spans (``summary.LEVEL``).
        ties: ``[n, m]`` whether each row counts as within noise of the best on each objective; default
            what ``evidence`` says (``stability`` passes the study's to every replicate of its means).
    """
    method = resolve_method(method, weights)
    values = np.asarray(values, dtype=np.float64).reshape(-1, len(names))
    labels = list(labels) if labels is not None else [f"row {i}" for i in range(len(values))]
    ok = _satisfying(values, names, directions, constraints, labels, evidence)
    idx = np.flatnonzero(ok)
    F = to_min(values[idx], directions)
    front_idx = idx[pareto_mask(F)]
    where = f"the {len(front_idx)}-point front" + (f" of trials with {', '.join(map(str, constraints))}" if constraints else "")

    if len(front_idx) == 1 and method in ("knee", "pseudo-weights"):
        order = np.concatenate([front_idx, idx[idx != front_idx[0]]])
        return Choice(int(front_idx[0]), f"{labels[front_idx[0]]} is the only point of {where}", front_idx, method, order)
    if method == "knee":
        return _knee(F[pareto_mask(F)], front_idx, labels, where)
    if method == "pseudo-weights":
        assert weights is not None  # resolve_method checked it
        return _pseudo_weights(F[pareto_mask(F)], front_idx, labels, where, names, np.asarray(weights, dtype=np.float64))
    if chance is None:  # no chance level known: the worst finished value
        chance = from_min(to_min(values[ok], directions).max(axis=0), directions)
    chance = np.asarray(chance, dtype=np.float64)
    w = np.full(len(names), 1.0 / len(names)) if weights is None else np.asarray(weights, dtype=np.float64)
    sc = scale(values, directions, chance, idx, front_idx, evidence, level, ties)
    worst = np.round((sc.shortfall[idx] * w).max(axis=1), 12)
    mean = np.round(sc.shortfall[idx].mean(axis=1), 12)
    p_front = evidence.p_front if evidence is not None and evidence.means.shape == values.shape else None
    rank = np.empty(len(values), dtype=np.int64)
    rank[preference_order(idx, lam, p_front)] = np.arange(len(idx))
    order = idx[np.lexsort((rank[idx], mean, worst))]  # the largest weighted shortfall, then the mean, then alike trials
    i = int(order[0])
    among = f" among trials with {', '.join(map(str, constraints))}" if constraints else ""
    reason = _reason(i, values[i], chance, sc, names, labels, method, w, where, among, order, level)
    return Choice(i, reason, front_idx, method, order)


def _satisfying(
    values: np.ndarray,
    names: Sequence[str],
    directions: Sequence[str],
    constraints: Sequence[Constraint],
    labels: Sequence[str],
    evidence: Evidence | None,
) -> np.ndarray:
    """``[n]`` the finished rows that satisfy every constraint; a one-line error when none does."""
    ok = np.isfinite(values).all(axis=1)
    if not ok.any():
        raise UserError("no finished trial to pick from; run the study first (paretomoo run SPEC)")
    for c in constraints:
        j = list(names).index(c.name)
        if c.confidence is None:
            holds = c.holds(values[:, j]) & ok
        else:
            if evidence is None or evidence.means.shape[0] != len(values):
                raise UserError(f"constraint {c} needs the noise of every trial's metrics; pick from a study's summary")
            p = np.array([probability(evidence, i, j, c.op, c.value) for i in range(len(values))])
            holds = (p >= c.confidence) & ok
            if not holds.any():
                best = int(np.argmax(np.where(ok, p, -1.0)))
                raise UserError(
                    f"no trial satisfies {c} (the likeliest, {labels[best]}, holds it with probability {p[best]:.2f}); "
                    "lower the confidence or the bound, or add repeats"
                )
        if not holds.any():
            best_value = signs(directions)[j] * np.nanmin(to_min(values[ok], directions)[:, j])
            raise UserError(f"no trial satisfies {c} (best {c.name} is {best_value:.4g}); relax the constraint or run more trials")
        ok &= holds
    return ok


def _reason(
    i: int,
    v: np.ndarray,
    chance: np.ndarray,
    sc: Scale,
    names: Sequence[str],
    labels: Sequence[str],
    method: str,
    w: np.ndarray,
    where: str,
    among: str,
    order: np.ndarray,
    level: float,
) -> str:
    """Why row ``i`` was chosen: the rule, and the task it does worst on (or that it is within noise of the best everywhere)."""
    if np.array_equal(v, sc.best):
        return f"{labels[i]} is the only point of {where}, the best on every objective"
    if sc.tied[i].all():
        alike = [t for t in order if sc.tied[t].all()]
        reason = f"{labels[i]} is within noise of the best on every objective ({level:.0%} intervals){among}, so it is the pick"
        if len(alike) > 1:
            reason += f" (of the {len(alike)} such trials, the one whose λ is closest to equal weights)"
        return reason
    j = int(np.argmax(sc.shortfall[i] * w))
    numbers = f"{v[j]:.4g} against the best {sc.best[j]:.4g}, chance {chance[j]:.4g}"
    if method == "weights":
        wanted = ", ".join(f"{n}={x:.2f}" for n, x in zip(names, w, strict=True) if x > 0)
        if sc.shortfall[i, w > 0].max() == 0:
            return (
                f"{labels[i]} is the best or within noise of it on every objective the weights name ({wanted}){among}; "
                "of such trials it keeps the largest mean share of the achievable lift over chance"
            )
        reason = (
            f"{labels[i]} gives up the least weighted share of the achievable lift over chance on {where} (weights {wanted}): "
            f"its largest weighted loss is on {names[j]}, which keeps {sc.lift[i, j]:.2f} of its lift ({numbers})"
        )
    else:
        reason = (
            f"{labels[i]} is the balanced pick of {where} (the largest worst-task share of the achievable lift over chance): "
            f"its worst task, {names[j]}, keeps {sc.lift[i, j]:.2f} of it ({numbers})"
        )
    noise = [names[int(k)] for k in np.flatnonzero(sc.noise_only)]
    flat = [names[int(k)] for k in np.flatnonzero(sc.no_lift & ~sc.noise_only)]
    if noise:
        one = len(noise) == 1
        reason += f"; {', '.join(noise)} {'spans' if one else 'span'} only noise on the front and {'does' if one else 'do'} not steer"
    if flat:
        one = len(flat) == 1
        reason += f"; {', '.join(flat)} {'is' if one else 'are'} no better than chance on the front and {'does' if one else 'do'} not steer"
    return reason


def _pseudo_weights(
    Ff: np.ndarray, front_idx: np.ndarray, labels: Sequence[str], where: str, names: Sequence[str], weights: np.ndarray
) -> Choice:
    """The front point whose pseudo-weights (objectives normalised to the front's range) are closest to ``weights[m]``."""
    from pymoo.mcdm.pseudo_weights import PseudoWeights  # pymoo loads on first use

    Fn = normalise(Ff)
    i, pw = PseudoWeights(weights).do(Fn, return_pseudo_weights=True)
    i = int(i)
    wanted = ", ".join(f"{n}={w:.2f}" for n, w in zip(names, weights, strict=True))
    got = ", ".join(f"{n}={w:.2f}" for n, w in zip(names, pw[i], strict=True))
    reason = f"{labels[front_idx[i]]} on {where} has pseudo-weights ({got}), the closest to the requested ({wanted})"
    order = front_idx[np.argsort(np.linalg.norm(pw - weights, axis=1), kind="stable")]
    return Choice(int(front_idx[i]), reason, front_idx, "pseudo-weights", np.concatenate([[front_idx[i]], order[order != front_idx[i]]]))


def _knee(Ff: np.ndarray, front_idx: np.ndarray, labels: Sequence[str], where: str) -> Choice:
    """The knee of the front ``Ff[k, m]`` (minimisation form) of rows ``front_idx[k]``, objectives normalised to [0, 1]."""
    d = _knee_distance(normalise(Ff))
    i = int(np.argmax(d))
    reason = (
        f"{labels[front_idx[i]]} is the knee of {where}: relative to the plane through the front's best-per-objective "
        f"points it lies farthest towards the ideal point (signed distance {d[i]:+.3f}, objectives normalised to [0, 1])"
    )
    return Choice(int(front_idx[i]), reason, front_idx, "knee", front_idx[np.argsort(-d, kind="stable")])


def _knee_distance(Fn: np.ndarray) -> np.ndarray:
    """Signed distance of each point beyond the hyperplane through the extreme points (towards the ideal)."""
    m = Fn.shape[1]
    extremes = Fn[np.argmin(Fn, axis=0)]  # [m, m]: row j is the best point for objective j
    try:
        a = np.linalg.solve(extremes, np.ones(m))  # plane a·x = 1 through the extremes
        if not np.all(np.isfinite(a)) or np.any(a <= 0):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        a = np.ones(m)  # degenerate extremes: the plane Σx = 1 through the unit points
    return (1.0 - Fn @ a) / np.linalg.norm(a)


@dataclass(frozen=True)
class Stability:
    """How firm a pick is under noise: the rows within noise of it on every objective (``within``), and the
    share of ``replicates`` whose own pick is it or one of those."""

    within: np.ndarray
    share: float
    replicates: int


def stability(
    evidence: Evidence,
    chosen: int,
    names: Sequence[str],
    directions: Sequence[str],
    *,
    method: str | None = None,
    weights: np.ndarray | None = None,
    constraints: Sequence[Constraint] = (),
    chance: np.ndarray | None = None,
    lam: np.ndarray | None = None,
    level: float = 0.9,
) -> Stability:
    """Pick again on every replicate of the trials' means (same rule, weights and chance levels; a constraint as a
    plain bound on the replicate's values; the rows within noise of the best those of the means) and count how
    often the answer is ``chosen`` or a row within noise of it."""

    def choose(values: np.ndarray) -> int:
        try:
            return pick(
                values, names, directions, method=method, weights=weights, constraints=plain, chance=chance, lam=lam, ties=ties
            ).index
        except UserError:  # no row of this replicate satisfies the constraints
            return -1

    plain = [Constraint(c.name, c.op, c.value) for c in constraints]
    rows = np.flatnonzero(_satisfying(evidence.means, names, directions, plain, [str(i) for i in range(len(evidence.means))], None))
    ties = near_best(evidence, level, rows)
    within = indistinguishable(evidence, chosen, level)
    share = pick_stability(evidence, choose, chosen, level)
    return Stability(within, share, evidence.replicates.shape[0])
