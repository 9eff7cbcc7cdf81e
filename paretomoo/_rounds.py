"""Training a batch of λ in rounds that fit the executor, halving the population when a device runs out of memory."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch

from paretomoo._parallel import InProcess, ProcessPool, _part, is_out_of_memory
from paretomoo.trainer import Checkpoint, MemberResult


def fit_in_rounds(
    executor: InProcess | ProcessPool,
    lam: np.ndarray,
    k: int,
    seeds: Sequence[int] | None = None,
    on_shrink: Callable[[int, int], None] | None = None,
    on_round: Callable[[int, list[MemberResult]], None] | None = None,
    start: Sequence[Checkpoint] | None = None,
    epochs: int | None = None,
) -> tuple[list[MemberResult], int]:
    """Fit every row of ``lam`` (row i under ``seeds[i]``), ``workers × k`` rows per round; halve ``k`` when a
    device runs out of memory.

    Returns the results in row order and the ``k`` that worked, for the next
    batch. ``on_round(first_row, results)`` is told each round's results as it
    ends (so that they can be stored before the next round). ``start`` and ``epochs``
    as in ``Trainer.fit``. Rows of a round
    that ran out of memory are trained again in the smaller populations;
    ``on_shrink(old, new)`` is told each time. Out of memory with ``k = 1`` is raised.
    """
    results: list[MemberResult] = []
    while len(results) < len(lam):
        first = len(results)
        part = lam[first : first + executor.workers * k]
        try:
            done = executor.fit(
                part, k, None if seeds is None else list(seeds[first : first + len(part)]), _part(start, first, len(part)), epochs
            )
            if on_round is not None:
                on_round(first, done)
            results.extend(done)
            continue
        except Exception as exc:
            if k == 1 or not is_out_of_memory(exc):
                raise
        # Out of the except block: the traceback, and the tensors its frames hold, are gone.
        old, k = k, k // 2
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if on_shrink is not None:
            on_shrink(old, k)
        else:
            warnings.warn(f"out of memory with {old} λ per training pass; going on with {k}", RuntimeWarning, stacklevel=2)
    return results, k
