"""Population training: a member trains as it would alone, in any layout; out of memory shrinks K.

Measured on a 2-core AMD EPYC (torch 2.13, CPU): a member of a population and
the same λ trained alone (or in a population of another size, or in another
process) have identical weights and metrics, bit for bit, so the tests ask for
equality, for every architecture.
"""

from __future__ import annotations

import math
import os
import signal
import tomllib
import warnings
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch

from paretomoo import _parallel, study
from paretomoo._parallel import ProcessPool, WorkerError, is_out_of_memory
from paretomoo.data import load_data
from paretomoo.errors import UserError
from paretomoo.models import MODELS
from paretomoo.spec import StudySpec, parse_spec
from paretomoo.store import Store
from paretomoo.study import Layout, choose_layout, default_population, run_study
from paretomoo.trainer import MemberResult, Trainer

from ._module_models import FACTORY
from .conftest import tiny_text


def tiny(root: Path, **kw: object) -> StudySpec:
    text = tiny_text(root, **kw)
    return parse_spec(tomllib.loads(text), source_text=text)


def lambdas(k: int) -> np.ndarray:
    return np.random.default_rng(0).dirichlet(np.ones(4), size=k)


def max_weight_diff(a: MemberResult, b: MemberResult) -> float:
    assert a.state is not None and b.state is not None and a.state.keys() == b.state.keys()
    return max(float((a.state[n] - b.state[n]).abs().max()) for n in a.state)


def max_metric_diff(a: MemberResult, b: MemberResult) -> float:
    diffs = [abs(x[t][m] - y[t][m]) for x, y in ((a.val, b.val), (a.test, b.test)) for t in x for m in x[t]]
    return max(d for d in diffs if not math.isnan(d))


def identical(a: MemberResult, b: MemberResult) -> bool:
    same_weights = (a.state is None) == (b.state is None) and (a.state is None or all(torch.equal(a.state[n], b.state[n]) for n in a.state))
    return same_weights and a.val == b.val and a.test == b.test and a.failed == b.failed


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    spec = tiny(tmp_path_factory.mktemp("data"))
    return spec, load_data(spec.data)


def trainer_for(data, model_type: str) -> Trainer:
    spec, dataset = data
    if model_type == "module":  # a plain nn.Module of the user's (tests/_module_models.py), its members under vmap
        return Trainer(spec.replace(model={"type": "module", "factory": FACTORY, "population": "vmap"}), dataset, "cpu")
    # small experts for mmoe/ple; the fields that do not apply to a type are ignored by it
    return Trainer(spec.replace(model={"type": model_type, "experts": 2, "expert": (16, 8)}), dataset, "cpu")


# -- a member is a pure function of (spec, λ) ------------------------------------------------


@pytest.mark.parametrize("model_type", list(MODELS))
def test_member_of_a_population_trains_as_it_would_alone(data, model_type: str) -> None:
    trainer = trainer_for(data, model_type)
    lam = lambdas(4)
    population = trainer.fit(lam)
    for k in range(4):
        alone = trainer.fit(lam[k : k + 1])[0]
        assert population[k].failed is None and alone.failed is None
        assert max_weight_diff(population[k], alone) == 0.0
        assert max_metric_diff(population[k], alone) == 0.0


@pytest.mark.parametrize("model_type", list(MODELS))
def test_a_member_under_its_own_seed_trains_as_it_would_alone_in_populations_of_any_size(data, model_type: str) -> None:
    """Repeats put one λ under several seeds into a pass (each member its own initial weights and batches), and a
    retry after a crash trains a λ's missing seeds in another population: a (λ, seed) must train the same either way."""
    trainer = trainer_for(data, model_type)
    lam = lambdas(3)
    alone = {(i, s): trainer.fit(lam[i : i + 1], seeds=s)[0] for i in range(3) for s in (0, 1, 2)}
    for rows, seeds in (([0, 0, 0], [0, 1, 2]), ([2, 1, 2, 0, 1], [2, 0, 1, 1, 2]), ([1, 1, 1, 1, 1, 1, 1], [0, 1, 2, 0, 1, 2, 0])):
        for k, r in enumerate(trainer.fit(lam[rows], seeds=seeds)):
            if model_type == "module":
                # the same weights, bit for bit; a user module's scores are measured in row chunks sized by K, and a
                # linear layer over another number of rows rounds differently in the last bit (metrics 1e-10 apart)
                a = alone[rows[k], seeds[k]]
                assert max_weight_diff(r, a) == 0.0 and max_metric_diff(r, a) <= 1e-9, (rows, seeds, k)
            else:
                assert identical(r, alone[rows[k], seeds[k]]), (model_type, rows, seeds, k)


