"""Planning a study's next trials, under the study lock, from the store alone: the proposer's next batch (rebuilt
from the stored history, near-duplicates moved) or the optimizer's own (``paretomoo._method``: a conditioned study's
exact checks), and adaptive repeats."""

from __future__ import annotations

import numpy as np

from paretomoo._method import method_of
from paretomoo.proposers import make_proposer
from paretomoo.proposers._distinct import distinct, tolerance
from paretomoo.spec import StudySpec
from paretomoo.store import Store
from paretomoo.summary import summarize

# A trial off the front gets more seeds (adaptive repeats) when it is on the front in at
# least this share of the replicates of the means: statistically not distinguishable from it.
NEAR_FRONT = 0.05


def plan_repeats(store: Store, spec: StudySpec, batch: int) -> int:
    """Adaptive repeats (``repeats = "front:R"``), once per batch: queue seeds, up to R, for every trial on the
    front or within noise of it (P(front) ≥ ``NEAR_FRONT``). Returns how many trials were queued.

    Done once per batch (the study remembers the last batch planned), under the
    study lock, from the stored results alone: a resumed study plans what an
    uninterrupted one would have.
    """
    if int(store.study.user_attrs.get("repeats_planned", -1)) >= batch:
        return 0
    s = summarize(spec, store.records())
    trials = store.queue.trials()
    n = 0
    base, most = spec.training.seed, spec.search.repeats
    for i, r in enumerate(s.complete):
        near = bool(s.on_front[i]) or (len(s.p_front) > 0 and s.p_front[i] >= NEAR_FRONT)
        more = [base + j for j in range(most) if base + j not in r.seeds]
        if near and more:
            store.queue.enqueue_repeats(trials[r.number], more, batch)
            n += 1
    store.study.set_user_attr("repeats_planned", batch)
    return n


def propose(store: Store, spec: StudySpec, batch_id: int, slots: list[int] | None = None, limit: int | None = None) -> int:
    """Rebuild the proposer from the batches before ``batch_id`` and enqueue batch ``batch_id``
    (only ``slots`` of it, if given; only its first ``limit`` slots, the rest of the budget, if given);
    return how many trials were enqueued.

    Slots left out are recorded as missing (the batch size is stored with every
    trial): if the budget grows, they are enqueued then, as this call would have."""
    extra: list[dict[str, int]] | None = None
    planned = method_of(spec.search.optimizer).propose(store, spec, batch_id)  # an optimizer's own batch (conditioned: its checks)
    if planned is not None:
        x, extra = planned
    else:
        x = _proposals(store, spec, batch_id)
    if not len(x):
        return 0
    if slots is None and limit is not None and limit < len(x):
        slots = list(range(limit))
    first_rung = spec.search.rungs(spec.training.epochs)[0] if spec.search.fidelity != "none" else None
    store.queue.enqueue(x, batch_id, spec.search.first_seeds(spec.training.seed), slots, epochs=first_rung, extra=extra)
    return len(x) if slots is None else len(slots)


def _proposals(store: Store, spec: StudySpec, batch_id: int) -> np.ndarray:
    """The proposer's batch ``batch_id``, rebuilt from the batches before it; near-duplicates of told λ moved."""
    history = store.history(before=batch_id)
    free = [spec.task_names.index(t) for t in store.space.free]
    tol = tolerance(spec.search.distinct, len(free), spec.search.trials, store.space.zmax) if spec.search.distinct > 0 else 0.0
    proposer = make_proposer(
        spec.search.optimizer,
        dim=store.space.dim,
        n_obj=len(spec.tasks),
        zmax=store.space.zmax,
        batch=spec.search.batch,
        seed=spec.search.seed,
        n_history=sum(len(b.x) for b in history),
        distinct=tol,
    )
    proposer.replay(history)
    x = proposer.ask(spec.search.batch)
    if tol > 0:
        # the λ of the batches before this one: what the proposer was told (a resumed study sees the same)
        seen = np.vstack([b.x for b in history]) if history else np.zeros((0, store.space.dim))
        x, _ = distinct(x, seen, lambda z: store.space.to_lambda(z)[:, free], tol, store.space.zmax, (spec.search.seed, batch_id))
    return x
