"""The conditioned search as a study: one training, the front from forward passes, then exact retraining.

``[search] optimizer = "conditioned"`` runs, in the first worker that opens the
study (under the study lock, so other workers wait and then find it done):

1. train R = ``repeats`` conditioned models (``_train.train_mixture``; split
   between the study's worker processes, ``_parts``) and keep their anchors as
   one artifact of the study (``conditioned_weights``);
2. screen λ on the validation split (``_screen.screen``: a coarse design over the
   logit box, the centre and each task's end first, then rounds of refinement
   where the front's hypervolume contributions are largest, at most ``points``);
   measure the λ on the screened front on test; each task's own metric only
   (the objectives); store every screened λ as a COMPLETE trial marked ``conditioned`` (its
   index): λ, validation values (the mean over the R models and their spread),
   and test values for the front's λ only (``measured_test``: false for the
   others). They share the one artifact and never count against ``trials``;
3. study attribute ``conditioned`` records what was done, what it cost, and
   each screening round.

A run killed in 1 trains again; killed in 2, it loads the artifact and screens
again (the same λ: the screening is seeded and the forward passes deterministic);
the points are stored in one transaction. The proposals after that (``checks``)
are ordinary trials: the conditioned front's pick (``decide.pick``'s default
rule), then each objective's end, then the front points farthest from those
already chosen, ``trials`` in all, each marked ``check_of`` its conditioned
point. Their gap to it is the check.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from paretomoo._parallel import InProcess, ProcessPool
from paretomoo.conditioned._parts import Parts
from paretomoo.conditioned._screen import Screening, screen
from paretomoo.decide import chance_levels, pick
from paretomoo.front import normalise, pareto_mask, signs, to_min
from paretomoo.proposers import CONDITIONED
from paretomoo.space import LambdaSpace
from paretomoo.spec import StudySpec
from paretomoo.store import CheckpointError, Record, Store
from paretomoo.trainer import Trainer


@dataclass(frozen=True)
class Conditioned:
    """What the conditioned phase did: λ stored, models, and seconds spent training and measuring."""

    points: int
    models: int
    train_seconds: float
    measure_seconds: float
    trained_now: bool


def run_conditioned(store: Store, trainer: Trainer, executor: InProcess | ProcessPool | None = None) -> Conditioned | None:
    """Train and measure the study's conditioned models unless done; None for other optimizers. ``executor``: the
    study's processes, which the models are split between (``_parts``); default this process."""
    spec = store.spec
    if spec.search.optimizer != CONDITIONED:
        return None
    with store.queue.lock():
        done = store.study.user_attrs.get("conditioned")
        if done is not None and done.get("stored"):
            return _info(done, trained_now=False)
        seeds, alpha = spec.search.first_seeds(spec.training.seed), spec.search.alpha
        where = executor if executor is not None else InProcess(trainer)
        t0 = time.perf_counter()
        try:  # a run killed while screening or storing: its models are stored (as trained then, whatever the spec says now)
            blob = store.weights.load_conditioned()
            seeds, alpha = [int(s) for s in blob["seeds"]], float(blob["alpha"])
            parts = Parts(where, seeds)
            parts.load(blob["anchors"])
            train_s = float((done or {}).get("train_seconds", math.nan))
            trained_now = False
        except CheckpointError:
            parts = Parts(where, seeds)
            anchors = parts.train(alpha, spec.search.seed)
            train_s = time.perf_counter() - t0
            store.weights.save_conditioned({"anchors": anchors, "seeds": list(seeds), "alpha": alpha})
            store.study.set_user_attr("conditioned", {"train_seconds": round(train_s, 3), "models": len(seeds), "alpha": alpha})
            trained_now = True
        t0 = time.perf_counter()
        try:
            found, measured = _screen_and_measure(spec, parts, store.space, spec.search.points, spec.search.seed)
        finally:
            parts.close()
        measure_s = time.perf_counter() - t0
        per = measure_s / max(len(found.x), 1)
        have = store.conditioned_indices()
        rows = []
        for i, results in enumerate(measured):
            if i not in have:
                by_seed = {int(s): {**r, "seconds": round(per / len(seeds), 6)} for s, r in zip(seeds, results, strict=True)}
                rows.append((i, found.x[i], by_seed))
        store.add_conditioned(rows, str(trainer.device))
        info = {
            "stored": True,
            "points": len(found.x),
            "measured_test": int(sum("test" in results[0] for results in measured)),
            "models": len(seeds),
            "alpha": alpha,
            "train_seconds": round(train_s, 3),
            "measure_seconds": round(measure_s, 3),
            "rounds": found.rounds,
            "stopped": found.stopped,
        }
        store.study.set_user_attr("conditioned", info)
        return _info(info, trained_now)


def _screen_and_measure(
    spec: StudySpec, parts: Parts, space: LambdaSpace, cap: int, seed: int
) -> tuple[Screening, list[list[dict[str, Any]]]]:
    """Screen λ on the validation split, then measure the screened front's λ on test, each task's own metric: the
    screening and ``[N][R]`` results in its order (``measure_mixture``'s; a λ off the front has no ``"test"``)."""
    screened: list[list[dict[str, Any]]] = []

    def measure(x: np.ndarray) -> np.ndarray:
        got = parts.measure(space.to_lambda(x), ("val",), primary_only=True)
        screened.extend(got)
        return np.array(
            [[[r["val"][t.name][t.metric] if r["failed"] is None else math.nan for t in spec.tasks] for r in point] for point in got],
            dtype=np.float64,
        ).reshape(len(x), parts.models, len(spec.tasks))

    found = screen(measure, space, spec.directions, [t.metric for t in spec.tasks], cap, seed)
    front = found.front(spec.directions)
    if len(front):
        tested = parts.measure(space.to_lambda(found.x[front]), ("test",), primary_only=True)
        for i, results in zip(front, tested, strict=True):
            screened[i] = [{**r, "test": t["test"]} for r, t in zip(screened[i], results, strict=True)]
    return found, screened


