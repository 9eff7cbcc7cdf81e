"""The study store: an Optuna storage (SQLite by default, any SQLAlchemy URL).

One Optuna trial per evaluated λ:
  * params       ``logit_<task>`` for each free task (the proposers' coordinates)
  * values       the natural validation metric of every task, in spec order
                 (``study.metric_names`` holds their names)
  * user attrs   ``lambda`` {task: weight}, ``val`` and ``test`` {task: {metric: value}},
                 ``run`` {seed, seconds, device}, ``batch`` and ``slot`` (which
                 proposal batch it came from), ``worker`` {host, pid} that ran it,
                 ``fail_reason`` for a failed trial; a re-queued attempt also has
                 ``retry_of``, ``retry_reason`` and ``attempt``; ``of`` (batch size) and
                 ``logits`` (the params, kept from the moment of enqueueing)
  * artifact     the trained weights (Optuna's artifact store, a folder)

A proposal batch is enqueued as WAITING trials before any is trained, so an
interrupted batch is finished on resume, and ``optuna-dashboard <url>`` shows
every paretomoo study as it runs.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import io
import json
import logging
import os
import re
import socket
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import sqlalchemy
import sqlalchemy.exc
import torch
from optuna.artifacts import FileSystemArtifactStore, download_artifact, get_all_artifact_meta, upload_artifact
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState

from paretomoo.errors import UserError
from paretomoo.proposers import Batch
from paretomoo.space import LambdaSpace
from paretomoo.spec import StudySpec, parse_spec
from paretomoo.trainer import MemberResult

optuna.logging.set_verbosity(optuna.logging.WARNING)


class _NoQueryFallbackNotice(logging.Filter):
    """Drop Optuna's "Caught an error from sqlalchemy ... Falling back to a slower alternative".

    Optuna reads any ``OperationalError`` while listing trials as a query with
    too many variables, logs that (with the driver's multi-line message) and
    queries again. When the database is gone, the second query fails too and
    the worker's retry and its one-line error take over; the notice would only
    put a misleading traceback-like block before it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Caught an error from sqlalchemy")


logging.getLogger("optuna.storages._rdb.storage").addFilter(_NoQueryFallbackNotice())

_FINISHED = (TrialState.COMPLETE, TrialState.FAIL)
MAX_ATTEMPTS = 3  # interrupted attempts of one λ before it counts as failed
_LOCAL_LOCK = threading.Lock()


@dataclass(frozen=True)
class Snapshot:
    finished: int  # counts against the budget
    running: list[FrozenTrial]
    waiting: int
    batch_open: bool  # a trial of the newest batch is still waiting or running
    next_batch: int
    missing: list[int]  # slots of the newest batch that a crash kept from being enqueued


class CheckpointError(Exception):
    """A trial's stored weights cannot be read; the trial can be re-run to recover them."""


@dataclass(frozen=True)
class Record:
    """A stored trial in the form every report uses."""

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


def open_storage(url: str, heartbeat: int | None = None) -> optuna.storages.RDBStorage:
    """An Optuna RDB storage; SQLite files get their folder created.

    ``heartbeat`` (seconds) turns on Optuna's trial heartbeats: a RUNNING trial
    whose process stops beating for three intervals is stale (see
    ``Store.fail_stale``).
    """
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Several local processes share one file: wait for its lock instead of failing.
        engine_kwargs["connect_args"] = {"timeout": 60}
    else:
        engine_kwargs["pool_pre_ping"] = True
        if url.startswith("postgresql"):
            engine_kwargs["connect_args"] = {"connect_timeout": 10}  # a vanished server must not hang a worker
    try:
        for attempt in range(5):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    storage = optuna.storages.RDBStorage(
                        url,
                        engine_kwargs=engine_kwargs,
                        heartbeat_interval=heartbeat,
                        grace_period=None if heartbeat is None else 3 * heartbeat,
                    )
                if url.startswith("sqlite:///"):
                    _sqlite_wal(storage)
                return storage
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError, sqlalchemy.exc.OperationalError) as exc:
                # Workers starting together on a new database race to create Optuna's
                # tables; the loser finds them made a moment later.
                racing = not isinstance(exc, sqlalchemy.exc.OperationalError) or "already exists" in str(exc)
                if attempt == 4 or not racing:
                    raise
                time.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")
    except ModuleNotFoundError as exc:
        raise UserError(f"storage {url!r} needs the Python package {exc.name!r}; install it (e.g. pip install psycopg2-binary)") from None
    except Exception as exc:  # SQLAlchemy raises many types for bad URLs and unreachable servers
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot open storage {_safe(url)} ({first}); check the URL and that the database is reachable") from None


