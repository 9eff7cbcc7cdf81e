"""Multi-objective successive halving over epochs (``[search] fidelity = "epochs"``).

A proposal batch trains for the first rung's epochs (``SearchSpec.rungs``: 6
epochs with eta = 3 → rungs of 2 and 6). Once every λ of the batch has ended
the rung, the best ceil(n / eta) of them go on from their checkpoints to the
next rung (``Trainer.fit(start=...)``: the same weights as one uninterrupted
training, never retrained); the others stay PRUNED with their last metrics and
never enter the front. The last rung's trials complete as ordinary trials.

"Best" in several objectives: the non-dominated rank of the rung's validation
metrics (moocore's ``pareto_rank``), then, within the rank that is cut, each
point's exclusive contribution to that rank's hypervolume, on objectives scaled
to the cohort's range with the reference point 10 % past its worst value. Ties
(equal contributions, as for two identical points) go to the earlier slot.

The decision is made under the study lock by whichever worker finds the rung
ended, from the stored metrics alone, and recorded in the study
(``halving_decided``) after the survivors are queued; a crash in between
re-decides the same survivors and queues only the missing ones. So it works
with every proposer, every population size and any number of workers; a rung
is a batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import moocore
import numpy as np
from optuna.trial import FrozenTrial, TrialState

from paretomoo.front import largest_contributions, normalise, to_min
from paretomoo.spec import StudySpec
from paretomoo.store import Store
from paretomoo.store._queue import Chains
from paretomoo.store._records import Record


def survivors(F: np.ndarray, keep: int) -> list[int]:
    """Rows of ``F[n, m]`` (minimisation; rows with a NaN never survive) that go on: the ``keep`` best by
    non-dominated rank, then by exclusive hypervolume contribution within the rank that is cut."""
    F = np.asarray(F, dtype=np.float64)
    ok = np.flatnonzero(np.isfinite(F).all(axis=1))
    if keep <= 0 or len(ok) == 0:
        return []
    G = normalise(F[ok])
    ranks = moocore.pareto_rank(G)
    chosen: list[int] = []
    for rank in range(int(ranks.max()) + 1):
        members = np.flatnonzero(ranks == rank)
        room = keep - len(chosen)
        if room <= 0:
            break
        if len(members) > room:
            members = members[largest_contributions(G[members], room)]
        chosen.extend(sorted(int(m) for m in members))
    return sorted(int(ok[i]) for i in chosen)


def promote(store: Store, spec: StudySpec) -> int:
    """Under the study lock: for every batch whose rung has ended, queue the rung's survivors at the next rung and
    record the decision. Returns how many trials were queued."""
    trials = store.queue.trials()
    chains = store.queue.chains(trials)
    live = [t for t in trials if "rung" in t.user_attrs and t.number not in chains.retried]
    queued = 0
    for batch in sorted({int(t.user_attrs["batch"]) for t in live if chains.awaiting(t)}):
        mine = [t for t in live if t.user_attrs.get("batch") == batch]
        if not any(t.state in (TrialState.WAITING, TrialState.RUNNING) for t in mine):
            queued += _decide(store, spec, batch, mine, chains)
    return queued


def _decide(store: Store, spec: StudySpec, batch: int, mine: list[FrozenTrial], chains: Chains) -> int:
    rung = max(int(t.user_attrs["rung"]) for t in mine if chains.awaiting(t))
    cohort = [t for t in mine if int(t.user_attrs["rung"]) == rung]  # the rung's pruned trials, and its failed ones
    keep = math.ceil(len(cohort) / spec.search.eta)
    F = np.array([_values(t, spec) for t in cohort])
    epochs = spec.search.rungs(spec.training.epochs)[rung + 1]
    queued = 0
    for i in survivors(to_min(F, spec.directions), keep):
        if cohort[i].number not in chains.promoted:  # else queued before a crash cut this decision short
            store.queue.enqueue_continuation(cohort[i], rung + 1, epochs)
            queued += 1
    decided = dict(store.study.user_attrs.get("halving_decided", {}))
    decided[str(batch)] = rung
    store.study.set_user_attr("halving_decided", decided)
    return queued


def spent(spec: StudySpec, records: Sequence[Record]) -> str | None:
    """One line on what halving saved so far: λ at each rung, and the epochs trained against full training."""
    if spec.search.fidelity == "none":
        return None
    # the epochs each λ ended at: a λ that went on from a checkpoint trained its last trial's epochs in all
    ended = [r.epochs for r in records if r.state in ("complete", "pruned", "failed") and r.repeat_of is None and r.epochs is not None]
    if not ended:
        return None
    rungs = spec.search.rungs(spec.training.epochs)
    reached = [sum(1 for e in ended if e >= rung) for rung in rungs]
    epochs = sum(ended)
    full = len(ended) * spec.training.epochs
    ladder = ", ".join(f"{n} to {e}" for n, e in zip(reached[1:], rungs[1:], strict=True))
    return (
        f"successive halving (eta {spec.search.eta}): {reached[0]} λ trained to {rungs[0]} epoch{'' if rungs[0] == 1 else 's'}, {ladder}; "
        f"{epochs} epochs in all, {epochs / full:.2f}× training every λ fully"
    )


def _values(t: FrozenTrial, spec: StudySpec) -> list[float]:
    """A rung trial's natural validation values (NaN for a failed one)."""
    if t.state != TrialState.PRUNED:
        return [math.nan] * len(spec.tasks)
    val = t.user_attrs.get("val", {})
    return [float(val.get(task.name, {}).get(task.metric, math.nan)) for task in spec.tasks]
