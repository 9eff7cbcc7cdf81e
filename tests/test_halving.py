"""Successive halving over epochs: rungs, checkpoints that go on bit for bit, survivors, pruned trials, crashes."""

from __future__ import annotations

import dataclasses
import signal
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from optuna.trial import TrialState

from paretomoo.data import load_data
from paretomoo.errors import UserError
from paretomoo.front import to_min
from paretomoo.halving import promote, survivors
from paretomoo.spec import load_spec
from paretomoo.store import Store
from paretomoo.study import run_study
from paretomoo.summary import summarize
from paretomoo.trainer import Trainer

from ._closed_form import run_workers
from .test_workers import trials, wait_all, wait_until, worker

ROOT = Path(__file__).resolve().parents[1]


def halving_spec(tmp_path: Path, **search: object):
    """The demo spec at 6,000 rows and 3 epochs, halving with eta 3, written to a file (the study stores its text)."""
    values = {"fidelity": "epochs", "eta": 3, "trials": 12, "batch": 6, **search}
    text = (ROOT / "studies" / "ecommerce.toml").read_text()
    text = text.replace('name = "ecommerce"', 'name = "halving"').replace("runs/ecommerce", f"{tmp_path}/h")
    text = text.replace("rows = 200000", "rows = 6000").replace("epochs = 4 ", "epochs = 3\nworkers = 1\npopulation = 4 ")
    text = text.replace("trials = 32\nbatch = 8 ", "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in values.items()) + "\n# ")
    path = tmp_path / "halving.toml"
    path.write_text(text)
    return load_spec(path)


# -- the spec ---------------------------------------------------------------------------------


def test_rungs_are_a_geometric_ladder_ending_at_the_epochs(tmp_path) -> None:
    s = halving_spec(tmp_path).search
    assert s.rungs(6) == [2, 6] and s.rungs(9) == [1, 3, 9] and s.rungs(3) == [1, 3] and s.rungs(26) == [2, 8, 26]
    two = dataclasses.replace(s, eta=2)
    assert two.rungs(6) == [1, 3, 6] and two.rungs(8) == [1, 2, 4, 8]
    assert dataclasses.replace(s, fidelity="none").rungs(6) == [6]


@pytest.mark.parametrize(
    ("search", "training", "needle"),
    [
        ('fidelity = "epochs"\neta = 1', "", "'search.eta' must be >= 2"),
        ('fidelity = "epochs"\nrepeats = 3', "", "remove repeats"),
        ('fidelity = "epochs"\nrepeats = "front:2"', "", "remove repeats"),
        ('fidelity = "epochs"\neta = 3', "epochs = 2", "needs training.epochs >= search.eta"),
        ('fidelity = "steps"', "", "'search.fidelity'"),
    ],
)
def test_bad_fidelity_settings_are_one_line_errors(tmp_path, search: str, training: str, needle: str) -> None:
    text = (ROOT / "studies" / "ecommerce.toml").read_text()
    text = text.replace("[search]\n", f"[search]\n{search}\n").replace("[training]\n", f"[training]\n{training}\n".replace("\n\n", "\n"))
    if training:
        text = text.replace("epochs = 4 ", "# epochs = 4 ")
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UserError) as err:
        load_spec(path)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_halving_is_part_of_the_result_hash(tmp_path) -> None:
    spec = halving_spec(tmp_path)
    plain = spec.replace(search={"fidelity": "none"})
    assert spec.result_hash() != plain.result_hash() != spec.replace(search={"eta": 2}).result_hash()
    assert (
        plain.result_hash()
        == load_spec(ROOT / "studies" / "ecommerce.toml").replace(data={"rows": 6000}, training={"epochs": 3}).result_hash()
    )


# -- the trainer: going on from a checkpoint is the same training -------------------------------