def _sqlite_wal(storage: optuna.storages.RDBStorage) -> None:
    """Write-ahead logging: readers do not block the writer, and a commit costs no fsync of the database.

    WAL is a property of the file (set once); ``synchronous=NORMAL`` is per
    connection, so it is set on every new one. A power cut can lose the last
    commits, never corrupt the study.
    """

    def on_connect(dbapi_conn: Any, _: Any) -> None:
        dbapi_conn.execute("PRAGMA synchronous=NORMAL")

    sqlalchemy.event.listen(storage.engine, "connect", on_connect)
    storage.engine.dispose()  # reconnect so that every pooled connection gets the pragma
    with storage.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"://([^:/@]+):[^@/]*@", r"://\1:***@", url)


class Store:
    """One study in an Optuna storage, created from a spec or opened by name."""

    def __init__(self, spec: StudySpec, storage: optuna.storages.BaseStorage, study: optuna.Study, artifacts: str) -> None:
        self.spec = spec
        self.storage = storage
        self.study = study
        self.space = LambdaSpace(spec.task_names, spec.lam)
        self.artifacts = artifacts
        self.dists = {p: FloatDistribution(-self.space.zmax, self.space.zmax) for p in self.space.params}

    # -- opening ---------------------------------------------------------------

    @classmethod
    def create_or_resume(cls, spec: StudySpec, storage_url: str | None = None, heartbeat: int | None = None) -> Store:
        """Open the spec's study, creating it if new; refuse one made from another spec."""
        url = storage_url or spec.storage
        storage = open_storage(url, heartbeat)
        names = optuna.get_all_study_names(storage)
        if spec.name in names:
            study = optuna.load_study(study_name=spec.name, storage=storage)
            stored = _wait_for_attr(study, "spec_hash")
            if stored != spec.result_hash():
                raise UserError(
                    f"study {spec.name!r} in {_safe(url)} was made from a different spec (data, tasks, model, training or "
                    f"lambda changed); give the study a new [study] name, or use another --storage"
                )
        else:
            study = optuna.create_study(
                study_name=spec.name,
                storage=storage,
                directions=spec.directions,
                load_if_exists=True,
            )
            with warnings.catch_warnings():  # experimental in Optuna, read by optuna-dashboard
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names(spec.objectives)
            study.set_user_attr("spec_hash", spec.result_hash())
            study.set_user_attr("spec_text", spec.source_text)
            study.set_user_attr("artifacts", str(Path(spec.artifacts).resolve()))
        return cls(spec, storage, study, study.user_attrs.get("artifacts", spec.artifacts))

    @classmethod
    def open(cls, target: str, storage_url: str | None = None, heartbeat: int | None = None) -> Store:
        """Open an existing study: ``target`` is a spec file or a study name (with ``storage_url``)."""
        if target.endswith(".toml") or Path(target).is_file():
            from paretomoo.spec import load_spec

            spec = load_spec(target)
            name, url = spec.name, storage_url or spec.storage
        else:
            if storage_url is None:
                raise UserError(f"{target!r} is not a spec file; pass a spec file, or a study name with --storage URL")
            name, url = target, storage_url
            spec = None
        storage = open_storage(url, heartbeat)
        if name not in optuna.get_all_study_names(storage):
            raise UserError(f"no study named {name!r} in {_safe(url)}; run it first (paretomoo run SPEC) or check --storage")
        study = optuna.load_study(study_name=name, storage=storage)
        text = study.user_attrs.get("spec_text")
        if text is None:
            raise UserError(f"study {name!r} in {_safe(url)} was not made by paretomoo (it has no stored spec)")
        if spec is None or spec.result_hash() != study.user_attrs.get("spec_hash"):
            # The stored spec is the truth about what the trials computed.
            import tomllib

            spec = parse_spec(tomllib.loads(text), source_text=text)
        return cls(spec, storage, study, study.user_attrs.get("artifacts", spec.artifacts))

    # -- the queue -------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The queue's state from one read of the study (what a worker decides on, under the lock)."""
        ts = self.trials()
        retried = {t.user_attrs["retry_of"] for t in ts if "retry_of" in t.user_attrs}
        newest = max((t.user_attrs.get("batch", -1) for t in ts), default=-1)
        open_states = (TrialState.WAITING, TrialState.RUNNING)
        newest_trials = [t for t in ts if t.user_attrs.get("batch") == newest]
        size = max((t.user_attrs.get("of", 0) for t in newest_trials), default=0)
        missing = sorted(set(range(size)) - {t.user_attrs.get("slot") for t in newest_trials})
        return Snapshot(
            finished=sum(1 for t in ts if t.state in _FINISHED and t.number not in retried),
            running=[t for t in ts if t.state == TrialState.RUNNING],
            waiting=sum(1 for t in ts if t.state == TrialState.WAITING),
            batch_open=any(t.state in open_states and t.user_attrs.get("batch") == newest for t in ts),
            next_batch=newest + 1,
            missing=missing,
        )

    def trials(self, states: Sequence[TrialState] | None = None) -> list[FrozenTrial]:
        return self.study.get_trials(deepcopy=False, states=states)

    def n_finished(self) -> int:
        """Trials that count against the budget: complete, or failed for a reason of their own."""
        retried = self._retried()
        return sum(1 for t in self.trials(_FINISHED) if t.number not in retried)

    def n_waiting(self) -> int:
        return len(self.trials((TrialState.WAITING,)))

    def next_batch_id(self) -> int:
        return 1 + max((t.user_attrs.get("batch", -1) for t in self.trials()), default=-1)

    def enqueue(self, x: np.ndarray, batch: int, slots: Sequence[int] | None = None) -> None:
        """Queue a proposal batch as WAITING trials, one per row of ``x`` (only ``slots`` of them, if given).

        Each trial records the batch size (``of``), so that a batch whose
        enqueueing a crash cut short is seen as partial and completed.
        """
        x = np.atleast_2d(x)
        for slot in range(len(x)) if slots is None else slots:
            params = {p: float(v) for p, v in zip(self.space.params, x[slot], strict=True)}
            # the logits again as a user attribute: a trial popped by a process that died
            # before Optuna wrote its params can still be queued again exactly
            self.study.enqueue_trial(params, user_attrs={"batch": batch, "slot": slot, "of": len(x), "logits": list(params.values())})

    def pop(self, n: int, waiting: int | None = None) -> list[optuna.Trial]:
        """Up to ``n`` WAITING trials (of ``waiting`` known to be queued), now RUNNING in this process."""
        out = []
        for _ in range(min(n, self.n_waiting() if waiting is None else waiting)):
            with warnings.catch_warnings():
                # Optuna notes that heartbeats are made for optimize(); paretomoo sends them itself.
                warnings.filterwarnings("ignore", message="Heartbeat of storage", category=UserWarning)
                trial = self.study.ask(self.dists)
            # the first heartbeat before the signature: a trial whose process dies from here on
            # is found either by its heartbeat or, unsigned, by its age (requeue_interrupted)
            self.storage.record_heartbeat(trial._trial_id)
            trial.set_user_attr("worker", {"host": _host(), "pid": os.getpid()})
            out.append(trial)
        return out

    def x_of(self, trial: optuna.Trial | FrozenTrial) -> np.ndarray:
        return np.array([trial.params[p] for p in self.space.params])

    def requeue_interrupted(self, running: list[FrozenTrial] | None = None) -> int:
        """Queue again the RUNNING trials of dead local processes; return how many.

        Also trials nobody signed within three heartbeat intervals (their
        process died between popping and signing). Trials of live processes,
        or of other hosts, are left alone: their heartbeat tells (``fail_stale``).
        """
        host = _host()
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
            elif owner.get("host") != host or _alive(owner.get("pid")):
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
        self.study.enqueue_trial(
            params,
            user_attrs={
                "batch": t.user_attrs.get("batch", -1),
                "slot": t.user_attrs.get("slot", 0),
                "of": t.user_attrs.get("of", 0),
                "logits": list(params.values()),
                "retry_of": t.number,
                "retry_reason": why,
                "attempt": attempt + 1,
            },
        )

    def _retried(self) -> dict[int, str]:
        """Trial number → why it was interrupted, for every attempt that was retried."""
        return {t.user_attrs["retry_of"]: t.user_attrs.get("retry_reason", "") for t in self.trials() if "retry_of" in t.user_attrs}

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

            key = int.from_bytes(hashlib.sha256(f"paretomoo:{self.spec.name}".encode()).digest()[:8], "big", signed=True)
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

    def n_running(self) -> int:
        return len(self.trials((TrialState.RUNNING,)))

    def batch_open(self) -> bool:
        """Whether a trial of the newest batch is still waiting or running."""
        newest = self.next_batch_id() - 1
        return any(t.user_attrs.get("batch") == newest for t in self.trials((TrialState.WAITING, TrialState.RUNNING)))

    def history(self, before: int | None = None) -> list[Batch]:
        """Finished proposal batches in order (those numbered below ``before``), for ``Proposer.replay``.

        Each (batch, slot) counts once: its complete trial, else its last
        failed one; interrupted attempts are skipped.
        """
        by_slot: dict[tuple[int, int], FrozenTrial] = {}
        retried = self._retried()
        for t in self.trials(_FINISHED):
            if t.number in retried or (before is not None and t.user_attrs.get("batch", -1) >= before):
                continue
            key = (t.user_attrs.get("batch", -1), t.user_attrs.get("slot", t.number))
            if key not in by_slot or by_slot[key].state != TrialState.COMPLETE:
                by_slot[key] = t
        batches: dict[int, list[FrozenTrial]] = {}
        for (b, _), t in sorted(by_slot.items()):
            batches.setdefault(b, []).append(t)
        signs = np.array([1.0 if d == "minimize" else -1.0 for d in self.spec.directions])
        out = []
        for b in sorted(batches):
            ts = batches[b]
            x = np.array([self.x_of(t) for t in ts])
            f = np.array([np.array(t.values) * signs if t.state == TrialState.COMPLETE else np.full(len(signs), np.nan) for t in ts])
            out.append(Batch(x=x, f=f))
        return out

    # -- results ---------------------------------------------------------------

    def finish(self, trial: optuna.Trial, result: MemberResult, seed: int, device: str) -> None:
        """Store one member's result and weights, then close the trial.

        If another worker already gave the trial up (its heartbeat was late),
        the result is dropped: the retry queued for it stands.
        """
        try:
            self._finish(trial, result, seed, device)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass

    def _finish(self, trial: optuna.Trial, result: MemberResult, seed: int, device: str) -> None:
        trial.set_user_attr("lambda", dict(zip(self.spec.task_names, map(float, result.lam), strict=True)))
        trial.set_user_attr("val", result.val)
        trial.set_user_attr("test", result.test)
        trial.set_user_attr("run", {"seed": seed, "seconds": round(result.seconds, 4), "device": device})
        if result.failed is not None or result.state is None:
            trial.set_user_attr("fail_reason", result.failed)
            self.storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            return
        self._save_weights(trial, result.state)
        values = [result.val[t.name][t.metric] for t in self.spec.tasks]
        # The storage call rather than study.tell: the study's own sampler never
        # proposes (proposals are enqueued), and this saves a third of the cost.
        self.storage.set_trial_state_values(trial._trial_id, TrialState.COMPLETE, values)

    def _artifact_store(self) -> FileSystemArtifactStore:
        Path(self.artifacts).mkdir(parents=True, exist_ok=True)
        return FileSystemArtifactStore(self.artifacts)

    def _save_weights(self, trial: optuna.Trial, state: dict[str, torch.Tensor]) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, f"trial_{trial.number}.pt")
            torch.save(state, path)
            upload_artifact(artifact_store=self._artifact_store(), file_path=path, study_or_trial=trial, mimetype="application/x-pytorch")

    def _weights_id(self, number: int) -> str:
        trial = self.study.trials[number]
        metas = get_all_artifact_meta(trial, storage=self.storage)
        if not metas:
            raise UserError(f"trial {number} has no stored weights (state: {_state(trial)}); pick a complete trial")
        return metas[-1].artifact_id

    def load_weights(self, number: int) -> dict[str, torch.Tensor]:
        """The stored weights of trial ``number``; ``CheckpointError`` if they are missing or unreadable."""
        artifact_id = self._weights_id(number)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "w.pt")
            try:
                download_artifact(artifact_store=self._artifact_store(), file_path=path, artifact_id=artifact_id)
                return torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:  # missing file, truncated or corrupted bytes
                raise CheckpointError(f"the weights of trial {number} in {self.artifacts} are unreadable ({type(exc).__name__})") from None

    def replace_weights(self, number: int, state: dict[str, torch.Tensor]) -> None:
        """Overwrite trial ``number``'s stored weights (after re-running a corrupted checkpoint)."""
        buf = io.BytesIO()
        torch.save(state, buf)
        buf.seek(0)
        self._artifact_store().write(self._weights_id(number), buf)

    def records(self) -> list[Record]:
        out = []
        retried = self._retried()
        for t in self.trials():
            lam = t.user_attrs.get("lambda")
            if lam is None and all(p in t.params for p in self.space.params):
                lam = dict(zip(self.spec.task_names, map(float, self.space.to_lambda(self.x_of(t))[0]), strict=True))
            out.append(
                Record(
                    number=t.number,
                    state="interrupted" if t.number in retried else _state(t),
                    lam=lam or {},
                    values=list(t.values) if t.state == TrialState.COMPLETE else [float("nan")] * len(self.spec.tasks),
                    val=t.user_attrs.get("val", {}),
                    test=t.user_attrs.get("test", {}),
                    batch=t.user_attrs.get("batch", -1),
                    seconds=float(t.user_attrs.get("run", {}).get("seconds", float("nan"))),
                    fail_reason=_fail_reason(t, retried),
                )
            )
        return out

    def record(self, number: int) -> Record:
        recs = self.records()
        if not 0 <= number < len(recs):
            raise UserError(f"study {self.spec.name!r} has no trial {number}; it has trials 0..{len(recs) - 1}")
        return recs[number]


def _fail_reason(t: FrozenTrial, retried: dict[int, str]) -> str | None:
    if t.number in retried:
        return f"interrupted: {retried[t.number]}"
    if t.state == TrialState.FAIL and "fail_reason" not in t.user_attrs:
        return f"stopped without a result in {t.user_attrs.get('attempt', 1)} attempts; given up"
    return t.user_attrs.get("fail_reason")


def _state(t: FrozenTrial) -> str:
    return {TrialState.COMPLETE: "complete", TrialState.FAIL: "failed", TrialState.RUNNING: "running", TrialState.WAITING: "waiting"}.get(
        t.state, t.state.name.lower()
    )


def _wait_for_attr(study: optuna.Study, key: str, seconds: float = 5.0) -> Any:
    """A study attribute that a process creating the study at this moment may not have written yet."""
    deadline = time.monotonic() + seconds
    while (value := study.user_attrs.get(key)) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    return value


def _host() -> str:
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


def dumps(records: list[Record]) -> str:
    return json.dumps([r.to_dict() for r in records], indent=2, default=float)
