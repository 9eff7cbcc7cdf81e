"""Pick one trade-off from a front, and say why.

``pick`` works on natural metric values of finished trials. Constraints filter
first (``fraud_pr_auc>=0.30``); the front of what remains is normalised to
[0, 1] per objective (ideal → 0, nadir → 1, in minimisation form); then

* ``knee`` (default) takes the point farthest beyond the hyperplane through
  the front's extreme points (the best point of each objective), towards the
  ideal point: where the front bulges most, so that moving away from it in any
  direction gives up more than it gains (Das 1999; Branke et al. 2004). Unlike
  pymoo's ``HighTradeoffPoints``, which may return no point and ignores its
  ``epsilon``, it always answers;
* ``weights`` takes the point whose pseudo-weights are closest to the given
  ones (pymoo's ``PseudoWeights``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pymoo.mcdm.pseudo_weights import PseudoWeights

from paretomoo.conditions import OPS, ORDERS
from paretomoo.errors import UserError
from paretomoo.front import pareto_mask, to_min
from paretomoo.uncertainty import Evidence, indistinguishable, pick_stability, probability

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


@dataclass(frozen=True)
class Choice:
    """The chosen row (an index into the values given to ``pick``) and why."""

    index: int
    reason: str
    front: np.ndarray  # indices of the (constrained) front rows


def pick(
    values: np.ndarray,
    names: Sequence[str],
    directions: Sequence[str],
    *,
    weights: np.ndarray | None = None,
    constraints: Sequence[Constraint] = (),
    labels: Sequence[str] | None = None,
    evidence: Evidence | None = None,
) -> Choice:
    """Choose one row of ``values[n, m]`` (natural metrics, means over seeds; NaN for failed trials).

    ``labels[i]`` names row i in the reason (e.g. ``"trial 12"``). A constraint
    with a confidence reads ``evidence`` (its rows are those of ``values``).
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1, len(names))
    labels = list(labels) if labels is not None else [f"row {i}" for i in range(len(values))]
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
            best_value = np.nanmax(values[ok, j]) if directions[j] == "maximize" else np.nanmin(values[ok, j])
            raise UserError(f"no trial satisfies {c} (best {c.name} is {best_value:.4g}); relax the constraint or run more trials")
        ok &= holds
    idx = np.flatnonzero(ok)
    F = to_min(values[idx], directions)
    on_front = pareto_mask(F)
    front_idx = idx[on_front]
    Ff = F[on_front]
    ideal, nadir = Ff.min(axis=0), Ff.max(axis=0)
    span = np.where(nadir > ideal, nadir - ideal, 1.0)
    Fn = (Ff - ideal) / span
    where = f"the {len(front_idx)}-point front" + (f" of trials with {', '.join(map(str, constraints))}" if constraints else "")

    if len(front_idx) == 1:
        return Choice(int(front_idx[0]), f"{labels[front_idx[0]]} is the only point of {where}", front_idx)

    if weights is not None:
        i, pw = PseudoWeights(np.asarray(weights)).do(Fn, return_pseudo_weights=True)
        i = int(i)
        wanted = ", ".join(f"{n}={w:.2f}" for n, w in zip(names, weights, strict=True))
        got = ", ".join(f"{n}={w:.2f}" for n, w in zip(names, pw[i], strict=True))
        reason = f"{labels[front_idx[i]]} on {where} has pseudo-weights ({got}), the closest to the requested ({wanted})"
        return Choice(int(front_idx[i]), reason, front_idx)

    d = _knee_distance(Fn)
    i = int(np.argmax(d))
    reason = (
        f"{labels[front_idx[i]]} is the knee of {where}: relative to the plane through the front's best-per-objective "
        f"points it lies farthest towards the ideal point (signed distance {d[i]:+.3f}, objectives normalised to [0, 1])"
    )
    return Choice(int(front_idx[i]), reason, front_idx)


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
    weights: np.ndarray | None = None,
    constraints: Sequence[Constraint] = (),
    level: float = 0.9,
) -> Stability:
    """Pick again on every replicate of the trials' means (same rule, same weights; a constraint as a plain bound
    on the replicate's values) and count how often the answer is ``chosen`` or a row within noise of it."""

    def choose(values: np.ndarray) -> int:
        try:
            return pick(values, names, directions, weights=weights, constraints=plain).index
        except UserError:  # no row of this replicate satisfies the constraints
            return -1

    plain = [Constraint(c.name, c.op, c.value) for c in constraints]
    within = indistinguishable(evidence, chosen, level)
    share = pick_stability(evidence, choose, chosen, level)
    return Stability(within, share, evidence.replicates.shape[0])