@pytest.mark.parametrize(
    ("scalarization", "model"),
    [("weighted_sum", "shared_bottom"), ("tchebycheff", "shared_bottom"), ("weighted_sum", "mmoe"), ("weighted_sum", "ple")],
)
def test_going_on_from_checkpoints_gives_the_uninterrupted_weights(tmp_path, one_torch_thread, scalarization: str, model: str) -> None:
    spec = halving_spec(tmp_path, scalarization=scalarization).replace(
        training={"epochs": 4}, model={"type": model, "experts": 2, "expert": (16, 8)}
    )
    trainer = Trainer(spec, load_data(spec.data), "cpu")
    lam = np.random.default_rng(1).dirichlet(np.ones(4), size=3)
    whole = trainer.fit(lam)
    first = trainer.fit(lam, epochs=1)
    assert all(r.checkpoint is not None and r.checkpoint["epochs"] == 1 for r in first)
    assert all(r.checkpoint is None for r in whole)  # nothing to go on from at the last epoch
    # on in another population (rows reordered, one left out), in two steps, and alone
    middle = trainer.fit(lam[[2, 0]], start=[first[2].checkpoint, first[0].checkpoint], epochs=2)
    last = trainer.fit(lam[[2, 0]], start=[r.checkpoint for r in middle])
    alone = trainer.fit(lam[[1]], start=[first[1].checkpoint])
    for a, b in [(whole[2], last[0]), (whole[0], last[1]), (whole[1], alone[0])]:
        assert all(torch.equal(a.state[n], b.state[n]) for n in a.state)
        assert a.val == b.val and a.test == b.test
    # and it is not the same as training from scratch for the remaining epochs
    fresh = trainer.fit(lam[[1]], epochs=3)[0]
    assert fresh.val != whole[1].val


def test_checkpoints_of_one_fit_must_share_their_epoch(tmp_path, one_torch_thread) -> None:
    spec = halving_spec(tmp_path)
    trainer = Trainer(spec, load_data(spec.data), "cpu")
    lam = np.full((2, 4), 0.25)
    one, two = trainer.fit(lam[:1], epochs=1)[0].checkpoint, trainer.fit(lam[:1], epochs=2)[0].checkpoint
    with pytest.raises(ValueError, match="same epoch"):
        trainer.fit(lam, start=[one, two])
    with pytest.raises(ValueError, match="one checkpoint per row"):
        trainer.fit(lam, start=[one])
    with pytest.raises(ValueError, match="cannot train on"):
        trainer.fit(lam[:1], start=[two], epochs=2)


# -- survivors ----------------------------------------------------------------------------------


def test_survivors_go_by_rank_then_hypervolume_contribution() -> None:
    F = np.array(
        [
            [0.0, 1.0],  # rank 0, an extreme
            [1.0, 0.0],  # rank 0, the other extreme
            [0.5, 0.5],  # rank 0, the knee: the largest contribution of the three
            [0.6, 0.6],  # rank 1
            [0.9, 0.9],  # rank 2
            [np.nan, 0.0],  # failed: never survives
        ]
    )
    assert survivors(F, 1) == [2]
    assert survivors(F, 3) == [0, 1, 2]
    assert survivors(F, 4) == [0, 1, 2, 3]
    assert survivors(F, 9) == [0, 1, 2, 3, 4]
    assert survivors(F, 0) == [] and survivors(F[5:], 2) == []


# -- a study ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def halved(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("halved")
    spec = halving_spec(tmp)
    return spec, run_study(spec)


def test_a_halving_study_prunes_promotes_and_completes(halved) -> None:
    spec, store = halved
    records = store.records()
    by_state = {s: [r for r in records if r.state == s] for s in ("pruned", "promoted", "complete")}
    # two batches of 6 at 1 epoch; the best ceil(6 / 3) = 2 of each go on to 3 epochs
    assert [len(by_state[s]) for s in ("pruned", "promoted", "complete")] == [8, 4, 4]
    assert store.n_finished() == spec.search.trials == len(records) - len(by_state["promoted"])
    assert all(r.epochs == 1 for r in by_state["pruned"] + by_state["promoted"]) and all(r.epochs == 3 for r in by_state["complete"])
    promoted = {r.number for r in by_state["promoted"]}
    assert sorted(r.continues for r in by_state["complete"]) == sorted(promoted)
    # pruned trials keep their last metrics and never enter the front
    assert all(np.isfinite(r.rung_values(spec.tasks)).all() for r in by_state["pruned"])
    s = summarize(spec, records)
    assert s.front and {r.state for r in s.front} == {"complete"} and len(s.complete) == 4 and s.counts()["pruned"] == 8
    # the survivors are the rung's best by rank and hypervolume contribution
    for batch in (0, 1):
        cohort = [r for r in records if r.batch == batch and r.epochs == 1]
        F = to_min(np.array([r.rung_values(spec.tasks) for r in cohort]), spec.directions)
        assert {cohort[i].number for i in survivors(F, 2)} == {r.number for r in cohort if r.state == "promoted"}


