"""The study as a queue shared by every worker: proposal batches enqueued as WAITING trials, popped, beaten for, recovered.

A trial of a proposal batch carries ``batch``, ``slot`` (its row) and ``of``
(the batch size), and its logits again as ``logits``. A re-queued attempt of an
interrupted trial carries ``retry_of``, ``retry_reason`` and ``attempt``; the
interrupted one counts as such because a retry names it.

Under successive halving (``[search] fidelity``) a trial also carries ``rung``
and ``epochs`` (how far it trains); one that stops short of the last rung ends
PRUNED with its metrics and a checkpoint, and a survivor goes on as a new trial
of the same (batch, slot) that names it (``continues``). So one λ is a chain of
trials: the earlier links count as ``promoted``, the last one is the λ's result.
A rung's survivors are chosen once every trial of the rung has ended; the
study remembers the last rung decided for each batch (``halving_decided``), so
a PRUNED trial of a later rung is still waiting for that decision.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import os
import socket
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.trial import FrozenTrial, TrialState

from paretomoo.proposers import Batch
from paretomoo.space import LambdaSpace

FINISHED = (TrialState.COMPLETE, TrialState.FAIL)
# what a re-queued attempt keeps of the interrupted one: its seeds, what they gave, its weights, its place in a halving chain
KEPT_ON_RETRY = ("seeds", "by_seed", "repeat_of", "weights", "rung", "epochs", "continues", "rungs")
MAX_ATTEMPTS = 3  # interrupted attempts of one λ before it counts as failed
_LOCAL_LOCK = threading.Lock()


@dataclass(frozen=True)
class Snapshot:
    finished: int  # counts against the budget
    running: list[FrozenTrial]
    waiting: int
    batch_open: bool  # a trial of the newest batch is still waiting or running
    next_batch: int
    missing: list[int]  # slots of the newest batch not enqueued (a crash, or past the budget)
    waiting_repeats: int = 0  # waiting trials that are more seeds of a finished λ
    awaiting: int = 0  # PRUNED trials of a rung whose survivors are not chosen yet (successive halving)


@dataclass(frozen=True)
class Chains:
    """Which trials of a study a halving chain has passed by (``promoted``: a later trial ``continues`` them), which
    were interrupted (``retried``), and the last rung decided per batch."""

    promoted: set[int]
    retried: set[int]
    decided: dict[int, int]

    @classmethod
    def of(cls, ts: Sequence[FrozenTrial], study_attrs: Mapping[str, Any]) -> Chains:
        return cls(
            promoted={int(t.user_attrs["continues"]) for t in ts if "continues" in t.user_attrs},
            retried={int(t.user_attrs["retry_of"]) for t in ts if "retry_of" in t.user_attrs},
            decided={int(b): int(r) for b, r in study_attrs.get("halving_decided", {}).items()},
        )

    def awaiting(self, t: FrozenTrial) -> bool:
        """A PRUNED trial whose rung's survivors are still to be chosen."""
        return (
            t.state == TrialState.PRUNED
            and t.number not in self.promoted
            and t.number not in self.retried
            and int(t.user_attrs.get("rung", 0)) > self.decided.get(int(t.user_attrs.get("batch", -1)), -1)
        )

    def ended(self, t: FrozenTrial) -> bool:
        """The last trial of a λ that counts against the budget: complete, failed, or pruned for good."""
        if t.number in self.retried or t.number in self.promoted or "repeat_of" in t.user_attrs or "conditioned" in t.user_attrs:
            return False
        return t.state in FINISHED or (t.state == TrialState.PRUNED and not self.awaiting(t))


