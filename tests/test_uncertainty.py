from __future__ import annotations

import math

import numpy as np
import pytest

from paretomoo.decide import pick
from paretomoo.front import hypervolume, to_min
from paretomoo.uncertainty import (
    conflict_verdict,
    evidence,
    hypervolume_band,
    hypervolume_interval,
    indistinguishable,
    pick_stability,
    pooled_seed_variance,
    probability,
)

MAX2 = ["maximize", "maximize"]


def seeds_with_sd(means: np.ndarray, sd: float, r: int | list[int], rng: np.random.Generator) -> list[np.ndarray]:
    """Per-seed values whose mean is exactly ``means[t]`` and whose sample sd is exactly ``sd``."""
    rs = [r] * len(means) if isinstance(r, int) else r
    out = []
    for mu, k in zip(means, rs, strict=True):
        z = rng.standard_normal((k, len(mu)))
        z = (z - z.mean(axis=0)) / z.std(axis=0, ddof=1)
        out.append(mu + sd * z)
    return out


def single(means: np.ndarray) -> list[np.ndarray]:
    return [mu[None, :] for mu in means]


def labels(n: int) -> list[str]:
    return [f"trial {t}" for t in range(n)]


def normal_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def test_pooled_variance_is_the_dof_weighted_within_trial_variance() -> None:
    seeds = [np.array([[1.0, 10.0], [3.0, 14.0]]), np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 5.0]]), np.array([[5.0, 5.0]])]
    # SS = (2, 8) on 1 dof, (2, 14) on 2 dof; the single-seed trial adds nothing
    np.testing.assert_allclose(pooled_seed_variance(seeds), [4 / 3, 22 / 3])
    assert pooled_seed_variance([np.array([[1.0, 2.0]]), np.array([[3.0, 4.0]])]) is None


def test_p_front_dominated_separated_and_shared() -> None:
    # A and B: far apart on the front; C: far below; D and E: on the line y = x, 0.005 apart, noise along that line
    means = np.array([[0.9, 0.1], [0.1, 0.9], [0.2, 0.2], [0.6, 0.6], [0.605, 0.605]])
    rng = np.random.default_rng(0)
    row_dev = 0.02 * rng.standard_normal((5, 2000, 1)) * np.ones((1, 1, 2))
    ev = evidence(means, single(means), row_dev, MAX2)
    assert ev.p_front[:2].tolist() == [1.0, 1.0] and ev.p_front[2] == 0.0
    # E is on the front iff z_D - z_E < 0.005 / 0.02: Φ(0.25 / √2) ≈ 0.57, D the rest
    assert ev.p_front[4] == pytest.approx(normal_cdf(0.25 / math.sqrt(2)), abs=0.04)
    assert 0.2 < ev.p_front[3] < 0.8 and 0.2 < ev.p_front[4] < 0.8
    assert ev.p_front[3] + ev.p_front[4] == pytest.approx(1.0)
    assert ev.row_noise_measured and not ev.seed_noise_measured


def test_evidence_is_deterministic_for_a_seed_and_read_only() -> None:
    rng = np.random.default_rng(1)
    means = rng.random((6, 3))
    seeds = seeds_with_sd(means, 0.01, 2, rng)
    dirs = ["maximize", "minimize", "maximize"]
    a, b = evidence(means, seeds, None, dirs, seed=7), evidence(means, seeds, None, dirs, seed=7)
    np.testing.assert_array_equal(a.replicates, b.replicates)
    np.testing.assert_array_equal(a.p_front, b.p_front)
    assert not np.array_equal(a.replicates, evidence(means, seeds, None, dirs, seed=8).replicates)
    assert a.replicates.shape == (200, 6, 3) and a.seed_noise_measured
    with pytest.raises(ValueError):
        a.replicates[0, 0, 0] = 1.0


def test_se_shrinks_with_seeds_down_to_the_row_noise() -> None:
    rng = np.random.default_rng(2)
    means = np.full((4, 2), 0.7)
    r = [2, 4, 16, 64]
    seeds = seeds_with_sd(means, 0.02, r, rng)  # pooled variance exactly 4e-4
    row_dev = 0.005 * rng.standard_normal((4, 300, 2))
    ev = evidence(means, seeds, row_dev, MAX2)
    expected = np.sqrt(4e-4 / np.array(r)[:, None] + row_dev.var(axis=1, ddof=1))
    np.testing.assert_allclose(ev.se, expected)
    assert (np.diff(ev.se, axis=0) < 0).all()
    assert (ev.se >= np.sqrt(row_dev.var(axis=1, ddof=1))).all()


