"""Repeats per λ: fixed and adaptive, what a trial stores, and a study killed between the seeds of a λ."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from paretomoo.data import load_data
from paretomoo.errors import UserError
from paretomoo.spec import load_spec
from paretomoo.store import Store
from paretomoo.study import run_study
from paretomoo.trainer import MemberResult, Trainer

from ._closed_form import run_loop

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_fixed_repeats_store_every_seed_their_mean_and_its_error(write_spec) -> None:
    spec = load_spec(write_spec(trials=4, batch=4, population=4, extra="repeats = 3"))
    store = run_study(spec.replace(training={"workers": 1}))
    records = [r for r in store.records() if r.state == "complete"]
    assert len(records) == 4 and store.n_finished() == 4
    for r in records:
        assert r.repeats == 3 and r.seeds == [0, 1, 2]  # repeat r of every λ under seed r (common random numbers)
        seeds = np.array(r.seed_values)
        np.testing.assert_allclose(r.values, seeds.mean(axis=0))  # the values are the means over seeds
        assert store.study.trials[r.number].values == r.values  # and they are what Optuna sees
        for t in spec.tasks:
            se = r.val_se[t.name][t.metric]
            seed_part = seeds[:, spec.tasks.index(t)].std(ddof=1) / np.sqrt(3)
            assert se >= seed_part - 1e-12 and se > 0  # the seeds' spread, and the rows' sampling error beside it
        assert r.row_dev is not None and r.row_dev.shape == (200, 4)
    # each stored seed is that seed's model, as the trainer gives it alone
    r = records[0]
    lam = np.array([[r.lam[t] for t in spec.task_names]])
    alone = Trainer(spec, load_data(spec.data), "cpu").fit(lam, seeds=2)[0]
    by_seed = store.study.trials[r.number].user_attrs["by_seed"]
    assert by_seed["2"]["val"] == alone.val and by_seed["2"]["test"] == alone.test


def _fit_logging(monkeypatch, stop_at: int | None = None) -> list[tuple[tuple[float, ...], int]]:
    """Record every (λ, seed) the trainer trains; raise KeyboardInterrupt instead of the ``stop_at``-th call."""
    fit = Trainer.fit
    trained: list[tuple[tuple[float, ...], int]] = []
    calls = [0]

    def logging_fit(self: Trainer, lam: np.ndarray, seeds: int | list[int] | None = None, *more: object) -> list[MemberResult]:
        calls[0] += 1
        if stop_at is not None and calls[0] == stop_at:
            raise KeyboardInterrupt
        results = fit(self, lam, seeds, *more)
        trained.extend((tuple(np.round(row, 12)), r.seed) for row, r in zip(np.atleast_2d(lam), results, strict=True))
        return results

    monkeypatch.setattr(Trainer, "fit", logging_fit)
    return trained


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_study_killed_between_the_seeds_of_a_lambda_finishes_them_once(write_spec, monkeypatch, request, backend: str) -> None:
    storage = request.getfixturevalue("pg_storage") if backend == "postgresql" else None
    # 3 seeds a λ, 2 members a pass: a λ's seeds take two rounds, and the run is stopped before the second
    spec = load_spec(write_spec(trials=4, batch=4, population=2, extra="repeats = 3")).replace(training={"workers": 1})
    first = _fit_logging(monkeypatch, stop_at=2)
    with pytest.raises(KeyboardInterrupt):
        run_study(spec, storage=storage)
    assert len(first) == 2 and {seed for _, seed in first} == {0, 1}  # seeds 0 and 1 of the first λ were trained
    monkeypatch.undo()
    monkeypatch.setattr(optuna.logging, "set_verbosity", lambda *a: None)
    second = _fit_logging(monkeypatch)
    store = run_study(spec, storage=storage)
    everything = first + second
    assert len(everything) == len(set(everything)) == 4 * 3  # every (λ, seed) trained once, none twice
    assert first[0][0] not in {lam for lam, seed in second if seed in (0, 1)}  # the stopped λ trained only its missing seed
    complete = [r for r in store.records() if r.state == "complete"]
    assert len(complete) == 4 and all(r.seeds == [0, 1, 2] for r in complete)
    retried = next(r for r in complete if tuple(np.round([r.lam[t] for t in spec.task_names], 12)) == first[0][0])
    weights = store.weights.load(retried.number)  # its first seed's weights, stored before the stop, are found
    assert weights and all(np.isfinite(v.numpy()).all() for v in weights.values())


def test_adaptive_repeats_go_to_trials_on_or_near_the_front(write_spec) -> None:
    # the plan of repeats is the subject: the loop runs on closed-form metrics (tests/_closed_form.py), with seed and row noise
    spec = load_spec(write_spec(trials=8, batch=4, population=4, optimizer="random", extra='repeats = "front:3"'))
    store = run_loop(spec)
    records = store.records()
    complete = [r for r in records if r.state == "complete" and r.repeat_of is None]
    repeats = [r for r in records if r.repeat_of is not None]
    assert store.n_finished() == 8 and len(complete) == 8  # more seeds of a λ do not count against the budget
    assert repeats and all(r.seeds and set(r.seeds) <= {1, 2} for r in repeats)
    assert {r.repeats for r in complete} <= {1, 3}
    from paretomoo.summary import summarize

    s = summarize(spec, records)
    for r, on_front in zip(s.complete, s.on_front, strict=True):
        if on_front:
            assert r.repeats == 3, r.number  # every trial of the final front has its seeds
    assert s.counts()["repeat"] == len(repeats)
    # the same spec gives the same study: the plan of repeats depends on the stored results only
    again = run_loop(load_spec(write_spec("b.toml", name="b", trials=8, batch=4, optimizer="random", extra='repeats = "front:3"')))
    assert [(r.repeats, r.values) for r in again.records() if r.repeat_of is None] == [(r.repeats, r.values) for r in complete]


def test_only_trials_on_or_near_the_front_get_more_seeds(write_spec) -> None:
    """A trial dominated far beyond noise gets no more seeds; one on the front, or within noise of it, does."""
    from paretomoo._planning import plan_repeats

    spec = load_spec(write_spec(trials=4, batch=4, extra='repeats = "front:3"'))
    store = Store.create_or_resume(spec)
    store.queue.enqueue(np.zeros((4, 4)), batch=0, seeds=[0])
    names = spec.task_names
    # natural values: trials 0 and 1 trade off, 2 sits just behind 0 (within noise), 3 is far behind everything
    values = {0: [0.80, 0.70, 0.90, 0.30], 1: [0.70, 0.80, 0.90, 0.30], 2: [0.7995, 0.6995, 0.8995, 0.2995], 3: [0.55, 0.55, 0.60, 0.05]}
    for trial in store.queue.pop(4):
        v = values[trial.number]
        metrics = {t.name: {t.metric: v[i]} for i, t in enumerate(spec.tasks)}
        se = {t.name: {t.metric: 0.005} for t in spec.tasks}
        dev = np.random.default_rng(trial.number).normal(0, 0.005, (200, len(names)))
        from paretomoo.store._repeats import encode_deviations

        done = {0: {"val": metrics, "test": metrics, "failed": None, "seconds": 1.0, "val_boot_se": se, "test_boot_se": se}}
        done[0]["val_dev"] = encode_deviations(dev)
        store.finish(trial, done, "cpu")
    assert plan_repeats(store, spec, 0) == 3
    planned = {r.repeat_of: r.seeds for r in store.records() if r.repeat_of is not None}
    assert set(planned) == {0, 1, 2}  # not trial 3
    assert [store.study.trials[r.number].user_attrs["seeds"] for r in store.records() if r.repeat_of is not None] == [[1, 2]] * 3
    assert plan_repeats(store, spec, 0) == 0  # once per batch


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("0", "spec key 'search.repeats' must be >= 1, got 0"),
        ('"front:1"', '"front:R" needs R >= 2'),
        ('"front"', "cannot read 'front'"),
        ("true", "spec key 'search.repeats': expected an integer or a string"),
    ],
)
def test_bad_repeats_are_refused(write_spec, value: str, needle: str) -> None:
    with pytest.raises(UserError, match=needle.replace("(", r"\(").replace(")", r"\)").replace('"', '"')):
        load_spec(write_spec(extra=f"repeats = {value}"))


@pytest.mark.parametrize(("conflict", "trades"), [(0.0, False), (0.9, True)])
def test_the_verdict_tells_aligned_tasks_from_conflicting_ones(write_spec, conflict: float, trades: bool) -> None:
    """The synthetic generator's knob: at conflict 0 every task follows one signal, at 0.9 each its own."""
    from paretomoo.summary import summarize

    path = write_spec(rows=30000, epochs=4, trials=8, batch=8, optimizer="random", extra="repeats = 2")
    path.write_text(path.read_text().replace("conflict = 0.8", f"conflict = {conflict}").replace("bottom = [16, 8]", "bottom = [32, 8]"))
    spec = load_spec(path).replace(training={"workers": 1})
    s = summarize(spec, run_study(spec).records())
    assert s.verdict is not None
    assert ("no trade-off exceeds noise" in s.verdict.text) is not trades, s.verdict.text
    assert bool(s.verdict.trade_off.any()) is trades
