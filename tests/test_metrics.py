"""Metric kernels against scikit-learn and brute force, and the metric registry as the one place a metric lives."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, ndcg_score, roc_auc_score

from paretomoo import metrics
from paretomoo.metrics import METRICS, Metric, auc, get_metric, logloss, metric_names, ndcg, pr_auc, rmse


def brute_auc(s: np.ndarray, y: np.ndarray) -> float:
    pos, neg = s[y == 1], s[y == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


def sklearn_ndcg(s: np.ndarray, rel: np.ndarray, g: np.ndarray, k: int) -> float:
    """Mean over groups with a relevant row of scikit-learn's tie-averaged NDCG@k, with the gain 2^rel − 1."""
    out = []
    for q in np.unique(g):
        idx = np.flatnonzero(g == q)
        gain = 2.0 ** rel[idx] - 1
        if gain.max() <= 0:
            continue
        if len(idx) == 1:  # scikit-learn needs two documents; one relevant document ranks perfectly
            out.append(1.0)
            continue
        out.append(ndcg_score(gain[None, :], s[idx][None, :], k=k, ignore_ties=False))
    return float(np.mean(out))


@pytest.mark.parametrize("seed", range(6))
def test_binary_metrics_match_scikit_learn_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 400
    s = rng.integers(0, 15, n).astype(np.float64)  # many ties
    y = (rng.random(n) < 0.15).astype(np.float64)
    ts, ty = torch.tensor(s), torch.tensor(y)
    assert auc(ts, ty) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert auc(ts, ty) == pytest.approx(brute_auc(s, y), abs=1e-12)
    assert pr_auc(ts, ty) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    logits = rng.normal(size=n)
    p = 1 / (1 + np.exp(-logits))
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert logloss(torch.tensor(logits), ty) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [1, 3, 10])
def test_ndcg_matches_scikit_learn_tie_averaged(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    s = rng.integers(0, 6, n).astype(np.float64)  # ties within groups are common
    rel = rng.integers(0, 5, n).astype(np.float64)
    g = rng.integers(0, 30, n)
    got = ndcg(torch.tensor(s), torch.tensor(rel), torch.tensor(g), k)
    assert got == pytest.approx(sklearn_ndcg(s, rel, g, k), abs=1e-12)


def test_metrics_do_not_depend_on_row_order() -> None:
    """Tied scores share ranks, enter together or share gains, so shuffling rows changes nothing."""
    rng = np.random.default_rng(1)
    n = 500
    s = torch.tensor(rng.integers(0, 4, n).astype(np.float64))
    y = torch.tensor((rng.random(n) < 0.3).astype(np.float64))
    rel = torch.tensor(rng.integers(0, 4, n).astype(np.float64))
    g = torch.tensor(rng.integers(0, 20, n))
    perm = torch.tensor(rng.permutation(n))
    assert auc(s, y) == pytest.approx(auc(s[perm], y[perm]), abs=1e-12)
    assert pr_auc(s, y) == pytest.approx(pr_auc(s[perm], y[perm]), abs=1e-12)
    assert ndcg(s, rel, g, 5) == pytest.approx(ndcg(s[perm], rel[perm], g[perm], 5), abs=1e-12)


def test_metric_edge_cases() -> None:
    s = torch.tensor([0.1, 0.4, 0.35, 0.8])
    y = torch.tensor([0.0, 0.0, 1.0, 1.0])
    assert auc(s, y) == pytest.approx(0.75)
    assert math.isnan(auc(s, torch.zeros(4)))
    assert math.isnan(pr_auc(s, torch.zeros(4)))
    assert pr_auc(torch.tensor([3.0, 2.0, 1.0]), torch.tensor([1.0, 1.0, 0.0])) == pytest.approx(1.0)
    assert rmse(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 2.0])) == pytest.approx(1.0)
    assert logloss(torch.zeros(2), torch.tensor([0.0, 1.0])) == pytest.approx(math.log(2))
    # a group without a relevant row is left out; none at all: undefined
    g = torch.tensor([0, 0, 1, 1])
    assert ndcg(torch.tensor([1.0, 0.0, 1.0, 0.0]), torch.tensor([2.0, 0.0, 0.0, 0.0]), g, 10) == pytest.approx(1.0)
    assert math.isnan(ndcg(s, torch.zeros(4), g, 10))
    # a fully tied group: the relevant row's gain is spread over both positions
    tied = ndcg(torch.zeros(2), torch.tensor([1.0, 0.0]), torch.tensor([0, 0]), 10)
    assert tied == pytest.approx((1 + 1 / math.log2(3)) / 2)


def test_registry_lookup() -> None:
    assert get_metric("auc") is METRICS["auc"]
    at10 = get_metric("ndcg@10")
    assert at10 is not None and at10.k == 10 and at10.grouped and at10.name == "ndcg@10"
    assert get_metric("gauc") is METRICS["gauc"] and METRICS["gauc"].grouped and METRICS["gauc"].k is None
    for unknown in ("ndcg", "ndcg@0", "auc@3", "f1", "NDCG@10", "gauc@10", "recall"):
        assert get_metric(unknown) is None, unknown
    assert metric_names() == ["auc", "pr_auc", "logloss", "rmse", "ndcg@K", "gauc", "recall@K"]
    for m in METRICS.values():
        assert m.direction in ("maximize", "minimize") and m.labels in ("binary", "real", "any")
        assert m.needs in (metrics.NEEDS_ROWS, metrics.NEEDS_POSITIVE, metrics.NEEDS_BOTH)


def brier(p: torch.Tensor, y: torch.Tensor) -> float:
    return float(((torch.sigmoid(p.double()) - y.double()) ** 2).mean())


def test_a_new_metric_is_one_registry_entry(write_spec, monkeypatch) -> None:
    """Registered once, a metric is accepted by specs, stored for every task it fits, and handled by the front."""
    import tomllib

    from paretomoo.front import reference_point
    from paretomoo.spec import parse_spec
    from paretomoo.tasks import all_metrics

    monkeypatch.setitem(METRICS, "brier", Metric("brier", "minimize", "binary", None, metrics.NEEDS_ROWS, brier))
    text = write_spec().read_text().replace('metric = "pr_auc"', 'metric = "brier"')
    fraud = parse_spec(tomllib.loads(text)).tasks[3]
    assert fraud.metric == "brier" and fraud.direction == "minimize" and fraud.objective == "fraud_brier"
    scores = torch.tensor([2.0, -1.0, 0.5])
    y = torch.tensor([1.0, 0.0, 0.0])
    out = all_metrics(fraud, scores, y, None)
    assert out["brier"] == pytest.approx(brier(scores, y)) and set(out) == {"auc", "pr_auc", "logloss", "brier"}
    ref = reference_point(["brier"], ["minimize"], np.array([[0.1], [0.3]]))
    assert ref[0] == pytest.approx(0.3 + 0.02)
