"""A shared-bottom multi-task model in plain PyTorch: embeddings, one MLP bottom, one tower per task.

paretomoo's built-in sources give ``forward`` a batch ``{"num": float [B, 12], "cat": int64 [B, 4]}``
(numeric features, categorical ids); it returns one logit or value per task, ``{task: [B]}``.
"""

from __future__ import annotations

import torch
from torch import nn


class SharedBottom(nn.Module):
    def __init__(
        self, tasks: list[str], n_num: int, cardinalities: list[int], embedding_dim: int, bottom: tuple[int, ...], tower: int
    ) -> None:
        super().__init__()
        self.tasks = list(tasks)
        self.embeddings = nn.ModuleList(nn.Embedding(c, embedding_dim) for c in cardinalities)
        for emb in self.embeddings:
            nn.init.normal_(emb.weight, std=0.1)  # small, beside standardised numeric features
        layers: list[nn.Module] = []
        width = n_num + embedding_dim * len(cardinalities)
        for h in bottom:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.bottom = nn.Sequential(*layers)
        self.towers = nn.ModuleDict({t: nn.Sequential(nn.Linear(width, tower), nn.ReLU(), nn.Linear(tower, 1)) for t in self.tasks})

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cat = batch["cat"]
        x = torch.cat([batch["num"], *(emb(cat[:, j]) for j, emb in enumerate(self.embeddings))], dim=-1)
        h = self.bottom(x)
        return {t: tower(h).squeeze(-1) for t, tower in self.towers.items()}


def build(tasks: list[str], shape, embedding_dim: int = 8, bottom: tuple[int, ...] = (64, 4), tower: int = 16) -> SharedBottom:
    """paretomoo calls this once per λ it trains: the task names, and ``shape`` (what the data holds)."""
    return SharedBottom(tasks, shape.n_num, list(shape.cardinalities), embedding_dim, bottom, tower)
