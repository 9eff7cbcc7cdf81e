"""Many workers on one study: PostgreSQL and SQLite, SIGKILL at any moment, a lost database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from paretomoo.spec import load_spec
from paretomoo.store import Store

from ._closed_form import run_workers
from .conftest import PgServer

ROOT = Path(__file__).resolve().parents[1]


def worker(spec: Path, storage: str, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "paretomoo.cli", "worker", str(spec), "--storage", storage, "--quiet", "--threads", "1", *extra]
    env = {**os.environ, "PYTHONFAULTHANDLER": "1", **(env or {})}  # SIGABRT dumps every thread's stack
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_all(procs: list[subprocess.Popen], timeout: float = 240) -> list[int]:
    deadline = time.time() + timeout
    codes = []
    for p in procs:
        try:
            p.wait(timeout=max(deadline - time.time(), 1))
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGABRT)
            p.wait()
            raise AssertionError(f"worker {p.pid} hung; its threads:\n{p.stderr.read()[-5000:]}") from None
        codes.append(p.returncode)
    return codes


def wait_until(cond, timeout: float = 120, every: float = 0.2, alive: subprocess.Popen | None = None) -> None:
    """Wait for ``cond()``; fail at once, with its last words, if the process ``alive`` ends first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        if alive is not None and alive.poll() is not None:
            err = alive.stderr.read() if alive.stderr else ""
            raise AssertionError(f"process {alive.pid} ended (exit {alive.returncode}) before what was waited for:\n{err[-3000:]}")
        time.sleep(every)
    raise AssertionError("timed out waiting")


def trials(storage: str, name: str = "tiny", states=None) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=storage).get_trials(states=states)


def check_accounted(storage: str, budget: int) -> Store:
    """Exactly ``budget`` finished trials, one complete per (batch, slot), distinct λ, nothing left running."""
    store = Store.open("tiny", storage)
    assert store.n_finished() == budget
    complete = trials(storage, states=(TrialState.COMPLETE,))
    slots = [(t.user_attrs["batch"], t.user_attrs["slot"]) for t in complete]
    assert len(complete) == budget and len(set(slots)) == budget
    lams = {tuple(round(v, 12) for v in t.user_attrs["lambda"].values()) for t in complete}
    assert len(lams) == budget
    assert trials(storage, states=(TrialState.RUNNING,)) == []
    return store


def test_four_workers_on_postgres_reach_the_exact_budget(write_spec, pg_storage) -> None:
    spec = write_spec(trials=16, batch=8, population=2, rows=8000)
    procs = [worker(spec, pg_storage) for _ in range(4)]
    codes = wait_all(procs)
    assert codes == [0, 0, 0, 0], [p.stderr.read() for p in procs]
    check_accounted(pg_storage, 16)
    pids = {t.user_attrs["worker"]["pid"] for t in trials(pg_storage, states=(TrialState.COMPLETE,))}
    assert len(pids) >= 2  # the work was shared


def test_two_worker_processes_share_an_optuna_proposer_on_postgres(write_spec, pg_storage) -> None:
    spec = write_spec(trials=8, batch=4, population=2, optimizer="optuna-tpe")
    procs = [worker(spec, pg_storage) for _ in range(2)]
    assert wait_all(procs) == [0, 0], [p.stderr.read() for p in procs]
    check_accounted(pg_storage, 8)


@pytest.mark.parametrize("optimizer", ["optuna-nsga2", "optuna-tpe", "random", "grid"])
def test_every_optimizer_works_with_two_workers(write_spec, pg_storage, optimizer: str) -> None:
    """Two workers at once on PostgreSQL, each with its own connection (threads of this process on closed-form metrics:
    the queue and the proposals are the subject; the test above and the four-worker one run real worker processes)."""
    spec = load_spec(write_spec(trials=8, batch=4, population=2, optimizer=optimizer))
    executors = run_workers(spec, pg_storage)
    check_accounted(pg_storage, 8)
    assert sum(len(ex.calls) for ex in executors) == 8  # every trial trained once, by one of them