@pytest.mark.parametrize("model_type", list(MODELS))
def test_population_runs_are_deterministic(data, model_type: str) -> None:
    trainer = trainer_for(data, model_type)
    a, b = trainer.fit(lambdas(3)), trainer.fit(lambdas(3))
    assert all(identical(x, y) for x, y in zip(a, b, strict=True))


def test_a_non_finite_member_fails_alone(data) -> None:
    trainer = trainer_for(data, "shared_bottom")
    good = lambdas(2)
    lam = np.vstack([good[0], [np.inf, 0.0, 0.0, 0.0], [0.25, np.nan, 0.25, 0.25], good[1]])
    results = trainer.fit(lam)
    for bad in (results[1], results[2]):
        assert bad.failed is not None and "NaN/inf" in bad.failed and bad.state is None
    alone = trainer.fit(good)
    for member, reference in zip((results[0], results[3]), alone, strict=True):
        assert member.failed is None and identical(member, reference)


# -- the device's K ---------------------------------------------------------------------------


def test_cuda_population_follows_free_memory(monkeypatch) -> None:
    gib = 1 << 30
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (10 * gib, 80 * gib))
    cuda = torch.device("cuda")
    assert default_population(cuda, member_bytes=100 << 20) == 32  # 5 GiB usable / 100 MiB = 51 → 32
    assert default_population(cuda, member_bytes=1 << 20) == study.CUDA_MAX_POPULATION
    assert default_population(cuda, member_bytes=20 * gib) == 1
    assert default_population(torch.device("cpu")) == study.CPU_POPULATION


def test_member_bytes_counts_weights_adam_state_and_activations(data) -> None:
    trainer = trainer_for(data, "shared_bottom")
    weights = sum(p.numel() * 4 for p in trainer.new_model(1).parameters())
    batch_floats = trainer.spec.training.batch_size * 4  # at least the input of each layer, per row
    assert trainer.member_bytes() > 4 * weights + 2 * batch_floats


def test_layout_auto_and_overrides(tmp_path, data, monkeypatch) -> None:
    monkeypatch.setattr(study, "physical_cores", lambda: 8)
    trainer = trainer_for(data, "shared_bottom")
    spec = tiny(tmp_path, population=4, batch=8)
    assert choose_layout(spec, trainer.device) == Layout(workers=2, population=4, threads=4)  # a batch of 8 keeps 2 workers busy
    assert choose_layout(spec.replace(search={"batch": 64}), trainer.device) == Layout(workers=8, population=4, threads=1)
    assert choose_layout(spec.replace(training={"workers": 3, "population": 2}), trainer.device) == Layout(
        workers=3, population=2, threads=2
    )


