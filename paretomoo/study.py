"""The one loop: propose a batch of λ, train it, store it, until the budget is spent."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from paretomoo.data import load_data
from paretomoo.proposers import make_proposer
from paretomoo.spec import StudySpec
from paretomoo.store import Store
from paretomoo.summary import front_hypervolume
from paretomoo.trainer import Trainer


@dataclass(frozen=True)
class Progress:
    done: int  # finished trials, this run and earlier ones
    total: int
    new: int  # finished in this run
    elapsed: float
    eta: float  # seconds, from this run's pace
    hypervolume: float
    failed: int


def default_population(device: torch.device) -> int:
    """λ per training pass when the spec says "auto".

    On CPU a small population is fastest (larger ones spill activations out of
    the per-core caches); a GPU is kept busy only by large ones.
    """
    return 64 if device.type == "cuda" else 4


def run_study(
    spec: StudySpec,
    *,
    storage: str | None = None,
    device: str | None = None,
    on_start: Callable[[Store, Trainer, int], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> Store:
    """Run (or resume) the study a spec declares until ``search.trials`` trials have finished.

    Finished trials are never repeated; trials left RUNNING by a process that
    died are queued again first. Proposals are rebuilt from the store before
    every batch (see ``Proposer``), so stopping and resuming changes nothing.
    """
    store = Store.create_or_resume(spec, storage)
    store.requeue_interrupted()
    data = load_data(spec.data)
    trainer = Trainer(spec, data, device or spec.training.device)
    k = spec.training.population or default_population(trainer.device)
    if "model_shape" not in store.study.user_attrs:
        store.study.set_user_attr("model_shape", trainer.shape.to_dict())
    if on_start is not None:
        on_start(store, trainer, k)

    budget = spec.search.trials
    start = time.perf_counter()
    first = store.n_finished()
    while (finished := store.n_finished()) < budget:
        if store.n_waiting() == 0:
            _propose(store, spec)
        trials = store.pop(min(k, budget - finished))
        if not trials:  # the proposer had nothing to add
            break
        lam = store.space.to_lambda(np.array([store.x_of(t) for t in trials]))
        try:
            results = trainer.fit(lam)
        except BaseException:
            store.release(trials)
            raise
        for trial, result in zip(trials, results, strict=True):
            store.finish(trial, result, spec.training.seed, str(trainer.device))
        if on_progress is not None:
            records = store.records()
            done = store.n_finished()
            elapsed = time.perf_counter() - start
            new = done - first
            on_progress(
                Progress(
                    done=done,
                    total=budget,
                    new=new,
                    elapsed=elapsed,
                    eta=elapsed / max(new, 1) * max(budget - done, 0),
                    hypervolume=front_hypervolume(spec, records),
                    failed=sum(r.state == "failed" for r in records),
                )
            )
    return store


def _propose(store: Store, spec: StudySpec) -> None:
    history = store.history()
    proposer = make_proposer(
        spec.search.optimizer,
        dim=store.space.dim,
        n_obj=len(spec.tasks),
        zmax=store.space.zmax,
        batch=spec.search.batch,
        seed=spec.search.seed,
        n_history=sum(len(b.x) for b in history),
    )
    proposer.replay(history)
    x = proposer.ask(spec.search.batch)
    if len(x):
        store.enqueue(x, store.next_batch_id())
