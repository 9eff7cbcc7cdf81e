"""Do the hypervolume's interval and P(front) mean what they say? Simulated studies with a known noise-free front.

Each study: n trials whose noise-free means lie on (or, for a share, just inside) a concave front over the demo's
four objectives (click AUC, ad-click AUC, search NDCG@10, fraud PR-AUC; reference point from the real rule: the
metrics' floors), measured under R = 2 seeds with seed spread 0.002-0.01 per objective and paired row noise
(sd 0.003, four fifths of it shared by every trial, as one validation set's rows are), with 200 row resamples.
"""

from __future__ import annotations

import numpy as np

from paretomoo.front import hypervolume, pareto_mask, reference_point, to_min
from paretomoo.uncertainty import evidence, hypervolume_interval

DIRS = ["maximize"] * 4
REF = reference_point(["auc", "auc", "ndcg@10", "pr_auc"], DIRS, np.zeros((1, 4)))
LOW = np.array([0.70, 0.70, 0.55, 0.10])  # the front's worst values, and how far it reaches beyond them
SPAN = np.array([0.08, 0.08, 0.10, 0.08])


def true_means(rng: np.random.Generator, n: int, inside: float = 0.15) -> np.ndarray:
    """``[n, 4]`` natural means: points on a concave front, a share ``inside`` pulled 3-20 % towards its worst values."""
    w = np.sqrt(rng.dirichlet(np.full(4, 0.7), n))
    u = w / np.linalg.norm(w, axis=1, keepdims=True)
    shrink = np.where(rng.random(n) < inside, rng.uniform(0.8, 0.97, n), 1.0)
    return LOW + SPAN * u * shrink[:, None]


def measure(
    rng: np.random.Generator, mu: np.ndarray, seeds: int = 2, row_sd: float = 0.003, B: int = 200
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray | None]:
    """(means[n, 4], per-seed values n × [R, 4], row_dev[n, B, 4] or None): one study's measurements of ``mu``."""
    n, m = mu.shape
    seed_sd = rng.uniform(0.002, 0.01, m)

    def rows(size: tuple[int, ...]) -> np.ndarray:  # shared by all trials (axis -2) plus each trial's own
        return row_sd * (np.sqrt(0.8) * rng.standard_normal((*size[:-2], 1, m)) + np.sqrt(0.2) * rng.standard_normal(size))

    values = mu[:, None, :] + seed_sd * rng.standard_normal((n, seeds, m))
    row_dev = None
    if row_sd > 0:
        values += rows((n, m))[:, None, :]
        row_dev = rows((B, n, m)).transpose(1, 0, 2)
    return values.mean(axis=1), list(values), row_dev


def binomial_tolerance(p: float, k: int) -> float:
    """2.6 binomial standard errors of a share p over k draws (each check fails by chance about 1 % of the time)."""
    return 2.6 * np.sqrt(p * (1 - p) / k)


def test_hypervolume_interval_covers_the_noise_free_front_nine_times_in_ten() -> None:
    rng = np.random.default_rng(0)
    studies, covered, means_inside, p_rows = 200, 0, 0, []
    for k in range(studies):
        mu = true_means(rng, int(rng.integers(16, 33)))
        means, seeds, row_dev = measure(rng, mu)
        ev = evidence(means, seeds, row_dev, DIRS, seed=k)
        band = hypervolume_interval(ev, REF, q=(0.05, 0.95))
        truth = hypervolume(to_min(mu, DIRS), REF)
        assert band.low <= band.estimate <= band.high
        assert band.means == hypervolume(to_min(means, DIRS), REF)
        covered += band.low <= truth <= band.high
        inside = band.low <= band.means <= band.high
        means_inside += inside
        assert inside or "overstates" in band.text(0.9)
        p_rows.append(np.column_stack([ev.p_front, pareto_mask(to_min(mu, DIRS))]))
    coverage = covered / studies
    print(
        f"\n90 % hypervolume interval: covers the noise-free volume in {coverage:.3f} of {studies} studies; "
        f"the means' volume inside it in {means_inside / studies:.3f}"
    )
    # 0.90 ± 2.6 binomial standard errors over 200 studies is 0.845-0.955
    assert 0.85 <= coverage <= 0.95
    assert means_inside / studies >= 0.9

    # P(front): among trials given about p, the share on the noise-free front
    P = np.concatenate(p_rows)
    edges = np.array([0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0 + 1e-9])
    print("P(front) bin      trials  mean P  on the noise-free front")
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        rows = P[(P[:, 0] >= lo) & (P[:, 0] < hi)]
        if len(rows) == 0:
            continue
        p, share = rows[:, 0].mean(), rows[:, 1].mean()
        print(f"[{lo:.1f}, {min(hi, 1.0):.1f}){len(rows):13d}  {p:6.3f}  {share:6.3f}")
        # conservative: a trial is on the noise-free front at least as often as P(front) says
        assert share >= p - binomial_tolerance(p, len(rows))
        if lo >= 0.9:  # and the trials it calls near-certain are
            assert share >= 0.97


def test_with_a_thousand_conditioned_points_the_estimate_stays_inside_and_the_means_outside_are_named() -> None:
    # a conditioned study: ~1,000 points on the front from R = 2 models, seed noise only (no row bootstrap)
    rng = np.random.default_rng(1)
    mu = true_means(rng, 1000, inside=0.0)
    means, seeds, row_dev = measure(rng, mu, row_sd=0.0)
    ev = evidence(means, seeds, row_dev, DIRS, replicates=50)
    band = hypervolume_interval(ev, REF)
    truth = hypervolume(to_min(mu, DIRS), REF)
    print(f"\n1,000 points: truth {truth:.5f}, means {band.means:.5f}, estimate {band.estimate:.5f} [{band.low:.5f}, {band.high:.5f}]")
    assert band.low <= band.estimate <= band.high
    assert band.low <= truth <= band.high
    assert band.means > band.high  # the best of 1,000 noisy points overstates the front beyond its interval
    assert band.text(0.9).startswith(" (the front of noisy means overstates it:") and f"{band.estimate:.4g}" in band.text(0.9)