def test_an_auto_population_shares_a_batch_evenly_between_workers(tmp_path, data, monkeypatch) -> None:
    monkeypatch.setattr(study, "physical_cores", lambda: 2)
    cpu = torch.device("cpu")
    spec = tiny(tmp_path, batch=8).replace(training={"population": 0, "workers": 0})
    assert choose_layout(spec, cpu) == Layout(workers=2, population=4, threads=1)  # 8 λ: two passes of 4
    checks = spec.replace(search={"trials": 5, "repeats": 2})  # 5 λ under 2 seeds: two passes of 5, not 4 + 4 + 2
    assert choose_layout(checks, cpu) == Layout(workers=2, population=5, threads=1)
    assert choose_layout(spec.replace(search={"trials": 3}), cpu) == Layout(workers=2, population=2, threads=1)
    many = spec.replace(search={"batch": 32})  # more than two passes' worth: the CPU's own population
    assert choose_layout(many, cpu) == Layout(workers=2, population=study.CPU_POPULATION, threads=1)
    assert choose_layout(checks.replace(training={"population": 4}), cpu).population == 4  # the spec's own is kept
    # 4 λ under 2 seeds are 8 members: both cores, not one process training all 8
    assert choose_layout(spec.replace(search={"batch": 4, "repeats": 2}), cpu) == Layout(workers=2, population=4, threads=1)


def test_workers_key(tmp_path) -> None:
    assert tiny(tmp_path).training.workers == 0
    text = tiny_text(tmp_path).replace("population = 4", 'population = 4\nworkers = "auto"')
    assert parse_spec(tomllib.loads(text)).training.workers == 0
    two = parse_spec(tomllib.loads(text.replace('workers = "auto"', "workers = 2")))
    assert two.training.workers == 2
    assert two.result_hash() == tiny(tmp_path).result_hash()  # a layout does not change what a trial computes
    with pytest.raises(UserError, match="training.workers"):
        parse_spec(tomllib.loads(text.replace('workers = "auto"', "workers = -1")))


# -- out of memory ------------------------------------------------------------------------------


def accounted(store: Store, budget: int) -> None:
    """Exactly ``budget`` finished trials, one complete per (batch, slot), nothing running."""
    assert store.n_finished() == budget
    complete = store.study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    slots = [(t.user_attrs["batch"], t.user_attrs["slot"]) for t in complete]
    assert len(slots) == len(set(slots)) == budget
    assert states(store).get("running", 0) == 0


def states(store: Store) -> dict[str, int]:
    """How many trials are in each state."""
    out: dict[str, int] = {}
    for r in store.records():
        out[r.state] = out.get(r.state, 0) + 1
    return out


def test_out_of_memory_halves_k_and_the_study_completes(tmp_path, monkeypatch) -> None:
    fit = Trainer.fit
    sizes: list[int] = []

    def small_device(self: Trainer, lam: np.ndarray, seeds: int | list[int] | None = None, *more: object) -> list[MemberResult]:
        sizes.append(len(lam))
        if len(lam) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return fit(self, lam, seeds, *more)

    monkeypatch.setattr(Trainer, "fit", small_device)
    with pytest.warns(RuntimeWarning, match="out of memory with 4 λ per training pass; going on with 2"):
        store = run_study(tiny(tmp_path, trials=8, batch=4, population=4).replace(training={"workers": 1}))
    accounted(store, 8)
    assert sizes[0] == 4 and all(n <= 2 for n in sizes[1:])  # K stays small once it was halved
    assert sum(sizes[1:]) == 8


def test_out_of_memory_with_one_member_is_raised_and_the_trials_go_back(tmp_path, monkeypatch) -> None:
    def no_memory(self: Trainer, lam: np.ndarray, seeds: int | list[int] | None = None, *more: object) -> list[MemberResult]:
        raise RuntimeError("CUDA error: out of memory")

    monkeypatch.setattr(Trainer, "fit", no_memory)
    spec = tiny(tmp_path, trials=4, batch=4, population=2).replace(training={"workers": 1})
    with warnings.catch_warnings(), pytest.raises(RuntimeError, match="out of memory"):
        warnings.simplefilter("ignore", RuntimeWarning)
        run_study(spec)
    store = Store.open(spec.name, spec.storage)
    assert store.n_finished() == 0 and states(store) == {"waiting": 4, "interrupted": 2}  # the popped pair went back


