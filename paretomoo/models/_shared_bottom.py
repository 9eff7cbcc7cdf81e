"""Shared bottom: embeddings → one MLP bottom → one MLP tower per task, the towers fused across tasks."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from paretomoo.models._base import ModelShape, PopGroupLinear, PopLinear, PopMLP, PopulationModel, _Init, _mlp_flops
from paretomoo.spec._sections import ModelSpec


class _Towers(nn.Module):
    """T task towers over one shared input, stored fused.

    The first layer of every tower is one product ``[K, i, T·h1]``; a deeper
    layer is per task ``[K, T, h, h']`` and runs as one block-diagonal product
    (T× the multiply-adds of that layer, one kernel instead of T); the output
    layer is each task's dot product, ``head_weight[K, T, h]``, ``head_bias[K, 1, T]``
    (a one-column batched product runs at a few GFLOP/s; a product and a sum
    3-6× quicker).
    """

    def __init__(self, towers: Sequence[list[PopLinear]]) -> None:
        super().__init__()
        first = [tower[0] for tower in towers]
        self.first = PopLinear(torch.cat([t.weight.data for t in first], dim=-1), torch.cat([t.bias.data for t in first], dim=-1))
        depth = len(towers[0])
        self.middle = nn.ModuleList(
            PopGroupLinear(
                torch.stack([tower[j].weight.data for tower in towers], dim=1), torch.stack([tower[j].bias.data for tower in towers], dim=1)
            )
            for j in range(1, depth - 1)
        )
        self.head_weight = nn.Parameter(torch.stack([tower[-1].weight.data[..., 0] for tower in towers], dim=1))  # [K, T, h]
        self.head_bias = nn.Parameter(torch.cat([tower[-1].bias.data for tower in towers], dim=-1))  # [K, 1, T]

    def layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The towers' hidden layers as dense ``(W[K, i, o], b[K, 1, o])`` pairs (block-diagonal past the first)."""
        out: list[tuple[torch.Tensor, torch.Tensor]] = [(self.first.weight, self.first.bias)]
        for layer in self.middle:
            assert isinstance(layer, PopGroupLinear)
            w, b = layer.weight, layer.bias  # [K, T, i, o], [K, T, 1, o]
            k, t, i, o = w.shape
            blocks = torch.diag_embed(w.permute(0, 2, 3, 1)).permute(0, 3, 1, 4, 2)  # [K, T, i, T, o], zero off the diagonal
            out.append((blocks.reshape(k, t * i, t * o), b.transpose(1, 2).reshape(k, 1, t * o)))
        return out

    def scores(self, h: torch.Tensor) -> torch.Tensor:
        """Every task's score ``[K, B, T]`` from the last hidden layer ``h[K, B, T·h]``."""
        k, rows, t = h.shape[0], h.shape[1], self.head_weight.shape[1]
        return (h.view(k, rows, t, -1) * self.head_weight.unsqueeze(1)).sum(-1) + self.head_bias


class SharedBottom(PopulationModel):
    """Embeddings + a shared MLP bottom + one MLP tower per task."""

    def __init__(self, shape: ModelShape, spec: ModelSpec, seeds: Sequence[int]) -> None:
        super().__init__(shape, spec, seeds)
        init = _Init(seeds)
        self.embeddings = init.embeddings(shape.cardinalities, spec.embedding_dim)
        self.bottom = init.mlp([self.input_dim(shape, spec), *spec.bottom], final_relu=True)
        # drawn tower by tower, as separate towers always were: the same seed gives the same weights
        towers = [init.mlp([spec.bottom[-1], *spec.tower, 1], final_relu=False) for _ in range(shape.n_tasks)]
        self.towers = _Towers([_linears(tower) for tower in towers])

    def forward(self, num: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
        h = self.inputs(num, cat)
        for w, b in [(layer.weight, layer.bias) for layer in _linears(self.bottom)] + self.towers.layers():
            h = torch.relu_(torch.baddbmm(b, h, w))
        return self.outputs(self.towers.scores(h))

    @classmethod
    def flops_per_row(cls, shape: ModelShape, spec: ModelSpec) -> int:
        total = _mlp_flops([cls.input_dim(shape, spec), *spec.bottom])
        total += shape.n_tasks * _mlp_flops([spec.bottom[-1], *spec.tower, 1])
        return 2 * total


def _linears(mlp: PopMLP) -> list[PopLinear]:
    """The layers of an MLP built from ``PopLinear`` layers."""
    out = []
    for layer in mlp:
        if not isinstance(layer, PopLinear):
            raise TypeError(f"expected PopLinear layers, got {type(layer).__name__}")
        out.append(layer)
    return out
