"""Shared bottom: embeddings → one MLP bottom → one MLP tower per task, its dense layers through ``dense_chain``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from paretomoo._chain import dense_chain
from paretomoo.models._base import ModelShape, PopGroupLinear, PopLinear, PopMLP, PopulationModel, _Init, _mlp_flops
from paretomoo.spec import ModelSpec


class _Towers(nn.Module):
    """T task towers over one shared input, stored fused for ``dense_chain``.

    The first layer of every tower is one product ``[K, i, T·h1]``; a deeper
    layer is per task ``[K, T, h, h']`` and runs as one block-diagonal product
    (T× the multiply-adds of that layer, one kernel instead of T); the output
    layer is each task's dot product, ``head_weight[K, T, h]``, ``head_bias[K, 1, T]``.
    """

    def __init__(self, towers: Sequence[PopMLP]) -> None:
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

    def _load_from_state_dict(self, state_dict: dict[str, torch.Tensor], prefix: str, *args: object) -> None:
        """Also read weights stored tower by tower (``towers.<t>.<layer>.weight``), as studies and exports of
        earlier versions hold them: the same numbers, laid out as above."""
        if f"{prefix}0.0.weight" in state_dict:
            n_tasks, depth = self.head_weight.shape[1], len(self.middle) + 2
            old = [
                [(state_dict.pop(f"{prefix}{t}.{j}.weight"), state_dict.pop(f"{prefix}{t}.{j}.bias")) for j in range(depth)]
                for t in range(n_tasks)
            ]
            state_dict[f"{prefix}first.weight"] = torch.cat([tower[0][0] for tower in old], dim=-1)
            state_dict[f"{prefix}first.bias"] = torch.cat([tower[0][1] for tower in old], dim=-1)
            for j in range(1, depth - 1):
                state_dict[f"{prefix}middle.{j - 1}.weight"] = torch.stack([tower[j][0] for tower in old], dim=1)
                state_dict[f"{prefix}middle.{j - 1}.bias"] = torch.stack([tower[j][1] for tower in old], dim=1)
            state_dict[f"{prefix}head_weight"] = torch.stack([tower[-1][0][..., 0] for tower in old], dim=1)
            state_dict[f"{prefix}head_bias"] = torch.cat([tower[-1][1] for tower in old], dim=-1)
        super()._load_from_state_dict(state_dict, prefix, *args)  # type: ignore[arg-type]

    def layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The towers' hidden layers as dense ``(W[K, i, o], b[K, 1, o])`` pairs (block-diagonal past the first)."""
        out = [(self.first.weight, self.first.bias)]
        for layer in self.middle:
            w, b = layer.weight, layer.bias  # [K, T, i, o], [K, T, 1, o]
            k, t, i, o = w.shape
            blocks = torch.diag_embed(w.permute(0, 2, 3, 1)).permute(0, 3, 1, 4, 2)  # [K, T, i, T, o], zero off the diagonal
            out.append((blocks.reshape(k, t * i, t * o), b.transpose(1, 2).reshape(k, 1, t * o)))
        return out


class SharedBottom(PopulationModel):
    """Embeddings + a shared MLP bottom + one MLP tower per task."""

    def __init__(self, shape: ModelShape, spec: ModelSpec, seeds: Sequence[int]) -> None:
        super().__init__(shape, spec, seeds)
        init = _Init(seeds)
        self.embeddings = init.embeddings(shape.cardinalities, spec.embedding_dim)
        self.bottom = init.mlp([self.input_dim(shape, spec), *spec.bottom], final_relu=True)
        # drawn tower by tower, as separate towers always were: the same seed gives the same weights
        self.towers = _Towers([init.mlp([spec.bottom[-1], *spec.tower, 1], final_relu=False) for _ in range(shape.n_tasks)])
        self.workspace: dict[object, torch.Tensor] = {}  # dense_chain's reusable buffers

    def forward(self, num: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
        layers = [(layer.weight, layer.bias) for layer in self.bottom] + self.towers.layers()
        head = (self.towers.head_weight, self.towers.head_bias)
        return self.outputs(dense_chain(self.inputs(num, cat), layers, head, self.workspace if self.training else None))

    @classmethod
    def flops_per_row(cls, shape: ModelShape, spec: ModelSpec) -> int:
        total = _mlp_flops([cls.input_dim(shape, spec), *spec.bottom])
        total += shape.n_tasks * _mlp_flops([spec.bottom[-1], *spec.tower, 1])
        return 2 * total