class TrialQueue:
    """Queue operations on one Optuna study whose params are the λ space's logits."""

    def __init__(self, study: optuna.Study, storage: optuna.storages.RDBStorage, space: LambdaSpace, name: str) -> None:
        self.study = study
        self.storage = storage
        self.space = space
        self.name = name
        self.dists: dict[str, BaseDistribution] = {p: FloatDistribution(-space.zmax, space.zmax) for p in space.params}

    def trials(self, states: Sequence[TrialState] | None = None) -> list[FrozenTrial]:
        return self.study.get_trials(deepcopy=False, states=states)

    def retried(self, ts: Sequence[FrozenTrial] | None = None) -> dict[int, str]:
        """Trial number → why it was interrupted, for every attempt that was retried (of ``ts``, as read already)."""
        return {
            t.user_attrs["retry_of"]: t.user_attrs.get("retry_reason", "")
            for t in (self.trials() if ts is None else ts)
            if "retry_of" in t.user_attrs
        }

    def snapshot(self) -> Snapshot:
        """The queue's state from one read of the study (what a worker decides on, under the lock)."""
        ts = self.trials()
        chains = self.chains(ts)
        newest = max((t.user_attrs.get("batch", -1) for t in ts), default=-1)
        open_states = (TrialState.WAITING, TrialState.RUNNING)
        newest_trials = [t for t in ts if t.user_attrs.get("batch") == newest]
        size = max((t.user_attrs.get("of", 0) for t in newest_trials), default=0)
        missing = sorted(set(range(size)) - {t.user_attrs.get("slot") for t in newest_trials})
        awaiting = sum(1 for t in ts if chains.awaiting(t))
        return Snapshot(
            finished=sum(1 for t in ts if chains.ended(t)),
            running=[t for t in ts if t.state == TrialState.RUNNING],
            waiting=sum(1 for t in ts if t.state == TrialState.WAITING),
            batch_open=awaiting > 0 or any(t.state in open_states and t.user_attrs.get("batch") == newest for t in ts),
            next_batch=newest + 1,
            missing=missing,
            waiting_repeats=sum(1 for t in ts if t.state == TrialState.WAITING and "repeat_of" in t.user_attrs),
            awaiting=awaiting,
        )

    def chains(self, ts: Sequence[FrozenTrial] | None = None) -> Chains:
        return Chains.of(self.trials() if ts is None else ts, self.study.user_attrs)

    def enqueue(
        self,
        x: np.ndarray,
        batch: int,
        seeds: Sequence[int] | None = None,
        slots: Sequence[int] | None = None,
        epochs: int | None = None,
        extra: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Queue a proposal batch as WAITING trials, one per row of ``x`` (only ``slots`` of them, if given),
        each to train under ``seeds`` (default: the study's training seed); with ``epochs``, as the first rung of
        successive halving, for that many epochs; ``extra[row]``: more user attributes of that row's trial.

        Each trial records the batch size (``of``), so that a batch whose
        enqueueing a crash cut short is seen as partial and completed.
        """
        x = np.atleast_2d(x)
        for slot in range(len(x)) if slots is None else slots:
            params = {p: float(v) for p, v in zip(self.space.params, x[slot], strict=True)}
            # the logits again as a user attribute: a trial popped by a process that died
            # before Optuna wrote its params can still be queued again exactly
            attrs: dict[str, Any] = {"batch": batch, "slot": slot, "of": len(x), "logits": list(params.values())}
            if seeds is not None:
                attrs["seeds"] = list(seeds)
            if epochs is not None:
                attrs.update(rung=0, epochs=epochs)
            if extra is not None:
                attrs.update(extra[slot])
            self.study.enqueue_trial(params, user_attrs=attrs)

    def enqueue_continuation(self, trial: FrozenTrial, rung: int, epochs: int) -> None:
        """Queue a PRUNED trial's λ to go on from its checkpoint to rung ``rung`` (``epochs`` epochs)."""
        params = dict(zip(self.space.params, trial.user_attrs.get("logits") or [trial.params[p] for p in self.space.params], strict=True))
        keep: dict[str, Any] = {key: trial.user_attrs[key] for key in ("batch", "slot", "of", "seeds", "rungs") if key in trial.user_attrs}
        attrs = {**keep, "logits": list(params.values()), "rung": rung, "epochs": epochs, "continues": trial.number}
        self.study.enqueue_trial(params, user_attrs=attrs)

    def enqueue_repeats(self, trial: FrozenTrial, seeds: Sequence[int], batch: int) -> None:
        """Queue more seeds of a finished trial's λ, as one trial that names it (``repeat_of``).

        Such a trial never counts against the budget nor enters the proposers'
        history by itself: its seeds are folded into the trial it repeats.
        """
        params = dict(zip(self.space.params, trial.user_attrs.get("logits") or [trial.params[p] for p in self.space.params], strict=True))
        attrs = {"batch": batch, "slot": -1, "of": 0, "logits": list(params.values()), "seeds": list(seeds), "repeat_of": trial.number}
        self.study.enqueue_trial(params, user_attrs=attrs)

    def pop(self, n: int, waiting: int | None = None) -> list[optuna.Trial]:
        """Up to ``n`` WAITING trials (of ``waiting`` known to be queued), now RUNNING in this process."""
        out = []
        known = len(self.trials((TrialState.WAITING,))) if waiting is None else waiting
        for _ in range(min(n, known)):
            with warnings.catch_warnings():
                # Optuna notes that heartbeats are made for optimize(); paretomoo sends them itself.
                warnings.filterwarnings("ignore", message="Heartbeat of storage", category=UserWarning)
                trial = self.study.ask(self.dists)
            # the first heartbeat before the signature: a trial whose process dies from here on
            # is found either by its heartbeat or, unsigned, by its age (requeue_interrupted)
            self.storage.record_heartbeat(trial._trial_id)
            trial.set_user_attr("worker", {"host": host(), "pid": os.getpid()})
            out.append(trial)
        return out

    def x_of(self, trial: optuna.Trial | FrozenTrial) -> np.ndarray:
        """The trial's logits ``[d]``."""
        return np.array([trial.params[p] for p in self.space.params])

    def requeue_interrupted(self, running: list[FrozenTrial] | None = None) -> int:
        """Queue again the RUNNING trials of dead local processes; return how many.

        Also trials nobody signed within three heartbeat intervals (their
        process died between popping and signing). Trials of live processes,
        or of other hosts, are left alone: their heartbeat tells (``fail_stale``).
        """
        here = host()
        n = 0
        grace = 3 * (self.storage.heartbeat_interval or 10)
        for t in self.trials((TrialState.RUNNING,)) if running is None else running:
            owner = t.user_attrs.get("worker")
            if owner is None:
                # Popped, then its process (or the database) died before it was
                # signed: no owner and no heartbeat tell, so give it the grace period.
                started = t.datetime_start or datetime.datetime.now()
                if (datetime.datetime.now() - started).total_seconds() < grace:
                    continue
            elif owner.get("host") != here or _alive(owner.get("pid")):
                continue
            if self.storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
                self._requeue(t, "the process running it stopped")
                n += 1
        return n

    def fail_stale(self) -> None:
        """Fail RUNNING trials whose heartbeat stopped, and queue them again (Optuna's stale-trial hook)."""
        self.storage.heartbeat_stale_trial_callback = lambda study, trial: self._requeue(trial, "its worker stopped sending heartbeats")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(self.study)

    def release(self, trials: list[optuna.Trial]) -> None:
        """Give running trials back to the queue (this process is stopping)."""
        for trial in trials:
            if self.storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
                self._requeue(self.storage.get_trial(trial._trial_id), "its process was stopped")

    def _requeue(self, t: FrozenTrial, why: str) -> None:
        """Queue the λ of an interrupted (already FAILed) attempt again.

        A finished Optuna trial can no longer be changed, so the new trial
        carries the story (``retry_of``, ``retry_reason``) and the old one counts
        as interrupted because a retry names it. After ``MAX_ATTEMPTS``
        attempts the λ stays failed and counts against the budget, so a λ that
        kills its worker every time cannot stall the study.
        """
        attempt = int(t.user_attrs.get("attempt", 1))
        if attempt >= MAX_ATTEMPTS:
            return
        logits = t.user_attrs.get("logits")
        params = dict(zip(self.space.params, logits, strict=True)) if logits else dict(t.params)
        attrs = {
            "batch": t.user_attrs.get("batch", -1),
            "slot": t.user_attrs.get("slot", 0),
            "of": t.user_attrs.get("of", 0),
            "logits": list(params.values()),
            "retry_of": t.number,
            "retry_reason": why,
            "attempt": attempt + 1,
        }
        attrs.update({key: t.user_attrs[key] for key in KEPT_ON_RETRY if key in t.user_attrs})
        self.study.enqueue_trial(params, user_attrs=attrs)

    @contextlib.contextmanager
    def heartbeat(self, trials: list[optuna.Trial], interval: float) -> Iterator[None]:
        """Beat for ``trials`` every ``interval`` seconds while the block runs."""
        ids = [t._trial_id for t in trials]
        stop = threading.Event()

        def beat_all() -> None:
            for i in ids:
                try:
                    self.storage.record_heartbeat(i)
                except Exception:  # the database may be away: the worker's retry and its one-line error deal with that
                    pass

        def beat() -> None:
            while not stop.wait(interval):
                beat_all()

        beat_all()  # pop() recorded the first beat; this one starts the interval
        thread = threading.Thread(target=beat, name="paretomoo-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive across every process of this study: proposing and popping happen under it.

        PostgreSQL: a session advisory lock keyed by the study name; SQLite: a
        lock file beside the database; other databases: this process only.
        """
        url = self.storage.url
        if url.startswith("postgresql"):
            from sqlalchemy import text

            key = int.from_bytes(hashlib.sha256(f"paretomoo:{self.name}".encode()).digest()[:8], "big", signed=True)
            with self.storage.engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
        elif url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            with open(url[len("sqlite:///") :] + ".lock", "w") as f:
                fcntl.flock(f, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(f, fcntl.LOCK_UN)
        else:
            with _LOCAL_LOCK:
                yield

    def history(self, signs: np.ndarray, values: Mapping[int, Sequence[float]], before: int | None = None) -> list[Batch]:
        """Finished proposal batches in order (those numbered below ``before``), for ``Proposer.replay``.

        ``values[number]`` are a complete (or pruned) trial's natural values (the
        mean over all its seeds); ``signs[m]`` turns them into minimisation form.
        Each (batch, slot) counts once: its complete trial, else its last failed
        one; interrupted attempts and repeats of a λ are skipped. Under
        successive halving it is the last trial of the λ's chain: a λ pruned at
        a rung is told with the metrics it had there, worse than full
        training's, as its pruning says.
        """
        by_slot: dict[tuple[int, int], FrozenTrial] = {}
        ts = self.trials()
        chains = self.chains(ts)
        for t in ts:
            if not chains.ended(t) or (before is not None and t.user_attrs.get("batch", -1) >= before):
                continue
            key = (t.user_attrs.get("batch", -1), t.user_attrs.get("slot", t.number))
            if key not in by_slot or by_slot[key].state != TrialState.COMPLETE:
                by_slot[key] = t
        batches: dict[int, list[FrozenTrial]] = {}
        for (b, _), t in sorted(by_slot.items()):
            batches.setdefault(b, []).append(t)
        out = []
        for b in sorted(batches):
            ts = batches[b]
            x = np.array([self.x_of(t) for t in ts])
            f = np.array([np.asarray(values[t.number]) * signs if t.number in values else np.full(len(signs), np.nan) for t in ts])
            out.append(Batch(x=x, f=f))
        return out


def host() -> str:
    """This process's host name as stored with its trials ($PARETOMOO_HOST where containers share one)."""
    return os.environ.get("PARETOMOO_HOST") or socket.gethostname()


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid != 0
