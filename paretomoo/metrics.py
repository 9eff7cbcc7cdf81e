"""Metrics: one registry entry per metric, carrying everything the code knows about it.

An entry (:class:`Metric`) holds the metric's natural direction, the label kind
it reads, its data-independent floor (the front's reference value, see
``front.reference_point``), when it is defined on a split, whether it ranks
within groups, and its kernel. The spec reads directions and label kinds from
here, the data check reads ``needs``, the front reads ``floor``, the trainer
calls ``compute``: a new metric is one entry in :data:`METRICS`.

Kernels take 1-D tensors on any device and return a Python float. They are
exact and independent of row order: tied scores share their rank (AUC, as the
Mann-Whitney statistic), enter together (average precision, as
scikit-learn's ``average_precision_score``) or share their gain (NDCG, as
scikit-learn's ``ndcg_score`` with ``ignore_ties=False``). torch is imported
inside the kernels, so that reading a spec does not load it.

The sampling error of a metric on a split comes from a Poisson bootstrap over
its rows, without retraining: :func:`bootstrap_weights` draws ``[B, n]`` row
weights (per group for a grouped metric), the same for every trial of a study,
and :meth:`Metric.bootstrap` evaluates the entry's weighted kernel, the metric
of every replicate at once. With all weights 1 a weighted kernel is its plain
kernel; with integer weights, the plain kernel on the rows repeated that often.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from paretomoo._many import auc_many, logloss_many, ndcg_many, pr_auc_many, rmse_many
from paretomoo._weighted import (
    BOOTSTRAP,
    auc_weighted,
    bootstrap_metrics,
    bootstrap_weights,
    logloss_weighted,
    ndcg_weighted,
    pr_auc_weighted,
    rmse_weighted,
)

if TYPE_CHECKING:
    import torch

__all__ = ["BOOTSTRAP", "LOSSES", "METRICS", "Metric", "bootstrap_metrics", "bootstrap_weights", "get_metric", "metric_names", "reported"]

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
    groups of a task's ``group`` key; ``k`` is the cut-off of a metric written
    ``name@K``.

    ``weighted`` is the kernel :meth:`bootstrap` calls (None: the metric cannot be
    bootstrapped): the plain kernel's arguments plus ``weights[B, n]`` (after the
    labels) and a keyword ``memo``, giving ``[B]`` values; ``memo`` is a dict that the
    kernels called on the same inputs share (:func:`bootstrap_metrics`), to compute
    what they have in common once, or None.
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

    def compute(self, scores: torch.Tensor, y: torch.Tensor, group: torch.Tensor | None = None) -> float:
        """The metric of ``scores[n]`` against labels ``y[n]`` (``group[n]`` ids for a grouped metric)."""
        if self.grouped:
            if group is None:
                raise ValueError(f"metric {self.name!r} ranks within groups; pass group ids")
            return self.kernel(scores, y, group, self.k)
        return self.kernel(scores, y)

    def compute_many(
        self, scores: torch.Tensor, y: torch.Tensor, group: torch.Tensor | None = None, memo: dict[str, Any] | None = None
    ) -> torch.Tensor:
        """The metric of every row of ``scores[L, n]`` against the labels ``y[n]``: ``[L]`` float64, each equal to
        :meth:`compute` of that row (``paretomoo._many``). ``memo``: a dict shared by calls on the same scores."""
        if self.many is None:
            import torch

            return torch.tensor([self.compute(s, y, group) for s in scores], dtype=torch.float64)
        if self.grouped:
            if group is None:
                raise ValueError(f"metric {self.name!r} ranks within groups; pass group ids")
            return self.many(scores, y, group, self.k, memo=memo)
        return self.many(scores, y, memo=memo)

    def bootstrap(self, scores: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, group: torch.Tensor | None = None) -> torch.Tensor:
        """The metric under each of B row weightings: ``[B]`` float64, NaN where a replicate leaves it undefined.

        Args:
            scores: ``[n]`` as for :meth:`compute`.
            y: ``[n]`` labels.
            weights: ``[B, n]`` row weights ≥ 0, as :func:`bootstrap_weights` draws them (for
                a grouped metric drawn with ``groups=group``: constant within a group).
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
        if self.weighted is None:
            raise ValueError(f"metric {self.name!r} has no weighted kernel; give its registry entry one (Metric.weighted) to bootstrap it")
        n = scores.numel()
        if weights.dim() != 2 or weights.shape[1] != n or y.numel() != n:
            raise ValueError(
                f"weights must be [B, n] with n = {n} scores and labels, got weights {tuple(weights.shape)} and {y.numel()} labels"
            )
        if self.grouped:
            if group is None:
                raise ValueError(f"metric {self.name!r} ranks within groups; pass group ids")
            return self.weighted(scores, y, weights, group, self.k, memo=memo)
        return self.weighted(scores, y, weights, memo=memo)

    def reads(self, loss: str) -> bool:
        """Whether the metric can measure a task trained with ``loss``."""
        return self.labels == "any" or LOSSES.get(loss) == self.labels


