"""The one batch order of every training: fixed-λ trials, conditioned models and baselines.

Each epoch draws one permutation of the training rows per distinct seed, from a
CPU generator seeded with that seed (``torch.randperm``), and cuts it into
batches of ``batch_size`` rows. Members with the same seed read the same
batches (common random numbers); with several seeds, member k reads the rows of
its own seed (a batch per member, ``stacked``). Going on from epoch ``first``
draws and skips the permutations of the epochs before it, so 0 → e → E reads
the batches of 0 → E.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from paretomoo.data._tensors import TensorSplit

# (features {name: [B, ...] or [K, B, ...]}, labels [B, T] or [K, B, T], stacked: one batch per member)
Batch = tuple[dict[str, torch.Tensor], torch.Tensor, bool]


def epochs(split: TensorSplit, seeds: Sequence[int], batch_size: int, first: int, last: int) -> Iterator[tuple[int, Iterator[Batch]]]:
    """``(epoch, batches)`` for epochs ``first`` to ``last - 1``; ``seeds[k]`` is member k's training seed."""
    distinct = sorted(set(int(s) for s in seeds))
    gens = {s: torch.Generator().manual_seed(s) for s in distinct}
    n = len(split)
    for _ in range(first):
        for s in distinct:
            torch.randperm(n, generator=gens[s])
    device = split.y.device
    member = torch.tensor([distinct.index(int(s)) for s in seeds], device=device) if len(distinct) > 1 else None
    for epoch in range(first, last):
        perms = torch.stack([torch.randperm(n, generator=gens[s]) for s in distinct]).to(device)  # [S, n]
        yield epoch, _batches(split, perms, member, batch_size)


def _batches(split: TensorSplit, perms: torch.Tensor, member: torch.Tensor | None, batch_size: int) -> Iterator[Batch]:
    for begin in range(0, perms.shape[1], batch_size):
        if member is None:
            idx = perms[0, begin : begin + batch_size]
            yield split.take(idx), split.y.index_select(0, idx), False
        else:
            rows = perms[:, begin : begin + batch_size].index_select(0, member)  # [K, B]
            y = split.y.index_select(0, rows.flatten()).view(*rows.shape, -1)
            yield split.take_members(rows), y, True