def test_a_lone_lambda_whose_pair_does_not_fit_trains_alone(data, monkeypatch) -> None:
    trainer = trainer_for(data, "shared_bottom")
    train = Trainer._train
    populations: list[int] = []

    def one_model_fits(self: Trainer, model, *args):  # type: ignore[no-untyped-def]
        populations.append(model.population)
        if model.population > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return train(self, model, *args)

    monkeypatch.setattr(Trainer, "_train", one_model_fits)
    (result,) = trainer.fit(lambdas(1))
    assert populations == [2, 1] and result.failed is None and result.state is not None
    with pytest.raises(torch.cuda.OutOfMemoryError):
        trainer.fit(lambdas(2))  # a population is the caller's to shrink (fit_in_rounds)


def test_out_of_memory_is_recognised() -> None:
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate 1 GB"))
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_out_of_memory(ValueError("out of memory"))


# -- worker processes ------------------------------------------------------------------------------


def records(store: Store) -> dict[int, tuple]:
    return {r.number: (r.state, r.lam, r.val, r.test) for r in store.records()}


def test_worker_processes_store_what_one_process_does(tmp_path) -> None:
    # One process trains populations of 4 with torch's threads; two single-thread
    # workers train populations of 2: every trial must come out the same, bit for bit.
    one = run_study(tiny(tmp_path, name="one", trials=8, batch=4, population=4).replace(training={"workers": 1}))
    two = run_study(tiny(tmp_path, name="two", trials=8, batch=4, population=2).replace(training={"workers": 2}))
    accounted(two, 8)
    assert records(one) == records(two)
    for n in range(8):
        a, b = one.weights.load(n), two.weights.load(n)
        assert all(torch.equal(a[name], b[name]) for name in a)


def test_interrupt_puts_the_trials_back_and_stops_the_workers(tmp_path, monkeypatch) -> None:
    seen: list = []

    def interrupted(self: ProcessPool, lam: np.ndarray, k: int, seeds: list[int] | None = None, *more: object) -> list[MemberResult]:
        seen.extend(self.processes)
        assert all(p.is_alive() for p in seen)
        raise KeyboardInterrupt

    monkeypatch.setattr(ProcessPool, "fit", interrupted)
    spec = tiny(tmp_path, trials=8, batch=4, population=2).replace(training={"workers": 2})
    with pytest.raises(KeyboardInterrupt):
        run_study(spec)
    assert len(seen) == 2 and not any(p.is_alive() for p in seen)
    store = Store.open(spec.name, spec.storage)
    assert "running" not in states(store) and states(store)["waiting"] == 4  # the popped four, queued again
    accounted(run_study(spec.replace(training={"workers": 1})), 8)  # and a rerun finishes the study


def test_a_worker_error_is_raised_with_its_traceback_and_the_pool_goes_on(tmp_path) -> None:
    spec = tiny(tmp_path)
    with ProcessPool(spec, "cpu", workers=2) as pool:
        procs = pool.processes
        with pytest.raises(WorkerError, match="Traceback"):
            pool.fit(np.full((2, 3), 1 / 3), k=1)  # three weights for four tasks
        with pytest.raises(ValueError, match="do not fit"):
            pool.fit(lambdas(3), k=1)
        results = pool.fit(lambdas(3), k=2)
    assert [r.failed for r in results] == [None] * 3 and not any(p.is_alive() for p in procs)
    expected = Trainer(spec, load_data(spec.data), "cpu").fit(lambdas(3))
    assert all(identical(got, want) for got, want in zip(results, expected, strict=True))


def test_a_pool_started_without_waiting_raises_a_start_up_error_at_its_first_fit(tmp_path) -> None:
    broken = tiny(tmp_path).replace(data={"rows": 0})  # past the spec's checks: fails while a worker builds the data
    with ProcessPool(broken, "cpu", workers=2, wait=False) as pool:
        procs = pool.processes
        with pytest.raises(WorkerError, match="Traceback"):
            pool.fit(lambdas(2), k=1)
    assert not any(p.is_alive() for p in procs)


def test_a_pool_closed_while_its_workers_start_stops_them_at_once(tmp_path) -> None:
    # e.g. `paretomoo run` on a finished study: the workers started early are not needed
    pool = ProcessPool(tiny(tmp_path), "cpu", workers=2, wait=False)
    procs = pool.processes
    pool.close()
    assert [p.exitcode for p in procs] == [-signal.SIGTERM] * 2  # terminated, not asked and waited for


