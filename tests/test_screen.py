"""Screening λ on conditioned models: the coarse design, refinement where the front gains most, the stopping rule."""

from __future__ import annotations

import numpy as np
import pytest

from paretomoo.conditioned import _screen, evaluation_points, screen
from paretomoo.front import hypervolume, normalise, pareto_mask, to_min
from paretomoo.space import LambdaSpace
from paretomoo.spec import load_spec

DIRECTIONS = ["maximize"] * 4


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
    found = screen(measure, space, DIRECTIONS, cap=200, seed=3)
    first = evaluation_points(space, _screen.COARSE, 3)
    assert np.array_equal(asked[0], first) and np.array_equal(found.x[: len(first)], first)
    assert np.array_equal(first[0], np.zeros(space.dim))  # the centre, then each task's end
    assert len(found.x) == 200 and found.stopped == "the cap of 200 λ (search.points)"  # noise-free: every round adds volume
    assert found.values.shape == (200, 2, 4) and (np.abs(found.x) <= space.zmax + 1e-12).all()
    assert [r["points"] for r in found.rounds] == list(range(1 + space.dim + _screen.COARSE + _screen.ROUND, 200, _screen.ROUND)) + [200]
    assert all(r["gain"] > 0 and r["noise"] == 0 for r in found.rounds)
    small = screen(measurer(space, 2, 0.0)[0], space, DIRECTIONS, cap=10, seed=3)
    assert len(small.x) == 10 and np.array_equal(small.x, evaluation_points(space, 10 - 1 - space.dim, 3)) and not small.rounds


def test_refinement_goes_to_the_largest_contributions(space) -> None:
    measure, asked = measurer(space, models=2, noise=0.0)
    found = screen(measure, space, DIRECTIONS, cap=100, seed=0)
    coarse = asked[0]
    mean = found.values[: len(coarse)].mean(axis=1)
    F = to_min(mean, DIRECTIONS)
    Fn = normalise(F, by=F[pareto_mask(F)])
    top = _screen._largest_contributions(Fn, _screen.TOP)
    assert len(top) == _screen.TOP
    # each child of the first round starts from one of the top contributors, moved by about STEP of the box's half-width
    children = asked[1]
    nearest = np.min(np.linalg.norm(children[:, None, :] - coarse[top][None, :, :], axis=2), axis=1)
    others = np.setdiff1d(np.arange(len(coarse)), top)
    assert np.median(nearest) < np.median(np.min(np.linalg.norm(children[:, None, :] - coarse[others][None], axis=2), axis=1))
    assert np.median(nearest) < 3 * _screen.STEP * space.zmax * np.sqrt(space.dim)
    # the contributions are exclusive: dropping the top contributor loses more volume than dropping the last one
    ref = np.full(4, _screen.REFERENCE)
    front = np.flatnonzero(pareto_mask(Fn))

    def loss(i: int) -> float:
        return hypervolume(Fn[front], ref) - hypervolume(Fn[front[front != i]], ref)

    assert loss(top[0]) >= loss(top[-1]) > 0


def test_a_round_that_adds_less_than_the_noise_stops_the_screening(space) -> None:
    found = screen(measurer(space, models=2, noise=0.05)[0], space, DIRECTIONS, cap=1000, seed=0)
    assert len(found.rounds) >= 1 and len(found.x) < 1000
    last = found.rounds[-1]
    assert last["gain"] <= last["noise"] and all(r["gain"] > r["noise"] for r in found.rounds[:-1])
    assert found.stopped.startswith(f"round {len(found.rounds)} added") and "less than its noise" in found.stopped
    # the noise is the seed spread of the hypervolume over the models, over √R
    alone = screen(measurer(space, models=1, noise=0.0)[0], space, DIRECTIONS, cap=400, seed=0)
    assert all(r["noise"] == pytest.approx(_screen.ALONE * r["hypervolume"]) for r in alone.rounds)


def test_failed_points_are_never_on_the_front(space) -> None:
    measure, _ = measurer(space, models=2, noise=0.0)

    def half_failed(x: np.ndarray) -> np.ndarray:  # one model fails wherever the first task's logit is positive
        v = measure(x)
        v[x[:, 0] > 0, 1, 0] = np.nan
        return v

    found = screen(half_failed, space, DIRECTIONS, cap=120, seed=0)
    front = found.front(DIRECTIONS)
    assert len(front) > 10 and (found.x[front, 0] <= 0).all() and (found.x[:, 0] > 0).sum() > 10
    dead = screen(lambda x: np.full((len(x), 2, 4), np.nan), space, DIRECTIONS, cap=120, seed=0)
    assert dead.stopped == "every λ of the coarse design failed" and len(dead.x) == 1 + space.dim + _screen.COARSE
