"""A plain nn.Module for the contract tests that run over every registered model type (``[model] type = "module"``):
a shared bottom over the built-in sources' batch ({"num": [B, f], "cat": [B, c]}), written with no knowledge of
populations."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

FACTORY = f"{Path(__file__).resolve().with_name('_module_models.py')}:build"


class SharedBottom(nn.Module):
    def __init__(self, tasks: list[str], n_num: int, cardinalities: tuple[int, ...], dim: int = 4, hidden: int = 16) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(nn.Embedding(c, dim) for c in cardinalities)
        self.bottom = nn.Sequential(nn.Linear(n_num + dim * len(cardinalities), hidden), nn.ReLU())
        self.towers = nn.ModuleList(nn.Sequential(nn.Linear(hidden, 8), nn.ReLU(), nn.Linear(8, 1)) for _ in tasks)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = [batch["num"], *(e(batch["cat"][:, j]) for j, e in enumerate(self.embeddings))]
        h = self.bottom(torch.cat(parts, dim=-1))
        return torch.cat([tower(h) for tower in self.towers], dim=-1)  # [B, T]


def build(tasks: list[str], shape) -> SharedBottom:  # noqa: ANN001 - paretomoo's ModelShape
    return SharedBottom(tasks, shape.n_num, shape.cardinalities)
