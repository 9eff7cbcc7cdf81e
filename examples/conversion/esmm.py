"""Click and conversion in one model, conversion measured on clicked rows only (as ESMM's conversion rate).

``load`` returns the impressions of ``paretomoo.data.make_sequences``: ``conversion``
is NaN where ``click == 0``, and paretomoo leaves those rows out of the conversion
task's loss and metric. The model reads ``user`` int64 [B], ``item`` int64 [B],
``history`` int64 [B, L] (0 = padding) and ``dense`` float32 [B, 4], and returns
probabilities (``output = "probability"`` in the spec): P(click) and P(conversion | click).
"""

from __future__ import annotations

import torch
from torch import nn

from paretomoo.data import make_sequences


def load(rows: int = 50000, seed: int = 0, items: int = 300) -> dict[str, dict[str, torch.Tensor]]:
    """train / val / test as mappings of tensors; about 200 impressions per user, so that AUC within a user (GAUC) is defined."""
    splits = make_sequences(rows, seed=seed, items=items, users=max(10, rows // 200))
    return {name: {k: v for k, v in split.items() if k != "cart"} for name, split in splits.items()}


class ClickConversion(nn.Module):
    def __init__(self, users: int, items: int, dense: int, dim: int = 16, hidden: int = 32) -> None:
        super().__init__()
        self.users = nn.Embedding(users, dim)
        self.items = nn.Embedding(items, dim, padding_idx=0)
        self.dense = nn.BatchNorm1d(dense)
        width = 3 * dim + dense

        def tower() -> nn.Sequential:
            return nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, 1), nn.Sigmoid())

        self.click, self.conversion = tower(), tower()

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        history = batch["history"]
        mask = (history > 0).unsqueeze(-1).float()
        past = (self.items(history) * mask).sum(1) / mask.sum(1).clamp(min=1)  # mean of the last clicked items
        x = torch.cat([self.users(batch["user"]), self.items(batch["item"]), past, self.dense(batch["dense"])], dim=-1)
        return {"click": self.click(x).squeeze(-1), "conversion": self.conversion(x).squeeze(-1)}


def build(tasks: list[str], shape, dim: int = 16, hidden: int = 32) -> ClickConversion:
    items = max(shape.vocabulary("item"), shape.vocabulary("history"))
    dense = dict((name, row) for name, _, row, _ in shape.inputs)["dense"][0]
    return ClickConversion(shape.vocabulary("user"), items, dense, dim, hidden)
