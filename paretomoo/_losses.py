"""The optimizer of a population and how a member's task losses and λ become the one loss it minimises."""

from __future__ import annotations

import torch


def adamw(params: list[torch.nn.Parameter], lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over every parameter at once (``foreach``).

    Not the fused kernel: on a CPU it updates a tensor's last elements (those
    past its last full vector) in a scalar loop that rounds differently, and
    with K members in one tensor which member's elements fall there depends on
    K; so a member's weights would depend, in their last bits, on the population
    it trained in (seen with K = 3). ``foreach`` rounds every element alike; on 2
    CPU cores the fused step saved about 1 ms of a 30 ms population step.
    """
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, foreach=True)


# Smoothing of the smooth Tchebycheff scalarisation (Lin et al., ICML 2024): μ·logsumexp(λ(f − z)/μ) tends to
# max_i λ_i (f_i − z_i) as μ → 0. 0.1 keeps every task's gradient alive at the demo's loss scales (0.05-1).
TCHEBYCHEFF_MU = 0.1


def _weighted_sum(lam: torch.Tensor, losses: torch.Tensor, ideal: torch.Tensor | None) -> torch.Tensor:
    """``Σ_i λ_i f_i`` per member: ``lam``, ``losses`` ``[K, T]`` → ``[K]``."""
    return (lam * losses).sum(dim=1)


def _tchebycheff(lam: torch.Tensor, losses: torch.Tensor, ideal: torch.Tensor | None) -> torch.Tensor:
    """Smooth Tchebycheff per member: ``μ log Σ_i exp(λ_i (f_i − z_i) / μ)``, ``z`` the member's lowest losses so far
    (the ideal point, running; the first step's own losses). Unlike the weighted sum it reaches the front's
    non-convex parts."""
    z = losses.detach() if ideal is None else ideal
    return TCHEBYCHEFF_MU * torch.logsumexp(lam * (losses - z) / TCHEBYCHEFF_MU, dim=1)


# [search] scalarization: how a member's task losses and λ become the one loss it minimises.
SCALARIZATIONS = {"weighted_sum": _weighted_sum, "tchebycheff": _tchebycheff}
