from __future__ import annotations

import itertools

import numpy as np
import pytest

from paretomoo.front import hypervolume, hypervolume_history, pareto_mask, reference_point, to_min


def brute_mask(F: np.ndarray) -> np.ndarray:
    n = len(F)
    out = np.ones(n, dtype=bool)
    for i in range(n):
        if not np.isfinite(F[i]).all():
            out[i] = False
            continue
        for j in range(n):
            if i != j and np.isfinite(F[j]).all() and (F[j] <= F[i]).all() and (F[j] < F[i]).any():
                out[i] = False
    return out


def brute_hv(F: np.ndarray, ref: np.ndarray) -> float:
    """Inclusion-exclusion over boxes [f, ref]."""
    F = [f for f in F if np.isfinite(f).all() and (f < ref).all()]
    total = 0.0
    for r in range(1, len(F) + 1):
        for subset in itertools.combinations(F, r):
            corner = np.max(subset, axis=0)
            total += (-1) ** (r + 1) * np.prod(ref - corner)
    return total


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("m", [2, 3, 4])
def test_pareto_mask_matches_brute_force(seed: int, m: int) -> None:
    rng = np.random.default_rng(seed)
    F = rng.random((40, m)).round(1)  # rounding creates ties and duplicates
    F[3] = np.nan
    np.testing.assert_array_equal(pareto_mask(F), brute_mask(F))


def test_pareto_mask_keeps_duplicates_and_handles_empty() -> None:
    F = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    assert pareto_mask(F).tolist() == [True, True, True, False]
    assert pareto_mask(np.empty((0, 3))).shape == (0,)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("m", [2, 3])
def test_hypervolume_matches_inclusion_exclusion(seed: int, m: int) -> None:
    rng = np.random.default_rng(seed)
    F = rng.random((7, m))
    ref = np.full(m, 0.9)  # some points lie beyond the reference
    assert hypervolume(F, ref) == pytest.approx(brute_hv(F, ref), rel=1e-12, abs=1e-12)


def test_hypervolume_closed_forms() -> None:
    assert hypervolume(np.array([[0.0, 0.0]]), np.array([2.0, 3.0])) == pytest.approx(6.0)
    # staircase of two points: 1x2 + 2x1 - 1x1 overlap
    assert hypervolume(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([2.0, 2.0])) == pytest.approx(3.0)
    assert hypervolume(np.empty((0, 2)), np.array([1.0, 1.0])) == 0.0
    assert hypervolume(np.array([[np.nan, 0.0]]), np.array([1.0, 1.0])) == 0.0


def test_history_is_monotone_and_ends_at_the_total() -> None:
    rng = np.random.default_rng(0)
    F = rng.random((30, 3))
    ref = np.ones(3)
    h = hypervolume_history(F, ref)
    assert np.all(np.diff(h) >= -1e-15)
    assert h[-1] == pytest.approx(hypervolume(F, ref))
    assert h[0] == pytest.approx(np.prod(ref - F[0]))


def test_minimisation_and_reference_rule() -> None:
    values = np.array([[0.8, 0.3, 0.9], [0.7, 0.2, 0.5]])
    F = to_min(values, ["maximize", "minimize", "maximize"])
    np.testing.assert_allclose(F, [[-0.8, 0.3, -0.9], [-0.7, 0.2, -0.5]])
    ref = reference_point(["auc", "logloss", "ndcg@10"], ["maximize", "minimize", "maximize"], values)
    # AUC: chance 0.5; logloss: worst + 10 % of range; NDCG: 0
    np.testing.assert_allclose(ref, [-0.5, 0.3 + 0.01, 0.0])
    # every floor comes from the metric registry; a metric without one (rmse) falls back on the data
    ref2 = reference_point(["pr_auc", "rmse", "ndcg@3"], ["maximize", "minimize", "maximize"], values)
    np.testing.assert_allclose(ref2, [0.0, 0.3 + 0.01, 0.0])