def test_status_says_what_halving_saved(halved, capsys) -> None:
    from paretomoo.cli import main

    spec, _ = halved
    assert main(["status", spec.name, "--storage", spec.storage]) == 0
    out = capsys.readouterr().out
    # 12 λ at 1 epoch, 4 of them on to 3: 8 × 1 + 4 × 3 = 20 epochs against 12 × 3
    assert "4 complete, 4 promoted, 8 pruned" in out
    assert "successive halving (eta 3): 12 λ trained to 1 epoch, 4 to 3; 20 epochs in all, 0.56× training every λ fully" in out


def test_exporting_a_promoted_trial_names_the_trial_its_lambda_went_on_as(halved, capsys) -> None:
    from paretomoo.cli import main

    spec, store = halved
    records = store.records()
    promoted = next(r for r in records if r.state == "promoted")
    successor = next(r for r in records if r.continues == promoted.number)
    assert main(["export", spec.name, "--storage", spec.storage, "--trial", str(promoted.number), "--out", "unused"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"paretomoo: error: trial {promoted.number} stopped at a rung of successive halving and went on as trial "
        f"{successor.number} (complete); export trial {successor.number}"
    )
    pruned = next(r for r in records if r.state == "pruned")
    assert main(["export", spec.name, "--storage", spec.storage, "--trial", str(pruned.number), "--out", "unused"]) == 2
    assert f"trial {pruned.number} is pruned, so it has no model to export" in capsys.readouterr().err


def test_a_complete_trial_is_the_uninterrupted_training_of_its_lambda(halved, one_torch_thread) -> None:
    spec, store = halved
    complete = [r for r in store.records() if r.state == "complete"]
    lam = np.array([[r.lam[t] for t in spec.task_names] for r in complete])
    direct = Trainer(spec, load_data(spec.data), "cpu").fit(lam)
    for r, d in zip(complete, direct, strict=True):
        assert r.val == d.val and r.test == d.test
        stored = store.weights.load(r.number)
        assert all(torch.equal(stored[n], d.state[n]) for n in d.state)


def test_every_rung_is_an_intermediate_value(halved) -> None:
    spec, store = halved
    study = optuna.load_study(study_name=spec.name, storage=spec.storage)
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in spec.directions])
    for t in study.get_trials():
        rungs = t.user_attrs["rungs"]
        assert sorted(t.intermediate_values) == [r["epochs"] for r in rungs] == ([1, 3] if t.state == TrialState.COMPLETE else [1])
        lam = np.array([t.user_attrs["lambda"][n] for n in spec.task_names])
        for r in rungs:
            assert t.intermediate_values[r["epochs"]] == pytest.approx(float(lam @ (signs * np.array(r["values"]))))
    assert all(t.values is None for t in study.get_trials(states=(TrialState.PRUNED,)))


def test_the_proposers_are_told_every_lambda_where_it_stopped(halved) -> None:
    spec, store = halved
    history = store.history()
    assert [len(b.x) for b in history] == [6, 6] and all(np.isfinite(b.f).all() for b in history)
    records = store.records()
    ended = [r for r in records if r.state in ("pruned", "complete") and r.batch == 0]
    told = sorted(map(tuple, np.round(history[0].f, 12)))
    expect = sorted(tuple(np.round(to_min(np.array(r.rung_values(spec.tasks) or r.values), spec.directions)[0], 12)) for r in ended)
    assert told == expect


def test_a_decision_cut_short_by_a_crash_is_made_again_without_duplicates(tmp_path, one_torch_thread) -> None:
    spec = halving_spec(tmp_path).replace(search={"trials": 6})
    store = run_study(spec)
    before = len(store.queue.trials())
    store.study.set_user_attr("halving_decided", {})  # as if the worker died after queueing the survivors
    assert store.queue.snapshot().awaiting == 4
    assert promote(store, spec) == 0  # the same survivors, already queued
    assert len(store.queue.trials()) == before and store.queue.snapshot().awaiting == 0


