"""A worker: the study loop run by any number of processes on any number of hosts.

Every worker runs the same loop against the shared store:

    under the study lock (a PostgreSQL advisory lock, or a lock file beside a
    SQLite database):
        queue again the trials of dead local processes and of silent heartbeats
        stop when the budget is reached
        if no trial is waiting and the newest batch is finished: rebuild the
            proposer from the store and enqueue its next batch
        pop up to K waiting trials (never more than the budget allows)
    train them while a thread sends their heartbeats; store the results

So whichever worker finds the newest batch finished proposes the next one,
from the stored history alone: the proposer has no state of its own to lose,
and killing any worker at any moment loses at most the trials it was training,
which go back to the queue (``MAX_ATTEMPTS`` times at most). NSGA-II's
generation is one batch; a worker that finds nothing to pop while others train
waits and polls. Keep ``search.batch`` ≥ workers × population to keep them all
busy.

If the database goes away, every store call is retried with backoff for
``patience`` seconds; then the worker stops with ``StorageLost`` (the study
intact: what it was training is recovered by the next run).

This module holds the loop; what the next batch holds (proposals, adaptive
repeats, a conditioned study's checks) is planned in ``_planning``, and the
retries in ``_retry``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import optuna
import sqlalchemy.exc

from paretomoo._parallel import InProcess, ProcessPool
from paretomoo._planning import plan_repeats, propose
from paretomoo._retry import StorageLost, _retry
from paretomoo._rounds import fit_in_rounds
from paretomoo.errors import UserError
from paretomoo.halving import promote
from paretomoo.spec import StudySpec
from paretomoo.store import CheckpointError, Store
from paretomoo.store._repeats import seed_result
from paretomoo.summary import front_hypervolume
from paretomoo.trainer import Checkpoint, MemberResult

__all__ = ["Progress", "StorageLost", "WorkerOptions", "WorkerStats", "work"]


@dataclass(frozen=True)
class Progress:
    done: int  # finished trials, all workers and earlier runs included
    total: int
    new: int  # finished by this worker in this run
    elapsed: float
    eta: float  # seconds, from this worker's pace
    hypervolume: float
    failed: int


@dataclass
class WorkerStats:
    """Where one worker's time went."""

    trials: int = 0
    train_s: float = 0.0  # inside Trainer.fit
    store_s: float = 0.0  # talking to the store: lock, recovery, proposing, popping, storing results
    wait_s: float = 0.0  # idle while other workers finish a batch

    @property
    def store_ms_per_trial(self) -> float:
        return 1000.0 * self.store_s / max(self.trials, 1)


@dataclass(frozen=True)
class WorkerOptions:
    heartbeat: float = 10.0  # seconds between heartbeats of running trials
    poll: float = 1.0  # seconds between looks at the queue while others train
    patience: float = 120.0  # seconds to wait for a lost database before giving up


