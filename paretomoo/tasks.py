"""Task losses, and every metric of a task.

A task is a label, a loss, a metric and its direction (see ``spec.TaskSpec``);
what a metric is lives in ``paretomoo.metrics``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import torch
import torch.nn.functional as F

from paretomoo._imports import is_target, load_target
from paretomoo.errors import UserError
from paretomoo.metrics import Metric, _user_value, bootstrap_metrics, get_metric, reported, user_metric
from paretomoo.spec import TaskSpec

# A probability is clipped to [EPS, 1 − EPS] before it becomes a logit: float32 keeps log-odds of ±16.1 apart from
# exactly 0 and 1, so a saturated sigmoid output still has a finite loss.
EPS = 1e-7


def logits(task: TaskSpec, scores: torch.Tensor) -> torch.Tensor:
    """A task's scores as the built-in losses and metrics read them: logits for binary tasks (a model whose output
    is a probability, ``output = "probability"``, converted here, the one place), values otherwise."""
    if task.kind == "probability":
        return torch.logit(scores.clamp(EPS, 1 - EPS))
    return scores


@cache
def user_function(target: str, base: str, what: str) -> Callable[..., Any]:
    """A loss or metric from the user's code, imported once per process."""
    fn = load_target(target, base, what)
    if not callable(fn):
        raise UserError(f"{what}: {target!r} is not a function; point it at a function (scores, labels)")
    return fn


def primary_metric(task: TaskSpec) -> Metric:
    """The registry entry of a task's metric, or the entry of the user's own metric (``metric = "my_metrics:name"``)."""
    if is_target(task.metric):
        fn = user_function(task.metric, task.base, f"tasks.{task.name}.metric")
        return user_metric(task.metric, task.direction, _checked(task, fn), grouped=task.group is not None)
    m = get_metric(task.metric)
    assert m is not None, task.metric  # the spec checked it
    return m


def _checked(task: TaskSpec, fn: Callable[..., Any]) -> Callable[..., float]:
    """The user's metric function, what goes wrong in it a one-line ``UserError`` naming the task: an exception it
    raises, or a value that is not one number (``metrics.user_metric``'s rule)."""
    where = f"tasks.{task.name}.metric {task.metric!r}"

    def metric(*args: Any, **kwargs: Any) -> float:
        try:
            value = fn(*args, **kwargs)
        except UserError:
            raise
        except Exception as exc:
            first = (str(exc).strip().splitlines() or ["(no message)"])[0]
            raise UserError(f"{where} raised {type(exc).__name__}: {first}") from None
        try:
            return _user_value(task.metric, value)
        except ValueError as exc:
            raise UserError(f"tasks.{task.name}.{exc}") from None

    return metric


def task_loss(
    task: TaskSpec,
    pred: torch.Tensor,
    y: torch.Tensor,
    pos_weight: torch.Tensor | None = None,
    scale: float | None = None,
    masked: bool | None = None,
) -> torch.Tensor:
    """Mean loss over the last axis: ``pred[..., B]`` (the model's own output), ``y[B]`` (or ``y[K, B]``, one batch
    per member) → ``[...]``.

    ``scale`` (``mse`` only) divides the error: with the training labels' sd it
    makes the loss that of standardised labels, so a label in milliseconds
    weighs like one in units (see ``ModelShape.label_scale``). ``masked``: ``y``
    may be NaN on rows the task is not measured on (a ``where`` filter, or NaN
    labels from a user loader); the mean is over the others (default: whether
    the task has a ``where`` filter). A user's loss (``loss = "my_losses:focal"``)
    is called as ``focal(scores, labels)`` on each member's rows and returns one
    loss per row.
    """
    masked = task.where is not None if masked is None else masked
    keep = ~torch.isnan(y) if masked else None
    if keep is not None:
        y = torch.where(keep, y, torch.zeros_like(y))
    target = y.expand_as(pred)
    if is_target(task.loss):
        per = _user_loss(task, pred, target)
    elif task.loss == "bce":
        per = F.binary_cross_entropy_with_logits(logits(task, pred), target, pos_weight=pos_weight, reduction="none")
    else:
        err = pred - target
        per = (err / scale) ** 2 if scale is not None and scale != 1.0 else err**2
    if keep is None:
        return per.mean(dim=-1)
    return (per * keep).sum(dim=-1) / keep.sum(dim=-1).clamp(min=1)


