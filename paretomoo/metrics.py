"""Metrics: one registry entry per metric, carrying everything the code knows about it.

An entry (:class:`Metric`) holds the metric's natural direction, the label kind
it reads, its data-independent floor (the front's reference value, see
``front.reference_point``), when it is defined on a split, whether it ranks
within groups, and its kernel. The spec reads directions and label kinds from
here, the data check reads ``needs``, the front reads ``floor``, the trainer
calls ``compute``: a new metric is one entry in :data:`METRICS`. A metric from
the user's own code becomes an entry through :func:`user_metric`.

Kernels (``paretomoo._kernels``) take 1-D tensors on any device and return a
Python float, exact and independent of row order (ties included).

The sampling error of a metric on a split comes from a Poisson bootstrap over
its rows, without retraining: :func:`bootstrap_weights` draws ``[B, n]`` row
weights (per group for a grouped metric), the same for every trial of a study,
and :meth:`Metric.bootstrap` evaluates the entry's weighted kernel, the metric
of every replicate at once. With all weights 1 a weighted kernel is its plain
kernel; with integer weights, the plain kernel on the rows repeated that often,
which is how an entry without a weighted kernel (a user's metric) is bootstrapped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from paretomoo._kernels import auc, gauc, logloss, ndcg, pr_auc, recall, rmse
from paretomoo._many import auc_many, gauc_many, logloss_many, ndcg_many, pr_auc_many, recall_many, rmse_many
from paretomoo._resample import BOOTSTRAP, bootstrap_weights
from paretomoo._weighted import (
    auc_weighted,
    gauc_weighted,
    logloss_weighted,
    ndcg_weighted,
    pr_auc_weighted,
    recall_weighted,
    rmse_weighted,
)

if TYPE_CHECKING:
    import torch

__all__ = [
    "BOOTSTRAP",
    "LOSSES",
    "METRICS",
    "Metric",
    "auc",
    "bootstrap_metrics",
    "bootstrap_weights",
    "gauc",
    "get_metric",
    "logloss",
    "metric_names",
    "ndcg",
    "pr_auc",
    "recall",
    "reported",
    "rmse",
    "user_metric",
]

# The label kind each loss trains on: "binary" labels are 0/1, "real" labels any number.
LOSSES = {"bce": "binary", "mse": "real"}

# What a metric needs of a split to be defined.
NEEDS_ROWS = "rows"
NEEDS_POSITIVE = "a positive"  # a label > 0 (a positive class, a relevant row)
NEEDS_BOTH = "both classes"


@dataclass(frozen=True)
class Metric:
    """What the code knows about one metric.

    ``labels`` is the label kind the metric reads (``"binary"``, ``"real"`` or
    ``"any"``); ``floor`` is its value at chance where that does not depend on
    the data (AUC 0.5), else ``None``; ``grouped`` metrics rank rows within the
    groups of a task's ``group`` key; ``at_k`` metrics are written ``name@K``
    (``ndcg@10``) and ``k`` is that cut-off. The kernels take ``(scores, y)``, then
    for a grouped metric ``group``, then for an ``at_k`` one ``k``.

    ``weighted`` is the kernel :meth:`bootstrap` calls: the plain kernel's arguments
    plus ``weights[B, n]`` (after the labels) and a keyword ``memo``, giving ``[B]``
    values; ``memo`` is a dict that the kernels called on the same inputs share
    (:func:`bootstrap_metrics`), to compute what they have in common once, or None.
    Without one (None), :meth:`bootstrap` evaluates the plain kernel on the rows
    repeated by their (integer) weights, one replicate at a time. ``many`` is the
    kernel :meth:`compute_many` calls (``scores[L, n]``); without one, a loop.
    """

    name: str
    direction: str
    labels: str
    floor: float | None
    needs: str
    kernel: Callable[..., float]
    grouped: bool = False
    k: int | None = None
    help: str = ""
    weighted: Callable[..., torch.Tensor] | None = None
    many: Callable[..., torch.Tensor] | None = None
    at_k: bool = False

    def _by_group(self, group: torch.Tensor | None) -> tuple[Any, ...]:
        """The kernels' arguments after the labels (and weights): ``(group, k)``, ``(group,)`` or ``()``."""
        if not self.grouped:
            return ()
        if group is None:
            raise ValueError(f"metric {self.name!r} ranks within groups; pass group ids")
        return (group, self.k) if self.at_k else (group,)

    def compute(self, scores: torch.Tensor, y: torch.Tensor, group: torch.Tensor | None = None) -> float:
        """The metric of ``scores[n]`` against labels ``y[n]`` (``group[n]`` ids for a grouped metric)."""
        return self.kernel(scores, y, *self._by_group(group))

    def compute_many(
        self, scores: torch.Tensor, y: torch.Tensor, group: torch.Tensor | None = None, memo: dict[str, Any] | None = None
    ) -> torch.Tensor:
        """The metric of every row of ``scores[L, n]`` against the labels ``y[n]``: ``[L]`` float64, each equal to
        :meth:`compute` of that row (``paretomoo._many``). ``memo``: a dict shared by calls on the same scores."""
        args = self._by_group(group)
        if self.many is None:
            import torch

            return torch.tensor([self.kernel(s, y, *args) for s in scores], dtype=torch.float64)
        return self.many(scores, y, *args, memo=memo)

    def bootstrap(self, scores: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, group: torch.Tensor | None = None) -> torch.Tensor:
        """The metric under each of B row weightings: ``[B]`` float64, NaN where a replicate leaves it undefined.

        Args:
            scores: ``[n]`` as for :meth:`compute`.
            y: ``[n]`` labels.
            weights: ``[B, n]`` row weights ≥ 0, as :func:`bootstrap_weights` draws them (for
                a grouped metric drawn with ``groups=group``: constant within a group). A
                metric without a weighted kernel needs integer weights.
            group: ``[n]`` group ids, for a grouped metric.

        Several metrics of the same scores are quicker through :func:`bootstrap_metrics`.

        Example::

            w = bootstrap_weights(len(y), groups=query)
            se = get_metric("ndcg@10").bootstrap(scores, y, w, query).std()
        """
        return self._bootstrap(scores, y, weights, group, None)

    def _bootstrap(
        self, scores: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, group: torch.Tensor | None, memo: dict[str, Any] | None
    ) -> torch.Tensor:
        n = scores.numel()
        if weights.dim() != 2 or weights.shape[1] != n or y.numel() != n:
            raise ValueError(
                f"weights must be [B, n] with n = {n} scores and labels, got weights {tuple(weights.shape)} and {y.numel()} labels"
            )
        args = self._by_group(group)
        if self.weighted is None:
            return _repeated(self, scores, y, weights, group)
        return self.weighted(scores, y, weights, *args, memo=memo)

    def reads(self, loss: str) -> bool:
        """Whether the metric can measure a task trained with ``loss``."""
        return self.labels == "any" or LOSSES.get(loss) == self.labels


