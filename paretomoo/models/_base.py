"""Population building blocks: K independent layers in one batched product, seeded initial weights, the model base class.

Every parameter carries a leading population axis K: member k is an ordinary
model with its own weights, and K members train in one pass through batched
matrix products (``torch.baddbmm``, ``torch.einsum``). Nothing couples members,
so member k trains exactly as it would alone (up to float rounding in the
batched kernels).

Weights are drawn on the CPU from one generator per member, seeded by
``seeds[k]``, in the order the layers are built; so the same seed gives the same
initial weights on every device and in every population.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from paretomoo.spec._sections import ModelSpec


@dataclass(frozen=True)
class ModelShape:
    """What a model needs to know of its data, besides the spec.

    ``label_shift[t]`` and ``label_scale[t]`` are the training labels' mean and
    sd of each regression task (0 and 1 for the others): the model's last layer
    predicts standardised labels, and its output is ``shift + scale · z``, in the
    label's own units. So a label in milliseconds trains like one in units (the
    loss divides by ``scale``, see ``tasks.task_loss``), and RMSE is reported in
    milliseconds. ``None`` (studies made before labels were standardised): no
    rescaling.
    """

    n_num: int
    cardinalities: tuple[int, ...]
    n_tasks: int
    label_shift: tuple[float, ...] | None = None
    label_scale: tuple[float, ...] | None = None
    # the task names in spec order, and each batch entry as (name, dtype, shape of one row, vocabulary: max id + 1
    # for an integer entry, else 0): what a user's factory may read (``shape=``)
    tasks: tuple[str, ...] = ()
    inputs: tuple[tuple[str, str, tuple[int, ...], int], ...] = ()

    def vocabulary(self, name: str) -> int:
        """The vocabulary size (max id + 1 over every split) of an integer batch entry."""
        for n, _, _, vocab in self.inputs:
            if n == name:
                return vocab
        raise KeyError(f"no batch entry {name!r}; entries: {', '.join(n for n, *_ in self.inputs)}")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> ModelShape:
        """The inverse of ``to_dict``, for shapes stored in a study or an export (lists back to tuples)."""
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        if "inputs" in fields:
            fields["inputs"] = tuple((n, t, tuple(s), int(v)) for n, t, s, v in fields["inputs"])
        return cls(**fields)


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
                # in place: a layer's output is a new tensor its backward does not need, and allocating another for
                # the ReLU took 3× the time of the ReLU itself ([32, 1024, 64], one CPU thread)
                x = torch.relu_(x)
        return x


def _linear_init(gen: torch.Generator, fan_in: int, fan_out: int) -> tuple[torch.Tensor, torch.Tensor]:
    # The default of torch.nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    bound = 1.0 / math.sqrt(fan_in)
    w = (torch.rand(fan_in, fan_out, generator=gen) * 2 - 1) * bound
    b = (torch.rand(1, fan_out, generator=gen) * 2 - 1) * bound
    return w, b


class _Init:
    """Draws initial weights for every member from its own CPU generator, in call order.

    Under ``torch.device("meta")`` (a template whose weights ``functional_call`` supplies) there are no values to
    draw: each layer is one empty stacked tensor. Drawing them member by member on the meta device took 0.3 s for
    the demo's model at a population of 32, once per population size a conditioned model is measured at."""

    def __init__(self, seeds: Sequence[int]) -> None:
        self.gens = [torch.Generator().manual_seed(s) for s in seeds]
        self.meta = torch.empty(0).device.type == "meta"

    def embeddings(self, cardinalities: Sequence[int], dim: int) -> nn.ParameterList:
        if self.meta:
            return nn.ParameterList([nn.Parameter(torch.empty(len(self.gens), card, dim)) for card in cardinalities])
        tables = []
        for card in cardinalities:
            tables.append(nn.Parameter(torch.stack([torch.randn(card, dim, generator=g) * 0.1 for g in self.gens])))
        return nn.ParameterList(tables)

    def linear(self, fan_in: int, fan_out: int) -> PopLinear:
        if self.meta:
            return PopLinear(torch.empty(len(self.gens), fan_in, fan_out), torch.empty(len(self.gens), 1, fan_out))
        pairs = [_linear_init(g, fan_in, fan_out) for g in self.gens]
        return PopLinear(torch.stack([w for w, _ in pairs]), torch.stack([b for _, b in pairs]))

    def group_linear(self, groups: int, fan_in: int, fan_out: int) -> PopGroupLinear:
        if self.meta:
            k = len(self.gens)
            return PopGroupLinear(torch.empty(k, groups, fan_in, fan_out), torch.empty(k, groups, 1, fan_out))
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

    embeddings: nn.ParameterList  # one table [K, cardinality, embedding_dim] per categorical column
    label_shift: torch.Tensor
    label_scale: torch.Tensor

    def __init__(self, shape: ModelShape, spec: ModelSpec, seeds: Sequence[int]) -> None:
        super().__init__()
        self.shape = shape
        self.spec = spec
        self.population = len(seeds)
        self.rescale = shape.label_scale is not None and (
            any(v != 1.0 for v in shape.label_scale) or any(v != 0.0 for v in shape.label_shift or ())
        )
        if self.rescale:
            # derived from the shape, so not part of the weights (persistent=False)
            self.register_buffer("label_shift", torch.tensor(shape.label_shift, dtype=torch.float32), persistent=False)
            self.register_buffer("label_scale", torch.tensor(shape.label_scale, dtype=torch.float32), persistent=False)

    def outputs(self, z: torch.Tensor) -> torch.Tensor:
        """Scores ``[K, B, T]`` from the last layer's ``z``: regression tasks back in their labels' units."""
        return torch.addcmul(self.label_shift, z, self.label_scale) if self.rescale else z

    @classmethod
    def flops_per_row(cls, shape: ModelShape, spec: ModelSpec) -> int:
        """Multiply-adds ×2 of one member's forward pass for one row."""
        raise NotImplementedError

    @staticmethod
    def input_dim(shape: ModelShape, spec: ModelSpec) -> int:
        return shape.n_num + spec.embedding_dim * len(shape.cardinalities)

    def __call__(self, batch: Any, cat: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
        """``model(batch)`` with ``batch = {"num": ..., "cat": ...}``, or ``model(num, cat)``; ``stacked=`` (one batch
        per member) is read from the shapes."""
        if isinstance(batch, Mapping):
            batch, cat = batch["num"], batch["cat"]
        kwargs.pop("stacked", None)
        return super().__call__(batch, cat, **kwargs)

    def inputs(self, num: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
        """Numeric features and every categorical column's embedding: ``[K, B, input_dim]``.

        ``num[B, f]`` and ``cat[B, c]`` are one batch for every member; ``num[K, B, f]``
        and ``cat[K, B, c]`` one batch per member (members trained under different seeds).
        """
        # index_select rather than table[:, ids]: the same values, a faster kernel on a busy CPU,
        # and deterministic on CUDA under torch.use_deterministic_algorithms
        if num.dim() == 2:
            parts = [num.unsqueeze(0).expand(self.population, -1, -1)]
            parts.extend(table.index_select(1, cat[:, j]) for j, table in enumerate(self.embeddings))
            return torch.cat(parts, dim=-1)
        k, b = cat.shape[0], cat.shape[1]
        parts = [num]
        for j, table in enumerate(self.embeddings):
            card = table.shape[1]
            offset = torch.arange(k, device=cat.device).unsqueeze(1) * card  # member k's rows of the flattened table
            flat = table.reshape(k * card, -1).index_select(0, (cat[..., j] + offset).flatten())
            parts.append(flat.view(k, b, -1))
        return torch.cat(parts, dim=-1)

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        """Member k's weights, population axis kept at size 1, on the CPU."""
        return {name: p.detach()[k : k + 1].cpu().clone() for name, p in self.named_parameters()}
