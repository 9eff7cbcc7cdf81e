"""Which λ to measure on the conditioned models: a coarse design, then refinement where the front gains most.

Measuring a λ is a forward pass over the validation rows, cheap but not free: a
thousand of them cost several fixed-λ trainings. So the λ are chosen in rounds
(``screen``), on the validation split only and each task's own metric only:

1. **coarse design**: the box's centre, each free task's end, then ``COARSE``
   points of a scrambled Sobol sequence over the logit box;
2. **refinement**: the ``TOP`` front points (means over the R models) with the
   largest exclusive hypervolume contributions each get ``ROUND / TOP`` children,
   their logits moved by a normal step (``STEP`` of the box's half-width in the
   first round, halved every round), clipped to the box;
3. **stopping rule**: after a round, its hypervolume gain is compared with the
   hypervolume's seed noise, the standard deviation over the R models of each
   model's own front's hypervolume at the same λ, over √R. A round that adds less
   than that noise ends the screening; so does the cap (``search.points``). With
   one model, where there is no seed noise to compare, a round that adds less
   than ``ALONE`` of the hypervolume ends it.

Hypervolumes here are the study's own (the one ``status`` prints): its reference
point, the metrics' floors (``front.reference_point``: AUC 0.5, a PR-AUC or an
NDCG 0; a metric without a floor, 10 % of its spread past the coarse design's
worst), with each objective scaled from the coarse design's front's best (0) to
that point (1), fixed for the whole screening so that rounds compare. Scaled to the
coarse front's own worst instead (reference 1.1), the refinement spent its λ in the
middle of the front, where the study's hypervolume gains least, and missed the
points near one task's best that keep the others off their floors: on the demo at
60,000 rows (5 seeds) the screened front held 0.973 [0.973–0.979] of the full
design's hypervolume, and 0.990 [0.988–0.991] scaled to the floors with the coarse
design of 128.
``benchmarks/conditioned.py`` checks the result against measuring the full
``points``-λ Sobol design on the same models.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from paretomoo.front import hypervolume, largest_contributions, pareto_mask, reference_point, to_min
from paretomoo.space import LambdaSpace

# demo at 60,000 rows (benchmarks/conditioned.py): 128 Sobol points (on the study's scale, 96 held 0.988–0.991 of the
# full design's hypervolume over 3 seeds of trained models, 128 0.991–0.993 over 2), rounds of 16 from the 8
# largest contributors, a first step of a quarter of the box's half-width
COARSE = 128
ROUND = 16
TOP = 8
STEP = 0.25
ALONE = 1e-3
REFERENCE = 1.0  # the study's reference point, scaled (module docstring)


@dataclass
class Screening:
    """What the screening measured: logits ``x[N, d]`` in the order measured, the R models' natural validation
    values ``values[N, R, m]`` (NaN where a λ failed), each round's facts, and why it stopped."""

    x: np.ndarray
    values: np.ndarray
    rounds: list[dict[str, float]] = field(default_factory=list)
    stopped: str = ""

    def front(self, directions: Sequence[str]) -> np.ndarray:
        """Indices of the λ on the front of the models' mean values."""
        return np.flatnonzero(pareto_mask(to_min(_mean(self.values), directions)))


def evaluation_points(space: LambdaSpace, n: int, seed: int) -> np.ndarray:
    """Logits ``[1 + d + n, d]``: the box's centre, each free task's end (+zmax for it, −zmax for the others), then
    ``n`` points of a scrambled Sobol sequence over the box ``[-zmax, zmax]^d``."""
    import torch

    d, z = space.dim, space.zmax
    ends = space.ends()
    if n <= 0:
        return np.vstack([np.zeros((1, d)), ends])
    sobol = torch.quasirandom.SobolEngine(d, scramble=True, seed=seed).draw(n, dtype=torch.float64).numpy()
    return np.vstack([np.zeros((1, d)), ends, (2.0 * sobol - 1.0) * z])


