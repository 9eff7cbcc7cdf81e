"""Equal weighting: every task's loss weighs 1/T (the fixed-λ trial at the simplex's centre)."""

from __future__ import annotations

import torch
from torch import nn

from paretomoo.baselines._base import Method


class EqualWeighting(Method):
    """``Σ_i f_i / T``, one backward pass: the same gradients as ``Trainer.fit`` at λ = 1/T."""

    def setup(self, n_tasks: int, device: torch.device, seed: int) -> list[nn.Parameter]:
        self.w = torch.full((n_tasks,), 1.0 / n_tasks, device=device)
        return []

    def backward(self, losses: torch.Tensor, shared: list[nn.Parameter], specific: list[nn.Parameter]) -> torch.Tensor:
        (self.w * losses).sum().backward()
        return self.w
