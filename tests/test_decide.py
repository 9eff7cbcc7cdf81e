from __future__ import annotations

import numpy as np
import pytest

from paretomoo._lift import lift
from paretomoo.decide import chance_levels, parse_constraint, parse_weights, pick, resolve_method
from paretomoo.errors import UserError
from paretomoo.front import reference_point
from paretomoo.uncertainty import conflict_verdict, evidence

NAMES = ["a_auc", "b_auc"]
DIRS = ["maximize", "maximize"]

# The demo front of issue 19: click AUC, ad-click AUC, search NDCG@10, fraud PR-AUC of five trials.
DEMO_NAMES = ["click_auc", "ad_click_auc", "search_ndcg@10", "fraud_pr_auc"]
DEMO_METRICS = ["auc", "auc", "ndcg@10", "pr_auc"]
DEMO_TRIALS = [16, 26, 20, 30, 3]
DEMO = np.array(
    [
        [0.561, 0.614, 0.925, 0.261],  # trial 16: near chance on click and ad-click
        [0.792, 0.827, 0.909, 0.257],  # trial 26
        [0.805, 0.825, 0.909, 0.252],  # trial 20
        [0.830, 0.789, 0.916, 0.238],  # trial 30: best click
        [0.814, 0.627, 0.912, 0.270],  # trial 3: best fraud
    ]
)
MAX4 = ["maximize"] * 4


def front_with_knee() -> np.ndarray:
    # a concave-to-the-origin front (maximisation) with a sharp knee at (0.9, 0.9)
    return np.array([[0.99, 0.50], [0.95, 0.80], [0.90, 0.90], [0.80, 0.95], [0.50, 0.99], [0.60, 0.60]])


def test_knee_is_the_sharp_corner_and_the_reason_says_so() -> None:
    c = pick(front_with_knee(), NAMES, DIRS, method="knee", labels=[f"trial {i}" for i in range(6)])
    assert c.index == 2 and c.method == "knee" and c.order[0] == 2
    assert "trial 2 is the knee of the 5-point front" in c.reason and "signed distance +" in c.reason
    assert sorted(c.front.tolist()) == [0, 1, 2, 3, 4]


def test_weights_move_the_pick_towards_the_preferred_objective() -> None:
    v = front_with_knee()
    for method in ("weights", "pseudo-weights"):
        assert pick(v, NAMES, DIRS, method=method, weights=np.array([1.0, 0.0])).index == 0
        assert pick(v, NAMES, DIRS, method=method, weights=np.array([0.0, 1.0])).index == 4
    assert pick(v, NAMES, DIRS, weights=np.array([1.0, 0.0])).method == "weights"  # the default with weights
    assert "pseudo-weights (a_auc=" in pick(v, NAMES, DIRS, method="pseudo-weights", weights=np.array([0.5, 0.5])).reason


def test_weights_minimise_the_largest_weighted_shortfall_on_the_chance_scale() -> None:
    # lifts over chance 0.5: a 1, .84, .6, .4 and b .2, .6, .8, 1
    v = np.array([[1.0, 0.6], [0.92, 0.8], [0.8, 0.9], [0.7, 1.0]])
    chance = np.array([0.5, 0.5])
    # weighted shortfalls max(w_a (1 − lift_a), w_b (1 − lift_b)) for w = (2, 1)/3: .267, .133, .267, .4
    c = pick(v, NAMES, DIRS, weights=parse_weights("a_auc=2,b_auc=1", NAMES), chance=chance, labels=[f"trial {i}" for i in range(4)])
    assert c.index == 1 and c.order.tolist() == [1, 2, 0, 3]  # rows 0 and 2 tie at .267: row 2 gives up less on average
    assert "trial 1 gives up the least weighted share" in c.reason and "on b_auc, which keeps 0.60 of its lift" in c.reason
    # for w = (1, 2)/3: .533, .267, .133, .2
    assert pick(v, NAMES, DIRS, weights=parse_weights("a_auc=1,b_auc=2", NAMES), chance=chance).index == 2
    # equal weights are the balanced rule: rows 1 and 2 both keep 0.6 on their worst task; row 1 keeps more on average
    balanced = pick(v, NAMES, DIRS, chance=chance, labels=[f"trial {i}" for i in range(4)])
    assert balanced.index == pick(v, NAMES, DIRS, weights=np.array([0.5, 0.5]), chance=chance).index == 1
    assert balanced.order.tolist()[:2] == [1, 2]
    assert "its worst task, b_auc, keeps 0.60 of it (0.8 against the best 1, chance 0.5)" in balanced.reason


