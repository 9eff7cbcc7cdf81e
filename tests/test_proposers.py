"""One contract suite over every proposer."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from paretomoo.proposers import PROPOSERS, Batch, make_proposer
from paretomoo.space import LambdaSpace
from paretomoo.spec import LambdaSpec

TASKS = ["click", "ad_click", "search", "fraud"]
ALL = sorted(PROPOSERS)


# these tests check the wrappers' contract (box, determinism, what they are told), not how well the GP chooses
pytestmark = pytest.mark.usefixtures("quick_gp")


def objectives(x: np.ndarray) -> np.ndarray:
    """A conflicting toy problem on λ: each objective prefers its own task's weight."""
    lam = LambdaSpace(TASKS, LambdaSpec()).to_lambda(x)
    return -np.log(lam[:, :3] + 1e-3)


def run(name: str, seed: int, batches: int = 4, batch: int = 8, space: LambdaSpace | None = None, distinct: float = 0.15) -> list[Batch]:
    space = space or LambdaSpace(TASKS, LambdaSpec())
    history: list[Batch] = []
    for _ in range(batches):
        # as the study does: rebuild from the history before every batch
        n = sum(len(b.x) for b in history)
        p = make_proposer(name, dim=space.dim, n_obj=3, zmax=space.zmax, batch=batch, seed=seed, n_history=n, distinct=distinct)
        p.replay(history)
        x = p.ask(batch)
        f = objectives(x) if space.dim == 4 else np.random.default_rng(0).random((len(x), 3))
        f[0] = np.nan  # a failed trial in every batch
        p.tell(x, f)
        history.append(Batch(x, f))
    return history


@functools.cache
def _seed0(name: str) -> tuple[Batch, ...]:
    return tuple(run(name, seed=0, batches=7))


def seed0(name: str, batches: int = 4) -> list[Batch]:
    """``run(name, seed=0, batches=batches)``, from one 7-batch run made once per test process: each batch is rebuilt
    from the ones before it, so a shorter run is a prefix of a longer one (that runs repeat is
    test_same_seed_same_proposals's subject). Copied, so that no test changes another's."""
    return [Batch(b.x.copy(), b.f.copy()) for b in _seed0(name)[:batches]]


@pytest.mark.parametrize("name", ALL)
def test_points_lie_in_the_box_and_map_onto_the_simplex(name: str) -> None:
    space = LambdaSpace(TASKS, LambdaSpec())
    hist = seed0(name)
    x = np.vstack([b.x for b in hist])
    assert x.shape == (32, 4)
    assert np.all(np.abs(x) <= space.zmax + 1e-12)
    lam = space.to_lambda(x)
    np.testing.assert_allclose(lam.sum(axis=1), 1.0)


@pytest.mark.parametrize("name", ALL)
def test_bounds_are_respected(name: str) -> None:
    space = LambdaSpace(TASKS, LambdaSpec(bounds=(("fraud", 0.1, 0.5),), fixed=(("search", 0.1),)))
    hist = run(name, seed=0, space=space)
    lam = space.to_lambda(np.vstack([b.x for b in hist]))
    assert np.all(lam[:, 3] >= 0.1 - 1e-12) and np.all(lam[:, 3] <= 0.5 + 1e-12)
    np.testing.assert_allclose(lam[:, 2], 0.1)


@pytest.mark.parametrize("name", ALL)
def test_reaches_ratios_of_1_to_100(name: str) -> None:
    space = LambdaSpace(TASKS, LambdaSpec())
    lam = space.to_lambda(np.vstack([b.x for b in seed0(name, batches=5)]))
    ratio = lam.max(axis=1) / lam.min(axis=1)
    assert ratio.max() >= 100


@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_proposals(name: str) -> None:
    a = np.vstack([b.x for b in run(name, seed=3)])
    b = np.vstack([b.x for b in run(name, seed=3)])
    np.testing.assert_array_equal(a, b)
    if name != "grid":  # the grid is deterministic by design
        c = np.vstack([b.x for b in run(name, seed=4)])
        assert not np.allclose(a, c)


@pytest.mark.parametrize("name", ALL)
def test_no_duplicates_within_a_batch(name: str) -> None:
    for b in seed0(name):
        assert len(np.unique(b.x.round(9), axis=0)) == len(b.x)


