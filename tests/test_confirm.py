"""Confirming a trial under fresh seeds: the interval, the fluke line, and which candidate takes a fluke's place."""

from __future__ import annotations

import math

import numpy as np
import pytest

from paretomoo.confirm import confirm, replacement, student_quantile
from paretomoo.errors import UserError
from paretomoo.noise import Noise

NAMES = ["click_auc", "fraud_pr_auc"]


def fresh(val: list[list[float]]) -> Noise:
    v = np.array(val)
    return Noise([1 + i for i in range(len(v))], v, v.copy())


def test_student_quantiles_are_exact_for_one_and_two_degrees_of_freedom_and_close_beyond() -> None:
    assert student_quantile(0.95, 1) == pytest.approx(6.313752, rel=1e-6)
    assert student_quantile(0.975, 1) == pytest.approx(12.706205, rel=1e-6)
    assert student_quantile(0.95, 2) == pytest.approx(2.919986, rel=1e-6)
    # tabulated values (Student's t table, one-sided 5 % and 2.5 %)
    for p, dof, table in ((0.95, 3, 2.353), (0.975, 3, 3.182), (0.95, 9, 1.833), (0.975, 30, 2.042)):
        assert student_quantile(p, dof) == pytest.approx(table, rel=2e-3)


def test_a_fresh_mean_outside_the_interval_is_a_seed_fluke() -> None:
    # click: fresh 0.60, 0.62, 0.64 (mean 0.62, sd 0.02); fraud: 0.48, 0.50, 0.52 (mean 0.50, sd 0.02)
    noise = fresh([[0.60, 0.50], [0.62, 0.48], [0.64, 0.52]])
    c = confirm(3, [0.80, 0.51], 1, noise, level=0.9)
    # t · sd · sqrt(1/r + 1/N), t two-sided at 95 % for each of the 2 objectives (90 % jointly): t(0.975, 2)
    half = 4.302653 * 0.02 * math.sqrt(1 + 1 / 3)
    np.testing.assert_allclose(c.low, [0.80 - half, 0.51 - half], rtol=1e-6)
    np.testing.assert_allclose(c.high, [0.80 + half, 0.51 + half], rtol=1e-6)
    assert c.holds_each.tolist() == [False, True] and not c.holds
    line = c.line(NAMES)
    assert line.startswith("trial 3 is a seed fluke: retrained under 3 fresh seeds, click_auc 0.6200 ± 0.0200 outside 0.7006–0.8994")
    assert "(stored 0.8000)" in line and "fraud_pr_auc" not in line and "\n" not in line
    assert c.to_dict(NAMES)["holds"] is False
    # more seeds behind the stored mean narrow the interval: sqrt(1/4 + 1/3) instead of sqrt(1 + 1/3)
    assert confirm(3, [0.80, 0.51], 4, noise).high[0] - 0.80 == pytest.approx(4.302653 * 0.02 * math.sqrt(1 / 4 + 1 / 3), rel=1e-6)


def test_a_fresh_mean_within_the_interval_confirms() -> None:
    c = confirm(7, [0.63, 0.50], 1, fresh([[0.60, 0.50], [0.62, 0.48], [0.64, 0.52]]))
    assert c.holds
    assert c.line(NAMES) == "confirmed: trial 7 retrained under 3 fresh seeds lands within its interval on every objective (90% jointly)"
    with pytest.raises(ValueError, match="at least 2 fresh seeds"):
        confirm(7, [0.63, 0.50], 1, fresh([[0.60, 0.50]]))


def test_a_fluke_is_replaced_only_when_asked_and_only_by_a_candidate_that_holds() -> None:
    fluke = confirm(3, [0.80, 0.51], 1, fresh([[0.60, 0.50], [0.62, 0.48], [0.64, 0.52]]))
    bad = confirm(5, [0.90, 0.51], 1, fresh([[0.60, 0.50], [0.62, 0.48], [0.64, 0.52]]))
    good = confirm(8, [0.63, 0.50], 1, fresh([[0.60, 0.50], [0.62, 0.48], [0.64, 0.52]]))
    with pytest.raises(UserError, match=r"trial 8, the next in the balanced order that holds, can be exported with --take-confirmed") as e:
        replacement(fluke, [bad, good], NAMES, "balanced", take=False)
    assert str(e.value).startswith("trial 3 is a seed fluke") and "export trial 3 anyway with --trial 3" in str(e.value)
    assert replacement(fluke, [bad, good], NAMES, "balanced", take=True) is good
    with pytest.raises(UserError, match=r"none of the next 1 in the knee order \(trials 5\) holds either"):
        replacement(fluke, [bad], NAMES, "knee", take=True)
