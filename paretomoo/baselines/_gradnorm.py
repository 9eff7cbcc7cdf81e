"""GradNorm (Chen, Badrinarayanan, Lee and Rabinovich, ICML 2018), Algorithm 1.

Learnable weights ``w[T]`` (start at 1, renormalised to sum T after every
step); the model's loss is ``Σ_i w_i f_i``. The weights follow the gradient of

    L_grad = Σ_i |G_i - Ḡ · r_i^α|,   G_i = w_i ‖∇_W f_i‖,   r_i = L̃_i / mean(L̃),   L̃_i = f_i(t) / f_i(0)

with the target ``Ḡ r_i^α`` held constant, α = 1.5 (the paper's value for its
multi-task NYUv2 runs) and ``f_i(0)`` the losses of the first step (as the
paper; LibMTL instead trains epoch 0 with equal weights and takes that
epoch's mean loss, which a one-epoch study could not do). So a task
whose loss has fallen least (largest ``r_i``) gets a larger target norm and
its weight grows.

``W`` here is every shared parameter, not the paper's last shared layer: the
three architectures have no common "last shared layer" (MMoE's and PLE's
experts are mixed by task-specific gates, PLE's last level fuses task-owned and
shared experts), and on these small models the per-task gradients of all
shared parameters cost T backward passes, as they do for the
gradient-aggregation methods. Since ``∂G_i/∂w_i = ‖∇_W f_i‖``, the weights'
gradient is ``sign(G_i - target_i) ‖∇_W f_i‖`` in closed form (no second-order
pass); the model gets ``Σ_i w_i ∇f_i`` from the same per-task gradients.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from paretomoo.baselines._base import Method, assign, flatten, task_gradients

ALPHA = 1.5
MIN_WEIGHT = 1e-4  # a weight an Adam step took to or below zero is clamped here before renormalising


class GradNorm(Method):
    """Weights ``w[T]`` stepped by the loop's optimizer from the closed-form gradient of ``L_grad``."""

    def __init__(self, alpha: float = ALPHA) -> None:
        self.alpha = alpha
        self.initial: torch.Tensor | None = None  # f_i(0)

    def setup(self, n_tasks: int, device: torch.device, seed: int) -> list[nn.Parameter]:
        self.w = nn.Parameter(torch.ones(n_tasks, device=device))
        return [self.w]

    def backward(self, losses: torch.Tensor, shared: list[nn.Parameter], specific: list[nn.Parameter]) -> torch.Tensor:
        f = losses.detach()
        # f_i(0): the first step's loss; a task whose first batches held none of its rows (loss 0 under
        # a `where` filter) takes its first positive loss, and counts as on schedule (ratio 1) until then
        self.initial = f.clone() if self.initial is None else torch.where(self.initial > 0, self.initial, f)
        grads = task_gradients(losses, [*shared, *specific])
        jac = flatten(grads[: len(shared)])  # [T, P]
        w = self.w.detach().clone()
        norms = jac.norm(dim=1)  # ‖∇_W f_i‖
        g = w * norms
        ratio = torch.where(self.initial > 0, f / self.initial, torch.ones_like(f))
        target = g.mean() * (ratio / ratio.mean()) ** self.alpha
        self.w.grad = torch.sign(g - target) * norms
        assign(shared, w @ jac)
        for p, gp in zip(specific, grads[len(shared) :], strict=True):
            p.grad = torch.tensordot(w, gp, dims=1)
        return w

    def after_step(self, recompute: Callable[[], torch.Tensor]) -> None:
        with torch.no_grad():
            self.w.clamp_(min=MIN_WEIGHT)
            self.w.mul_(self.w.numel() / self.w.sum())
