"""The study loop: budget, resume, interruption, failures, spec changes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import optuna
import pytest

from paretomoo.errors import UserError
from paretomoo.proposers import PROPOSERS
from paretomoo.spec import load_spec
from paretomoo.store import Store
from paretomoo.study import run_study

from ._closed_form import run_loop


def lambdas(store: Store) -> dict[int, tuple[float, ...]]:
    return {r.number: tuple(round(v, 12) for v in r.lam.values()) for r in store.records() if r.state == "complete"}


def test_budget_and_records(write_spec) -> None:
    spec = load_spec(write_spec(trials=6, batch=4))
    store = run_study(spec)
    recs = store.records()
    assert store.n_finished() == 6
    assert sum(r.state == "complete" for r in recs) == 6
    assert len(recs) == 6  # the slots of the second batch past the budget are not queued
    for r in recs:
        assert abs(sum(r.lam.values()) - 1) < 1e-9
        assert set(r.val) == set(r.test) == {"click", "ad_click", "search", "fraud"}
        assert r.values == [r.val[t.name][t.metric] for t in spec.tasks]
    # a larger budget queues them then: the second batch is whole, as it would have been
    store = run_study(spec.replace(search={"trials": 8}))
    slots = sorted((r.batch, store.study.trials[r.number].user_attrs["slot"]) for r in store.records())
    assert slots == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3)]


@pytest.mark.parametrize("optimizer", list(PROPOSERS))
def test_resumed_study_proposes_what_an_uninterrupted_one_does(write_spec, quick_gp, optimizer: str) -> None:
    # the proposals are the subject: the loop runs on closed-form metrics (tests/_closed_form.py), not trained models
    one = run_loop(load_spec(write_spec("one.toml", name="one", optimizer=optimizer, trials=12)))
    two_spec = load_spec(write_spec("two.toml", name="two", optimizer=optimizer, trials=12))
    run_loop(two_spec.replace(search={"trials": 4}))
    first = lambdas(Store.open(two_spec.name, two_spec.storage))
    two = run_loop(two_spec)
    assert two.n_finished() == 12
    # trials of the first run are kept, not repeated
    assert all(lambdas(two)[n] == lam for n, lam in first.items())
    assert lambdas(one) == lambdas(two)


def test_changed_spec_is_refused_and_nothing_is_lost(write_spec) -> None:
    path = write_spec(trials=4)
    store = run_study(load_spec(path))
    before = lambdas(store)
    changed = load_spec(write_spec(trials=4, lr=0.02))
    with pytest.raises(UserError, match="different spec"):
        run_study(changed)
    assert lambdas(Store.open(str(path))) == before


def test_failed_trials_are_recorded_and_the_study_goes_on(write_spec) -> None:
    spec = load_spec(write_spec(trials=4, lr=1e30))
    store = run_study(spec)
    recs = [r for r in store.records() if r.state != "waiting"]
    assert len(recs) == 4 and store.n_finished() == 4
    assert all(r.state == "failed" and "NaN" in r.fail_reason for r in recs)


def test_trials_of_a_dead_process_are_run_again(write_spec) -> None:
    spec = load_spec(write_spec(trials=4))
    store = Store.create_or_resume(spec)
    store.queue.enqueue(np.zeros((2, 4)), batch=0)
    popped = store.queue.pop(2)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for t in popped:
        t.set_user_attr("worker", {"host": t.user_attrs["worker"]["host"], "pid": dead.pid})  # as if that process had run them and died
    store = run_study(spec)
    recs = store.records()
    assert sum(r.state == "interrupted" for r in recs) == 2
    assert store.n_finished() == 4
    # every (batch, slot) has exactly one complete trial
    trials = store.study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    slots = [(t.user_attrs["batch"], t.user_attrs["slot"]) for t in trials]
    assert len(slots) == len(set(slots)) == 4


def test_sigkill_mid_study_then_resume(write_spec, tmp_path) -> None:
    path = write_spec(trials=16, batch=8, population=2, rows=20000, epochs=2)
    db = tmp_path / "tiny.db"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "paretomoo.cli", "run", str(path), "--quiet"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    done = 0
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if db.exists():
            try:
                with sqlite3.connect(db) as con:
                    done = con.execute("select count(*) from trials where state = 'COMPLETE'").fetchone()[0]
            except sqlite3.OperationalError:  # the file is there, Optuna's tables not yet
                continue
            if done >= 2:
                break
    assert proc.poll() is None and done >= 2, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = run_study(load_spec(path))
    assert store.n_finished() == 16
    complete = store.study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    slots = [(t.user_attrs["batch"], t.user_attrs["slot"]) for t in complete]
    assert len(slots) == len(set(slots)) == 16
    running = store.study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
    assert running == []
