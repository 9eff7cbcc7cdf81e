"""A stored trial in the form every report uses, read from its Optuna trial."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from optuna.trial import FrozenTrial, TrialState


@dataclass(frozen=True)
class Record:
    """A stored trial: its state, λ, natural validation values (spec order) and every metric on val and test."""

    number: int
    state: str  # complete, failed, running, waiting, interrupted
    lam: dict[str, float]
    values: list[float]  # natural validation metrics in spec order; NaN unless complete
    val: dict[str, dict[str, float]]
    test: dict[str, dict[str, float]]
    batch: int
    seconds: float
    fail_reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "state": self.state,
            "lambda": self.lam,
            "val": self.val,
            "test": self.test,
            "batch": self.batch,
            "seconds": self.seconds,
            "fail_reason": self.fail_reason,
        }


def record_of(t: FrozenTrial, lam: dict[str, float], n_objectives: int, retried: dict[int, str]) -> Record:
    """The record of trial ``t`` (``retried``: trial number → why, for interrupted attempts)."""
    return Record(
        number=t.number,
        state="interrupted" if t.number in retried else state_name(t),
        lam=lam,
        values=list(t.values) if t.state == TrialState.COMPLETE else [float("nan")] * n_objectives,
        val=t.user_attrs.get("val", {}),
        test=t.user_attrs.get("test", {}),
        batch=t.user_attrs.get("batch", -1),
        seconds=float(t.user_attrs.get("run", {}).get("seconds", float("nan"))),
        fail_reason=_fail_reason(t, retried),
    )


def _fail_reason(t: FrozenTrial, retried: dict[int, str]) -> str | None:
    if t.number in retried:
        return f"interrupted: {retried[t.number]}"
    if t.state == TrialState.FAIL and "fail_reason" not in t.user_attrs:
        return f"stopped without a result in {t.user_attrs.get('attempt', 1)} attempts; given up"
    reason = t.user_attrs.get("fail_reason")
    return None if reason is None else str(reason)


def state_name(t: FrozenTrial) -> str:
    names = {TrialState.COMPLETE: "complete", TrialState.FAIL: "failed", TrialState.RUNNING: "running", TrialState.WAITING: "waiting"}
    return names.get(t.state, t.state.name.lower())


def dumps(records: list[Record]) -> str:
    """Every record as JSON (``status --json``)."""
    return json.dumps([r.to_dict() for r in records], indent=2, default=float)
