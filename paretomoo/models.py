"""Shared multi-task models in population form.

Every parameter carries a leading population axis K: member k is an ordinary
model with its own weights, and K members train in one pass through batched
matrix products (``torch.baddbmm``). A single model is the case K = 1, so one
implementation serves both; nothing couples members, so member k trains exactly
as it would alone (up to float rounding in the batched kernels).

Input: ``num[B, f]`` float, ``cat[B, c]`` int64 ids. Output: ``[K, B, T]``, one
score per task (a logit for binary tasks, a value for regression tasks).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from paretomoo.spec import ModelSpec


@dataclass(frozen=True)
class ModelShape:
    """What a model needs to know of its data, besides the spec."""

    n_num: int
    cardinalities: tuple[int, ...]
    n_tasks: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class PopLinear(nn.Module):
    """K independent linear layers: ``x[K, B, i] → [K, B, o]``."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)  # [K, i, o]
        self.bias = nn.Parameter(bias)  # [K, 1, o]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


def _linear_init(gen: torch.Generator, fan_in: int, fan_out: int) -> tuple[torch.Tensor, torch.Tensor]:
    # The default of torch.nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    bound = 1.0 / math.sqrt(fan_in)
    w = (torch.rand(fan_in, fan_out, generator=gen) * 2 - 1) * bound
    b = (torch.rand(1, fan_out, generator=gen) * 2 - 1) * bound
    return w, b


class SharedBottom(nn.Module):
    """Embeddings + a shared MLP bottom + one MLP tower per task.

    ``seeds[k]`` seeds member k's initialisation (drawn on the CPU, so the same
    seed gives the same initial weights on every device).
    """

    def __init__(self, shape: ModelShape, spec: ModelSpec, seeds: list[int]) -> None:
        super().__init__()
        self.shape = shape
        self.spec = spec
        self.population = len(seeds)
        d = spec.embedding_dim
        in_dim = shape.n_num + d * len(shape.cardinalities)
        bottom_dims = [in_dim, *spec.bottom]
        tower_dims = [spec.bottom[-1], *spec.tower, 1]

        members = [self._init_member(torch.Generator().manual_seed(s), bottom_dims, tower_dims) for s in seeds]

        def stacked(i: int) -> torch.Tensor:
            return torch.stack([m[i] for m in members])

        n_emb = len(shape.cardinalities)
        self.embeddings = nn.ParameterList([nn.Parameter(stacked(i)) for i in range(n_emb)])
        pos = n_emb
        self.bottom = nn.ModuleList()
        for _ in range(len(bottom_dims) - 1):
            self.bottom.append(PopLinear(stacked(pos), stacked(pos + 1)))
            pos += 2
        self.towers = nn.ModuleList()
        for _ in range(shape.n_tasks):
            tower = nn.ModuleList()
            for _ in range(len(tower_dims) - 1):
                tower.append(PopLinear(stacked(pos), stacked(pos + 1)))
                pos += 2
            self.towers.append(tower)

    def _init_member(self, gen: torch.Generator, bottom_dims: list[int], tower_dims: list[int]) -> list[torch.Tensor]:
        d = self.spec.embedding_dim
        out = [torch.randn(card, d, generator=gen) * 0.1 for card in self.shape.cardinalities]
        for i, o in zip(bottom_dims[:-1], bottom_dims[1:], strict=True):
            out.extend(_linear_init(gen, i, o))
        for _ in range(self.shape.n_tasks):
            for i, o in zip(tower_dims[:-1], tower_dims[1:], strict=True):
                out.extend(_linear_init(gen, i, o))
        return out

    def forward(self, num: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
        k = self.population
        parts = [num.unsqueeze(0).expand(k, -1, -1)]
        parts.extend(table[:, cat[:, j], :] for j, table in enumerate(self.embeddings))
        h = torch.cat(parts, dim=-1)
        for layer in self.bottom:
            h = torch.relu(layer(h))
        outs = []
        for tower in self.towers:
            t = h
            for i, layer in enumerate(tower):
                t = layer(t)
                if i < len(tower) - 1:
                    t = torch.relu(t)
            outs.append(t)
        return torch.cat(outs, dim=-1)

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        """Member k's weights, population axis kept at size 1, on the CPU."""
        return {name: p.detach()[k : k + 1].cpu().clone() for name, p in self.named_parameters()}


def build_model(shape: ModelShape, spec: ModelSpec, seeds: list[int]) -> SharedBottom:
    """The model a spec's ``[model]`` section declares, with one member per seed."""
    return SharedBottom(shape, spec, seeds)


def flops_per_row(shape: ModelShape, spec: ModelSpec) -> int:
    """Multiply-adds ×2 of one member's forward pass for one row (dense layers only)."""
    in_dim = shape.n_num + spec.embedding_dim * len(shape.cardinalities)
    dims = [in_dim, *spec.bottom]
    total = sum(a * b for a, b in zip(dims[:-1], dims[1:], strict=True))
    tdims = [spec.bottom[-1], *spec.tower, 1]
    total += shape.n_tasks * sum(a * b for a, b in zip(tdims[:-1], tdims[1:], strict=True))
    return 2 * total
