"""Shared multi-task models in population form: shared-bottom, MMoE and PLE (CGC).

``MODELS`` is the registry: one entry per ``[model] type``, naming the class
that implements it; classes load (with torch) on first use, so reading a spec
or printing ``--help`` does not load torch. A new architecture is a module with a
:class:`~paretomoo.models._base.PopulationModel` subclass, listed here.

Input: a batch, ``{"num": [B, f] float, "cat": [B, c] int64 ids}`` (or
``model(num, cat)``). Output: ``[K, B, T]``, one score per task (a logit for
binary tasks, a value in the label's units for regression tasks).
``module`` is the population of a user's own ``nn.Module`` (``_module``), which
reads whatever entries the user's batch has.

* ``shared_bottom``: embeddings → one MLP bottom → one MLP tower per task.
* ``mmoe`` (Ma et al., KDD 2018) and ``ple`` (Tang et al., RecSys 2020; one
  level is CGC): see ``_experts``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from paretomoo._lazy import import_target

if TYPE_CHECKING:
    from paretomoo.models._base import ModelShape, PopLinear, PopulationModel
    from paretomoo.models._experts import PLE, MMoE
    from paretomoo.models._module import ModulePopulation
    from paretomoo.models._shared_bottom import SharedBottom
    from paretomoo.spec._sections import ModelSpec

__all__ = [
    "MODELS",
    "MMoE",
    "ModelShape",
    "ModulePopulation",
    "PLE",
    "PopLinear",
    "PopulationModel",
    "SharedBottom",
    "build_model",
    "flops_per_row",
]


@dataclass(frozen=True)
class ModelEntry:
    """One architecture: its spec name, the class (``module:Class``, loaded on first use) and a line of help."""

    name: str
    target: str
    help: str

    def load(self) -> type[PopulationModel]:
        cls: type[PopulationModel] = import_target(self.target)
        return cls


MODELS: dict[str, ModelEntry] = {
    e.name: e
    for e in (
        ModelEntry("shared_bottom", "paretomoo.models._shared_bottom:SharedBottom", "embeddings, one MLP bottom, one tower per task"),
        ModelEntry("mmoe", "paretomoo.models._experts:MMoE", "multi-gate mixture of experts"),
        ModelEntry("ple", "paretomoo.models._experts:PLE", "progressive layered extraction (levels = 1: CGC)"),
        ModelEntry("module", "paretomoo.models._module:ModulePopulation", "your own nn.Module, from [model] factory"),
    )
}

_LAZY = {
    "ModelShape": "paretomoo.models._base",
    "PopLinear": "paretomoo.models._base",
    "PopulationModel": "paretomoo.models._base",
    "SharedBottom": "paretomoo.models._shared_bottom",
    "MMoE": "paretomoo.models._experts",
    "PLE": "paretomoo.models._experts",
    "ModulePopulation": "paretomoo.models._module",
}


def build_model(shape: ModelShape, spec: ModelSpec, seeds: list[int]) -> PopulationModel:
    """The model a spec's ``[model]`` section declares, with one member per seed (``forward(batch)`` → ``[K, B, T]``)."""
    return MODELS[spec.type].load()(shape, spec, seeds)


def flops_per_row(shape: ModelShape, spec: ModelSpec) -> int:
    """Multiply-adds ×2 of one member's forward pass for one row (dense layers, gates and mixing; not embeddings)."""
    return MODELS[spec.type].load().flops_per_row(shape, spec)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'paretomoo.models' has no attribute {name!r}")
