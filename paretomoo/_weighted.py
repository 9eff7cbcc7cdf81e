"""Weighted metric kernels: every metric under B row weightings at once, for the bootstrap over rows.

``paretomoo._resample.bootstrap_weights`` draws the weights (the same for every
trial of a study, so comparisons are paired), each metric's weighted kernel
evaluates it under all of them, and ``paretomoo.metrics.bootstrap_metrics`` shares
the work of several metrics of the same scores. ``paretomoo.metrics`` registers each
kernel with its metric; torch is imported inside the functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from paretomoo._kernels import cut_discounts, group_aucs, log_discounts

if TYPE_CHECKING:
    import torch


# -- weighted kernels: the metric under B row weightings at once ---------------------
#
# Each takes its plain kernel's arguments plus ``weights[B, n]`` and returns ``[B]``
# float64, NaN where a replicate leaves the metric undefined (no positive weight, no
# negative weight for AUC, no weight at all). With all weights 1 each equals its plain
# kernel; with integer weights, the plain kernel on the rows repeated that often.
#
# Sums over rows run in the weights' dtype, everything after them in float64: the
# bootstrap's weights are small integers in float32, so sums of weights (the counts in
# AUC, average precision and NDCG) are exact, and the weighted sums of real values
# (logloss, rmse) carry float32 rounding: a few 1e-7 of the value on the demo, 1e-5 of
# their bootstrap spread. Float64 weights make every kernel float64 throughout, at twice
# the memory traffic, which is most of the cost: each call reads the weights once (the
# rank metrics of one scores vector share that read through ``memo``); the rest works on
# n-vectors, on [B, distinct scores of the positives] or on [B, groups].


def _argsort(x: torch.Tensor) -> torch.Tensor:
    """Indices that sort a 1-D tensor ascending, ties in any order.

    On the CPU through numpy, whose vectorised quicksort is about 5× torch's sort there;
    sorts are most of a weighted kernel's time outside its pass over the weights.
    """
    import torch

    if x.device.type == "cpu":
        import numpy as np

        return torch.from_numpy(np.argsort(x.detach().numpy(), kind="quicksort"))
    return torch.argsort(x)


def _rows(weights: torch.Tensor) -> torch.Tensor:
    """``weights[B, n]`` as a contiguous ``[n, B]``: each row's B weights side by side, as sums over rows read them.

    Free for weights from :func:`bootstrap_weights` (stored that way), a copy for others.
    """
    w = weights.T
    return w if w.is_contiguous() else w.contiguous()


def _remember(memo: dict[str, Any] | None, key: str, compute: Callable[[], Any]) -> Any:
    """``compute()``, once per memo: what the kernels called on the same inputs share."""
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def _weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``[B]`` float64: Σ_i w_bi v_i / Σ_i w_bi for ``values[n]`` and ``weights[B, n]``, in one read of the weights."""
    import torch

    w = _rows(weights)
    sums = torch.stack([values.to(w.dtype), torch.ones_like(values, dtype=w.dtype)]) @ w
    return sums[0].to(torch.float64) / sums[1].to(torch.float64)


# Float64 values per block of replicates once the pass over the rows is done (512 kB):
# AUC, average precision and NDCG go on block by block, so that a block's temporaries
# stay in cache and allocations this small are reused rather than fresh pages (which
# cost more than the arithmetic: some 3000 page faults a call without blocks).
_BLOCK = 1 << 16


