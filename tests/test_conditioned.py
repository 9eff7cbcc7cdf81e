"""The conditioned search: one λ-conditioned training, its points stored as trials, exact checks, export at any λ."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import paretomoo
from paretomoo._parallel import InProcess, ProcessPool
from paretomoo.conditioned import Mixed, Mixture, _parts, evaluation_points, gaps, next_checks, run_conditioned
from paretomoo.data import load_data
from paretomoo.errors import UserError
from paretomoo.export import evaluate_export, export_trial
from paretomoo.space import LambdaSpace
from paretomoo.spec import load_spec
from paretomoo.store import Store
from paretomoo.study import run_study
from paretomoo.trainer import Trainer

from .test_cli import call

POINTS = 40


def conditioned_spec(write_spec, **kw: object):
    extra = kw.pop("extra", f"repeats = 2\npoints = {POINTS}")
    return load_spec(write_spec(optimizer="conditioned", trials=3, batch=4, extra=extra, **kw))


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ("alpha = 0", "'search.alpha' must be > 0"),
        ("alpha = -1.5", "'search.alpha' must be > 0"),
        ('repeats = "front:2"', 'not "front:3"'),
        ('fidelity = "epochs"', "set fidelity"),
        ('scalarization = "tchebycheff"', 'scalarization = "weighted_sum"'),
        ("points = 0", "'search.points' must be > 0"),
    ],
)
def test_bad_conditioned_settings_are_one_line_errors(write_spec, extra: str, needle: str) -> None:
    with pytest.raises(UserError) as err:
        load_spec(write_spec(optimizer="conditioned", extra=extra))
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_conditioned_keys_belong_to_the_conditioned_optimizer(write_spec) -> None:
    with pytest.raises(UserError, match='applies to optimizer = "conditioned" only'):
        load_spec(write_spec(optimizer="random", extra="alpha = 0.5"))
    with pytest.raises(UserError, match="every task is fixed"):
        load_spec(
            write_spec(optimizer="conditioned", extra="[lambda]\nfixed = { click = 0.25, ad_click = 0.25, search = 0.25, fraud = 0.25 }")
        )


def test_trials_are_the_exact_checks_five_by_default(tmp_path) -> None:
    from tests.conftest import tiny_text

    text = tiny_text(tmp_path, optimizer="conditioned").replace("trials = 8\n", "")
    (tmp_path / "c.toml").write_text(text)
    assert load_spec(tmp_path / "c.toml").search.trials == 5


def test_the_cli_says_a_bad_alpha_in_one_line(write_spec, capsys) -> None:
    path = write_spec(optimizer="conditioned", extra="alpha = 0")
    code, _, err = call(capsys, "run", str(path))
    assert code != 0 and "Traceback" not in err
    assert "'search.alpha' must be > 0" in err and len(err.strip().splitlines()) == 1


def test_evaluation_points_start_at_the_centre_and_the_ends_and_cover_the_box(write_spec) -> None:
    spec = conditioned_spec(write_spec)
    space = LambdaSpace(spec.task_names, spec.lam)
    x = evaluation_points(space, 1024, 0)
    assert x.shape == (1 + 4 + 1024, 4)
    lam = space.to_lambda(x)
    assert np.allclose(lam[0], 0.25) and np.allclose(lam.sum(axis=1), 1.0)
    for j in range(4):  # each task's end: max_ratio against every other free task
        assert lam[1 + j].argmax() == j and lam[1 + j, j] / lam[1 + j].min() == pytest.approx(spec.lam.max_ratio)
    inner = x[5:]
    assert (
        np.abs(inner).max() <= space.zmax
        and (inner.min(axis=0) < -0.95 * space.zmax).all()
        and (inner.max(axis=0) > 0.95 * space.zmax).all()
    )
    assert np.array_equal(x, evaluation_points(space, 1024, 0)) and not np.array_equal(x, evaluation_points(space, 1024, 1))


def test_the_conditioned_learning_rate_falls_as_one_over_the_root_of_the_steps() -> None:
    from paretomoo.conditioned._train import LR_SCALE, LR_STEPS, lr_scale

    assert lr_scale(LR_STEPS) == pytest.approx(LR_SCALE)
    assert lr_scale(4 * LR_STEPS) == pytest.approx(LR_SCALE / 2)
    assert lr_scale(LR_STEPS // 4) == LR_SCALE  # never above LR_SCALE with fewer steps
    assert lr_scale(10**7) == 1.0  # never below the study's own rate
    assert lr_scale(0) == LR_SCALE


@pytest.mark.parametrize("model", ["shared_bottom", "mmoe", "ple"])
def test_an_untrained_mixture_is_its_seeded_model_at_every_lambda(write_spec, one_torch_thread, model: str) -> None:
    spec = conditioned_spec(write_spec).replace(model={"type": model, "experts": 2, "expert": (8,)})
    trainer = Trainer(spec, load_data(spec.data), "cpu")
    mix = Mixture(trainer.shape, spec.model, [0, 1])
    lam = torch.tensor(np.random.default_rng(0).dirichlet(np.ones(4), (2, 3)), dtype=torch.float32)
    got = trainer.predict(Mixed(mix, lam), trainer.val)  # type: ignore[arg-type]
    for r, seed in enumerate([0, 1]):
        want = trainer.predict(trainer.new_model(1, seed), trainer.val)[0]
        for m in range(3):
            assert torch.allclose(got[r * 3 + m], want, atol=1e-5)


def test_a_conditioned_study_stores_its_points_then_retrains_the_pick_and_ends(write_spec, tmp_path, one_torch_thread) -> None:
    spec = conditioned_spec(write_spec)
    store = run_study(spec)
    records = store.records()
    points = [r for r in records if r.conditioned is not None]
    checks = [r for r in records if r.check_of is not None]
    assert len(points) == POINTS and sorted(r.conditioned for r in points) == list(range(POINTS))
    assert all(r.state == "complete" and r.repeats == 2 and r.seeds == [0, 1] for r in points)
    # test figures for the screened front's λ only; each task's own metric (the objectives), nothing else
    from paretomoo.front import pareto_mask, to_min

    on_front = pareto_mask(to_min(np.array([r.values for r in points]), spec.directions))
    assert [r.measured_test for r in points] == list(on_front) and 0 < on_front.sum() < len(points)
    for r, front in zip(points, on_front, strict=True):
        assert bool(r.test) == front and all(set(r.val[t.name]) == {t.metric} for t in spec.tasks)
        assert not front or all(set(r.test[t.name]) == {t.metric} for t in spec.tasks)
    assert all(r.measured_test and r.test for r in records if r.check_of is not None)
    assert len(checks) == 3 and all(r.state == "complete" and r.repeats == 2 for r in checks)
    assert store.n_finished() == 3  # the points never count against the budget
    by_number = {r.number: r for r in records}
    for c in checks:  # an exact check trains its point's λ
        assert c.lam == pytest.approx(by_number[c.check_of].lam)
    # the first checks are the pick, then the ends, of the conditioned front
    want = next_checks(records, spec.directions, 3, before=0, metrics=[t.metric for t in spec.tasks])
    assert [c.check_of for c in checks] == [r.number for r in want]
    found = gaps(records, spec.objectives, spec.directions, spec.tasks)
    assert [g.exact for g in found] == [c.number for c in checks]
    for g in found:
        exact, point = by_number[g.exact], by_number[g.point]
        assert spec.directions[0] == "maximize"
        assert g.gap[0] == pytest.approx((exact.values[0] - point.values[0]) / abs(exact.values[0]))
    df = paretomoo.open_study(spec.name, spec.storage).trials_dataframe()
    assert int(df["conditioned"].sum()) == POINTS and sorted(df["check_of"].dropna().astype(int)) == sorted(c.check_of for c in checks)
    table = paretomoo.open_study(spec.name, spec.storage).checks()
    assert list(table["trial"]) == [g.exact for g in found] and list(table["point"]) == [g.point for g in found]
    assert list(table[f"gap_{spec.objectives[0]}"]) == [g.gap[0] for g in found]
    info = store.study.user_attrs["conditioned"]
    assert info["points"] == POINTS and info["models"] == 2 and info["train_seconds"] > 0
    assert info["measured_test"] == on_front.sum() and info["stopped"] == f"the cap of {POINTS} λ (search.points)"
    # run again: nothing is trained or stored twice
    again = run_study(spec).records()
    assert len(again) == len(records)


def test_status_json_marks_conditioned_trials(write_spec, capsys, one_torch_thread) -> None:
    path = write_spec(optimizer="conditioned", trials=1, batch=4, extra=f"points = {POINTS}")
    run_study(load_spec(path))
    _, out, _ = call(capsys, "status", str(path), "--json")
    rows = json.loads(out)
    assert sum(r["conditioned"] for r in rows) == POINTS
    assert [r["check_of"] is not None for r in rows].count(True) == 1 and not any(
        r["conditioned"] for r in rows if r["check_of"] is not None
    )
    _, text, _ = call(capsys, "status", str(path))
    assert "λ measured on 1 λ-conditioned model" in text and "retrains conditioned trial" in text


def test_a_run_killed_while_storing_points_goes_on_without_training_again(write_spec, monkeypatch, one_torch_thread) -> None:
    spec = conditioned_spec(write_spec)
    data = load_data(spec.data)
    store = Store.create_or_resume(spec)
    trainer = Trainer(spec, data, "cpu")
    store.study.set_user_attr("model_shape", trainer.shape.to_dict())
    original = Store.add_conditioned

    def half_then_die(self, rows, device):
        original(self, rows[: len(rows) // 2], device)
        raise KeyboardInterrupt

    monkeypatch.setattr(Store, "add_conditioned", half_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_conditioned(store, trainer)
    assert len(store.conditioned_indices()) == POINTS // 2
    monkeypatch.setattr(Store, "add_conditioned", original)
    trained = []
    monkeypatch.setattr(_parts, "train_mixture", lambda *a, **k: trained.append(1))
    done = run_conditioned(store, trainer)
    assert done is not None and not done.trained_now and not trained
    assert store.conditioned_indices() == set(range(POINTS))
    assert len(store.records()) == POINTS  # no point stored twice


def test_models_split_between_worker_processes_are_the_models_trained_together(write_spec, one_torch_thread) -> None:
    spec = conditioned_spec(write_spec)
    trainer = Trainer(spec, load_data(spec.data), "cpu")
    lam = LambdaSpace(spec.task_names, spec.lam).to_lambda(evaluation_points(LambdaSpace(spec.task_names, spec.lam), 6, 0))
    here = _parts.Parts(InProcess(trainer), [0, 1])
    want = here.train(0.3, 7)
    with ProcessPool(spec, "cpu", 2) as pool:
        there = _parts.Parts(pool, [0, 1])
        assert there.groups == [[0], [1]]
        got = there.train(0.3, 7)
        assert set(got) == set(want)
        for name in want:  # model r's draws are its own: trained alone in a worker, it is the model trained beside the other
            assert got[name].shape == want[name].shape and torch.allclose(got[name], want[name], atol=1e-4), name
        measured = there.measure(lam, ("val",), primary_only=True)
        there.close()
        assert pool.call(kept_count, [()] * 2) == [0, 0]  # close freed each worker's share
    expected = here.measure(lam, ("val",), primary_only=True)
    assert len(measured) == len(lam) and all(len(point) == 2 for point in measured)
    for a, b in zip(measured, expected, strict=True):
        for r in range(2):
            assert [a[r]["val"][t.name][t.metric] for t in spec.tasks] == pytest.approx(
                [b[r]["val"][t.name][t.metric] for t in spec.tasks], abs=2e-3
            )
    loaded = _parts.Parts(InProcess(trainer), [0, 1])
    loaded.load(want)  # a stored artifact, loaded again: the same models
    again = loaded.measure(lam, ("val",), primary_only=True)
    assert [[r["val"] for r in p] for p in again] == [[r["val"] for r in p] for p in expected]
    here.close()
    loaded.close()


def kept_count(trainer: Trainer) -> int:
    """What a worker keeps of conditioned models (sent by name to a worker process)."""
    return len(_parts._KEPT)


def test_an_exported_conditioned_point_scores_any_lambda_as_stored(write_spec, tmp_path, one_torch_thread) -> None:
    spec = conditioned_spec(write_spec, extra=f"points = {POINTS}")
    store = run_study(spec)
    points = [r for r in store.records() if r.conditioned is not None]
    a, b = points[3], points[17]
    out = export_trial(store, a.number, tmp_path / "exp")
    model = paretomoo.load_model(out)
    assert type(model).__name__ == "ConditionedModel"
    data = load_data(spec.data)
    trainer = Trainer(spec, data, "cpu")

    def measured(m: torch.nn.Module) -> list[float]:
        got = trainer.measure(m, trainer.val)[0]  # type: ignore[arg-type]
        return [got[t.name][t.metric] for t in spec.tasks]

    # the exported λ (the default), and another stored point's λ, reproduce the metrics stored for them
    assert measured(model) == pytest.approx(a.values, abs=1e-5)
    at_b = paretomoo.load_model(out, lam=b.lam)
    assert measured(at_b) == pytest.approx(b.values, abs=1e-5)
    assert evaluate_export(out)[spec.tasks[0].name][spec.tasks[0].metric] == pytest.approx(a.values[0], abs=1e-5)
    # lam= at call time: several trade-offs at once, unnormalised weights allowed
    num, cat = trainer.val.num[:50], trainer.val.cat[:50]
    both = model(num, cat, lam=[[a.lam[t] for t in spec.task_names], [2 * b.lam[t] for t in spec.task_names]])
    assert torch.allclose(both[1], at_b(num, cat)[0], atol=1e-5) and torch.allclose(both[0], model(num, cat)[0], atol=1e-5)
    with pytest.raises(ValueError, match="lam must hold 4 weights"):
        model(num, cat, lam=[1.0, 0.0])
    with pytest.raises(UserError, match="which the model does not have"):
        paretomoo.load_model(out, lam={"clicks": 1.0})
    checked = next(r for r in store.records() if r.check_of is not None)
    plain = export_trial(store, checked.number, tmp_path / "exact")
    with pytest.raises(UserError, match="applies to exports of conditioned trials"):
        paretomoo.load_model(plain, lam=[0.25] * 4)


def test_two_workers_on_postgres_train_once_and_check_each_point_once(write_spec, pg_storage) -> None:
    from optuna.trial import TrialState

    from .test_workers import trials, wait_all, worker

    path = write_spec(optimizer="conditioned", trials=4, batch=2, population=2, extra=f"points = {POINTS}")
    procs = [worker(path, pg_storage) for _ in range(2)]
    assert wait_all(procs) == [0, 0], [p.stderr.read() for p in procs]
    store = Store.open("tiny", pg_storage)
    records = store.records()
    points = [r for r in records if r.conditioned is not None]
    checks = [r for r in records if r.check_of is not None]
    assert sorted(r.conditioned for r in points) == list(range(POINTS))  # each point once: one worker measured them
    assert len(checks) == 4 and len({c.check_of for c in checks}) == 4 and all(c.state == "complete" for c in checks)
    assert store.n_finished() == 4 and trials(pg_storage, states=(TrialState.RUNNING, TrialState.WAITING)) == []


def test_optimizer_conditioned_on_the_command_line_checks_five_points(write_spec, capsys, one_torch_thread) -> None:
    path = write_spec(optimizer="random", trials=32, extra="repeats = 1")
    bad = write_spec("bad.toml", optimizer="random", extra='scalarization = "tchebycheff"')
    code, _, err = call(capsys, "run", str(bad), "--optimizer", "conditioned")
    assert code != 0 and 'scalarization = "weighted_sum"' in err and len(err.strip().splitlines()) == 1
    assert call(capsys, "run", str(path), "--optimizer", "conditioned", "--quiet")[0] == 0
    store = Store.open(str(path))
    assert store.n_finished() == 5 and sum(r.check_of is not None for r in store.records()) == 5
    # read back through the spec file, which names another optimizer: the study's conditioned work is still its own
    assert store.spec.search.optimizer == "random"
    _, text, _ = call(capsys, "status", str(path))
    assert "λ-conditioned model" in text and "retrains conditioned trial" in text
    point = next(r for r in store.records() if r.conditioned is not None)
    code, out, err = call(capsys, "export", str(path), "--trial", str(point.number), "--out", str(path.parent / "exp"))
    assert code == 0, err
    assert json.loads((path.parent / "exp" / "metrics.json").read_text())["conditioned"] is True


def test_a_users_module_is_conditioned_screened_and_exported(write_spec, tmp_path, one_torch_thread) -> None:
    from ._module_models import FACTORY

    spec = conditioned_spec(write_spec, extra="repeats = 2\npoints = 90").replace(model={"type": "module", "factory": FACTORY})
    store = run_study(spec)
    points = [r for r in store.records() if r.conditioned is not None]
    info = store.study.user_attrs["conditioned"]
    assert len(points) == info["points"] > 1 + 4 and all(r.state == "complete" and r.repeats == 2 for r in points)
    assert info["measured_test"] == sum(r.measured_test for r in points) > 0 and info["stopped"]
    assert len([r for r in store.records() if r.check_of is not None]) == 3
    # the user's module mixed at a stored point's λ scores as stored for the study's own seed (the model exported)
    a = next(r for r in points if r.measured_test)
    model = paretomoo.load_model(export_trial(store, a.number, tmp_path / "exp"))
    trainer = Trainer(spec, load_data(spec.data), "cpu")
    got = trainer.measure(model, trainer.val)[0]  # type: ignore[arg-type]
    assert a.seeds[0] == spec.training.seed
    assert [got[t.name][t.metric] for t in spec.tasks] == pytest.approx(a.seed_values[0], abs=1e-5)
    assert [got[t.name][t.metric] for t in spec.tasks] != pytest.approx(a.seed_values[1], abs=1e-5)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_model_with_batchnorm_is_refused_in_one_line_wherever_it_would_train(tmp_path, workers: int, one_torch_thread) -> None:
    """A mix of weights cannot carry BatchNorm's running statistics: the same one-line error whether the models train
    in this process or in the study's worker processes (a worker's UserError crosses the pipe as one), and the study
    keeps nothing of a training that did not happen."""
    from .test_module import ZOO_SPEC

    path = tmp_path / "zoo.toml"
    path.write_text(ZOO_SPEC.format(root=tmp_path).replace("[training]\n", f"[training]\nworkers = {workers}\n"))
    spec = load_spec(path).replace(model={"options": (("bn", True),)}, search={"optimizer": "conditioned", "trials": 2, "points": 20})
    with pytest.raises(UserError) as err:
        run_study(spec)
    assert "mixes weights" in str(err.value) and "LayerNorm in place of BatchNorm" in str(err.value) and "\n" not in str(err.value)
    store = Store.open(spec.name, spec.storage)
    assert store.conditioned_indices() == set() and "conditioned" not in store.study.user_attrs