def bootstrap_metrics(
    metrics: Sequence[Metric], scores: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, group: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """:meth:`Metric.bootstrap` of several metrics of the same scores, sharing their common work.

    AUC and average precision read the weights once between them. Returns
    ``{metric name: [B] float64}``.

    Example::

        w = bootstrap_weights(len(y))  # once per split, the same for every trial
        reps = bootstrap_metrics(reported("bce", None), scores, y, w)
        lo, hi = reps["auc"].nanquantile(torch.tensor([0.05, 0.95], dtype=torch.float64))
    """
    memo: dict[str, Any] = {}
    return {m.name: m._bootstrap(scores, y, weights, group, memo) for m in metrics}


def _repeated(metric: Metric, scores: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, group: torch.Tensor | None) -> torch.Tensor:
    """:meth:`Metric.bootstrap` of a metric without a weighted kernel: its plain kernel on each replicate's rows,
    row i repeated ``weights[b, i]`` times: ``[B]`` float64, NaN for a replicate without rows.

    A grouped metric's weights must be constant within a group (a resampled group
    keeps its rows); the c copies of a group become c distinct groups, as a
    resample drawing the query c times holds c queries.
    """
    import torch

    counts = weights.round()
    if not torch.equal(counts, weights) or bool((weights < 0).any()):
        raise ValueError(
            f"metric {metric.name!r} has no weighted kernel: it is bootstrapped on rows repeated by their weights, which must be integers >= 0; draw them with bootstrap_weights"
        )
    counts = counts.to(device=scores.device, dtype=torch.long)
    gidx = None
    if metric.grouped:
        if group is None:
            raise ValueError(f"metric {metric.name!r} ranks within groups; pass group ids")
        _, gidx = torch.unique(group, return_inverse=True)
        some_row = torch.zeros(int(gidx.max()) + 1 if gidx.numel() else 0, dtype=torch.long, device=gidx.device)
        some_row.scatter_(0, gidx, torch.arange(gidx.numel(), device=gidx.device))  # one row of each group
        if not torch.equal(counts, counts[:, some_row[gidx]]):
            raise ValueError(
                f"{metric.name}'s weights must be constant within a group (a resampled group keeps its rows); draw them with bootstrap_weights(n, groups=group)"
            )
    rows = torch.arange(scores.numel(), device=scores.device)
    out = torch.full((weights.shape[0],), math.nan, dtype=torch.float64)
    for b, c in enumerate(counts):
        idx = torch.repeat_interleave(rows, c)
        if idx.numel() == 0:
            continue
        copies = None
        if gidx is not None:
            copy = torch.arange(idx.numel(), device=idx.device) - torch.repeat_interleave(torch.cumsum(c, 0) - c, c)  # j-th copy of its row
            copies = gidx[idx] * int(c.max()) + copy
        out[b] = metric.compute(scores[idx], y[idx], copies)
    return out.to(weights.device)


def _user_value(target: str, value: Any) -> float:
    """A user metric's return value as a float: a finite number, or NaN (undefined); else a one-line error."""
    shape = getattr(value, "shape", None)
    what = f"{type(value).__name__}" + (f" of shape {tuple(shape)}" if shape is not None else f" {value!r}"[:60])
    if isinstance(value, str | bytes):
        raise ValueError(f"metric {target}: returned {what}, not a number; return one float (NaN where the metric is undefined)")
    try:
        v = float(value)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"metric {target}: returned {what}, not a number; return one float (NaN where the metric is undefined)") from None
    if math.isinf(v):
        raise ValueError(f"metric {target}: returned {v}; return a finite float (NaN where the metric is undefined)")
    return v


