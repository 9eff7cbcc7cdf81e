"""Uncertainty weighting (Kendall, Gal and Cipolla, CVPR 2018).

One learnable log-variance ``s_i`` per task, and the loss ``Σ_i exp(-s_i) f_i + s_i``:
the paper's classification form with ``s = log σ²`` (its regression form,
which LibMTL uses for every task, is half of this; both have their minimum over
``s_i`` at ``s_i = log f_i``, so a task's weight ``exp(-s_i)`` tends to
``1 / f_i``). ``s`` starts at 0 (weight 1 for every task).
"""

from __future__ import annotations

import torch
from torch import nn

from paretomoo.baselines._base import Method


class UncertaintyWeighting(Method):
    """Learnable ``s[T]``, stepped by the loop's optimizer; the task weights are ``exp(-s)``."""

    def setup(self, n_tasks: int, device: torch.device, seed: int) -> list[nn.Parameter]:
        self.s = nn.Parameter(torch.zeros(n_tasks, device=device))
        return [self.s]

    def backward(self, losses: torch.Tensor, shared: list[nn.Parameter], specific: list[nn.Parameter]) -> torch.Tensor:
        weights = torch.exp(-self.s)
        (weights * losses + self.s).sum().backward()  # fills the model's gradients and s.grad = 1 - exp(-s) f
        return weights.detach()
