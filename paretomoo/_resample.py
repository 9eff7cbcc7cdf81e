"""Bootstrap row weights: the Poisson(1) resamples of a split that every metric's bootstrap reads.

The same weights go to every trial of a study, so comparisons between trials are
paired; ``paretomoo.metrics`` re-exports what callers use. Torch is imported inside
the function.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# Replicates of a bootstrap. The Monte-Carlo error of B = 200 replicates is about 5 % of a
# standard error (relative sd 1/sqrt(2B)) and sqrt(p(1 − p)/B) on a share of replicates:
# ±0.015 on the 5 % tail of a 90 % interval (its end moves by about 0.15 SE between
# seeds) or on a P(on the front) near 0.05 or 0.95, ±0.035 at worst (p = 0.5), in steps of
# 1/B = 0.005: finer than the decisions read from them, at a cost linear in B
# (benchmarks/bootstrap_cost.py: the demo's 11 metrics on both splits, 20,000 rows each,
# take about 45 ms on one thread, under 4 % of a trial).
BOOTSTRAP = 200

# P(X ≤ k) of a Poisson(1) count, k = 0 … 20 (P(X > 20) ≈ 2e-20 is below a float64 uniform's resolution).
_POISSON1_CDF = [math.exp(-1) * sum(1 / math.factorial(j) for j in range(k + 1)) for k in range(21)]


def bootstrap_weights(
    n: int, replicates: int = BOOTSTRAP, seed: int = 0, groups: torch.Tensor | None = None, device: torch.device | str | None = None
) -> torch.Tensor:
    """Poisson(1) bootstrap weights of n rows: replicate b weighs row i by ``w[b, i]``, an independent Poisson(1) count.

    A row weighted 3 counts as three copies of it, 0 leaves it out, as in a
    resample with replacement whose size varies around n (Poisson bootstrap). With
    ``groups``, each group draws one count and all its rows take it (a resampled
    query keeps all its rows), as grouped metrics need. Draw one tensor per split
    and give it to every task measured on that split (by the split's group key if a
    task ranks within groups): replicate b is then one resample of the split for
    every objective, as joint statistics (P(on the front)) need.

    The draws come from ``torch.Generator().manual_seed(seed)`` on the CPU, so the
    same (n, seed, groups) give the same weights in every process and on every device:
    trials weighted alike are compared on the same resamples (paired). The first b
    replicates do not depend on ``replicates``.

    Args:
        n: rows of the split.
        replicates: B (default :data:`BOOTSTRAP`).
        seed: seeds the draws.
        groups: optional ``[n]`` integer group ids; a group's rows share their weights.
        device: where the result lives (default CPU).

    Returns:
        ``[B, n]`` float32 integer counts, stored row by row (``w.T`` is contiguous),
        the layout in which the weighted kernels read them. To keep some rows, index
        that view, ``w.T[keep].T``, which keeps the layout (``w[:, keep]`` does not).
    """
    import torch

    if replicates < 1:
        raise ValueError(f"replicates must be >= 1, got {replicates}")
    if n < 0:
        raise ValueError(f"n (rows) must be >= 0, got {n}")
    inverse = None
    if groups is not None:
        if groups.dim() != 1 or groups.numel() != n:
            raise ValueError(f"groups must hold one id per row, [{n}], got shape {tuple(groups.shape)}")
        _, inverse = torch.unique(groups.cpu(), return_inverse=True)
    units = n  # what draws its own counts: rows, or groups
    if inverse is not None and n > 0:
        units = int(inverse.max()) + 1
    gen = torch.Generator().manual_seed(seed)
    cdf = torch.tensor(_POISSON1_CDF, dtype=torch.float64)
    draws = torch.empty(units, replicates, dtype=torch.float32)  # [units, B]: a unit's replicates side by side
    step = max(1, (1 << 22) // max(units, 1))  # replicates drawn at a time: about 32 MB of uniforms
    for b in range(0, replicates, step):
        u = torch.rand(min(step, replicates - b), units, generator=gen, dtype=torch.float64)
        draws[:, b : b + u.shape[0]] = torch.bucketize(u, cdf).T
    rows = draws if inverse is None else draws.index_select(0, inverse)
    return rows.to(device if device is not None else "cpu").T
