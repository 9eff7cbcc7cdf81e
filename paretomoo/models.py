"""Shared multi-task models in population form: shared-bottom, MMoE and PLE (CGC).

Every parameter carries a leading population axis K: member k is an ordinary
model with its own weights, and K members train in one pass through batched
matrix products (``torch.baddbmm``, ``torch.einsum``). A single model is the case
K = 1, so one implementation serves both; nothing couples members, so member k
trains exactly as it would alone (up to float rounding in the batched kernels).

Input: ``num[B, f]`` float, ``cat[B, c]`` int64 ids. Output: ``[K, B, T]``, one
score per task (a logit for binary tasks, a value for regression tasks).

Weights are drawn on the CPU from one generator per member, seeded by
``seeds[k]``, in the order the layers are built; so the same seed gives the same
initial weights on every device and in every population.

* ``shared_bottom``: embeddings → one MLP bottom → one MLP tower per task.
* ``mmoe`` (Ma et al., KDD 2018): ``experts`` expert MLPs over the input; each
  task mixes them with its own softmax gate, then its tower.
* ``ple`` (Tang et al., RecSys 2020): per level, ``experts`` shared experts and
  ``task_experts`` experts per task; each task's gate mixes its own and the
  shared experts; between levels a shared gate mixes all of them into the
  shared experts' next input. ``levels = 1`` is CGC.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

from paretomoo._chain import dense_chain
from paretomoo.spec import ModelSpec


@dataclass(frozen=True)
class ModelShape:
    """What a model needs to know of its data, besides the spec."""

    n_num: int
    cardinalities: tuple[int, ...]
    n_tasks: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


# -- building blocks --------------------------------------------------------------


class PopLinear(nn.Module):
    """K independent linear layers: ``x[K, B, i] → [K, B, o]``."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)  # [K, i, o]
        self.bias = nn.Parameter(bias)  # [K, 1, o]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class PopGroupLinear(nn.Module):
    """K × G independent linear layers (G experts, gates or towers).

    ``x[K, G, B, i]`` (each group its own input) or ``x[K, B, i]`` (one input for
    all groups) → ``[K, G, B, o]``.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)  # [K, G, i, o]
        self.bias = nn.Parameter(bias)  # [K, G, 1, o]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            return torch.einsum("kbi,kgio->kgbo", x, self.weight) + self.bias
        if self.weight.shape[-1] == 1:
            # one output per group (a tower's score): a dot product per row, 3-6× quicker than
            # a one-column batched product, which BLAS runs at a few GFLOP/s
            return (x * self.weight.transpose(-1, -2)).sum(dim=-1, keepdim=True) + self.bias
        k, g, b, i = x.shape
        out = torch.baddbmm(self.bias.reshape(k * g, 1, -1), x.reshape(k * g, b, i), self.weight.reshape(k * g, i, -1))
        return out.view(k, g, b, -1)


class PopMLP(nn.ModuleList):
    """Linear layers with ReLU between them (and after the last one if ``final_relu``)."""

    def __init__(self, layers: Sequence[nn.Module], final_relu: bool) -> None:
        super().__init__(layers)
        self.final_relu = final_relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self) - 1
        for i, layer in enumerate(self):
            x = layer(x)
            if i < last or self.final_relu:
                x = torch.relu(x)
        return x


def _linear_init(gen: torch.Generator, fan_in: int, fan_out: int) -> tuple[torch.Tensor, torch.Tensor]:
    # The default of torch.nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    bound = 1.0 / math.sqrt(fan_in)
    w = (torch.rand(fan_in, fan_out, generator=gen) * 2 - 1) * bound
    b = (torch.rand(1, fan_out, generator=gen) * 2 - 1) * bound
    return w, b


class _Init:
    """Draws initial weights for every member from its own CPU generator, in call order."""

    def __init__(self, seeds: Sequence[int]) -> None:
        self.gens = [torch.Generator().manual_seed(s) for s in seeds]

    def embeddings(self, cardinalities: Sequence[int], dim: int) -> nn.ParameterList:
        tables = []
        for card in cardinalities:
            tables.append(nn.Parameter(torch.stack([torch.randn(card, dim, generator=g) * 0.1 for g in self.gens])))
        return nn.ParameterList(tables)

    def linear(self, fan_in: int, fan_out: int) -> PopLinear:
        pairs = [_linear_init(g, fan_in, fan_out) for g in self.gens]
        return PopLinear(torch.stack([w for w, _ in pairs]), torch.stack([b for _, b in pairs]))

    def group_linear(self, groups: int, fan_in: int, fan_out: int) -> PopGroupLinear:
        ws, bs = [], []
        for g in self.gens:
            pairs = [_linear_init(g, fan_in, fan_out) for _ in range(groups)]
            ws.append(torch.stack([w for w, _ in pairs]))
            bs.append(torch.stack([b for _, b in pairs]))
        return PopGroupLinear(torch.stack(ws), torch.stack(bs))

    def mlp(self, dims: Sequence[int], final_relu: bool) -> PopMLP:
        return PopMLP([self.linear(i, o) for i, o in zip(dims[:-1], dims[1:], strict=True)], final_relu)

    def group_mlp(self, groups: int, dims: Sequence[int], final_relu: bool) -> PopMLP:
        return PopMLP([self.group_linear(groups, i, o) for i, o in zip(dims[:-1], dims[1:], strict=True)], final_relu)


def _mlp_flops(dims: Sequence[int]) -> int:
    """Multiply-adds of one dense stack for one row."""
    return sum(a * b for a, b in zip(dims[:-1], dims[1:], strict=True))


class PopulationModel(nn.Module):
    """What every model shares: the population size, the input embeddings, ``member_state``."""

    def __init__(self, shape: ModelShape, spec: ModelSpec, seeds: Sequence[int]) -> None:
        super().__init__()
        self.shape = shape
        self.spec = spec
        self.population = len(seeds)

    @staticmethod
    def input_dim(shape: ModelShape, spec: ModelSpec) -> int:
        return shape.n_num + spec.embedding_dim * len(shape.cardinalities)

    def inputs(self, num: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
        """Numeric features and every categorical column's embedding: ``[K, B, input_dim]``."""
        parts = [num.unsqueeze(0).expand(self.population, -1, -1)]
        # index_select rather than table[:, ids]: the same values, a faster kernel on a busy CPU,
        # and deterministic on CUDA under torch.use_deterministic_algorithms
        parts.extend(table.index_select(1, cat[:, j]) for j, table in enumerate(self.embeddings))
        return torch.cat(parts, dim=-1)

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        """Member k's weights, population axis kept at size 1, on the CPU."""
        return {name: p.detach()[k : k + 1].cpu().clone() for name, p in self.named_parameters()}


