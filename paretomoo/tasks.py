"""Task losses, and every metric of a task.

A task is a label, a loss, a metric and its direction (see ``spec.TaskSpec``);
what a metric is lives in ``paretomoo.metrics``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from paretomoo.metrics import Metric, bootstrap_metrics, get_metric, reported
from paretomoo.spec import TaskSpec


def task_loss(
    task: TaskSpec, pred: torch.Tensor, y: torch.Tensor, pos_weight: torch.Tensor | None = None, scale: float | None = None
) -> torch.Tensor:
    """Mean loss over the last axis: ``pred[..., B]``, ``y[B]`` (or ``y[K, B]``, one batch per member) → ``[...]``.

    ``scale`` (``mse`` only) divides the error: with the training labels' sd it
    makes the loss that of standardised labels, so a label in milliseconds
    weighs like one in units (see ``ModelShape.label_scale``). With a ``where``
    filter, ``y`` is NaN on excluded rows: the mean is over the others.
    """
    keep = None if task.where is None else ~torch.isnan(y)
    if keep is not None:
        y = torch.where(keep, y, torch.zeros_like(y))
    target = y.expand_as(pred)
    if task.loss == "bce":
        per = F.binary_cross_entropy_with_logits(pred, target, pos_weight=pos_weight, reduction="none")
    else:
        err = pred - target
        per = (err / scale) ** 2 if scale is not None and scale != 1.0 else err**2
    if keep is None:
        return per.mean(dim=-1)
    return (per * keep).sum(dim=-1) / keep.sum(dim=-1).clamp(min=1)


def _scope(
    task: TaskSpec, y: torch.Tensor, group: torch.Tensor | None
) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor | None, list[Metric]]:
    """The rows a task's metrics read (``keep``: None for all, else where its ``where`` filter left a label), their
    labels and groups, and the metrics it reports: the ungrouped ones its labels fit, and its grouped metric if it
    has a group key."""
    keep = None if task.where is None else ~torch.isnan(y)
    if keep is not None:
        y, group = y[keep], None if group is None else group[keep]
    primary = get_metric(task.metric)
    grouped = primary if primary is not None and primary.grouped and group is not None else None
    return keep, y, group, reported(task.loss, grouped)


def all_metrics(task: TaskSpec, scores: torch.Tensor, y: torch.Tensor, group: torch.Tensor | None) -> dict[str, float]:
    """Every metric that fits the task, its primary metric included.

    Binary tasks report auc, pr_auc and logloss; real-valued tasks rmse; a task
    with a group key also its ranking metric (e.g. ndcg@10). Rows that the task's
    ``where`` filter excludes (NaN labels) are left out.
    """
    keep, y, group, metrics = _scope(task, y, group)
    scores = scores if keep is None else scores[keep]
    return {m.name: m.compute(scores, y, group) for m in metrics}


def metrics_many(task: TaskSpec, scores: torch.Tensor, y: torch.Tensor, group: torch.Tensor | None) -> list[dict[str, float]]:
    """``all_metrics`` of every row of ``scores[L, n]`` (L models' scores of one split's rows), one sort per row and
    metric family (``paretomoo._many``) instead of one call per model."""
    keep, y, group, metrics = _scope(task, y, group)
    scores = scores if keep is None else scores[:, keep]
    memo: dict[str, object] = {}
    values = {m.name: m.compute_many(scores, y, group, memo).tolist() for m in metrics}
    return [{name: v[i] for name, v in values.items()} for i in range(scores.shape[0])]


def metric_replicates(
    task: TaskSpec, scores: torch.Tensor, y: torch.Tensor, group: torch.Tensor | None, weights: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Every metric ``all_metrics`` reports, under each of B bootstrap weightings of the rows: ``{metric: [B]}``.

    ``weights[B, n]`` come from ``metrics.bootstrap_weights`` (constant within a group
    for a task with a group key); rows the task's ``where`` filter excludes are left
    out, the others keep their weights, so every trial is resampled alike.
    """
    keep, y, group, metrics = _scope(task, y, group)
    if keep is not None:
        scores, weights = scores[keep], weights.T[keep].T  # the layout the kernels read (w.T contiguous)
    return bootstrap_metrics(metrics, scores, y, weights, group)