def test_balanced_takes_the_trial_no_task_gives_up_on_where_the_knee_takes_one_near_chance() -> None:
    chance = chance_levels(DEMO_METRICS, MAX4, DEMO)
    np.testing.assert_array_equal(chance, [0.5, 0.5, 0.0, 0.0])  # the registry's floors
    labels = [f"trial {t}" for t in DEMO_TRIALS]
    lifts = lift(DEMO, MAX4, chance, DEMO.max(axis=0))
    # the smallest share of the achievable lift over chance, trial by trial: 16 gives up 82 % of it on click AUC
    np.testing.assert_allclose(lifts.min(axis=1), [0.061 / 0.33, 0.292 / 0.33, 0.305 / 0.33, 0.238 / 0.27, 0.127 / 0.327])
    c = pick(DEMO, DEMO_NAMES, MAX4, chance=chance, labels=labels)
    assert DEMO_TRIALS[c.index] == 20 and c.method == "balanced"
    assert [DEMO_TRIALS[i] for i in c.order] == [20, 26, 30, 3, 16]
    assert c.reason.startswith("trial 20 is the balanced pick of the 5-point front (the largest worst-task share")
    assert "its worst task, click_auc, keeps 0.92 of it (0.805 against the best 0.83, chance 0.5)" in c.reason
    # the range-normalised knee takes trial 16: NDCG spans 0.909–0.925, and 16's 0.925 pulls it to the ideal corner
    assert DEMO_TRIALS[pick(DEMO, DEMO_NAMES, MAX4, method="knee", chance=chance).index] == 16


def test_an_objective_whose_front_spans_only_noise_does_not_steer() -> None:
    names, dirs = ["a_auc", "b_auc", "c_auc"], ["maximize"] * 3
    v = np.array([[0.90, 0.62, 0.70], [0.85, 0.55, 0.80], [0.75, 0.62, 0.85]])
    labels = [f"trial {i}" for i in range(3)]
    chance = np.full(3, 0.5)
    # lifts: a 1, .875, .625; c .571, .857, 1; b 1, .417, 1. With b, row 2 keeps most on its worst task (.625)
    assert pick(v, names, dirs, chance=chance).index == 2
    # b's seed noise (sd 0.1 over 3 seeds) covers its whole front, a's and c's (sd 0.001) none of their differences
    seeds = [mu + np.array([[-0.001, -0.1, -0.001], [0.0, 0.0, 0.0], [0.001, 0.1, 0.001]]) for mu in v]
    ev = evidence(v, seeds, None, dirs)
    c = pick(v, names, dirs, chance=chance, evidence=ev, labels=labels)
    assert c.index == 1  # without b, row 1 keeps .857 on its worst task, c
    assert "trial 1 is the balanced pick of the 3-point front" in c.reason and "its worst task, c_auc, keeps 0.86" in c.reason
    assert "b_auc spans only noise on the front and does not steer" in c.reason
    # a trial within noise of the best on one objective counts as the best there
    seeds[1] = v[1] + np.array([[-0.001, -0.1, -0.1], [0.0, 0.0, 0.0], [0.001, 0.1, 0.1]])
    c = pick(v, names, dirs, chance=chance, evidence=evidence(v, seeds, None, dirs), labels=labels)
    assert c.index == 1 and "its worst task, a_auc, keeps 0.87 of it (0.85 against the best 0.9, chance 0.5)" in c.reason


