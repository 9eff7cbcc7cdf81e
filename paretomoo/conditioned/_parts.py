"""The R conditioned models where the study's trainers are: in this process, or one share of them per worker.

On a CPU the study's worker processes (``_parallel.ProcessPool``) sit idle while
the conditioned models train and are measured; so the models are split between
them, consecutive seeds per worker, each worker training and measuring its own
share with its own trainer (``ProcessPool.call``): the models are independent,
so this changes where they train, not what they are (model r draws its λ from a
generator of its own, ``_train.train_mixture``). Each process keeps its share
in ``_KEPT`` from one call to the next: the only traffic is λ in, metrics and,
once, the anchors out. In this process (``InProcess``: one worker, or a GPU) the
one share is every model, trained together as before.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from paretomoo.conditioned._mixing import Mixture
from paretomoo.conditioned._train import measure_mixture, train_mixture
from paretomoo.space import LambdaSpace
from paretomoo.trainer import Trainer

if TYPE_CHECKING:
    from paretomoo._parallel import InProcess, ProcessPool

_KEPT: dict[str, Mixture] = {}  # this process's share of the conditioned models of a study being measured, by key


class Parts:
    """R conditioned models (``seeds``) split between ``executor``'s processes; ``close`` frees them there."""

    def __init__(self, executor: InProcess | ProcessPool, seeds: Sequence[int]) -> None:
        self.executor = executor
        self.seeds = [int(s) for s in seeds]
        self.groups = [[int(s) for s in g] for g in np.array_split(np.array(self.seeds), min(executor.workers, len(self.seeds)))]
        self.key = uuid.uuid4().hex

    @property
    def models(self) -> int:
        return len(self.seeds)

    def train(self, alpha: float, seed: int) -> dict[str, torch.Tensor]:
        """Train every share; the anchors of all R models, as ``Mixture.state`` of the R models together."""
        states = self.executor.call(_train, [(self.key, g, alpha, seed) for g in self.groups])
        return {name: torch.cat([s[name] for s in states]) for name in states[0]}

    def load(self, state: dict[str, torch.Tensor]) -> None:
        """Give each share its anchors from ``state`` (``Mixture.state`` of the R models together)."""
        t = next(iter(state.values())).shape[0] // self.models  # anchors per model
        first, args = 0, []
        for g in self.groups:
            args.append((self.key, g, {name: w[first * t : (first + len(g)) * t] for name, w in state.items()}))
            first += len(g)
        self.executor.call(_load, args)

    def measure(self, lam: np.ndarray, splits: Sequence[str], primary_only: bool) -> list[list[dict[str, Any]]]:
        """``measure_mixture`` of every model at ``lam[N, T]``: ``[N][R]``, models in seed order."""
        parts = self.executor.call(_measure, [(self.key, lam, tuple(splits), primary_only)] * len(self.groups))
        return [[r for part in parts for r in part[i]] for i in range(len(lam))]

    def close(self) -> None:
        """Free each share; best effort: after a worker's failure the error that matters is the one already raised."""
        try:
            self.executor.call(_drop, [(self.key,)] * len(self.groups))
        except Exception:  # a pool that failed is closed by its owner anyway
            pass


def _train(trainer: Trainer, key: str, seeds: list[int], alpha: float, seed: int) -> dict[str, torch.Tensor]:
    spec = trainer.spec
    mix = train_mixture(trainer, LambdaSpace(spec.task_names, spec.lam), seeds, alpha, seed)
    _KEPT[key] = mix
    return mix.state()


def _load(trainer: Trainer, key: str, seeds: list[int], state: dict[str, torch.Tensor]) -> None:
    mix = Mixture(trainer.shape, trainer.spec.model, seeds, trainer.device)
    mix.load(state)
    _KEPT[key] = mix


def _measure(trainer: Trainer, key: str, lam: np.ndarray, splits: tuple[str, ...], primary_only: bool) -> list[list[dict[str, Any]]]:
    return measure_mixture(trainer, _KEPT[key], lam, splits=splits, primary_only=primary_only)


def _drop(trainer: Trainer, key: str) -> None:
    _KEPT.pop(key, None)
