"""FAMO: fast adaptive multitask optimization (Liu, Liang, Chen and Liu, NeurIPS 2023), Algorithm 1/2.

Task logits ``ξ[T]`` (start at 0), ``z = softmax(ξ)``. The model descends
``Σ_i (z_i / c) log(f_i + ε)`` with ``c = Σ_i z_i / (f_i + ε)`` held constant,
i.e. the update ``Σ_i w_i ∇f_i`` with ``w_i = z_i / (c (f_i + ε))`` (these
``w`` sum to 1 and are what ``backward`` returns). After the model's step the
same batch's losses are measured again and ``ξ`` takes one Adam step
(lr 0.025, weight decay γ = 0.001: the paper's values) along
``J_softmax(ξ)ᵀ δ``, ``δ_i = log(f_i + ε) - log(f_i' + ε)``: a task whose loss
fell more than the others loses weight. As in the authors' code
(github.com/Cranial-XIX/FAMO), ``ξ`` has its own Adam, not the model's
optimizer; the loss floors ``b_i`` are 0 (every loss here is ≥ 0).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from paretomoo.baselines._base import Method

LR = 0.025
GAMMA = 1e-3
EPS = 1e-8


class FAMO(Method):
    """Logits ``ξ[T]`` with their own Adam; one extra forward pass per step (the losses after the step)."""

    def __init__(self, lr: float = LR, gamma: float = GAMMA) -> None:
        self.lr, self.gamma = lr, gamma
        self.before: torch.Tensor | None = None

    def setup(self, n_tasks: int, device: torch.device, seed: int) -> list[nn.Parameter]:
        self.xi = nn.Parameter(torch.zeros(n_tasks, device=device))
        self.opt = torch.optim.Adam([self.xi], lr=self.lr, weight_decay=self.gamma)
        return []

    def backward(self, losses: torch.Tensor, shared: list[nn.Parameter], specific: list[nn.Parameter]) -> torch.Tensor:
        self.before = losses.detach()
        z = torch.softmax(self.xi.detach(), dim=0)
        c = (z / (self.before + EPS)).sum()
        ((z / c) * torch.log(losses + EPS)).sum().backward()
        return z / (c * (self.before + EPS))

    def after_step(self, recompute: Callable[[], torch.Tensor]) -> None:
        assert self.before is not None, "after_step before backward"
        delta = torch.log(self.before + EPS) - torch.log(recompute() + EPS)
        z = torch.softmax(self.xi.detach(), dim=0)
        self.xi.grad = z * (delta - (z * delta).sum())  # J_softmax(ξ)ᵀ δ
        self.opt.step()