# -- kernels ------------------------------------------------------------------------


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


def _dcg(gain: torch.Tensor, group: torch.Tensor, key: torch.Tensor, k: int) -> torch.Tensor:
    """DCG@k per group (groups numbered in sorted order of their ids) of rows ranked by ``key`` descending.

    Rows with equal ``key`` in a group share the mean of their gains over the
    positions they span (scikit-learn's tie-averaged DCG), so the result does
    not depend on row order.
    """
    import torch

    by_key = torch.argsort(key, descending=True, stable=True)
    order = by_key[torch.argsort(group[by_key], stable=True)]
    g, s, gain = group[order], key[order], gain[order]
    _, gidx, counts = torch.unique_consecutive(g, return_inverse=True, return_counts=True)
    pos = torch.arange(g.numel(), device=g.device) - (torch.cumsum(counts, 0) - counts)[gidx]
    discount = torch.where(pos < k, 1.0 / torch.log2(pos.to(torch.float64) + 2.0), torch.zeros((), dtype=torch.float64, device=g.device))
    new_tie = torch.ones_like(g, dtype=torch.bool)
    new_tie[1:] = (g[1:] != g[:-1]) | (s[1:] != s[:-1])
    tie = torch.cumsum(new_tie, 0) - 1
    n_ties = int(tie[-1]) + 1 if tie.numel() else 0

    def per_tie(v: torch.Tensor) -> torch.Tensor:
        return torch.zeros(n_ties, dtype=torch.float64, device=g.device).index_add_(0, tie, v)

    mean_gain = per_tie(gain) / per_tie(torch.ones_like(gain))
    contribution = mean_gain * per_tie(discount)
    return torch.zeros(counts.numel(), dtype=torch.float64, device=g.device).index_add_(0, gidx[new_tie], contribution)


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
        ),
    )
}
_AT_K = re.compile(r"^(?P<name>[a-z_]+)@(?P<k>[1-9][0-9]*)$")


def get_metric(name: str) -> Metric | None:
    """The registry entry for a metric name as written in a spec (``auc``, ``ndcg@10``), or None."""
    m = _AT_K.match(name)
    if m is None:
        entry = METRICS.get(name)
        return None if entry is None or entry.grouped else entry
    entry = METRICS.get(m["name"])
    if entry is None or not entry.grouped:
        return None
    return replace(entry, name=name, k=int(m["k"]))


def metric_names() -> list[str]:
    """The names a spec accepts, as users write them (``ndcg@K`` for a cut-off K)."""
    return [f"{m.name}@K" if m.grouped else m.name for m in METRICS.values()]


def reported(loss: str, grouped: Metric | None) -> list[Metric]:
    """Every metric stored for a task trained with ``loss``: the ungrouped ones its labels fit,
    plus its own grouped metric (``grouped``) if it has one."""
    out = [m for m in METRICS.values() if not m.grouped and m.reads(loss)]
    return out + ([grouped] if grouped is not None else [])
