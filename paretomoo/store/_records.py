"""A stored trial in the form every report uses, read from its Optuna trial."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from optuna.trial import FrozenTrial, TrialState

from paretomoo.store._repeats import Metrics, aggregate, done_seeds, row_deviations

if TYPE_CHECKING:
    from paretomoo.spec import TaskSpec


@dataclass(frozen=True)
class Record:
    """A stored trial: its state, λ, natural validation values (spec order), every metric on val and test
    (means over its seeds), their standard errors, and each seed's values of the objectives."""

    number: int
    state: str  # complete, failed, running, waiting, interrupted, pruned, promoted (successive halving)
    lam: dict[str, float]
    values: list[float]  # natural validation metrics in spec order; NaN unless complete
    val: Metrics
    test: Metrics
    batch: int
    seconds: float
    fail_reason: str | None
    repeats: int = 0  # seeds trained
    val_se: Metrics = field(default_factory=dict)
    test_se: Metrics = field(default_factory=dict)
    seed_values: list[list[float]] = field(default_factory=list)  # [repeats][objectives], natural validation values
    repeat_of: int | None = None  # more seeds of that trial's λ (folded into its record)
    row_dev: np.ndarray | None = None  # [B, objectives]: the mean's deviations under bootstrap resamples of the validation rows
    seeds: list[int] = field(default_factory=list)  # the training seeds of seed_values
    epochs: int | None = None  # successive halving: the epochs this trial trained up to
    continues: int | None = None  # successive halving: the trial of the λ's previous rung, whose checkpoint it went on from
    conditioned: int | None = None  # a λ measured on the study's conditioned models (its index among their points), not trained
    check_of: int | None = None  # an exact retraining of that conditioned trial's λ
    measured_test: bool = True  # False: a conditioned λ screened on validation only (no test figures)
    # how it ran: seed(s), seconds, device, and how the members of its training pass ran ("population": "native",
    # "vmap" or "sequential"; "members": how many)
    run: dict[str, Any] = field(default_factory=dict)

    def rung_values(self, tasks: Sequence[TaskSpec]) -> list[float] | None:
        """A pruned (or promoted) trial's natural validation values at the rung where it stopped; None for other states."""
        if self.state not in ("pruned", "promoted") or not self.val:
            return None
        return [self.val.get(t.name, {}).get(t.metric, float("nan")) for t in tasks]

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "state": self.state,
            "lambda": self.lam,
            "repeats": self.repeats,
            "val": self.val,
            "val_se": self.val_se,
            "test": self.test,
            "test_se": self.test_se,
            "batch": self.batch,
            "seconds": self.seconds,
            "fail_reason": self.fail_reason,
            "repeat_of": self.repeat_of,
            "epochs": self.epochs,
            "continues": self.continues,
            "conditioned": self.conditioned is not None,
            "check_of": self.check_of,
            "measured_test": self.measured_test,
            "run": self.run,
        }


def record_of(
    t: FrozenTrial,
    lam: dict[str, float],
    tasks: Sequence[TaskSpec],
    retried: Mapping[int, str],
    more_seeds: Mapping[int, Mapping[str, Any]] | None = None,
    promoted: bool = False,
) -> Record:
    """The record of trial ``t`` (``retried``: trial number → why, for interrupted attempts; ``more_seeds``: what
    later repeats of its λ gave, folded into its means; ``promoted``: a later rung of its λ went on from it)."""
    state = "interrupted" if t.number in retried else "promoted" if promoted else state_name(t)
    attrs = t.user_attrs
    by_seed = {**done_seeds(attrs), **(more_seeds or {})}
    complete = t.state == TrialState.COMPLETE
    if complete and more_seeds:  # the trial's own means do not hold its later seeds yet
        agg = aggregate(by_seed)
        val, test, val_se, test_se = agg.val, agg.test, agg.val_se, agg.test_se
    else:
        val, test, val_se, test_se = attrs.get("val", {}), attrs.get("test", {}), attrs.get("val_se", {}), attrs.get("test_se", {})
    nan = float("nan")
    values = [val.get(task.name, {}).get(task.metric, nan) for task in tasks] if complete else [nan] * len(tasks)
    if complete and not by_seed:
        seed_values = [values]
    else:
        seed_values = [[by_seed[s]["val"].get(task.name, {}).get(task.metric, nan) for task in tasks] for s in sorted(by_seed)]
    seconds = float(attrs.get("run", {}).get("seconds", nan)) + sum(float(v.get("seconds", 0.0)) for v in (more_seeds or {}).values())
    return Record(
        number=t.number,
        state=state,
        lam=lam,
        values=values,
        val=val,
        test=test,
        batch=attrs.get("batch", -1),
        seconds=seconds,
        fail_reason=_fail_reason(t, retried),
        repeats=len(by_seed) if by_seed else (1 if complete else 0),
        val_se=val_se,
        test_se=test_se,
        seed_values=seed_values if complete else [],
        repeat_of=int(attrs["repeat_of"]) if "repeat_of" in attrs else None,
        row_dev=row_deviations(by_seed) if complete and by_seed else None,
        seeds=sorted(by_seed) if by_seed else [int(attrs.get("run", {}).get("seed", 0))] if complete else [],
        epochs=int(attrs["epochs"]) if "epochs" in attrs else None,
        continues=int(attrs["continues"]) if "continues" in attrs else None,
        conditioned=int(attrs["conditioned"]) if "conditioned" in attrs else None,
        check_of=int(attrs["check_of"]) if "check_of" in attrs else None,
        measured_test=bool(attrs.get("measured_test", True)),
        run=dict(attrs.get("run", {})),
    )


def _fail_reason(t: FrozenTrial, retried: Mapping[int, str]) -> str | None:
    if t.number in retried:
        return f"interrupted: {retried[t.number]}"
    if t.state == TrialState.FAIL and "fail_reason" not in t.user_attrs:
        return f"stopped without a result in {t.user_attrs.get('attempt', 1)} attempts; given up"
    reason = t.user_attrs.get("fail_reason")
    return None if reason is None else str(reason)


def state_name(t: FrozenTrial) -> str:
    names = {TrialState.COMPLETE: "complete", TrialState.FAIL: "failed", TrialState.RUNNING: "running", TrialState.WAITING: "waiting"}
    return names.get(t.state, t.state.name.lower())


def dumps(records: list[Record], p_front: Mapping[int, float] | None = None) -> str:
    """Every record as JSON (``status --json``), with its ``p_front`` (None for trials off the summary): NaN as null."""
    p = p_front or {}
    return json.dumps([_finite({**r.to_dict(), "p_front": p.get(r.number)}) for r in records], indent=2)


def _finite(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x
