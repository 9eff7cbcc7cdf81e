from __future__ import annotations

import numpy as np
import pytest

from paretomoo.space import LambdaSpace, directions_to_logits
from paretomoo.spec import LambdaSpec

TASKS = ["click", "ad_click", "search", "fraud"]


def test_logits_map_onto_the_simplex_and_reach_max_ratio() -> None:
    space = LambdaSpace(TASKS, LambdaSpec(max_ratio=1000))
    rng = np.random.default_rng(0)
    x = rng.uniform(-space.zmax, space.zmax, (200, 4))
    lam = space.to_lambda(x)
    assert lam.shape == (200, 4)
    np.testing.assert_allclose(lam.sum(axis=1), 1.0)
    assert (lam > 0).all()
    corner = space.to_lambda(directions_to_logits(np.eye(4)[:1], space.zmax))[0]
    assert corner[0] / corner[1] == pytest.approx(1000.0)
    centre = space.to_lambda(directions_to_logits(np.full((1, 4), 0.25), space.zmax))[0]
    np.testing.assert_allclose(centre, 0.25)


def test_bounds_and_fixed_values_hold() -> None:
    spec = LambdaSpec(max_ratio=1000, bounds=(("fraud", 0.05, 0.3), ("click", 0.0, 0.4)), fixed=(("search", 0.2),))
    space = LambdaSpace(TASKS, spec)
    assert space.free == ["click", "ad_click", "fraud"]
    rng = np.random.default_rng(1)
    lam = space.to_lambda(rng.uniform(-space.zmax, space.zmax, (500, 3)) * 1.5)
    np.testing.assert_allclose(lam.sum(axis=1), 1.0)
    np.testing.assert_allclose(lam[:, 2], 0.2)
    assert (lam[:, 3] >= 0.05 - 1e-12).all() and (lam[:, 3] <= 0.3 + 1e-12).all()
    assert (lam[:, 0] <= 0.4 + 1e-12).all()
    # the bounds are reached, not just respected
    assert lam[:, 3].max() == pytest.approx(0.3) and lam[:, 0].max() == pytest.approx(0.4)