def _user_loss(task: TaskSpec, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The user's per-row loss of every member: ``pred``, ``target`` ``[..., B]`` → ``[..., B]``."""
    fn = user_function(task.loss, task.base, f"tasks.{task.name}.loss")
    flat_p, flat_y = pred.reshape(-1, pred.shape[-1]), target.reshape(-1, target.shape[-1])
    rows = []
    for p, yy in zip(flat_p, flat_y, strict=True):
        out = fn(p, yy)
        if not isinstance(out, torch.Tensor) or out.shape != p.shape:
            got = (f"shape {tuple(out.shape)}" if out.dim() else "a scalar") if isinstance(out, torch.Tensor) else type(out).__name__
            raise UserError(
                f"tasks.{task.name}.loss {task.loss!r} returned {got} for {p.shape[0]} rows; return one loss per row "
                "(reduction='none'), paretomoo applies λ and the masks"
            )
        rows.append(out)
    return torch.stack(rows).view(pred.shape)


def _scope(
    task: TaskSpec, scores: torch.Tensor, y: torch.Tensor, group: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, list[Metric]]:
    """The rows a task's metrics read (a ``where`` filter or a NaN label leaves a row out: ``scores[..., n]``), their
    labels and groups, and the metrics it reports: the ungrouped ones its labels fit, and its grouped metric if it
    has a group key; a user metric alone (with the primary metric's scores as the model gives them)."""
    keep = ~torch.isnan(y)
    if task.where is not None or not bool(keep.all()):
        scores, y, group = scores[..., keep], y[keep], None if group is None else group[keep]
    if is_target(task.metric):
        return scores, y, group, [primary_metric(task)]
    primary = get_metric(task.metric)
    assert primary is not None, task.metric  # the spec checked it
    if is_target(task.loss):  # the user's loss says nothing of the label kind: its primary metric alone
        return logits(task, scores), y, group, [primary]
    grouped = primary if primary.grouped and group is not None else None
    return logits(task, scores), y, group, reported(task.loss, grouped)


def all_metrics(task: TaskSpec, scores: torch.Tensor, y: torch.Tensor, group: torch.Tensor | None) -> dict[str, float]:
    """Every metric that fits the task, its primary metric included.

    Binary tasks report auc, pr_auc and logloss; real-valued tasks rmse; a task
    with a group key also its ranking metric (e.g. ndcg@10). Rows that the task's
    ``where`` filter excludes (NaN labels) are left out.
    """
    scores, y, group, metrics = _scope(task, scores, y, group)
    return {m.name: m.compute(scores, y, group) for m in metrics}


def metrics_many(
    task: TaskSpec, scores: torch.Tensor, y: torch.Tensor, group: torch.Tensor | None, primary_only: bool = False
) -> list[dict[str, float]]:
    """``all_metrics`` of every row of ``scores[L, n]`` (L models' scores of one split's rows), one sort per row and
    metric family (``paretomoo._many``) instead of one call per model; the task's own metric alone with
    ``primary_only`` (what screening many λ reads)."""
    scores, y, group, metrics = _scope(task, scores, y, group)
    if primary_only:
        metrics = [m for m in metrics if m.name == task.metric] or metrics[:1]
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
    keep = ~torch.isnan(y)
    scores, y, group, metrics = _scope(task, scores, y, group)
    if scores.shape[-1] != weights.shape[-1]:
        weights = weights.T[keep].T  # the layout the kernels read (w.T contiguous)
    return bootstrap_metrics(metrics, scores, y, weights, group)
