"""A DIN-style model: the candidate item attends over the user's last clicked items (a padded sequence).

``load`` gives paretomoo the data: impressions with each user's click history
(``paretomoo.data.make_sequences``). A batch that ``forward`` receives holds,
for B rows: ``item`` int64 [B] (the candidate), ``history`` int64 [B, L] (the
last clicked items, 0 = padding), ``length`` int64 [B], ``dense`` float32 [B, 4]
and ``user`` int64 [B]; the task labels are taken out.
"""

from __future__ import annotations

import torch
from torch import nn

from paretomoo.data import make_sequences


def load(rows: int = 50000, seed: int = 0, history: int = 20, items: int = 1000) -> dict[str, dict[str, torch.Tensor]]:
    """train / val / test, each a mapping of tensors; the one label this study does not use is dropped."""
    splits = make_sequences(rows, seed=seed, history=history, items=items)
    return {name: {k: v for k, v in split.items() if k != "conversion"} for name, split in splits.items()}


class TargetAttention(nn.Module):
    """DIN's activation unit: a score per history entry from (candidate, entry, difference, product)."""

    def __init__(self, dim: int, hidden: int = 32) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(4 * dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """query [B, D], keys [B, L, D], mask [B, L] (True: a real entry) -> the weighted history [B, D]."""
        q = query.unsqueeze(1).expand_as(keys)
        scores = self.score(torch.cat([q, keys, q - keys, q * keys], dim=-1)).squeeze(-1)  # [B, L]
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        return (weights.unsqueeze(-1) * keys).sum(dim=1)


class DIN(nn.Module):
    def __init__(self, tasks: list[str], items: int, dense: int, dim: int = 16, hidden: int = 64) -> None:
        super().__init__()
        self.tasks = list(tasks)
        self.items = nn.Embedding(items, dim, padding_idx=0)
        self.attention = TargetAttention(dim)
        self.dense = nn.BatchNorm1d(dense)
        self.mlp = nn.Sequential(nn.Linear(2 * dim + dense, hidden), nn.ReLU())
        self.heads = nn.Linear(hidden, len(self.tasks))  # one logit per task

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        history = batch["history"]
        candidate = self.items(batch["item"])  # [B, D]
        interest = self.attention(candidate, self.items(history), history > 0)  # [B, D]
        h = self.mlp(torch.cat([candidate, interest, self.dense(batch["dense"])], dim=-1))
        return self.heads(h)  # [B, T], columns in the spec's task order


def build(tasks: list[str], shape, dim: int = 16, hidden: int = 64) -> DIN:
    items = max(shape.vocabulary("item"), shape.vocabulary("history"))
    dense = dict((name, row) for name, _, row, _ in shape.inputs)["dense"][0]
    return DIN(tasks, items, dense, dim, hidden)