def screen(
    measure: Callable[[np.ndarray], np.ndarray],
    space: LambdaSpace,
    directions: Sequence[str],
    metrics: Sequence[str],
    cap: int,
    seed: int,
) -> Screening:
    """Choose and measure λ in rounds (module docstring); ``measure(x[n, d])`` → natural validation values
    ``[n, R, m]`` of the objectives ``metrics`` (their names give the reference point). At most ``cap`` λ (and at
    least the centre and the ends)."""
    first = evaluation_points(space, max(0, min(COARSE, cap - 1 - space.dim)), seed)
    out = Screening(first, measure(first))
    F = to_min(_mean(out.values), directions)
    ok = np.isfinite(F).all(axis=1)
    if not ok.any():
        out.stopped = "every λ of the coarse design failed"
        return out
    ideal, span = scale(_mean(out.values)[ok], directions, metrics)

    def scaled(values: np.ndarray) -> np.ndarray:  # the study's hypervolume, scaled; fixed for every round
        return (to_min(values, directions) - ideal) / span

    def hv(values: np.ndarray) -> float:
        return hypervolume(scaled(values), np.full(len(directions), REFERENCE))

    rng = np.random.default_rng([int(seed), 1])
    step = STEP * space.zmax
    before = hv(_mean(out.values))
    while True:
        if len(out.x) >= cap:
            out.stopped = f"the cap of {cap} λ (search.points)"
            return out
        parents = _largest_contributions(scaled(_mean(out.values)), TOP)
        n = min(ROUND, cap - len(out.x))
        children = np.repeat(out.x[parents], -(-n // len(parents)), axis=0)[:n]
        children = np.clip(children + rng.normal(0.0, step, children.shape), -space.zmax, space.zmax)
        out.x = np.vstack([out.x, children])
        out.values = np.concatenate([out.values, measure(children)])
        after = hv(_mean(out.values))
        per_model = [hv(out.values[:, r]) for r in range(out.values.shape[1])]
        noise = float(np.std(per_model, ddof=1) / np.sqrt(len(per_model))) if len(per_model) > 1 else ALONE * after
        out.rounds.append({"points": len(out.x), "hypervolume": after, "gain": after - before, "noise": noise})
        if after - before <= noise:
            out.stopped = f"round {len(out.rounds)} added {after - before:.2g} hypervolume, less than its noise {noise:.2g}"
            return out
        step, before = step / 2, after


def scale(values: np.ndarray, directions: Sequence[str], metrics: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The screening's scale of natural values ``[n, m]`` (the coarse design's, none failed): minimisation values
    minus ``ideal`` (their front's best), over ``span`` (the study's reference point minus ``ideal``), put the front's
    best at 0 and the reference point at 1. An objective whose whole front lies past its floor (worse than chance)
    is scaled to 1.1 × the front's own spread instead."""
    F = to_min(values, directions)
    front = F[pareto_mask(F)]
    ideal = front.min(axis=0)
    span = reference_point(metrics, directions, values) - ideal
    own = front.max(axis=0) - ideal
    return ideal, np.where(np.isfinite(span) & (span > 0), span, np.where(own > 0, 1.1 * own, 1.0))


def _mean(values: np.ndarray) -> np.ndarray:
    """``values[N, R, m]`` → the mean over the R models ``[N, m]``, NaN where any model failed."""
    return values.mean(axis=1)


def _largest_contributions(Fn: np.ndarray, k: int) -> np.ndarray:
    """Indices (into ``Fn``'s rows) of the ≤ k front points with the largest exclusive hypervolume contributions
    (normalised minimisation values, reference point ``REFERENCE``); front points beyond the reference count 0."""
    ok = np.flatnonzero(np.isfinite(Fn).all(axis=1))
    front = ok[pareto_mask(Fn[ok])]
    ref = np.full(Fn.shape[1], REFERENCE)
    inside = front[(Fn[front] < ref).all(axis=1)]
    if len(inside) == 0:
        return front[:k]
    return inside[largest_contributions(Fn[inside], k, REFERENCE)]
