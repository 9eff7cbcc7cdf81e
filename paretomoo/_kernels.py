"""Plain metric kernels: one score vector against its labels (and group ids) → a Python float.

Each is exact and independent of row order: tied scores share their rank (AUC and
GAUC, as the Mann-Whitney statistic), enter together (average precision, as
scikit-learn's ``average_precision_score``), share their gain (NDCG, as
scikit-learn's ``ndcg_score`` with ``ignore_ties=False``) or share the places left
at the cut (recall@K, its expected value under a random order of the tie).
``paretomoo.metrics`` registers each with its metric; the weighted
(``paretomoo._weighted``) and many-vector (``paretomoo._many``) kernels equal these.
Kernels take 1-D tensors on any device; torch is imported inside them, so that
reading a spec does not load it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def _average_ranks(s: torch.Tensor) -> torch.Tensor:
    """1-based ranks of ``s`` with ties sharing their average rank."""
    import torch

    sorted_s, order = torch.sort(s)
    _, inverse, counts = torch.unique_consecutive(sorted_s, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).to(torch.float64)
    avg = ends - (counts.to(torch.float64) - 1) / 2
    ranks = torch.empty_like(avg[inverse])
    ranks[order] = avg[inverse]
    return ranks


def auc(scores: torch.Tensor, y: torch.Tensor) -> float:
    """Area under the ROC curve; NaN when only one class is present."""
    import torch

    pos = y > 0.5
    n_pos = int(pos.sum())
    n_neg = y.numel() - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = _average_ranks(scores.to(torch.float64))
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pr_auc(scores: torch.Tensor, y: torch.Tensor) -> float:
    """Average precision (area under the precision-recall curve, step-wise).

    Thresholds are the distinct scores, so tied rows enter together. Chance
    level is the positive rate.
    """
    import torch

    pos = (y > 0.5).to(torch.float64)
    n_pos = float(pos.sum())
    if n_pos == 0:
        return math.nan
    s, order = torch.sort(scores.to(torch.float64), descending=True)
    tp = torch.cumsum(pos[order], 0)
    fp = torch.cumsum(1 - pos[order], 0)
    last = torch.ones_like(s, dtype=torch.bool)  # the last index of each run of equal scores
    last[:-1] = s[1:] != s[:-1]
    tp, fp = tp[last], fp[last]
    precision = tp / (tp + fp)
    recall = tp / n_pos
    prev = torch.cat([recall.new_zeros(1), recall[:-1]])
    return float(((recall - prev) * precision).sum())


def logloss(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Mean binary cross-entropy of logits."""
    import torch
    import torch.nn.functional as F

    return float(F.binary_cross_entropy_with_logits(logits.to(torch.float64), y.to(torch.float64)))


def rmse(pred: torch.Tensor, y: torch.Tensor) -> float:
    """Root mean squared error, in the label's own units."""
    import torch

    return float(torch.sqrt(((pred.to(torch.float64) - y.to(torch.float64)) ** 2).mean()))


def log_discounts(k: int, device: torch.device | str | None = None) -> torch.Tensor:
    """``[k]`` float64: what a row at position 0 … k−1 of its group weighs in DCG, 1 / log2(position + 2)."""
    import torch

    return 1.0 / torch.log2(torch.arange(k, dtype=torch.float64, device=device) + 2.0)


def cut_discounts(k: int, device: torch.device | str | None = None) -> torch.Tensor:
    """``[k]`` float64 ones: each of the top k positions counts once (recall@k's hits)."""
    import torch

    return torch.ones(k, dtype=torch.float64, device=device)


def ranked_gain(gain: torch.Tensor, group: torch.Tensor, key: torch.Tensor, discounts: torch.Tensor) -> torch.Tensor:
    """Per group (numbered in sorted order of their ids): Σ gain × ``discounts[position]`` over its rows ranked by
    ``key`` descending, positions from 0, those ≥ len(discounts) weighing 0 (DCG@k, or the gain in the top k).

    Rows with equal ``key`` in a group share the mean of their gains over the
    positions they span (scikit-learn's tie-averaged DCG; for 0/1 gains the
    expected hits under a random order of the tie), so the result does not
    depend on row order.
    """
    import torch

    k = discounts.numel()
    by_key = torch.argsort(key, descending=True, stable=True)
    order = by_key[torch.argsort(group[by_key], stable=True)]
    g, s, gain = group[order], key[order], gain[order]
    _, gidx, counts = torch.unique_consecutive(g, return_inverse=True, return_counts=True)
    pos = torch.arange(g.numel(), device=g.device) - (torch.cumsum(counts, 0) - counts)[gidx]
    table = torch.cat([discounts.to(device=g.device, dtype=torch.float64), torch.zeros(1, dtype=torch.float64, device=g.device)])
    discount = table[pos.clamp_max(k)]
    new_tie = torch.ones_like(g, dtype=torch.bool)
    new_tie[1:] = (g[1:] != g[:-1]) | (s[1:] != s[:-1])
    tie = torch.cumsum(new_tie, 0) - 1
    n_ties = int(tie[-1]) + 1 if tie.numel() else 0

    def per_tie(v: torch.Tensor) -> torch.Tensor:
        return torch.zeros(n_ties, dtype=torch.float64, device=g.device).index_add_(0, tie, v)

    mean_gain = per_tie(gain) / per_tie(torch.ones_like(gain))
    contribution = mean_gain * per_tie(discount)
    return torch.zeros(counts.numel(), dtype=torch.float64, device=g.device).index_add_(0, gidx[new_tie], contribution)


