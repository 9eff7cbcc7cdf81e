from __future__ import annotations

import numpy as np
import pytest

from paretomoo.decide import parse_constraint, parse_weights, pick
from paretomoo.errors import UserError

NAMES = ["a_auc", "b_auc"]
DIRS = ["maximize", "maximize"]


def front_with_knee() -> np.ndarray:
    # a concave-to-the-origin front (maximisation) with a sharp knee at (0.9, 0.9)
    return np.array([[0.99, 0.50], [0.95, 0.80], [0.90, 0.90], [0.80, 0.95], [0.50, 0.99], [0.60, 0.60]])


def test_knee_is_the_sharp_corner_and_the_reason_says_so() -> None:
    c = pick(front_with_knee(), NAMES, DIRS, labels=[f"trial {i}" for i in range(6)])
    assert c.index == 2
    assert "trial 2 is the knee of the 5-point front" in c.reason and "signed distance +" in c.reason
    assert sorted(c.front.tolist()) == [0, 1, 2, 3, 4]


def test_weights_move_the_pick_towards_the_preferred_objective() -> None:
    v = front_with_knee()
    assert pick(v, NAMES, DIRS, weights=np.array([1.0, 0.0])).index == 0
    assert pick(v, NAMES, DIRS, weights=np.array([0.0, 1.0])).index == 4


def test_constraints_filter_before_choosing() -> None:
    v = front_with_knee()
    c = pick(v, NAMES, DIRS, constraints=[parse_constraint("b_auc>=0.95", NAMES)])
    assert v[c.index, 1] >= 0.95 and "b_auc>=0.95" in c.reason
    with pytest.raises(UserError, match="no trial satisfies"):
        pick(v, NAMES, DIRS, constraints=[parse_constraint("a_auc>0.995", NAMES)])


def test_failed_rows_are_ignored_and_minimised_objectives_handled() -> None:
    v = np.array([[0.9, 0.2], [np.nan, np.nan], [0.8, 0.1], [0.7, 0.3]])
    c = pick(v, ["auc", "logloss"], ["maximize", "minimize"])
    assert c.index in (0, 2) and sorted(c.front.tolist()) == [0, 2]


def test_parsers() -> None:
    np.testing.assert_allclose(parse_weights("a_auc=3,b_auc=1", NAMES), [0.75, 0.25])
    np.testing.assert_allclose(parse_weights("1,1", NAMES), [0.5, 0.5])
    for bad in ("c_auc=1", "1,2,3", "a_auc=x", "a_auc=0"):
        with pytest.raises(UserError):
            parse_weights(bad, NAMES)
    assert str(parse_constraint(" a_auc >= 0.3 ", NAMES)) == "a_auc>=0.3"