def test_hypervolume_interval_holds_the_estimate_and_widens_with_noise() -> None:
    means = np.array([[0.8, 0.3], [0.3, 0.8]])
    ref = np.zeros(2)  # floor 0 for both, in minimisation form
    widths = []
    for sd in (0.005, 0.03):
        ev = evidence(means, seeds_with_sd(means, sd, 2, np.random.default_rng(3)), None, MAX2, replicates=1000)
        band = hypervolume_interval(ev, ref)
        assert band.means == pytest.approx(0.8 * 0.3 + 0.3 * 0.8 - 0.3 * 0.3)
        assert band.means == pytest.approx(hypervolume(to_min(means, MAX2), ref))
        # two points far apart: no optimism to correct, so the means' volume is inside and the text gives the interval
        assert band.low < band.estimate < band.high and band.low < band.means < band.high
        assert band.estimate == pytest.approx(band.means, abs=0.1 * (band.high - band.low))
        assert band.text(0.9) == f" [{band.low:.4g}, {band.high:.4g}] (90% interval)"
        widths.append(band.high - band.low)
    assert widths[1] > 3 * widths[0]


def test_indistinguishable_lists_points_within_noise_only() -> None:
    means = np.array([[0.500, 0.500], [0.502, 0.499], [0.600, 0.500], [0.503, 0.497]])
    ev = evidence(means, seeds_with_sd(means, 0.01, 3, np.random.default_rng(4)), None, MAX2, replicates=500)
    assert indistinguishable(ev, 0).tolist() == [1, 3]
    assert indistinguishable(ev, 2).tolist() == []  # 0.1 away on one objective is beyond noise
    with pytest.raises(ValueError, match="level"):
        indistinguishable(ev, 0, level=1.5)


def test_pick_stability_one_when_dominant_low_on_a_flat_front() -> None:
    names = ["a_auc", "b_auc"]

    def knee(v: np.ndarray) -> int:
        return pick(v, names, MAX2, method="knee").index

    rng = np.random.default_rng(5)
    dominant = np.array([[0.95, 0.95], [0.6, 0.7], [0.7, 0.6], [0.5, 0.5]])
    ev = evidence(dominant, seeds_with_sd(dominant, 0.01, 2, rng), None, MAX2)
    assert pick_stability(ev, knee, knee(ev.means)) == 1.0
    # a straight front has no knee: the noise decides among middle points that are far apart
    flat = np.array([[1.0, 0.0], [0.75, 0.25], [0.5, 0.5], [0.25, 0.75], [0.0, 1.0]])
    ev = evidence(flat, seeds_with_sd(flat, 0.01, 2, rng), None, MAX2)
    chosen = knee(ev.means)
    assert indistinguishable(ev, chosen).size == 0
    assert pick_stability(ev, knee, chosen) < 0.6


def test_probability_matches_the_normal_closed_form() -> None:
    means = np.array([[0.22, 0.5], [0.30, 0.5]])
    ev = evidence(means, seeds_with_sd(means, 0.03, 4, np.random.default_rng(6)), None, MAX2, replicates=4000)
    sd = 0.03 / math.sqrt(4)
    for value in (0.20, 0.22, 0.24):
        p = probability(ev, 0, 0, ">=", value)
        assert p == pytest.approx(1 - normal_cdf((value - 0.22) / sd), abs=0.03)
        assert p + probability(ev, 0, 0, "<", value) == pytest.approx(1.0)
    assert probability(ev, 1, 0, ">", 0.20) == pytest.approx(1 - normal_cdf((0.20 - 0.30) / sd), abs=0.01)
    with pytest.raises(ValueError, match="op must be one of"):
        probability(ev, 0, 0, "==", 0.2)


def test_noisy_copies_do_not_trade_off_and_the_equal_weights_trial_is_named() -> None:
    rng = np.random.default_rng(7)
    x = np.array([0.700, 0.702, 0.704, 0.701, 0.703, 0.699, 0.60])
    means = np.column_stack([x, x + rng.uniform(-0.001, 0.001, len(x))])
    lam = np.array([[w, 1 - w] for w in (0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0)])
    ev = evidence(means, seeds_with_sd(means, 0.01, 3, rng), None, MAX2)
    v = conflict_verdict(ev, ["a_auc", "b_auc"], labels(7), lam=lam)
    assert not v.trade_off.any() and v.witnesses == {}
    assert 6 not in v.near_best.tolist()
    assert v.suggested == 3
    assert "no trade-off exceeds noise" in v.text
    assert "trial 3 (equal weights) is within noise of the best on every objective" in v.text
    assert "seed noise not measured" not in v.text