def test_cpu_workers_start_before_the_data_is_loaded_and_train_the_study(tmp_path, monkeypatch) -> None:
    events: list[str] = []
    real_load, real_init = study.load_data, ProcessPool.__init__

    def load(spec):  # type: ignore[no-untyped-def]
        events.append("data")
        return real_load(spec)

    def init(self, *args, **kw):  # type: ignore[no-untyped-def]
        events.append(f"pool wait={kw.get('wait', True)}")
        real_init(self, *args, **kw)

    monkeypatch.setattr(study, "load_data", load)
    monkeypatch.setattr(ProcessPool, "__init__", init)
    store = run_study(tiny(tmp_path, trials=8, batch=4, population=2).replace(training={"workers": 2}))
    assert events == ["pool wait=False", "data"]  # one pool, started first, and it trained every trial
    accounted(store, 8)


def test_processes_count_physical_cores(tmp_path, monkeypatch) -> None:
    # cpus 0 and 1 are hyper-threads of one core, cpu 2 another core, cpu 3 has no topology files
    for cpu, core in ((0, 0), (1, 0), (2, 1)):
        topo = tmp_path / f"cpu{cpu}" / "topology"
        topo.mkdir(parents=True)
        (topo / "physical_package_id").write_text("0\n")
        (topo / "core_id").write_text(f"{core}\n")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert _parallel.physical_cores(str(tmp_path)) == 2
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {1})  # only one thread of the first core allowed
    assert _parallel.physical_cores(str(tmp_path)) == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 3})  # an unknown cpu counts as its own core
    assert _parallel.physical_cores(str(tmp_path)) == 3


# -- scalarization ---------------------------------------------------------------------------


def test_smooth_tchebycheff_lies_within_its_bounds_of_the_max() -> None:
    from paretomoo.trainer import TCHEBYCHEFF_MU, _tchebycheff, _weighted_sum

    g = torch.Generator().manual_seed(0)
    lam = torch.rand(5, 4, generator=g)
    losses, ideal = torch.rand(5, 4, generator=g) + 0.5, torch.rand(5, 4, generator=g) * 0.5
    exact = (lam * (losses - ideal)).max(dim=1).values
    smooth = _tchebycheff(lam, losses, ideal)
    # max ≤ μ·logsumexp(x/μ) ≤ max + μ·log T
    assert torch.all(smooth >= exact - 1e-6) and torch.all(smooth <= exact + TCHEBYCHEFF_MU * math.log(4) + 1e-6)
    assert torch.allclose(_weighted_sum(lam, losses, None), (lam * losses).sum(dim=1))
    # at the first step the ideal point is the losses themselves: every task's excess is 0
    assert torch.allclose(_tchebycheff(lam, losses, None), torch.full((5,), TCHEBYCHEFF_MU * math.log(4)))


def test_tchebycheff_members_train_as_they_would_alone_and_differ_from_the_weighted_sum(data) -> None:
    from paretomoo.spec._sections import SCALARIZATION_NAMES
    from paretomoo.trainer import SCALARIZATIONS

    spec, dataset = data
    assert list(SCALARIZATION_NAMES) == list(SCALARIZATIONS)
    tch = Trainer(spec.replace(search={"scalarization": "tchebycheff"}), dataset, "cpu")
    lam = lambdas(3)
    population = tch.fit(lam)
    for k in range(3):
        assert identical(population[k], tch.fit(lam[k : k + 1])[0])
    plain = Trainer(spec, dataset, "cpu").fit(lam)
    assert all(max_metric_diff(a, b) > 0 for a, b in zip(population, plain, strict=True))
    # what a trial minimises is part of the spec's hash; the default keeps the hashes of earlier studies
    assert tch.spec.result_hash() != spec.result_hash() == spec.replace(search={"scalarization": "weighted_sum"}).result_hash()
