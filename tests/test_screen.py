"""Screening λ on conditioned models: the coarse design, refinement where the front gains most, the stopping rule."""

from __future__ import annotations

import numpy as np
import pytest

from paretomoo.conditioned import _screen, evaluation_points, screen
from paretomoo.front import hypervolume, pareto_mask, to_min
from paretomoo.space import LambdaSpace
from paretomoo.spec import load_spec

DIRECTIONS = ["maximize"] * 4
METRICS = ["score"] * 4  # no floor: the reference point is 10 % of each objective's spread past its worst


@pytest.fixture
def space(write_spec) -> LambdaSpace:
    spec = load_spec(write_spec(optimizer="conditioned"))
    return LambdaSpace(spec.task_names, spec.lam)


def measurer(space: LambdaSpace, models: int, noise: float, seed: int = 0):
    """A known front: task i scores √λ_i (every λ of the simplex is on it), plus each model's own noise; records
    every x asked."""
    rng = np.random.default_rng(seed)
    asked: list[np.ndarray] = []

    def measure(x: np.ndarray) -> np.ndarray:
        asked.append(x)
        truth = np.sqrt(space.to_lambda(x))  # [n, 4]
        return truth[:, None, :] + rng.normal(0.0, noise, (len(x), models, truth.shape[1]))

    return measure, asked


def test_the_coarse_design_comes_first_and_the_cap_holds(space) -> None:
    measure, asked = measurer(space, models=2, noise=0.0)
    found = screen(measure, space, DIRECTIONS, METRICS, cap=200, seed=3)
    first = evaluation_points(space, _screen.COARSE, 3)
    assert np.array_equal(asked[0], first) and np.array_equal(found.x[: len(first)], first)
    assert np.array_equal(first[0], np.zeros(space.dim))  # the centre, then each task's end
    assert len(found.x) == 200 and found.stopped == "the cap of 200 λ (search.points)"  # noise-free: every round adds volume
    assert found.values.shape == (200, 2, 4) and (np.abs(found.x) <= space.zmax + 1e-12).all()
    assert [r["points"] for r in found.rounds] == list(range(1 + space.dim + _screen.COARSE + _screen.ROUND, 200, _screen.ROUND)) + [200]
    assert all(r["gain"] > 0 and r["noise"] == 0 for r in found.rounds)
    small = screen(measurer(space, 2, 0.0)[0], space, DIRECTIONS, METRICS, cap=10, seed=3)
    assert len(small.x) == 10 and np.array_equal(small.x, evaluation_points(space, 10 - 1 - space.dim, 3)) and not small.rounds


def test_refinement_goes_to_the_largest_contributions(space) -> None:
    measure, asked = measurer(space, models=2, noise=0.0)
    found = screen(measure, space, DIRECTIONS, METRICS, cap=200, seed=0)
    coarse = asked[0]
    mean = found.values[: len(coarse)].mean(axis=1)
    ideal, span = _screen.scale(mean, DIRECTIONS, METRICS)
    Fn = (to_min(mean, DIRECTIONS) - ideal) / span
    top = _screen._largest_contributions(Fn, _screen.TOP)
    assert len(top) == _screen.TOP
    # the children of the first round are the top contributors, ROUND / TOP each, moved by a normal step of STEP of the
    # box's half-width (the screening's own generator), clipped to the box
    per = _screen.ROUND // _screen.TOP
    step = np.random.default_rng([0, 1]).normal(0.0, _screen.STEP * space.zmax, (_screen.ROUND, space.dim))
    want = np.clip(np.repeat(coarse[top], per, axis=0) + step, -space.zmax, space.zmax)
    np.testing.assert_allclose(asked[1], want)
    # the contributions are exclusive: dropping the top contributor loses more volume than dropping the last one
    ref = np.full(4, _screen.REFERENCE)
    front = np.flatnonzero(pareto_mask(Fn))

    def loss(i: int) -> float:
        return hypervolume(Fn[front], ref) - hypervolume(Fn[front[front != i]], ref)

    assert loss(top[0]) >= loss(top[-1]) > 0


def test_a_round_that_adds_less_than_the_noise_stops_the_screening(space) -> None:
    found = screen(measurer(space, models=2, noise=0.05)[0], space, DIRECTIONS, METRICS, cap=1000, seed=0)
    assert len(found.rounds) >= 1 and len(found.x) < 1000
    last = found.rounds[-1]
    assert last["gain"] <= last["noise"] and all(r["gain"] > r["noise"] for r in found.rounds[:-1])
    assert found.stopped.startswith(f"round {len(found.rounds)} added") and "less than its noise" in found.stopped
    # the noise is the seed spread of the hypervolume over the models, over √R
    alone = screen(measurer(space, models=1, noise=0.0)[0], space, DIRECTIONS, METRICS, cap=400, seed=0)
    assert all(r["noise"] == pytest.approx(_screen.ALONE * r["hypervolume"]) for r in alone.rounds)


def test_failed_points_are_never_on_the_front(space) -> None:
    measure, _ = measurer(space, models=2, noise=0.0)

    def half_failed(x: np.ndarray) -> np.ndarray:  # one model fails wherever the first task's logit is positive
        v = measure(x)
        v[x[:, 0] > 0, 1, 0] = np.nan
        return v

    found = screen(half_failed, space, DIRECTIONS, METRICS, cap=200, seed=0)
    front = found.front(DIRECTIONS)
    assert len(front) > 10 and (found.x[front, 0] <= 0).all() and (found.x[:, 0] > 0).sum() > 10
    dead = screen(lambda x: np.full((len(x), 2, 4), np.nan), space, DIRECTIONS, METRICS, cap=200, seed=0)
    assert dead.stopped == "every λ of the coarse design failed" and len(dead.x) == 1 + space.dim + _screen.COARSE


def test_the_scale_puts_the_fronts_best_at_0_and_the_studys_reference_point_at_1() -> None:
    """The screening's hypervolume is the study's: each objective from its coarse front's best (0) to the reference
    point ``status`` uses (1): an AUC's floor 0.5, a PR-AUC's 0, a metric without a floor 10 % of its spread past its
    worst; a front wholly past its floor is scaled to 1.1 × its own spread."""
    values = np.array([[0.80, 0.30, 2.0], [0.70, 0.40, 3.0], [0.60, 0.35, 2.5]])
    ideal, span = _screen.scale(values, ["maximize", "maximize", "minimize"], ["auc", "pr_auc", "rmse"])
    Fn = (to_min(values, ["maximize", "maximize", "minimize"]) - ideal) / span
    np.testing.assert_allclose(Fn.min(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Fn[0, :2], [0.0, (0.40 - 0.30) / 0.40])  # AUC 0.8 is the best; PR-AUC 0.3 of 0.4 from 0
    np.testing.assert_allclose(
        (to_min(np.array([[0.5, 0.0, 3.1]]), ["maximize", "maximize", "minimize"]) - ideal) / span, [[1.0, 1.0, 1.0]]
    )
    below = np.array([[0.45, 0.1, 1.0], [0.40, 0.2, 1.0]])  # every AUC worse than chance
    ideal, span = _screen.scale(below, ["maximize", "maximize", "minimize"], ["auc", "pr_auc", "rmse"])
    assert span[0] == pytest.approx(1.1 * 0.05)