# -- shared bottom ----------------------------------------------------------------


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
        return dense_chain(self.inputs(num, cat), layers, head, self.workspace if self.training else None)

    @classmethod
    def flops_per_row(cls, shape: ModelShape, spec: ModelSpec) -> int:
        total = _mlp_flops([cls.input_dim(shape, spec), *spec.bottom])
        total += shape.n_tasks * _mlp_flops([spec.bottom[-1], *spec.tower, 1])
        return 2 * total


# -- mixtures of experts ------------------------------------------------------------


class _Level(nn.Module):
    """One extraction level: experts, then per-task gates (and a shared gate between levels).

    Streams: the T task inputs and one shared input (all the same at level 0).
    Experts ``[task 0 × E_t, ..., task T-1 × E_t, shared × S]`` each read their
    own stream; task t's gate mixes its own E_t experts and the S shared ones.
    """

    def __init__(self, init: _Init, n_tasks: int, shared: int, per_task: int, dims: Sequence[int], gate_shared: bool) -> None:
        super().__init__()
        self.n_tasks, self.shared, self.per_task = n_tasks, shared, per_task
        n = n_tasks * per_task + shared
        self.experts = init.group_mlp(n, dims, final_relu=True)
        self.task_gates = init.group_linear(n_tasks, dims[0], per_task + shared)
        self.shared_gate = init.linear(dims[0], n) if gate_shared else None
        stream = [t for t in range(n_tasks) for _ in range(per_task)] + [n_tasks] * shared
        self.register_buffer("stream", torch.tensor(stream), persistent=False)
        # the experts each task's gate covers: its own, then the shared ones ([T, E_t + S] indices into the N experts)
        own = [[*range(t * per_task, (t + 1) * per_task), *range(n_tasks * per_task, n)] for t in range(n_tasks)]
        self.register_buffer("own", torch.tensor(own), persistent=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``x``: ``[K, B, i]`` (level 0) or streams ``[K, T + 1, B, i]`` → task outputs ``[K, T, B, o]``, shared ``[K, B, o]``."""
        first = x.dim() == 3
        experts = self.experts(x if first else x.index_select(1, self.stream))  # [K, N, B, o]
        gates = torch.softmax(self.task_gates(x if first else x[:, : self.n_tasks]), dim=-1)  # [K, T, B, E_t + S]
        if self.per_task:  # PLE: each task's gate spread over all N experts, zero off its own and the shared ones
            k, t, b, _ = gates.shape
            gates = gates.new_zeros(k, t, b, experts.shape[1]).scatter(-1, self.own.view(1, t, 1, -1).expand(k, t, b, -1), gates)
        # Σ_e gate_e · expert_e as one batched product per member and row, [K, B, T, N] @ [K, B, N, o]:
        # 3-5× quicker forward and backward than a broadcast product and sum (2-core EPYC, K = 4, 8 experts)
        tasks = torch.matmul(gates.transpose(1, 2), experts.transpose(1, 2)).transpose(1, 2)  # [K, T, B, o]
        if self.shared_gate is None:
            return tasks, None
        g = torch.softmax(self.shared_gate(x if first else x[:, self.n_tasks]), dim=-1)  # [K, B, N]
        return tasks, (g.transpose(1, 2).unsqueeze(-1) * experts).sum(dim=1)

    @staticmethod
    def flops(n_tasks: int, shared: int, per_task: int, dims: Sequence[int], gate_shared: bool) -> int:
        n = n_tasks * per_task + shared
        total = n * _mlp_flops(dims) + n_tasks * dims[0] * (per_task + shared) + n_tasks * (per_task + shared) * dims[-1]
        if gate_shared:
            total += dims[0] * n + n * dims[-1]
        return total


class _Experts(PopulationModel):
    """Embeddings → ``levels`` extraction levels → one tower per task (towers batched over tasks)."""

    def __init__(self, shape: ModelShape, spec: ModelSpec, seeds: Sequence[int], per_task: int, levels: int) -> None:
        super().__init__(shape, spec, seeds)
        init = _Init(seeds)
        self.embeddings = init.embeddings(shape.cardinalities, spec.embedding_dim)
        self.levels = nn.ModuleList(
            _Level(init, shape.n_tasks, spec.experts, per_task, self._dims(shape, spec, i), gate_shared=i < levels - 1)
            for i in range(levels)
        )
        self.towers = init.group_mlp(shape.n_tasks, [spec.expert[-1], *spec.tower, 1], final_relu=False)

    @classmethod
    def _dims(cls, shape: ModelShape, spec: ModelSpec, level: int) -> list[int]:
        return [cls.input_dim(shape, spec) if level == 0 else spec.expert[-1], *spec.expert]

    def forward(self, num: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
        x = self.inputs(num, cat)
        for level in self.levels:
            tasks, shared = level(x)
            x = tasks if shared is None else torch.cat([tasks, shared.unsqueeze(1)], dim=1)
        return self.towers(x).squeeze(-1).transpose(1, 2)  # [K, T, B, 1] → [K, B, T]

    @classmethod
    def _flops(cls, shape: ModelShape, spec: ModelSpec, per_task: int, levels: int) -> int:
        total = sum(_Level.flops(shape.n_tasks, spec.experts, per_task, cls._dims(shape, spec, i), i < levels - 1) for i in range(levels))
        total += shape.n_tasks * _mlp_flops([spec.expert[-1], *spec.tower, 1])
        return 2 * total


class MMoE(_Experts):
    """Multi-gate mixture of experts: ``experts`` shared expert MLPs, one softmax gate and tower per task."""

    def __init__(self, shape: ModelShape, spec: ModelSpec, seeds: Sequence[int]) -> None:
        super().__init__(shape, spec, seeds, per_task=0, levels=1)

    @classmethod
    def flops_per_row(cls, shape: ModelShape, spec: ModelSpec) -> int:
        return cls._flops(shape, spec, per_task=0, levels=1)


class PLE(_Experts):
    """Progressive layered extraction; one level is CGC (customized gate control)."""

    def __init__(self, shape: ModelShape, spec: ModelSpec, seeds: Sequence[int]) -> None:
        super().__init__(shape, spec, seeds, per_task=spec.task_experts, levels=spec.levels)

    @classmethod
    def flops_per_row(cls, shape: ModelShape, spec: ModelSpec) -> int:
        return cls._flops(shape, spec, per_task=spec.task_experts, levels=spec.levels)


MODELS: dict[str, type[SharedBottom] | type[MMoE] | type[PLE]] = {"shared_bottom": SharedBottom, "mmoe": MMoE, "ple": PLE}


def build_model(shape: ModelShape, spec: ModelSpec, seeds: list[int]) -> PopulationModel:
    """The model a spec's ``[model]`` section declares, with one member per seed."""
    return MODELS[spec.type](shape, spec, seeds)


def flops_per_row(shape: ModelShape, spec: ModelSpec) -> int:
    """Multiply-adds ×2 of one member's forward pass for one row (dense layers, gates and mixing; not embeddings)."""
    return MODELS[spec.type].flops_per_row(shape, spec)