def user_metric(target: str, direction: str, fn: Callable[..., Any], grouped: bool) -> Metric:
    """A registry entry for a metric from the user's own code.

    Args:
        target: the function's import path (``"package.module:name"``), as the spec writes it; the entry's name.
        direction: ``"maximize"`` or ``"minimize"`` (the user's to say: nothing here knows it).
        fn: the imported function, called as ``fn(scores, labels)`` (plus ``groups=group`` when ``grouped``) with
            1-D tensors ``[n]`` on the trainer's device, detached, the rows of one split; returns one number
            (a float, a 0-d tensor or numpy scalar), NaN where the metric is undefined.
        grouped: whether the task has a ``group`` key, passed on as ``groups=``.

    Returns:
        A :class:`Metric` reading any label kind, without a floor (the front's reference comes from the
        finished values), defined wherever the split has rows. It is bootstrapped on repeated rows
        (B calls of ``fn``) and measured at many score vectors by a loop. A return value that is not a
        finite number or NaN raises ValueError naming the function.

    Example::

        m = user_metric("shop.metrics:top_revenue", "maximize", top_revenue, grouped=True)
        m.compute(scores, y, query)
    """
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"metric {target}: direction must be 'maximize' or 'minimize', got {direction!r}")
    if not callable(fn):
        raise ValueError(f"metric {target}: {type(fn).__name__} is not a function; point it at a function name(scores, labels)")

    def kernel(scores: torch.Tensor, y: torch.Tensor, group: torch.Tensor | None = None) -> float:
        if grouped:
            return _user_value(target, fn(scores.detach(), y.detach(), groups=None if group is None else group.detach()))
        return _user_value(target, fn(scores.detach(), y.detach()))

    return Metric(target, direction, "any", None, NEEDS_ROWS, kernel, grouped=grouped, help=f"{target} (the user's metric)")


