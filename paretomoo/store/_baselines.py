"""Baseline trials: models trained by an adaptive-weighting method (``paretomoo.baselines``), kept beside the λ trials.

They live in a sibling Optuna study of the same storage, ``<study>:baselines``,
one trial per (method, seed): the λ search, its budget and its proposers never
see them, and ``optuna-dashboard`` lists them as a study of their own. A trial's
values are the natural validation metrics in spec order, as for λ trials; its
user attributes hold ``method``, ``seed``, ``val``/``test`` and their bootstrap
standard errors, ``weights`` (the method's mean task weights over its last
epoch), ``seconds`` and ``device``; a failed one holds ``fail_reason``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from paretomoo.spec import StudySpec
from paretomoo.store._records import _finite

Metrics = dict[str, dict[str, float]]


@dataclass(frozen=True)
class BaselineRecord:
    """One stored baseline training."""

    method: str
    seed: int
    state: str  # complete or failed
    values: list[float]  # natural validation metrics in spec order (NaN unless complete)
    test_values: list[float]  # natural test metrics in spec order
    val: Metrics
    test: Metrics
    weights: dict[str, float]  # the method's mean task weights over its last epoch, summing to 1
    seconds: float
    fail_reason: str | None = None
    val_se: Metrics = field(default_factory=dict)
    test_se: Metrics = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "seed": self.seed,
            "state": self.state,
            "weights": self.weights,
            "val": self.val,
            "val_se": self.val_se,
            "test": self.test,
            "test_se": self.test_se,
            "seconds": self.seconds,
            "fail_reason": self.fail_reason,
        }


class Trained(Protocol):
    """What a baseline training gives (``paretomoo.trainer.MemberResult``)."""

    val: Metrics
    test: Metrics
    val_boot_se: Metrics
    test_boot_se: Metrics
    lam: Any  # [T] the method's mean task weights
    seconds: float
    seed: int
    failed: str | None


class Baselines:
    """The baseline trials of one study."""

    def __init__(self, spec: StudySpec, storage: optuna.storages.BaseStorage) -> None:
        self.spec = spec
        self.storage = storage
        self.name = f"{spec.name}:baselines"

    def _study(self, create: bool) -> optuna.Study | None:
        try:
            return optuna.load_study(study_name=self.name, storage=self.storage)
        except KeyError:
            if not create:
                return None
            return optuna.create_study(
                study_name=self.name,
                storage=self.storage,
                directions=[StudyDirection[d.upper()] for d in self.spec.directions],
                load_if_exists=True,
            )

    def records(self) -> list[BaselineRecord]:
        """Every finished baseline training, in the order they were stored (a method and seed trained twice: the last)."""
        study = self._study(create=False)
        if study is None:
            return []
        latest: dict[tuple[str, int], BaselineRecord] = {}
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
            rec = self._record(t)
            latest.pop((rec.method, rec.seed), None)
            latest[(rec.method, rec.seed)] = rec
        return list(latest.values())

    def add(
        self,
        method: str,
        seed: int,
        *,
        val: Metrics,
        test: Metrics,
        val_se: Metrics,
        test_se: Metrics,
        weights: dict[str, float],
        seconds: float,
        device: str,
        failed: str | None,
    ) -> BaselineRecord:
        """Store one baseline training (complete, or failed with ``failed`` as its reason)."""
        from paretomoo._version import __version__

        study = self._study(create=True)
        assert study is not None
        attrs: dict[str, Any] = {
            "method": method,
            "seed": seed,
            "weights": weights,
            "seconds": round(seconds, 4),
            "device": device,
            "paretomoo_version": __version__,
        }
        if failed is None:
            attrs.update({"val": val, "test": test, "val_se": val_se, "test_se": test_se})
        else:
            attrs["fail_reason"] = failed
        # one write of a finished trial: a stop half-way leaves nothing half-stored
        values = [val[t.name][t.metric] for t in self.spec.tasks] if failed is None else None
        trial = optuna.trial.create_trial(
            state=TrialState.COMPLETE if failed is None else TrialState.FAIL, values=values, user_attrs=_finite(attrs)
        )
        study.add_trial(trial)
        return self._record(trial)

    def add_result(self, method: str, r: Trained, device: str) -> BaselineRecord:
        """Store what ``paretomoo.baselines.train_baseline`` gave for ``method``."""
        return self.add(
            method,
            r.seed,
            val=r.val,
            test=r.test,
            val_se=r.val_boot_se,
            test_se=r.test_boot_se,
            weights=dict(zip(self.spec.task_names, map(float, r.lam), strict=True)),
            seconds=r.seconds,
            device=device,
            failed=r.failed,
        )

    def _record(self, t: optuna.trial.FrozenTrial) -> BaselineRecord:
        a = t.user_attrs
        val, test = a.get("val", {}), a.get("test", {})
        nan = math.nan
        complete = t.state == TrialState.COMPLETE
        return BaselineRecord(
            method=str(a.get("method", "?")),
            seed=int(a.get("seed", 0)),
            state="complete" if complete else "failed",
            values=[_num(val.get(s.name, {}).get(s.metric)) for s in self.spec.tasks] if complete else [nan] * len(self.spec.tasks),
            test_values=[_num(test.get(s.name, {}).get(s.metric)) for s in self.spec.tasks] if complete else [nan] * len(self.spec.tasks),
            val=val,
            test=test,
            weights={k: _num(v) for k, v in a.get("weights", {}).items()},
            seconds=float(a.get("seconds", nan)),
            fail_reason=a.get("fail_reason"),
            val_se=a.get("val_se", {}),
            test_se=a.get("test_se", {}),
        )


def _num(x: Any) -> float:
    return math.nan if x is None else float(x)