def test_sigkilled_worker_on_another_host_is_recovered_by_heartbeat(write_spec, pg_storage) -> None:
    spec = write_spec(trials=12, batch=4, population=2, rows=20000, epochs=3)
    # The victim says it runs on another host, so only its silent heartbeat can reveal its death.
    victim = worker(spec, pg_storage, "--heartbeat", "1", env={"PARETOMOO_HOST": "elsewhere"})

    def training() -> bool:
        # every trial it popped is signed: one popped but not yet signed when the kill lands would be found
        # by its age instead ("the process running it stopped"), which is another test's subject
        running = _safe_trials(pg_storage, (TrialState.RUNNING,))
        return bool(running) and all(t.user_attrs.get("worker", {}).get("pid") == victim.pid for t in running)

    wait_until(training, alive=victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    survivor = worker(spec, pg_storage, "--heartbeat", "1")
    assert wait_all([survivor]) == [0], survivor.stderr.read()
    store = check_accounted(pg_storage, 12)
    interrupted = [r for r in store.records() if r.state == "interrupted"]
    assert interrupted and all("heartbeats" in r.fail_reason for r in interrupted)


def _safe_trials(storage: str, states) -> list:
    try:
        return trials(storage, states=states)
    except KeyError:  # the study does not exist yet
        return []


def test_proposer_killed_between_generations_then_restarted(write_spec, pg_storage, tmp_path) -> None:
    spec = write_spec(trials=12, batch=4, population=4, rows=20000, epochs=2)
    first = worker(spec, pg_storage)
    wait_until(lambda: len(_safe_trials(pg_storage, (TrialState.COMPLETE,))) >= 4, alive=first)  # one generation done
    first.send_signal(signal.SIGKILL)
    first.wait()
    again = worker(spec, pg_storage)
    assert wait_all([again]) == [0], again.stderr.read()
    check_accounted(pg_storage, 12)
    # the generations proposed after the crash are the ones an uninterrupted run proposes
    ref = worker(spec, f"sqlite:///{tmp_path}/ref.db")
    assert wait_all([ref]) == [0]

    def lams(storage: str) -> dict:
        return {
            (t.user_attrs["batch"], t.user_attrs["slot"]): tuple(round(v, 9) for v in t.user_attrs["lambda"].values())
            for t in trials(storage, states=(TrialState.COMPLETE,))
        }

    assert lams(pg_storage) == lams(f"sqlite:///{tmp_path}/ref.db")


def test_sqlite_two_concurrent_local_processes(write_spec, tmp_path) -> None:
    spec = write_spec(trials=12, batch=4, population=2)
    storage = f"sqlite:///{tmp_path}/shared.db"
    procs = [worker(spec, storage) for _ in range(2)]
    assert wait_all(procs) == [0, 0], [p.stderr.read() for p in procs]
    check_accounted(storage, 12)


def test_database_lost_mid_study_then_resumed(write_spec, pg_bin) -> None:
    server = PgServer(pg_bin)
    server.start()
    try:
        spec = write_spec(trials=12, batch=4, population=2, rows=20000, epochs=2)
        w = worker(spec, server.url, "--patience", "3")
        wait_until(lambda: len(_safe_trials(server.url, (TrialState.COMPLETE,))) >= 2, alive=w)
        server.stop()
        code = wait_all([w], timeout=120)[0]
        err = w.stderr.read()
        assert code == 3, err
        assert err.count("\n") == 1 and "lost the study database" in err and "Traceback" not in err
        server.start()
        again = worker(spec, server.url, "--heartbeat", "1")
        assert wait_all([again]) == [0], again.stderr.read()
        check_accounted(server.url, 12)
    finally:
        server.remove()


def test_database_unreachable_at_start(write_spec) -> None:
    spec = write_spec()
    w = worker(spec, "postgresql://postgres@127.0.0.1:9/nowhere")
    assert wait_all([w], timeout=60) == [2]
    err = w.stderr.read()
    assert "cannot open storage" in err and err.count("\n") == 1 and "Traceback" not in err


def test_optunas_query_fallback_notice_is_not_printed() -> None:
    """When the database goes away while trials are listed, Optuna logs a multi-line "falling back" notice before
    failing; the worker's one-line error is what the user sees, so that notice is dropped (other warnings are not)."""
    import io
    import logging

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    library = logging.getLogger("optuna")
    library.addHandler(handler)
    try:
        log = optuna.logging.get_logger("optuna.storages._rdb.storage")
        log.warning("Caught an error from sqlalchemy: (psycopg2.OperationalError) server closed the connection\n...")
        log.warning("a warning that stays")
    finally:
        library.removeHandler(handler)
    assert stream.getvalue() == "a warning that stays\n"


def test_heartbeats_while_the_database_is_away_do_not_stop_training(write_spec, monkeypatch) -> None:
    """A beat that fails is skipped: the worker's retries, with their patience and one-line error, decide."""
    import numpy as np

    store = Store.create_or_resume(load_spec(write_spec(trials=4)))
    store.queue.enqueue(np.zeros((2, 4)), batch=0)
    popped = store.queue.pop(2)
    calls: list[int] = []

    def away(trial_id: int) -> None:
        calls.append(trial_id)
        raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.")

    monkeypatch.setattr(store.storage, "record_heartbeat", away)
    with store.queue.heartbeat(popped, interval=0.01):
        assert len(calls) >= len(popped)  # the first beats (made on entry) failed, and the block runs on
        # and the beats go on after them: a second round for every trial (however busy the machine, it comes)
        wait_until(lambda: len(calls) >= 2 * len(popped), timeout=120, every=0.01)
    assert sorted(set(calls)) == sorted(t._trial_id for t in popped)
