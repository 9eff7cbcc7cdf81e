"""Task losses and metric kernels.

A task is a label, a loss, a metric and its direction (see ``spec.TaskSpec``).
Kernels take 1-D tensors on any device and return a Python float; they are
exact (ties in scores are averaged, as in the Mann-Whitney statistic and
scikit-learn's average precision) and run without per-row Python.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from paretomoo.spec import TaskSpec


def task_loss(task: TaskSpec, pred: torch.Tensor, y: torch.Tensor, pos_weight: torch.Tensor | None) -> torch.Tensor:
    """Mean loss over the last axis: ``pred[..., B]``, ``y[B]`` → ``[...]``.

    With a ``where`` filter, ``y`` is NaN on excluded rows: the mean is over the others.
    """
    keep = None if task.where is None else ~torch.isnan(y)
    if keep is not None:
        y = torch.where(keep, y, torch.zeros_like(y))
    target = y.expand_as(pred)
    if task.loss == "bce":
        per = F.binary_cross_entropy_with_logits(pred, target, pos_weight=pos_weight, reduction="none")
    else:
        per = (pred - target) ** 2
    if keep is None:
        return per.mean(dim=-1)
    return (per * keep).sum(dim=-1) / keep.sum().clamp(min=1)


def all_metrics(task: TaskSpec, scores: torch.Tensor, y: torch.Tensor, group: torch.Tensor | None) -> dict[str, float]:
    """Every metric that fits the task, its primary metric included.

    Binary tasks report auc, pr_auc and logloss; graded tasks report rmse and,
    with a group key, their ndcg@K. Rows that the task's ``where`` filter excludes
    (NaN labels) are left out.
    """
    if task.where is not None:
        keep = ~torch.isnan(y)
        scores, y = scores[keep], y[keep]
        group = None if group is None else group[keep]
    if task.loss == "bce":
        out = {"auc": auc(scores, y), "pr_auc": pr_auc(scores, y), "logloss": logloss(scores, y)}
    else:
        out = {"rmse": rmse(scores, y)}
    if group is not None:
        k = int(task.metric.split("@")[1])
        out[task.metric] = ndcg_at_k(scores, y, group, k)
    return out


def _average_ranks(s: torch.Tensor) -> torch.Tensor:
    """1-based ranks of ``s`` with ties sharing their average rank."""
    sorted_s, order = torch.sort(s)
    _, inverse, counts = torch.unique_consecutive(sorted_s, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).to(torch.float64)
    avg = ends - (counts.to(torch.float64) - 1) / 2
    ranks = torch.empty_like(avg[inverse])
    ranks[order] = avg[inverse]
    return ranks


def auc(scores: torch.Tensor, y: torch.Tensor) -> float:
    """Area under the ROC curve; NaN when only one class is present."""
    pos = y > 0.5
    n_pos = int(pos.sum())
    n_neg = y.numel() - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = _average_ranks(scores.to(torch.float64))
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pr_auc(scores: torch.Tensor, y: torch.Tensor) -> float:
    """Average precision (area under the precision-recall curve, step-wise).

    Thresholds are the distinct scores, so tied rows enter together, as in
    scikit-learn's ``average_precision_score``. Chance level is the positive rate.
    """
    pos = (y > 0.5).to(torch.float64)
    n_pos = float(pos.sum())
    if n_pos == 0:
        return math.nan
    s, order = torch.sort(scores.to(torch.float64), descending=True)
    tp = torch.cumsum(pos[order], 0)
    fp = torch.cumsum(1 - pos[order], 0)
    # keep the last index of each run of equal scores
    last = torch.ones_like(s, dtype=torch.bool)
    last[:-1] = s[1:] != s[:-1]
    tp, fp = tp[last], fp[last]
    precision = tp / (tp + fp)
    recall = tp / n_pos
    prev = torch.cat([recall.new_zeros(1), recall[:-1]])
    return float(((recall - prev) * precision).sum())


def logloss(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float(F.binary_cross_entropy_with_logits(logits.to(torch.float64), y.to(torch.float64)))


def rmse(pred: torch.Tensor, y: torch.Tensor) -> float:
    return float(torch.sqrt(((pred.to(torch.float64) - y.to(torch.float64)) ** 2).mean()))


def _within_group_positions(group: torch.Tensor, key: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Order rows by group, then by ``key`` descending (stable).

    Returns (order, position of each ordered row within its group, group index of
    each ordered row).
    """
    by_key = torch.argsort(key, descending=True, stable=True)
    by_group = torch.argsort(group[by_key], stable=True)
    order = by_key[by_group]
    g = group[order]
    _, inverse, counts = torch.unique_consecutive(g, return_inverse=True, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    pos = torch.arange(g.numel(), device=g.device) - starts[inverse]
    return order, pos, inverse


def _dcg(rel: torch.Tensor, group: torch.Tensor, key: torch.Tensor, k: int) -> tuple[torch.Tensor, int]:
    order, pos, gidx = _within_group_positions(group, key)
    gain = (2.0 ** rel[order].to(torch.float64) - 1.0) / torch.log2(pos.to(torch.float64) + 2.0)
    gain = torch.where(pos < k, gain, torch.zeros_like(gain))
    n_groups = int(gidx.max()) + 1 if gidx.numel() else 0
    return torch.zeros(n_groups, dtype=torch.float64, device=rel.device).index_add_(0, gidx, gain), n_groups


def ndcg_at_k(scores: torch.Tensor, rel: torch.Tensor, group: torch.Tensor, k: int) -> float:
    """Mean NDCG@k over groups with at least one relevant row (gain 2^rel − 1)."""
    dcg, _ = _dcg(rel, group, scores.to(torch.float64), k)
    ideal, _ = _dcg(rel, group, rel.to(torch.float64), k)
    has = ideal > 0
    if not bool(has.any()):
        return math.nan
    return float((dcg[has] / ideal[has]).mean())
