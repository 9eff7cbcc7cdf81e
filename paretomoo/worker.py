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
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import optuna
import sqlalchemy.exc

from paretomoo._parallel import InProcess, ProcessPool, fit_in_rounds
from paretomoo.errors import UserError
from paretomoo.proposers import make_proposer
from paretomoo.spec import StudySpec
from paretomoo.store import Store
from paretomoo.summary import front_hypervolume

T = TypeVar("T")


class StorageLost(UserError):
    """The database stayed unreachable longer than the worker's patience."""

    exit_code = 3


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

    Each pass takes up to ``executor.workers × k`` trials (``k`` λ per
    training process; halved if the device runs out of memory).
    """
    spec = store.spec
    budget = spec.search.trials
    start = time.perf_counter()
    stats = WorkerStats()
    while True:
        t0 = time.perf_counter()
        trials, finished, running = _retry(functools.partial(_next, store, spec, budget, executor.workers * k), options.patience)
        stats.store_s += time.perf_counter() - t0
        if finished >= budget:
            return stats
        if not trials:
            if running == 0:
                return stats  # the proposer has nothing more to offer
            time.sleep(options.poll)
            stats.wait_s += options.poll
            continue
        lam = store.space.to_lambda(np.array([store.queue.x_of(t) for t in trials]))
        try:
            with store.queue.heartbeat(trials, options.heartbeat):
                t0 = time.perf_counter()
                results, k = fit_in_rounds(executor, lam, k)
                stats.train_s += time.perf_counter() - t0
        except BaseException:
            try:
                store.queue.release(trials)
            except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError):
                pass  # the database is away: the trials are recovered on the next run
            raise
        t0 = time.perf_counter()
        for trial, result in zip(trials, results, strict=True):
            _retry(functools.partial(store.finish, trial, result, spec.training.seed, device), options.patience)
        stats.store_s += time.perf_counter() - t0
        stats.trials += len(trials)
        mine = stats.trials
        if on_progress is not None:
            records = _retry(store.records, options.patience)
            done = sum(r.state in ("complete", "failed") for r in records)
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


def _next(store: Store, spec: StudySpec, budget: int, k: int) -> tuple[list[optuna.Trial], int, int]:
    """Under the study lock: recover, propose if due, pop. Returns (trials, finished, running)."""
    queue = store.queue
    with queue.lock():
        queue.fail_stale()
        snap = queue.snapshot()
        if queue.requeue_interrupted(snap.running):
            snap = queue.snapshot()
        room = budget - snap.finished - len(snap.running)
        if snap.finished >= budget or room <= 0:
            return [], snap.finished, len(snap.running)
        waiting = snap.waiting
        if snap.missing:  # a proposer died while enqueueing: finish its batch as it would have
            waiting += propose(store, spec, snap.next_batch - 1, slots=snap.missing)
        elif waiting == 0 and not snap.batch_open:
            waiting = propose(store, spec, snap.next_batch)
        return queue.pop(min(k, room), waiting), snap.finished, len(snap.running)


def propose(store: Store, spec: StudySpec, batch_id: int, slots: list[int] | None = None) -> int:
    """Rebuild the proposer from the batches before ``batch_id`` and enqueue batch ``batch_id``
    (only ``slots`` of it, if given); return how many trials were enqueued."""
    history = store.history(before=batch_id)
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
        store.queue.enqueue(x, batch_id, slots)
    return len(x) if slots is None else len(slots)


# What a lost connection looks like: SQLAlchemy's errors, or Optuna's wrapper of them around a commit.
_DB_ERRORS = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
    optuna.exceptions.StorageInternalError,
)


def _retry(call: Callable[[], T], patience: float) -> T:
    """Run ``call``, retrying database errors with backoff for up to ``patience`` seconds."""
    deadline = time.monotonic() + patience
    delay = 0.5
    while True:
        try:
            return call()
        except _DB_ERRORS as exc:
            if time.monotonic() + delay > deadline:
                cause = exc.__cause__ or exc  # Optuna wraps the driver's error
                text = str(getattr(cause, "orig", None) or cause).strip()
                first = text.splitlines()[0] if text else type(cause).__name__
                raise StorageLost(
                    f"lost the study database for more than {patience:.0f} s ({first}); the study is intact: "
                    f"run the same command again once the database is back"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
