"""Metric kernels over many score vectors at once: ``scores[L, n]`` against one label vector → ``[L]`` float64.

A λ-conditioned model is measured at a thousand λ or more (``paretomoo.conditioned``):
the same rows and labels, L score vectors. Each kernel here gives, for every row
of ``scores``, exactly what its plain kernel in ``paretomoo.metrics`` gives for that
row alone (ties included; the tests compare them), with one sort per score vector:

* the scores' float32 bits are made order-preserving integers, and what the
  metric needs of each row (its label, or its group and gain) is packed into the
  same int64 key below or above them; sorting the keys orders the rows and
  carries their labels along, so no index permutation is gathered;
* on the CPU the sort is numpy's vectorised sort of int64 values, about 5× torch's
  sort there, over the rows in as many threads as torch uses;
* ties are runs of equal score bits in the sorted keys: each row's run bounds come
  from two cumulative max/min passes, and every tie rule (average rank, rows
  entering together, averaged gains) is a formula of those bounds.

``memo`` is shared by the kernels called on the same scores and labels (AUC and
average precision read one sort). torch is imported inside the functions.
"""

from __future__ import annotations

import concurrent.futures
import math
from typing import TYPE_CHECKING, Any

from paretomoo._kernels import _dcg, cut_discounts, gauc, log_discounts, ndcg, recall

if TYPE_CHECKING:
    import torch


def _ordered_bits(scores: torch.Tensor) -> torch.Tensor:
    """``scores`` as float32, mapped to int64 in [0, 2^32) with the same order (−0.0 and +0.0 alike)."""
    import torch

    b = (scores.to(torch.float32) + 0.0).view(torch.int32).to(torch.int64)  # + 0.0: −0.0 becomes +0.0
    return torch.where(b < 0, b ^ 0x7FFFFFFF, b) + (1 << 31)