def test_a_trial_within_noise_of_the_best_everywhere_is_the_pick_as_the_verdict_says() -> None:
    rng = np.random.default_rng(7)
    x = np.array([0.700, 0.702, 0.704, 0.701, 0.703, 0.699, 0.60])
    means = np.column_stack([x, x + rng.uniform(-0.001, 0.001, len(x))])
    lam = np.array([[w, 1 - w] for w in (0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0)])
    seeds = [mu + 0.01 * np.array([[-1.0, 1.0], [0.0, 0.0], [1.0, -1.0]]) for mu in means]
    ev = evidence(means, seeds, None, DIRS)
    labels = [f"trial {i}" for i in range(7)]
    verdict = conflict_verdict(ev, NAMES, labels, lam=lam)
    assert verdict.suggested == 3 and len(verdict.near_best) > 1
    c = pick(means, NAMES, DIRS, evidence=ev, lam=lam, labels=labels)
    assert c.index == verdict.suggested
    assert c.reason.startswith("trial 3 is within noise of the best on every objective (90% intervals), so it is the pick")
    assert f"of the {len(verdict.near_best)} such trials, the one whose λ is closest to equal weights" in c.reason
    assert sorted(c.order[: len(verdict.near_best)].tolist()) == sorted(verdict.near_best.tolist())
    # without the noise, the largest worst-task lift decides
    assert pick(means, NAMES, DIRS, lam=lam).index == int(np.argmax(means.min(axis=1)))
    # under a constraint, the best is looked for among the trials that satisfy it
    c = pick(means, NAMES, DIRS, evidence=ev, lam=lam, labels=labels, constraints=[parse_constraint("a_auc<=0.703", NAMES)])
    assert c.index == 3 and "within noise of the best on every objective (90% intervals) among trials with a_auc<=0.703" in c.reason


def test_constraints_measure_the_lift_among_the_trials_that_satisfy_them() -> None:
    chance = chance_levels(DEMO_METRICS, MAX4, DEMO)
    labels = [f"trial {t}" for t in DEMO_TRIALS]
    c = pick(DEMO, DEMO_NAMES, MAX4, chance=chance, labels=labels, constraints=[parse_constraint("fraud_pr_auc>=0.255", DEMO_NAMES)])
    # among 16, 26 and 3 the best click AUC is 3's 0.814: 26 keeps 0.292 / 0.314 of it, its worst task
    assert DEMO_TRIALS[c.index] == 26 and sorted(DEMO_TRIALS[i] for i in c.order) == [3, 16, 26]
    assert "balanced pick of the 3-point front of trials with fraud_pr_auc>=0.255" in c.reason
    assert "its worst task, click_auc, keeps 0.93 of it (0.792 against the best 0.814, chance 0.5)" in c.reason


def test_resolving_the_method() -> None:
    assert resolve_method(None, None) == "balanced" and resolve_method(None, np.array([1.0, 0.0])) == "weights"
    assert resolve_method("knee", None) == "knee"
    with pytest.raises(UserError, match="unknown pick method 'kne'; use one of balanced, knee, weights, pseudo-weights"):
        resolve_method("kne", None)
    with pytest.raises(UserError, match="method 'weights' needs weights"):
        pick(front_with_knee(), NAMES, DIRS, method="weights")
    with pytest.raises(UserError, match="weights apply to the methods weights and pseudo-weights, not 'knee'"):
        pick(front_with_knee(), NAMES, DIRS, method="knee", weights=np.array([1.0, 0.0]))


def test_chance_levels_are_the_registry_floors_or_the_worst_finished_value() -> None:
    v = np.array([[0.8, 0.40, 0.3], [0.7, 0.35, 0.5], [np.nan, np.nan, np.nan]])
    dirs = ["maximize", "minimize", "maximize"]
    chance = chance_levels(["auc", "logloss", "pr_auc"], dirs, v)
    # logloss has no chance level of its own: the worst value, 0.40, plus 10 % of the range (the front's reference)
    np.testing.assert_allclose(chance, [0.5, 0.405, 0.0])
    np.testing.assert_allclose(chance, reference_point(["auc", "logloss", "pr_auc"], dirs, v) * np.array([-1, 1, -1]))


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