# -- the registry ---------------------------------------------------------------------

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("auc", "maximize", "binary", 0.5, NEEDS_BOTH, auc, help="area under the ROC curve", weighted=auc_weighted, many=auc_many),
        Metric(
            "pr_auc",
            "maximize",
            "binary",
            0.0,
            NEEDS_POSITIVE,
            pr_auc,
            help="average precision; chance is the positive rate",
            weighted=pr_auc_weighted,
            many=pr_auc_many,
        ),
        Metric(
            "logloss",
            "minimize",
            "binary",
            None,
            NEEDS_ROWS,
            logloss,
            help="binary cross-entropy",
            weighted=logloss_weighted,
            many=logloss_many,
        ),
        Metric(
            "rmse",
            "minimize",
            "real",
            None,
            NEEDS_ROWS,
            rmse,
            help="root mean squared error, in the label's units",
            weighted=rmse_weighted,
            many=rmse_many,
        ),
        Metric(
            "ndcg",
            "maximize",
            "any",
            0.0,
            NEEDS_POSITIVE,
            ndcg,
            grouped=True,
            help="NDCG@K within each group (ndcg@10)",
            weighted=ndcg_weighted,
            many=ndcg_many,
            at_k=True,
        ),
        Metric(
            "gauc",
            "maximize",
            "binary",
            0.5,
            NEEDS_BOTH,
            gauc,
            grouped=True,
            help="AUC within each group, weighted by its rows; groups with one class left out",
            weighted=gauc_weighted,
            many=gauc_many,
        ),
        # floor 0, as NDCG's: chance, about K / (a group's rows), depends on the data
        Metric(
            "recall",
            "maximize",
            "any",
            0.0,
            NEEDS_POSITIVE,
            recall,
            grouped=True,
            help="share of a group's relevant rows in its top K, mean over groups (recall@20)",
            weighted=recall_weighted,
            many=recall_many,
            at_k=True,
        ),
    )
}
_AT_K = re.compile(r"^(?P<name>[a-z_]+)@(?P<k>[1-9][0-9]*)$")


def get_metric(name: str) -> Metric | None:
    """The registry entry for a metric name as written in a spec (``auc``, ``gauc``, ``ndcg@10``), or None."""
    m = _AT_K.match(name)
    if m is None:
        entry = METRICS.get(name)
        return None if entry is None or entry.at_k else entry
    entry = METRICS.get(m["name"])
    if entry is None or not entry.at_k:
        return None
    return replace(entry, name=name, k=int(m["k"]))


def metric_names() -> list[str]:
    """The names a spec accepts, as users write them (``ndcg@K`` for a cut-off K)."""
    return [f"{m.name}@K" if m.at_k else m.name for m in METRICS.values()]


def reported(loss: str, grouped: Metric | None) -> list[Metric]:
    """Every metric stored for a task trained with ``loss``: the ungrouped ones its labels fit,
    plus its own grouped metric (``grouped``) if it has one."""
    out = [m for m in METRICS.values() if not m.grouped and m.reads(loss)]
    return out + ([grouped] if grouped is not None else [])