def _rank_stats(scores: torch.Tensor, y: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """AUC and average precision under each row weighting, ``[B]`` float64 each; None without a positive row.

    Both follow from each class's weight around the m distinct scores of the positives,
    ``u[0] > … > u[m-1]``: one pass over the rows adds each row's weights to one of
    2m + 1 buckets (a positive at u[d] to d, a negative above u[d] and below u[d-1] to
    m + d, one below all to 2m), and a cumulative sum over the negatives' buckets gives
    the negative weight above each u[d]. When a negative ties a positive, the
    negatives' buckets interleave with the ties' (3m + 1 in all: above u[d] to m + 2d,
    at u[d] to m + 2d + 1), so that the same sum gives the weight above u[d] and the
    weight at or above it. The rest runs on a few replicates at a time (``_BLOCK``).
    """
    import torch

    is_pos = y > 0.5
    if not bool(is_pos.any()):
        return None
    n = scores.numel()
    scores = scores.to(torch.float64)  # as the plain kernels compare them
    order = _argsort(scores)
    s, p = scores.index_select(0, order), is_pos.index_select(0, order)
    new = torch.ones(n, dtype=torch.long, device=s.device)
    new[1:] = s[1:] != s[:-1]
    run = torch.cumsum(new, 0) - 1  # runs of equal scores, ascending
    pos_in_run = torch.zeros(int(run[-1]) + 1, dtype=torch.long, device=s.device).index_add_(0, run, p.long())
    run_pos = pos_in_run.clamp_max(1)
    run_tied = run_pos * (pos_in_run < torch.bincount(run)).long()  # runs where both classes meet
    ties = bool(run_tied.any())
    m = int(run_pos.sum())
    below = (torch.cumsum(run_pos, 0) - run_pos).index_select(0, run)  # distinct positive scores below the row's: m - 1 - d at u[d]
    step = 2 if ties else 1
    bucket_sorted = torch.where(p, m - 1 - below, m + step * (m - below) - run_tied.index_select(0, run))
    bucket = torch.empty_like(bucket_sorted).index_copy_(0, order, bucket_sorted)
    w = _rows(weights)
    b = torch.zeros((1 + step) * m + 1, w.shape[1], dtype=w.dtype, device=w.device).index_add_(0, bucket, w)

    auc = torch.empty(b.shape[1], dtype=torch.float64, device=b.device)
    ap = torch.empty_like(auc)
    block = max(1, _BLOCK // b.shape[0])
    for j in range(0, b.shape[1], block):
        t = torch.empty(min(block, b.shape[1] - j), b.shape[0], dtype=torch.float64, device=b.device).copy_(b[:, j : j + block].T)
        pos, neg = t[:, :m], t[:, m:].cumsum_(1)  # neg[:, c]: the negative weight in buckets m … m + c
        n_pos, n_neg = pos.sum(1), neg[:, -1]
        # AUC: a positive at u[d] loses to the negatives above u[d], and to half of those at it
        if ties:
            neg_from = neg[:, 1 : 2 * m : 2]  # negative weight at or above u[d]
            loss = torch.add(neg[:, 0 : 2 * m : 2], neg_from).mul_(pos).sum(1).mul_(0.5)
        else:
            neg_from = neg[:, :m]
            loss = torch.linalg.vecdot(pos, neg_from)
        pairs = n_pos * n_neg
        auc[j : j + t.shape[0]] = (pairs - loss) / pairs  # 0 / 0 = NaN without a positive or a negative
        # average precision: Σ (positive weight at u[d] / all of it) × (precision of the rows at or above u[d])
        tp = torch.cumsum(pos, 1)
        at_or_above = torch.add(tp, neg_from).clamp_min_(torch.finfo(torch.float64).tiny)  # 0 only where tp is: a step of 0
        ap[j : j + t.shape[0]] = tp.div_(at_or_above).mul_(pos).sum(1) / n_pos  # 0 / 0 = NaN without a positive
    return auc, ap


def _nan(weights: torch.Tensor) -> torch.Tensor:
    import torch

    return torch.full((weights.shape[0],), math.nan, dtype=torch.float64, device=weights.device)


def auc_weighted(scores: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, *, memo: dict[str, Any] | None = None) -> torch.Tensor:
    """AUC under each row weighting: the weighted Mann-Whitney statistic, a tied pair counting half."""
    stats = _remember(memo, "rank_stats", lambda: _rank_stats(scores, y, weights))
    return _nan(weights) if stats is None else stats[0]


def pr_auc_weighted(scores: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, *, memo: dict[str, Any] | None = None) -> torch.Tensor:
    """Average precision under each row weighting: over the positives' distinct scores u, Σ (positive
    weight at u / all positive weight) × (weighted precision of the rows at or above u)."""
    stats = _remember(memo, "rank_stats", lambda: _rank_stats(scores, y, weights))
    return _nan(weights) if stats is None else stats[1]


def logloss_weighted(logits: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, *, memo: dict[str, Any] | None = None) -> torch.Tensor:
    """Weighted mean binary cross-entropy of logits under each row weighting."""
    import torch
    import torch.nn.functional as F

    per_row = F.binary_cross_entropy_with_logits(logits.to(torch.float64), y.to(torch.float64), reduction="none")
    return _weighted_mean(per_row, weights)


def rmse_weighted(pred: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, *, memo: dict[str, Any] | None = None) -> torch.Tensor:
    """Root of the weighted mean squared error under each row weighting."""
    import torch

    return torch.sqrt(_weighted_mean((pred.to(torch.float64) - y.to(torch.float64)) ** 2, weights))


def _groups(group: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Dense group numbers (in sorted order of the ids): ``gidx[n]``, and per group its
    first position in group order ``starts[G]``, its first row and its last row."""
    import torch

    by_group = _argsort(group)
    g = group.index_select(0, by_group)
    new = torch.ones(g.numel(), dtype=torch.long, device=g.device)
    new[1:] = g[1:] != g[:-1]
    gidx_sorted = torch.cumsum(new, 0) - 1
    counts = torch.bincount(gidx_sorted)
    starts = torch.cumsum(counts, 0) - counts
    gidx = torch.empty_like(gidx_sorted).index_copy_(0, by_group, gidx_sorted)
    return gidx, starts, by_group.index_select(0, starts), by_group.index_select(0, starts + counts - 1)


_RADIX_GROUPS = 1 << 16  # up to this many groups, group numbers fit numpy's radix sort (uint16)


def _order_in_groups(gidx: torch.Tensor, n_groups: int, key: torch.Tensor) -> torch.Tensor:
    """Row order by dense group number ``gidx``, then ``key`` descending (ties in any order): a sort by key,
    then a stable one by group, on the CPU numpy's radix sort when the group numbers fit 16 bits."""
    import torch

    by_key = _argsort(-key)
    g = gidx.index_select(0, by_key)
    if g.device.type == "cpu" and n_groups <= _RADIX_GROUPS:
        import numpy as np

        return by_key.index_select(0, torch.from_numpy(np.argsort(g.numpy().astype(np.uint16), kind="stable")))
    return by_key.index_select(0, torch.argsort(g, stable=True))


def _dcg_by_group(
    gain: torch.Tensor, gidx: torch.Tensor, starts: torch.Tensor, key: torch.Tensor | None, discounts: torch.Tensor
) -> torch.Tensor:
    """``_kernels.ranked_gain`` (DCG@k for ``log_discounts(k)``) for dense group numbers ``gidx[n]`` (group g's rows
    from ``starts[g]`` on, in group order), rows ranked by ``key`` descending, or by their gain (the ideal) when
    ``key`` is None.

    The rows of a tie share the mean of their gains, so their order within it does not
    matter; ranked by their gain, tied rows have equal gains: nothing to share.
    """
    import torch

    n, k = gidx.numel(), discounts.numel()
    order = _order_in_groups(gidx, starts.numel(), gain if key is None else key)
    g, gain = gidx.index_select(0, order), gain.index_select(0, order)
    table = torch.cat([discounts.to(device=g.device, dtype=torch.float64), discounts.new_zeros(1, dtype=torch.float64, device=g.device)])
    discount = table.index_select(0, (torch.arange(n, device=g.device) - starts.index_select(0, g)).clamp_max_(k))  # position ≥ k: 0
    if key is not None:
        s = key.index_select(0, order)
        new_tie = torch.ones(n, dtype=torch.long, device=g.device)
        new_tie[1:] = (g[1:] != g[:-1]) | (s[1:] != s[:-1])
        tie = torch.cumsum(new_tie, 0) - 1
        if int(tie[-1]) + 1 < n:  # some rows tie: each gets its tie's mean gain
            gain = (torch.bincount(tie, weights=gain) / torch.bincount(tie).to(torch.float64)).index_select(0, tie)
    return torch.zeros(starts.numel(), dtype=torch.float64, device=g.device).index_add_(0, g, gain * discount)


_CHECKED = 8  # replicates on which the grouped kernels check that the weights are constant within groups


def _group_weights(name: str, weights: torch.Tensor, first: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """``[n, B]`` row weights (``_rows``), after a cheap check that they are constant within each group: equal at
    its first and its last row in the first few replicates."""
    import torch

    w = _rows(weights)
    head = w[:, :_CHECKED]
    if not torch.equal(head.index_select(0, first), head.index_select(0, last)):
        raise ValueError(
            f"{name}'s weights must be constant within a group (a resampled group keeps its rows); draw them with bootstrap_weights(n, groups=group)"
        )
    return w


def _group_mean(per_group: torch.Tensor, size: torch.Tensor, w: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
    """``[B]``: the mean of ``per_group[G]`` weighted by ``size[G]`` (0 leaves a group out) times each replicate's
    weight of the group (that of its ``first`` row, ``w[n, B]``); NaN where no weight is left."""
    import torch

    values = torch.stack([torch.where(size > 0, per_group * size, 0.0), size])
    sums = torch.empty(2, w.shape[1], dtype=torch.float64, device=w.device)
    block = max(1, _BLOCK // first.numel())
    for j in range(0, w.shape[1], block):  # each group's weights, a few replicates at a time
        sums[:, j : j + block] = values @ w[:, j : j + block].index_select(0, first).to(torch.float64)
    return sums[0] / sums[1]  # 0 / 0 = NaN


def ndcg_weighted(
    scores: torch.Tensor, rel: torch.Tensor, weights: torch.Tensor, group: torch.Tensor, k: int, *, memo: dict[str, Any] | None = None
) -> torch.Tensor:
    """Weighted mean NDCG@k over groups with a relevant row, a group weighing what each of its rows does.

    The weights must be constant within a group (a resampled query keeps all its
    rows: :func:`bootstrap_weights` with ``groups``); weights that differ inside a
    group would reweigh its rows, which no resample of groups does.
    """
    import torch

    if group.numel() == 0:
        return _nan(weights)
    gidx, starts, first, last = _groups(group)
    w = _group_weights("ndcg", weights, first, last)
    gain = torch.exp2(rel.to(torch.float64)) - 1.0
    discounts = log_discounts(k, gain.device)
    dcg = _dcg_by_group(gain, gidx, starts, scores.to(torch.float64), discounts)
    ideal = _dcg_by_group(gain, gidx, starts, None, discounts)
    has = ideal > 0
    return _group_mean(dcg / torch.where(has, ideal, 1.0), has.to(torch.float64), w, first)


def recall_weighted(
    scores: torch.Tensor, rel: torch.Tensor, weights: torch.Tensor, group: torch.Tensor, k: int, *, memo: dict[str, Any] | None = None
) -> torch.Tensor:
    """Weighted mean recall@k over groups with a relevant row, a group weighing what each of its rows does (weights
    constant within a group, as for :func:`ndcg_weighted`); rows tied across the cut share its places."""
    import torch

    if group.numel() == 0:
        return _nan(weights)
    gidx, starts, first, last = _groups(group)
    w = _group_weights("recall", weights, first, last)
    hit = (rel > 0).to(torch.float64)
    top = _dcg_by_group(hit, gidx, starts, scores.to(torch.float64), cut_discounts(k, hit.device))
    relevant = torch.zeros(starts.numel(), dtype=torch.float64, device=hit.device).index_add_(0, gidx, hit)
    has = relevant > 0
    return _group_mean(top / torch.where(has, relevant, 1.0), has.to(torch.float64), w, first)


def gauc_weighted(
    scores: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, group: torch.Tensor, *, memo: dict[str, Any] | None = None
) -> torch.Tensor:
    """GAUC under each row weighting: a group's AUC does not change when its rows are all weighted alike (weights
    constant within a group, as for :func:`ndcg_weighted`), so each replicate is the mean of the groups' AUCs
    weighted by rows × the group's weight."""
    import torch

    if group.numel() == 0:
        return _nan(weights)
    _, _, first, last = _groups(group)  # groups in sorted order of their ids, as group_aucs numbers them
    w = _group_weights("gauc", weights, first, last)
    aucs, rows = group_aucs(scores, y, group)
    both = ~aucs.isnan()
    return _group_mean(torch.where(both, aucs, 0.0), torch.where(both, rows, 0.0), w, first)