def work(
    store: Store,
    executor: InProcess | ProcessPool,
    k: int,
    device: str,
    options: WorkerOptions,
    on_progress: Callable[[Progress], None] | None = None,
) -> WorkerStats:
    """Evaluate trials of ``store``'s study until its budget is spent; say where the time went.

    Each pass takes as many trials as ``executor.workers × k`` members hold
    (``k`` per training process; halved if the device runs out of memory): a
    λ trained under R seeds is R members. What each seed gave is stored as
    soon as its round ends; a trial is finished once all its seeds are in.
    """
    spec = store.spec
    budget = spec.search.trials
    start = time.perf_counter()
    stats = WorkerStats()
    while True:
        t0 = time.perf_counter()
        per_trial = len(spec.search.first_seeds(spec.training.seed))
        n = max(1, executor.workers * k // per_trial)
        trials, finished, running = _retry(functools.partial(_next, store, spec, budget, n), options.patience)
        stats.store_s += time.perf_counter() - t0
        if not trials:
            if finished >= budget or running == 0:
                return stats  # the budget is spent (a λ's repeats included), or the proposer has nothing more to offer
            time.sleep(options.poll)
            stats.wait_s += options.poll
            continue
        k, train_s, store_s = _train(store, executor, trials, k, device, options)
        stats.train_s += train_s
        stats.store_s += store_s
        stats.trials += len(trials)
        mine = stats.trials
        if on_progress is not None:
            records = _retry(store.records, options.patience)
            done = sum(r.state in ("complete", "failed", "pruned") and r.conditioned is None for r in records)
            elapsed = time.perf_counter() - start
            on_progress(
                Progress(
                    done=done,
                    total=budget,
                    new=mine,
                    elapsed=elapsed,
                    eta=elapsed / max(mine, 1) * max(budget - done, 0),
                    hypervolume=front_hypervolume(spec, records),
                    failed=sum(r.state == "failed" for r in records),
                )
            )


def _train(
    store: Store, executor: InProcess | ProcessPool, trials: list[optuna.Trial], k: int, device: str, options: WorkerOptions
) -> tuple[int, float, float]:
    """Train every seed the popped trials still miss, one member per (trial, seed), and finish them.

    What each round's seeds gave is stored as soon as the round ends (a
    resume trains only the missing seeds); the study's own seed also keeps
    its weights. Returns the ``k`` that fit, and the seconds spent training
    and in the store. On any error the trials go back to the queue.
    """
    spec = store.spec
    attrs = [t.user_attrs for t in trials]  # one read each: an Optuna trial's attributes come from the storage
    targets = [store.seeds(a)[0] for a in attrs]
    done = [store.seeds(a)[1] for a in attrs]
    # successive halving: how far each trial trains, and the trial whose checkpoint it goes on from
    epochs = [int(a.get("epochs", spec.training.epochs)) for a in attrs]
    plans: dict[tuple[int, bool], list[tuple[int, int]]] = {}
    for i, seeds in enumerate(targets):
        plans.setdefault((epochs[i], "continues" in attrs[i]), []).extend((i, seed) for seed in seeds if seed not in done[i])
    store_s = 0.0

    def keep(plan: list[tuple[int, int]], first: int, results: list[MemberResult]) -> None:
        nonlocal store_s
        t0 = time.perf_counter()
        touched = set()
        for (i, seed), r in zip(plan[first : first + len(results)], results, strict=True):
            done[i][seed] = seed_result(r)
            if r.checkpoint is not None:
                _retry(functools.partial(store.weights.save_checkpoint, trials[i], r.checkpoint), options.patience)
            elif seed == spec.training.seed and r.state is not None and "repeat_of" not in attrs[i]:
                _retry(functools.partial(store.weights.save, trials[i], r.state), options.patience)
            touched.add(i)
        for i in sorted(touched):
            if len(done[i]) < len(targets[i]):
                _retry(functools.partial(store.keep_seeds, trials[i], done[i]), options.patience)
        store_s += time.perf_counter() - t0

    try:
        with store.queue.heartbeat(trials, options.heartbeat):
            t0 = time.perf_counter()
            for (target, goes_on), plan in sorted(plans.items()):
                if not plan:
                    continue
                lam = store.space.to_lambda(np.array([store.queue.x_of(trials[i]) for i, _ in plan]))
                start = [_checkpoint(store, int(attrs[i]["continues"])) for i, _ in plan] if goes_on else None
                _, k = fit_in_rounds(
                    executor, lam, k, [seed for _, seed in plan], on_round=functools.partial(keep, plan), start=start, epochs=target
                )
            train_s = time.perf_counter() - t0 - store_s
    except BaseException:
        try:
            store.queue.release(trials)
        except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError):
            pass  # the database is away: the trials are recovered on the next run
        raise
    t0 = time.perf_counter()
    for i, trial in enumerate(trials):
        _retry(functools.partial(store.finish, trial, done[i], device), options.patience)
    return k, train_s, store_s + time.perf_counter() - t0


def _checkpoint(store: Store, number: int) -> Checkpoint:
    """The checkpoint a trial of the next rung goes on from; a lost one is a one-line error (the trial goes back to the queue)."""
    try:
        return store.weights.load_checkpoint(number)
    except CheckpointError as exc:
        raise UserError(
            f"{exc}, so its λ cannot go on to the next rung; restore the folder {store.artifacts}, or start the study under a new [study] name"
        ) from None


def _next(store: Store, spec: StudySpec, budget: int, k: int) -> tuple[list[optuna.Trial], int, int]:
    """Under the study lock: recover, propose if due, pop. Returns (trials, finished, running)."""
    queue = store.queue
    with queue.lock():
        queue.fail_stale()
        snap = queue.snapshot()
        if queue.requeue_interrupted(snap.running):
            snap = queue.snapshot()
        if snap.awaiting and snap.waiting == 0 and not snap.running and promote(store, spec):
            snap = queue.snapshot()  # the survivors of a rung, queued for the next (successive halving)
        waiting = snap.waiting
        spent = snap.finished >= budget
        # the newest batch is finished (its slots past the budget were never queued)
        batch_done = waiting == 0 and not snap.batch_open and (spent or not snap.missing)
        if spec.search.adaptive and batch_done and snap.next_batch > 0:
            # before the next batch (or after the last): more seeds for the trials on or near the front
            repeats = plan_repeats(store, spec, snap.next_batch - 1)
            if repeats:
                return queue.pop(k, repeats), snap.finished, len(snap.running)
        if spent and waiting and waiting == snap.waiting_repeats:  # repeats left by an interrupted run
            return queue.pop(k, waiting), snap.finished, len(snap.running)
        room = budget - snap.finished - len(snap.running)
        if spent or room <= 0:
            return [], snap.finished, len(snap.running)
        if snap.missing:  # a proposer died while enqueueing, or the budget grew: finish the batch as it would have been
            if room > waiting:  # (trials already waiting take their share of the budget first)
                waiting += propose(store, spec, snap.next_batch - 1, slots=snap.missing[: room - waiting])
        elif batch_done:
            waiting = propose(store, spec, snap.next_batch, limit=room)
        return queue.pop(min(k, room), waiting), snap.finished, len(snap.running)