def _dcg(gain: torch.Tensor, group: torch.Tensor, key: torch.Tensor, k: int) -> torch.Tensor:
    """DCG@k per group (groups numbered in sorted order of their ids) of rows ranked by ``key`` descending, ties
    sharing their gains (:func:`ranked_gain`)."""
    return ranked_gain(gain, group, key, log_discounts(k, gain.device))


def ndcg(scores: torch.Tensor, rel: torch.Tensor, group: torch.Tensor, k: int) -> float:
    """Mean NDCG@k over groups with at least one relevant row (gain 2^rel − 1); NaN if none has one."""
    import torch

    gain = 2.0 ** rel.to(torch.float64) - 1.0
    dcg = _dcg(gain, group, scores.to(torch.float64), k)
    ideal = _dcg(gain, group, gain, k)
    has = ideal > 0
    if not bool(has.any()):
        return math.nan
    return float((dcg[has] / ideal[has]).mean())


def recall(scores: torch.Tensor, rel: torch.Tensor, group: torch.Tensor, k: int) -> float:
    """Mean recall@k over groups with a relevant row (label > 0): the share of a group's relevant rows among its k
    highest scores; NaN if no group has one.

    Rows tied across the cut share the places left in the top k: a tie of m rows, r
    of them relevant, with s places left counts r·s/m hits, the expected count under
    a random order of the tie. Each group counts once, whatever its size.
    """
    import torch

    hit = (rel > 0).to(torch.float64)
    top = ranked_gain(hit, group, scores.to(torch.float64), cut_discounts(k, hit.device))
    _, gidx = torch.unique(group, return_inverse=True)
    relevant = torch.zeros(top.numel(), dtype=torch.float64, device=hit.device).index_add_(0, gidx, hit)
    has = relevant > 0
    if not bool(has.any()):
        return math.nan
    return float((top[has] / relevant[has]).mean())


def group_aucs(scores: torch.Tensor, y: torch.Tensor, group: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per group (numbered in sorted order of their ids): its AUC ``[G]`` float64, NaN where it holds one class
    only, and its rows ``[G]`` float64. Tied scores in a group share their average rank."""
    import torch

    s = scores.to(torch.float64)
    by_score = torch.argsort(s, stable=True)
    order = by_score[torch.argsort(group[by_score], stable=True)]
    g, s, pos = group[order], s[order], (y[order] > 0.5).to(torch.float64)
    _, gidx, counts = torch.unique_consecutive(g, return_inverse=True, return_counts=True)
    n = g.numel()
    new = torch.ones(n, dtype=torch.bool, device=g.device)
    new[1:] = (g[1:] != g[:-1]) | (s[1:] != s[:-1])
    run = torch.cumsum(new, 0) - 1  # runs of equal (group, score), in sorted order
    run_start = torch.nonzero(new).squeeze(1)
    lo = run_start[run]
    hi = lo + torch.bincount(run)[run] - 1
    rank = (lo + hi).to(torch.float64) / 2 - (torch.cumsum(counts, 0) - counts)[gidx] + 1  # 1-based, within the group
    zeros = torch.zeros(counts.numel(), dtype=torch.float64, device=g.device)
    rank_sum = zeros.index_add(0, gidx, rank * pos)
    n_pos = zeros.index_add(0, gidx, pos)
    rows = counts.to(torch.float64)
    n_neg = rows - n_pos
    both = (n_pos > 0) & (n_neg > 0)
    pairs = torch.where(both, n_pos * n_neg, 1.0)
    return torch.where(both, (rank_sum - n_pos * (n_pos + 1) / 2) / pairs, math.nan), rows


def gauc(scores: torch.Tensor, y: torch.Tensor, group: torch.Tensor) -> float:
    """Group AUC: the AUC within each group, averaged weighted by the group's rows, groups with one class left out
    (as in the DIN paper, Zhou et al. 2018); NaN if no group holds both classes."""
    aucs, rows = group_aucs(scores, y, group)
    both = ~aucs.isnan()
    if not bool(both.any()):
        return math.nan
    return float((aucs[both] * rows[both]).sum() / rows[both].sum())