@pytest.mark.parametrize("name", ALL)
def test_ask_tell_round_trip_through_the_store(name: str, tmp_path) -> None:
    """Proposals enqueued, trained and read back as history are exactly what was asked and told, and the
    proposer rebuilt from that history proposes what it does without a store in between."""
    import optuna

    from paretomoo.store import TrialQueue, open_storage

    space = LambdaSpace(TASKS, LambdaSpec())
    storage = open_storage(f"sqlite:///{tmp_path}/round.db")
    study = optuna.create_study(storage=storage, directions=["minimize"] * 3)
    queue = TrialQueue(study, storage, space, "round")
    signs = np.ones(3)
    told: list[Batch] = []
    for b in range(5):  # pymoo's NSGA-II breeds from the fifth batch on (a first generation of 32)
        values = {t.number: t.values for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))}
        history = queue.history(signs, values)
        assert len(history) == b
        for got, want in zip(history, told, strict=True):
            np.testing.assert_array_equal(got.x, want.x)
            np.testing.assert_array_equal(got.f, want.f)
        p = make_proposer(name, dim=4, n_obj=3, zmax=space.zmax, batch=8, seed=0, n_history=8 * b)
        p.replay(history)
        x = p.ask(8)
        queue.enqueue(x, batch=b)
        f = objectives(x)
        f[0] = np.nan
        for trial, row in zip(queue.pop(8), f, strict=True):
            state = optuna.trial.TrialState.FAIL if np.isnan(row).any() else optuna.trial.TrialState.COMPLETE
            storage.set_trial_state_values(trial._trial_id, state, None if np.isnan(row).any() else row.tolist())
        told.append(Batch(x, f))
    direct = seed0(name, batches=5)
    np.testing.assert_array_equal(np.vstack([t.x for t in told]), np.vstack([b.x for b in direct]))


@pytest.mark.parametrize("name", ["nsga2", "optuna-nsga2", "optuna-tpe"])
def test_model_based_proposers_use_what_they_are_told(name: str) -> None:
    """The same asks told opposite objectives lead to different next batches (after pymoo's NSGA-II's first
    generation of 32)."""
    hist = seed0(name, batches=4)
    # aligned objectives make domination a total order, which flipping reverses
    hist = [Batch(b.x, np.repeat(b.x.sum(axis=1, keepdims=True), 3, axis=1)) for b in hist]
    flipped = [Batch(b.x, -b.f) for b in hist]
    n = sum(len(b.x) for b in hist)
    nexts = []
    for h in (hist, flipped):
        p = make_proposer(name, dim=4, n_obj=3, zmax=LambdaSpace(TASKS, LambdaSpec()).zmax, batch=8, seed=0, n_history=n)
        p.replay(h)
        nexts.append(p.ask(8))
    assert not np.allclose(nexts[0], nexts[1])


@pytest.mark.parametrize("name", ALL)
def test_tell_takes_the_points_told_not_the_points_asked(name: str) -> None:
    """A batch may come back different from what was asked (replayed from the store, re-run after a crash):
    the proposer must learn from the points it is told."""
    space = LambdaSpace(TASKS, LambdaSpec())
    history = seed0(name, batches=3)  # past TPE's random start-up trials; the batch told completes NSGA-II's first generation
    other = np.random.default_rng(7).uniform(-space.zmax, space.zmax, (8, 4))

    def next_batch(tell_other: bool) -> tuple[np.ndarray, object]:
        p = make_proposer(name, dim=4, n_obj=3, zmax=space.zmax, batch=8, seed=0, n_history=24)
        p.replay(history)
        asked = p.ask(8)
        x = other if tell_other else asked
        p.tell(x, objectives(x))
        return p.ask(8), p

    after_other, p = next_batch(True)
    np.testing.assert_array_equal(after_other, next_batch(True)[0])  # deterministic
    if name in ("random", "grid"):
        # their sequence depends on the count alone: it goes on as after 32 stored points
        assert p.n_history == 32
        fresh = make_proposer(name, dim=4, n_obj=3, zmax=space.zmax, batch=8, seed=0, n_history=32)
        np.testing.assert_array_equal(after_other, fresh.ask(8))
    else:
        assert not np.allclose(after_other, next_batch(False)[0])  # what it was told, not what it asked, shaped the next batch


def test_unknown_optimizer_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_proposer("cmaes", dim=2, n_obj=2, zmax=1.0, batch=2, seed=0)


def test_nsga2_first_generation_is_randoms_first_draws() -> None:
    """pymoo's NSGA-II starts from the 32 points random proposes first under the same seed (four batches of 8, two
    of 16, one of 32, five of 7, then one generation of offspring per batch): uniform over the simplex of directions,
    not uniform over the box."""
    for seed in range(2):
        for batch, first in ((8, 4), (16, 2), (32, 1), (7, 5)):
            nsga2 = run("nsga2", seed=seed, batches=first + 1, batch=batch)
            random = run("random", seed=seed, batches=first + 1, batch=batch)
            np.testing.assert_allclose(np.vstack([b.x for b in nsga2[:first]]), np.vstack([b.x for b in random[:first]]), atol=1e-12)
            assert not np.allclose(nsga2[first].x, random[first].x)