def test_a_lost_checkpoint_is_a_one_line_error_and_nothing_stored_is_lost(tmp_path, capsys, monkeypatch) -> None:
    import shutil

    from paretomoo.cli import main

    spec = halving_spec(tmp_path)
    fit = Trainer.fit

    def stopped_at_the_second_rung(self: Trainer, lam: np.ndarray, seeds: object = None, start: object = None, epochs: object = None):  # type: ignore[no-untyped-def]
        if start is not None:
            raise KeyboardInterrupt  # Ctrl-C as the survivors start
        return fit(self, lam, seeds, start, epochs)

    monkeypatch.setattr(Trainer, "fit", stopped_at_the_second_rung)
    with pytest.raises(KeyboardInterrupt):
        run_study(spec)
    monkeypatch.undo()
    store = Store.open(str(tmp_path / "halving.toml"))
    before = {t.number: t.state for t in store.queue.trials()}
    assert store.queue.snapshot().waiting == 2  # the survivors, back in the queue
    shutil.rmtree(store.artifacts)
    code = main(["run", str(tmp_path / "halving.toml"), "--quiet"])
    err = capsys.readouterr().err
    assert code != 0 and "the checkpoint of trial" in err and "cannot be read" in err and "restore the folder" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    after = {t.number: t.state for t in store.queue.trials()}
    assert all(after[n] == state for n, state in before.items() if state != TrialState.WAITING)
    assert store.queue.snapshot().waiting == 2 and store.queue.trials((TrialState.RUNNING,)) == []


def test_a_crash_mid_rung_resumes_from_the_last_rungs_checkpoints(write_spec, tmp_path) -> None:
    extra = 'fidelity = "epochs"\neta = 3'
    path = write_spec(trials=8, batch=4, population=2, rows=20000, epochs=9, optimizer="random", extra=extra)
    storage = f"sqlite:///{tmp_path}/crash.db"
    first = worker(path, storage)
    wait_until(lambda: any(t.user_attrs.get("rung") == 2 for t in _running(storage)), timeout=240, every=0.05, alive=first)
    first.send_signal(signal.SIGKILL)
    first.wait()
    again = worker(path, storage)
    assert wait_all([again]) == [0], again.stderr.read()
    reference = f"sqlite:///{tmp_path}/reference.db"
    assert wait_all([worker(path, reference)]) == [0]

    def results(url: str) -> dict:
        return {
            (t.user_attrs["batch"], t.user_attrs["slot"]): (t.values, t.user_attrs["test"])
            for t in trials(url, states=(TrialState.COMPLETE,))
        }

    assert results(storage) == results(reference) and len(results(storage)) == 2  # rungs 1, 3, 9: 4 → 2 → 1 per batch
    store = Store.open("tiny", storage)
    interrupted = [r for r in store.records() if r.state == "interrupted"]
    assert interrupted and all(r.epochs == 9 and r.continues is not None for r in interrupted)
    assert store.n_finished() == 8 and trials(storage, states=(TrialState.RUNNING,)) == []


def _running(storage: str) -> list:
    try:
        return trials(storage, states=(TrialState.RUNNING,))
    except KeyError:
        return []


def test_halving_with_two_worker_processes_on_postgres(write_spec, pg_storage) -> None:
    path = write_spec(trials=8, batch=4, population=2, epochs=2, optimizer="nsga2", extra='fidelity = "epochs"\neta = 2')
    procs = [worker(path, pg_storage) for _ in range(2)]
    assert wait_all(procs) == [0, 0], [p.stderr.read() for p in procs]
    _check_halved(pg_storage)


@pytest.mark.parametrize("optimizer", ["nsga2", "optuna-tpe", "random", "grid"])
def test_halving_works_with_every_proposer_and_two_workers_on_postgres(write_spec, pg_storage, optimizer: str) -> None:
    """Two workers at once, each with its own connection (threads of this process on closed-form metrics, checkpoints
    included: rungs, promotions and the queue are the subject; the test above runs real worker processes)."""
    path = write_spec(trials=8, batch=4, population=2, epochs=2, optimizer=optimizer, extra='fidelity = "epochs"\neta = 2')
    executors = run_workers(load_spec(path), pg_storage)
    _check_halved(pg_storage)
    fitted = [c for ex in executors for c in ex.calls]
    assert sorted(epochs for _, _, epochs in fitted) == [1] * 8 + [2] * 4  # 8 λ to the first rung, 4 of them on to the second


def _check_halved(pg_storage: str) -> None:
    """Two batches of 4 at 1 epoch, the best 2 of each on to 2 epochs: 8 λ finished, 4 complete, nothing left over."""
    store = Store.open("tiny", pg_storage)
    records = store.records()
    assert store.n_finished() == 8 and [r.state for r in records].count("complete") == 4
    assert {r.state for r in records} == {"pruned", "promoted", "complete"}
    assert trials(pg_storage, states=(TrialState.RUNNING, TrialState.WAITING)) == []