def _info(attrs: dict[str, Any], trained_now: bool) -> Conditioned:
    return Conditioned(
        points=int(attrs["points"]),
        models=int(attrs["models"]),
        train_seconds=float(attrs.get("train_seconds", math.nan)),
        measure_seconds=float(attrs.get("measure_seconds", math.nan)),
        trained_now=trained_now,
    )


def next_checks(records: Sequence[Record], directions: Sequence[str], batch: int, before: int, metrics: Sequence[str]) -> list[Record]:
    """The conditioned points to retrain next (at most ``batch``): the pick of the conditioned front (the default
    rule, chance from ``metrics``, the objectives' metric names), each objective's end, then the front points
    farthest (objectives normalised over the front) from those chosen, leaving out points checked by batches
    before ``before`` (so a batch asked again is the same)."""
    points = [r for r in records if r.conditioned is not None and r.state == "complete"]
    if not points:
        return []
    checked = {r.check_of for r in records if r.check_of is not None and r.batch < before}
    V = np.array([r.values for r in points], dtype=np.float64)
    F = to_min(V, directions)
    front = np.flatnonzero(pareto_mask(F))
    Ff = F[front]
    Fn = normalise(Ff)
    names = [str(j) for j in range(len(directions))]
    chosen_point = pick(V, names, directions, chance=chance_levels(metrics, directions, V)).index
    order = [int(np.flatnonzero(front == chosen_point)[0])] if chosen_point in front else [0]
    for j in range(Fn.shape[1]):
        order.append(int(np.argmin(Fn[:, j])))
    chosen: list[int] = []
    for i in order:
        if i not in chosen:
            chosen.append(i)
    while len(chosen) < len(front) and sum(points[front[i]].number not in checked for i in chosen) < batch:
        dist = np.min(np.linalg.norm(Fn[:, None, :] - Fn[None, chosen, :], axis=2), axis=1)
        dist[chosen] = -1.0
        chosen.append(int(np.argmax(dist)))
    return [points[front[i]] for i in chosen if points[front[i]].number not in checked][:batch]


@dataclass(frozen=True)
class Gap:
    """An exact retraining (``exact``) of a conditioned point (``point``): per objective, the conditioned value's
    shortfall as a fraction of the exact one (``gap``; > 0: the conditioned model scores worse, < 0: better) and
    the noise of that difference as the same fraction (``noise``: the two standard errors combined; each is the seed
    spread over √R, and for a trained trial also the rows' bootstrap, see ``store._repeats``)."""

    exact: int
    point: int
    end: str | None  # the objective whose end the point is (best on it), None for the pick and the rest
    gap: list[float]
    noise: list[float]


def gaps(records: Sequence[Record], objectives: Sequence[str], directions: Sequence[str], tasks: Sequence[Any]) -> list[Gap]:
    """The gap of every complete exact retraining to its conditioned point (validation values)."""
    by_number = {r.number: r for r in records}
    points = [r for r in records if r.conditioned is not None and r.state == "complete"]
    best = {}
    if points:
        V = np.array([r.values for r in points], dtype=np.float64)
        F = to_min(V, directions)
        for j in range(len(directions)):
            best[points[int(np.argmin(F[:, j]))].number] = objectives[j]
    out = []
    for r in records:
        c = by_number.get(r.check_of) if r.check_of is not None else None
        if c is None or r.state != "complete" or c.state != "complete":
            continue
        gap, noise = [], []
        for j, (sign, t) in enumerate(zip(signs(directions), tasks, strict=True)):
            exact, cond = r.values[j], c.values[j]
            scale = abs(exact) if exact != 0 else 1.0
            gap.append(sign * (cond - exact) / scale)
            se = [x.val_se.get(t.name, {}).get(t.metric, math.nan) for x in (r, c)]
            noise.append(math.sqrt(sum(s * s for s in se if math.isfinite(s))) / scale)
        out.append(Gap(exact=r.number, point=c.number, end=best.get(c.number), gap=gap, noise=noise))
    return out


def conditioned_lines(spec: Any, records: Sequence[Record], attrs: dict[str, Any] | None) -> list[str]:
    """What ``status`` says of a conditioned study: what the one training cost, and each exact check's gap."""
    if attrs is None:
        return []
    lines = [
        f"conditioned: {attrs.get('points', 0)} λ measured on {attrs.get('models', 0)} λ-conditioned model(s) "
        f"(training {attrs.get('train_seconds', math.nan):.1f} s, measuring {attrs.get('measure_seconds', math.nan):.1f} s); "
        "gap = how far each conditioned point falls short of its exact retraining (validation; ± the noise of that "
        "difference, from the seeds and, for trained trials, the rows):"
    ]
    for g in gaps(records, spec.objectives, spec.directions, spec.tasks):
        where = f"{g.end}'s end" if g.end else "front point"
        parts = "  ".join(f"{o} {100 * v:+.1f}%±{100 * n:.1f}" for o, v, n in zip(spec.objectives, g.gap, g.noise, strict=True))
        lines.append(f"  trial {g.exact} retrains conditioned trial {g.point} ({where}): {parts}")
    return lines
