"""``optimizer = "conditioned"`` through the core's hooks (``paretomoo._method``).

Before the loop: train the conditioned models and store their screened λ
(``run_conditioned``); proposals: the exact checks of the conditioned front
(``next_checks``); ``status`` and the report: what the one training cost and each
check's gap; export of a conditioned point: the conditioned model, set to its λ.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from paretomoo._method import Method
from paretomoo.conditioned._study import conditioned_lines, gaps, next_checks, run_conditioned
from paretomoo.errors import UserError

if TYPE_CHECKING:
    from paretomoo._parallel import InProcess, ProcessPool
    from paretomoo.spec import StudySpec
    from paretomoo.store import Record, Store
    from paretomoo.trainer import Trainer


class ConditionedMethod(Method):
    def prepare(self, store: Store, trainer: Trainer, executor: InProcess | ProcessPool) -> None:
        run_conditioned(store, trainer, executor)

    def needs_prepare(self, store: Store) -> bool:
        return not (store.study.user_attrs.get("conditioned") or {}).get("stored")

    def propose(self, store: Store, spec: StudySpec, batch_id: int) -> tuple[np.ndarray, list[dict[str, int]]]:
        """The next conditioned points to retrain exactly: their logits, and the ``check_of`` attribute of each."""
        trials = store.queue.trials()  # one read: the logits of the points picked
        picked = next_checks(store.records(), spec.directions, spec.search.batch, before=batch_id, metrics=[t.metric for t in spec.tasks])
        x = np.array([store.queue.x_of(trials[r.number]) for r in picked]).reshape(-1, store.space.dim)
        return x, [{"check_of": r.number} for r in picked]

    def banner(self, spec: StudySpec, store: Store) -> str | None:
        if "conditioned" in store.study.user_attrs:
            return None
        return (
            f"  conditioned: training {spec.search.repeats} λ-conditioned model(s) on λ ~ Dirichlet({spec.search.alpha:g}), then "
            f"screening up to {spec.search.points} λ on validation; the {spec.search.trials} trials retrain points of its front exactly"
        )

    def status_lines(self, spec: StudySpec, records: Sequence[Record], attrs: Mapping[str, Any]) -> list[str]:
        return conditioned_lines(spec, records, attrs.get("conditioned"))

    def report_facts(self, spec: StudySpec, records: Sequence[Record], attrs: Mapping[str, Any]) -> list[tuple[str, str]]:
        cond = attrs.get("conditioned")
        if cond is None:
            return []
        n = sum(r.check_of is not None and r.state == "complete" for r in records)  # the rows of Checks
        cost = (
            f"training {cond.get('train_seconds', math.nan):.1f} s, screening and measuring {cond.get('measure_seconds', math.nan):.1f} s"
        )
        measured = (
            f"{cond.get('points', 0)} λ screened on {cond.get('models', 0)} λ-conditioned model(s), "
            f"{cond.get('measured_test', cond.get('points', 0))} of them on test ({cost})"
        )
        return [("conditioned", f"{measured}; {n} of them retrained exactly (see Checks)")]

    def checks(self, spec: StudySpec, records: Sequence[Record]) -> list[Any]:
        return list(gaps(records, spec.objectives, spec.directions, spec.tasks))

    def weights(self, store: Store, rec: Record) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The study's conditioned model (its first seed's, the study's own seed if it has it), set to ``rec``'s λ."""
        if rec.conditioned is None:
            return None
        from paretomoo.store import CheckpointError

        try:
            blob = store.weights.load_conditioned()
        except CheckpointError as exc:
            raise UserError(f"{exc}; run the study again to train them, or export an exactly trained trial") from None
        spec = store.spec
        seeds = [int(x) for x in blob["seeds"]]
        r = seeds.index(spec.training.seed) if spec.training.seed in seeds else 0  # the study's own seed, as weights_metrics
        t = len(spec.tasks)
        state = {name: w[r * t : (r + 1) * t].clone() for name, w in blob["anchors"].items()}
        return state, {"conditioned": {"lam": [rec.lam[name] for name in spec.task_names], "tasks": spec.task_names}}