def test_opposed_objectives_trade_off_with_witnesses() -> None:
    t = np.linspace(0, 1, 6)
    # a and b opposed; c a noisy copy of a
    means = np.column_stack([t, 1 - t, t + np.random.default_rng(8).uniform(-0.001, 0.001, 6)])
    ev = evidence(means, seeds_with_sd(means, 0.01, 2, np.random.default_rng(9)), None, ["maximize"] * 3)
    v = conflict_verdict(ev, ["a", "b", "c"], labels(6))
    assert v.trade_off[0, 1] and v.trade_off[1, 2] and not v.trade_off[0, 2]
    np.testing.assert_array_equal(v.trade_off, v.trade_off.T)
    for (j, k), (a, b) in v.witnesses.items():
        assert means[a, j] > means[b, j] and means[b, k] > means[a, k]
    a, b = v.witnesses[(0, 1)]
    assert f"a vs b: trade-off beyond noise (trial {a} best on a, trial {b} best on b)" in v.text
    assert "a vs c: no trade-off beyond noise" in v.text
    assert "no trade-off exceeds noise" not in v.text


def test_single_seed_data_says_seed_noise_was_not_measured() -> None:
    means = np.array([[0.70, 0.70], [0.69, 0.69], [0.5, 0.5]])
    ev = evidence(means, single(means), None, MAX2)
    assert not ev.seed_noise_measured and (ev.se == 0).all()
    v = conflict_verdict(ev, ["a", "b"], labels(3))
    # without any noise, "within noise of the best" is the best itself: said so, not as a statement about noise
    assert v.text.startswith("no trade-off at this budget: trial 0 is the best on every objective") and "within noise" not in v.text
    assert "seed noise not measured: rerun with repeats >= 2" in v.text
    assert "no noise measured at all" in v.text
    # with row noise but single seeds, the seed line stays and the no-noise line goes
    ev = evidence(means, single(means), 0.01 * np.random.default_rng(10).standard_normal((3, 50, 2)), MAX2)
    text = conflict_verdict(ev, ["a", "b"], labels(3)).text
    assert "seed noise not measured" in text and "no noise measured at all" not in text
    assert "no trade-off exceeds noise at this budget: trial 0 is within noise of the best on every objective" in text


def test_inputs_are_checked_with_the_rule_and_the_fix() -> None:
    means = np.array([[0.7, 0.7], [0.6, 0.8]])
    with pytest.raises(ValueError, match=r"seeds must hold one \[r_t, 2\] array per trial \(2\), got 1"):
        evidence(means, single(means)[:1], None, MAX2)
    with pytest.raises(ValueError, match=r"row_dev must be \[2, B, 2\]"):
        evidence(means, single(means), np.zeros((2, 10)), MAX2)
    with pytest.raises(ValueError, match="pass replicates=None or 10"):
        evidence(means, single(means), np.zeros((2, 10, 2)), MAX2, replicates=200)
    with pytest.raises(ValueError, match="means must be"):
        evidence(means, single(means), None, ["maximize"])
    with pytest.raises(ValueError, match="direction must be"):
        evidence(means, single(means), None, ["up", "up"])
    with pytest.raises(ValueError, match="must be >= 2, got 1"):
        evidence(means, single(means), np.zeros((2, 1, 2)), MAX2)
    with pytest.raises(ValueError, match="must be >= 2, got 1"):
        evidence(means, single(means), None, MAX2, replicates=1)
    with pytest.raises(ValueError, match="row_dev must be finite"):
        evidence(means, single(means), np.full((2, 5, 2), np.nan), MAX2)


def test_hypervolume_band_corrects_the_replicates_optimism() -> None:
    # replicates 0.02 above the means' volume, spread 0.01 either side of their median
    reps = np.array([[0.11, 0.51], [0.12, 0.52], [0.13, 0.53]])
    est, lo, hi = hypervolume_band(np.array([0.10, 0.50]), reps, q=(0.0, 1.0))
    np.testing.assert_allclose(est, [0.08, 0.48])  # the basic bootstrap: 2·means − median
    step = 0.02 / (math.sqrt(2) - 1)  # the √s extrapolation reaches further down
    np.testing.assert_allclose(lo, [0.10 - step - 0.01, 0.50 - step - 0.01])
    np.testing.assert_allclose(hi, [0.09, 0.49])
    # the means' volume lies above the whole interval here, and the text says so
    from paretomoo.uncertainty import HypervolumeInterval

    text = HypervolumeInterval(0.08, float(lo[0]), 0.09, 0.10).text(0.9)
    assert text.startswith(" (the front of noisy means overstates it: 0.08 [") and text.endswith("corrected for noise, 90% interval)")
    assert HypervolumeInterval(0.1, 0.1, 0.1, 0.1).text(0.9) == ""
    with pytest.raises(ValueError, match="replicate_hv must be"):
        hypervolume_band(np.array([0.1, 0.2]), np.zeros((5, 3)))