@pytest.mark.parametrize("name", ["nsga2", "optuna-nsga2"])
def test_nsga2_searches_randoms_directions(name: str) -> None:
    """Both NSGA-IIs' variables are directions on the simplex, mapped to logits as random maps them, so every
    offspring lies on random's plane of logits (Σx = zmax·(2 − d)) rather than anywhere in the box, where a uniform
    point puts a median ratio of 70 between its largest and smallest λ (22 on the plane)."""
    space = LambdaSpace(TASKS, LambdaSpec())
    x = np.vstack([b.x for b in seed0(name, batches=7)[4:]])  # bred, not the first generation
    np.testing.assert_allclose(x.sum(axis=1), space.zmax * (2 - 4))
    assert np.all(np.abs(x) <= space.zmax + 1e-12)


def test_nsga2_offspring_move_a_useful_distance() -> None:
    """Children lie farther than the distinct tolerance (0.15) from everything told, and a median of less than half
    the box's half-width from it: NSGA-II breeds again instead of leaving near-duplicates, and still searches near
    what it was told."""
    from paretomoo.proposers._design import centred
    from paretomoo.proposers._distinct import distances

    space = LambdaSpace(TASKS, LambdaSpec())
    nearest = []
    for seed in range(3):
        history = run("nsga2", seed=seed, batches=8)
        for i in range(4, len(history)):  # the offspring (the first generation is random's first 32 points)
            told = centred(np.vstack([b.x for b in history[:i]]))
            nearest.append(distances(centred(history[i].x), told).min(axis=1))
    d = np.concatenate(nearest)
    assert d.min() > 0.15
    assert 0.3 < np.median(d) < space.zmax / 2


def test_nsga2_keeps_its_offspring_apart_by_the_studys_tolerance() -> None:
    """NSGA-II breeds again a child within the study's ``distinct`` tolerance of anything told (``Proposer.distinct``),
    whatever it is, and with ``distinct = 0`` (off) only exact duplicates: the study's setting, not a constant of its
    own."""
    from paretomoo.proposers._design import centred
    from paretomoo.proposers._distinct import distances

    def nearest(tol: float) -> np.ndarray:
        out = []
        for seed in range(3):
            history = run("nsga2", seed=seed, batches=8, distinct=tol)
            for i in range(4, len(history)):  # the offspring
                told = centred(np.vstack([b.x for b in history[:i]]))
                out.append(distances(centred(history[i].x), told).min(axis=1))
        return np.concatenate(out)

    assert nearest(0.5).min() > 0.5
    off = nearest(0.0)
    assert off.min() > 0 and (off <= 0.15).any()


def test_nsga2_mutation_step_in_logit_units() -> None:
    """The polynomial mutation of ``mutation = "pm"`` (the benchmark's sbx-pm arms) moves a mutated variable by a median between 0.4 and 1.0 logits (pymoo's
    default eta 20 by 0.2, about the distinct tolerance): pymoo's own operator on a range as wide as the box (a
    direction's range [0, 1] is the box's 2·zmax in logits)."""
    from pymoo.core.population import Population
    from pymoo.core.problem import Problem
    from pymoo.operators.mutation.pm import PM

    from paretomoo.proposers._pymoo import TUNED

    zmax = LambdaSpace(TASKS, LambdaSpec()).zmax
    problem = Problem(n_var=1, n_obj=1, xl=-zmax, xu=zmax)
    x = np.random.default_rng(0).uniform(-zmax, zmax, (4000, 1))
    step = {}
    for eta in (TUNED.pm_eta, 20.0):
        y = PM(eta=eta, prob=1.0, prob_var=1.0).do(problem, Population.new("X", x.copy()), random_state=np.random.default_rng(1))
        step[eta] = float(np.median(np.abs(y.get("X") - x)))
    assert 0.4 < step[TUNED.pm_eta] < 1.0
    assert step[20.0] < 0.25


def test_the_reset_mutation_redraws_about_one_variable_in_d_uniformly() -> None:
    """Optuna's NSGA-II mutation, as an ``Operators`` choice of pymoo's (``mutation = "reset"``): each variable is
    redrawn uniformly over its bounds with probability 1/d, the rest kept."""
    from pymoo.core.population import Population
    from pymoo.core.problem import Problem

    from paretomoo.proposers._pymoo import _Reset

    problem = Problem(n_var=4, n_obj=1, xl=0.0, xu=1.0)
    x = np.full((5000, 4), 0.5)
    y = _Reset(prob=1.0).do(problem, Population.new("X", x.copy()), random_state=np.random.default_rng(0)).get("X")
    moved = y != 0.5
    assert abs(moved.mean() - 0.25) < 0.02  # one variable in d = 4
    assert 0.0 <= y.min() and y.max() <= 1.0 and abs(y[moved].mean() - 0.5) < 0.02  # uniform over the bounds
