from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from paretomoo.tasks import auc, logloss, ndcg_at_k, pr_auc, rmse


def brute_auc(s: np.ndarray, y: np.ndarray) -> float:
    pos, neg = s[y == 1], s[y == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


def brute_ap(s: np.ndarray, y: np.ndarray) -> float:
    """Step-wise average precision over distinct thresholds, as scikit-learn defines it."""
    ap, prev_recall = 0.0, 0.0
    for thr in sorted(set(s), reverse=True):
        sel = s >= thr
        tp = (y[sel] == 1).sum()
        precision = tp / sel.sum()
        recall = tp / (y == 1).sum()
        ap += (recall - prev_recall) * precision
        prev_recall = recall
    return ap


def brute_ndcg(s: np.ndarray, rel: np.ndarray, g: np.ndarray, k: int) -> float:
    out = []
    for q in np.unique(g):
        idx = np.flatnonzero(g == q)
        order = idx[np.argsort(-s[idx], kind="stable")]
        ideal = np.sort(rel[idx])[::-1]
        disc = 1 / np.log2(np.arange(2, len(idx) + 2))
        dcg = ((2 ** rel[order] - 1) * disc)[:k].sum()
        idcg = ((2**ideal - 1) * disc)[:k].sum()
        if idcg > 0:
            out.append(dcg / idcg)
    return float(np.mean(out))


@pytest.mark.parametrize("seed", range(4))
def test_ranking_metrics_match_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    s = rng.integers(0, 20, n).astype(np.float64)  # many ties
    y = (rng.random(n) < 0.2).astype(np.float64)
    ts, ty = torch.tensor(s), torch.tensor(y)
    assert auc(ts, ty) == pytest.approx(brute_auc(s, y), abs=1e-12)
    assert pr_auc(ts, ty) == pytest.approx(brute_ap(s, y), abs=1e-12)
    rel = rng.integers(0, 5, n).astype(np.float64)
    g = rng.integers(0, 25, n)
    assert ndcg_at_k(ts, torch.tensor(rel), torch.tensor(g), 10) == pytest.approx(brute_ndcg(s, rel, g, 10), abs=1e-12)


def test_metric_edge_cases() -> None:
    s = torch.tensor([0.1, 0.4, 0.35, 0.8])
    y = torch.tensor([0.0, 0.0, 1.0, 1.0])
    assert auc(s, y) == pytest.approx(0.75)
    assert math.isnan(auc(s, torch.zeros(4)))
    assert math.isnan(pr_auc(s, torch.zeros(4)))
    assert pr_auc(torch.tensor([3.0, 2.0, 1.0]), torch.tensor([1.0, 1.0, 0.0])) == pytest.approx(1.0)
    assert rmse(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 2.0])) == pytest.approx(1.0)
    assert logloss(torch.zeros(2), torch.tensor([0.0, 1.0])) == pytest.approx(math.log(2))