def _sort_rows(keys: torch.Tensor) -> torch.Tensor:
    """Each row of ``keys[L, n]`` (int64) sorted ascending, values only."""
    import torch

    if keys.device.type != "cpu":
        return torch.sort(keys, dim=1).values
    import numpy as np

    a = keys.numpy()
    parts = min(torch.get_num_threads(), a.shape[0])
    if parts <= 1:
        return torch.from_numpy(np.sort(a, axis=1))
    out = np.empty_like(a)
    bounds = [a.shape[0] * i // parts for i in range(parts + 1)]

    def sort(i: int) -> None:  # numpy sorts without the GIL
        out[bounds[i] : bounds[i + 1]] = np.sort(a[bounds[i] : bounds[i + 1]], axis=1)

    with concurrent.futures.ThreadPoolExecutor(parts) as pool:
        list(pool.map(sort, range(parts)))
    return torch.from_numpy(out)


def _run_bounds(c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For sorted rows ``c[L, n]``: the first and the last index of each element's run of equal values."""
    import torch

    n = c.shape[1]
    idx = torch.arange(n, device=c.device).expand_as(c)
    new = torch.ones_like(c, dtype=torch.bool)
    new[:, 1:] = c[:, 1:] != c[:, :-1]
    lo = torch.where(new, idx, 0).cummax(dim=1).values
    last = torch.ones_like(new)
    last[:, :-1] = new[:, 1:]
    hi = torch.where(last, idx, n - 1).flip(1).cummin(dim=1).values.flip(1)
    return lo, hi


def _remember(memo: dict[str, Any] | None, key: str, compute: Any) -> Any:
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def _binary_sorted(scores: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows sorted by score ascending: labels ``[L, n]`` (0/1, int64) and each row's tie-run bounds."""
    import torch

    pos = (y > 0.5).to(torch.int64)
    key = _sort_rows((_ordered_bits(scores) << 1) | pos.unsqueeze(0))
    lo, hi = _run_bounds(key >> 1)
    return key & 1, lo, hi


def _nan(scores: torch.Tensor) -> torch.Tensor:
    import torch

    return torch.full((scores.shape[0],), math.nan, dtype=torch.float64, device=scores.device)


def auc_many(scores: torch.Tensor, y: torch.Tensor, *, memo: dict[str, Any] | None = None) -> torch.Tensor:
    """AUC of every row of ``scores`` (tied scores share their average rank); NaN when only one class is present."""
    import torch

    n_pos = int((y > 0.5).sum())
    n_neg = y.numel() - n_pos
    if n_pos == 0 or n_neg == 0:
        return _nan(scores)
    lab, lo, hi = _remember(memo, "binary", lambda: _binary_sorted(scores, y))
    rank = (lo + hi).to(torch.float64) / 2 + 1
    return ((rank * lab).sum(dim=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def pr_auc_many(scores: torch.Tensor, y: torch.Tensor, *, memo: dict[str, Any] | None = None) -> torch.Tensor:
    """Average precision of every row of ``scores``: the mean over positives of the precision at their score
    (all rows scored at least as high, so tied rows enter together); NaN without a positive."""
    import torch

    n = y.numel()
    n_pos = int((y > 0.5).sum())
    if n_pos == 0:
        return _nan(scores)
    lab, lo, _ = _remember(memo, "binary", lambda: _binary_sorted(scores, y))
    before = torch.cumsum(lab, dim=1) - lab  # positives below each sorted index
    tp = n_pos - before.gather(1, lo)  # positives scored at least as high as the row
    precision = tp.to(torch.float64) / (n - lo).to(torch.float64)
    return (precision * lab).sum(dim=1) / n_pos


def logloss_many(logits: torch.Tensor, y: torch.Tensor, *, memo: dict[str, Any] | None = None) -> torch.Tensor:
    """Mean binary cross-entropy of every row of logits."""
    import torch
    import torch.nn.functional as F

    y64 = y.to(torch.float64).unsqueeze(0).expand(logits.shape[0], -1)
    return F.binary_cross_entropy_with_logits(logits.to(torch.float64), y64, reduction="none").mean(dim=1)


def rmse_many(pred: torch.Tensor, y: torch.Tensor, *, memo: dict[str, Any] | None = None) -> torch.Tensor:
    """Root mean squared error of every row of predictions."""
    import torch

    return torch.sqrt(((pred.to(torch.float64) - y.to(torch.float64).unsqueeze(0)) ** 2).mean(dim=1))


def _ranked_gain_many(scores: torch.Tensor, gain: torch.Tensor, group: torch.Tensor, discounts: torch.Tensor) -> torch.Tensor | None:
    """``_kernels.ranked_gain`` of every row of ``scores``: ``[L, groups]`` (groups in sorted order of their ids);
    None when the groups and gain levels are too many to pack into the key.

    The key packs (group, score, gain index) from the high bits down: sorted, each
    group's rows fill the same block of positions for every score vector, in
    ascending score order, so a position's discount is fixed and only the gains
    and the tie runs move.
    """
    import torch

    ids, gidx, counts = torch.unique(group, return_inverse=True, return_counts=True)
    values, vidx = torch.unique(gain, return_inverse=True)
    vbits = max(1, int(values.numel() - 1).bit_length())
    gbits = max(1, int(ids.numel() - 1).bit_length())
    if gbits + 32 + vbits > 63:
        return None
    key = _sort_rows((gidx.unsqueeze(0) << (32 + vbits)) | (_ordered_bits(scores) << vbits) | vidx.unsqueeze(0))
    n, k = key.shape[1], discounts.numel()
    ends = torch.cumsum(counts, 0)
    block_end = torch.repeat_interleave(ends, counts)  # [n]: where each sorted position's group block ends
    pos = block_end - 1 - torch.arange(n, device=key.device)  # descending position within the group
    table = torch.cat([discounts.to(device=key.device, dtype=torch.float64), torch.zeros(1, dtype=torch.float64, device=key.device)])
    discount = table[pos.clamp_max(k)]
    cd = torch.cat([discount.new_zeros(1), torch.cumsum(discount, 0)])
    lo, hi = _run_bounds(key >> vbits)
    run_discount = (cd[hi + 1] - cd[lo]) / (hi - lo + 1).to(torch.float64)
    contribution = values[key & ((1 << vbits) - 1)] * run_discount
    c = torch.cat([contribution.new_zeros(contribution.shape[0], 1), torch.cumsum(contribution, dim=1)], dim=1)
    return c[:, ends] - c[:, ends - counts]


def ndcg_many(scores: torch.Tensor, rel: torch.Tensor, group: torch.Tensor, k: int, *, memo: dict[str, Any] | None = None) -> torch.Tensor:
    """Mean NDCG@k over groups with a relevant row, for every row of ``scores`` (tied rows of a group share the mean
    of their gains, as ``_kernels.ndcg``); NaN if no group has a relevant row."""
    import torch

    gain = 2.0 ** rel.to(torch.float64) - 1.0
    ideal = _dcg(gain, group, gain, k)
    has = ideal > 0
    if not bool(has.any()):
        return _nan(scores)
    dcg = _ranked_gain_many(scores, gain, group, log_discounts(k, scores.device))
    if dcg is None:  # too many groups or gain levels to pack: one score vector at a time
        return torch.tensor([ndcg(s, rel, group, k) for s in scores], dtype=torch.float64, device=scores.device)
    return (dcg[:, has] / ideal[has]).mean(dim=1)


def recall_many(
    scores: torch.Tensor, rel: torch.Tensor, group: torch.Tensor, k: int, *, memo: dict[str, Any] | None = None
) -> torch.Tensor:
    """Mean recall@k over groups with a relevant row, for every row of ``scores`` (rows tied across the cut share
    its places, as ``_kernels.recall``); NaN if no group has a relevant row."""
    import torch

    hit = (rel > 0).to(torch.float64)
    _, gidx = torch.unique(group, return_inverse=True)
    relevant = torch.zeros(int(gidx.max()) + 1 if gidx.numel() else 0, dtype=torch.float64, device=hit.device).index_add_(0, gidx, hit)
    has = relevant > 0
    if not bool(has.any()):
        return _nan(scores)
    top = _ranked_gain_many(scores, hit, group, cut_discounts(k, scores.device))
    if top is None:  # too many groups to pack: one score vector at a time
        return torch.tensor([recall(s, rel, group, k) for s in scores], dtype=torch.float64, device=scores.device)
    return (top[:, has] / relevant[has]).mean(dim=1)


def gauc_many(scores: torch.Tensor, y: torch.Tensor, group: torch.Tensor, *, memo: dict[str, Any] | None = None) -> torch.Tensor:
    """GAUC of every row of ``scores`` (``_kernels.gauc``: AUC within each group, tied scores sharing their average
    rank, weighted by the group's rows, groups with one class left out); NaN if no group holds both classes.

    The key packs (group, score, label) from the high bits down: sorted, each group's
    rows fill the same block of positions for every score vector, so a row's rank
    within its group is its position's run bounds less the block's start.
    """
    import torch

    pos = (y > 0.5).to(torch.int64)
    ids, gidx, counts = torch.unique(group, return_inverse=True, return_counts=True)
    n_pos = torch.zeros(ids.numel(), dtype=torch.float64, device=y.device).index_add_(0, gidx, pos.to(torch.float64))
    rows = counts.to(torch.float64)
    n_neg = rows - n_pos
    both = (n_pos > 0) & (n_neg > 0)
    if not bool(both.any()):
        return _nan(scores)
    if max(1, int(ids.numel() - 1).bit_length()) + 33 > 63:  # too many groups to pack: one score vector at a time
        return torch.tensor([gauc(s, y, group) for s in scores], dtype=torch.float64, device=scores.device)
    key = _sort_rows((gidx.unsqueeze(0) << 33) | (_ordered_bits(scores) << 1) | pos.unsqueeze(0))
    lo, hi = _run_bounds(key >> 1)
    ends = torch.cumsum(counts, 0)
    start = torch.repeat_interleave(ends - counts, counts)  # [n]: where each sorted position's group block starts
    rank = (lo + hi).to(torch.float64) / 2 - start + 1  # 1-based within the group
    c = torch.cat([rank.new_zeros(rank.shape[0], 1), torch.cumsum(rank * (key & 1), dim=1)], dim=1)
    rank_sum = (c[:, ends] - c[:, ends - counts])[:, both]  # [L, groups with both classes]
    p, q, r = n_pos[both], n_neg[both], rows[both]
    aucs = (rank_sum - p * (p + 1) / 2) / (p * q)
    return (aucs * r).sum(dim=1) / r.sum()
