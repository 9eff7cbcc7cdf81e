"""The contract every adaptive-weighting method follows, and the gradient helpers they share.

Call order, once per training (``_loop.train``):

1. ``setup(n_tasks, device, seed)`` → the method's own learnable parameters
   (UW's log-variances, GradNorm's weights; ``[]`` for the others). The loop
   steps them with AdamW at the model's learning rate and no weight decay.
2. Per batch: the loop clears every ``.grad``; ``backward(losses[T], shared,
   specific)`` fills ``.grad`` of the model's parameters (and of the method's
   own) and returns the task weights ``[T]`` it used; the loop steps the
   optimizers; ``after_step(recompute)`` lets the method update its state
   (``recompute()`` gives the losses ``[T]`` of the same batch under the updated
   model, without a graph; a method that does not call it pays nothing).

Shared and task-specific parameters (``split_parameters``): the task towers
(``towers.*``) and the MMoE/PLE task gates (``levels.<l>.task_gates.*``) are
stored fused across tasks, but each task's loss reaches only its own slice of
them; every other tensor (embeddings, the bottom, the experts, PLE's shared
gates) is shared. One exception: in a PLE of three or more levels, the task
gates of level l < levels - 2 feed task experts that the next level's shared
gate mixes into the shared stream, so every task reaches them: shared.
A gradient-aggregation method combines the per-task gradients of the shared
parameters only, and gives each task-specific slice the plain gradient of its
own task's loss (TorchJD's ``mtl_backward`` convention). PLE's task-owned
experts share one fused tensor with its shared experts and count as shared;
in the last level only their own task reaches them, so they get that task's
gradient scaled by its weight in ``Jᵀw``.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from paretomoo.trainer import Trainer

_TASK_GATES = re.compile(r"^levels\.(\d+)\.task_gates\.")


def is_task_specific(name: str, levels: int = 1) -> bool:
    """Whether parameter ``name`` (from ``model.named_parameters()``) holds one slice per task that only its task reaches.

    ``levels``: the model's extraction levels (MMoE 1, PLE ``levels``; 1 for a shared bottom).
    """
    if name.startswith("towers."):
        return True
    gate = _TASK_GATES.match(name)
    return gate is not None and int(gate.group(1)) >= levels - 2


def split_parameters(model: nn.Module, losses: torch.Tensor | None = None) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """``(shared, specific)``, in ``named_parameters`` order.

    A built-in model's parameters are split by name (``is_task_specific``: its
    towers are fused across tasks, so every task's gradient reaches them). A
    user's module (``ModulePopulation``) is split by its graph: a parameter is
    shared when the losses ``losses[T]`` of two or more tasks give it a
    gradient (found once, on the first batch).
    """
    from paretomoo.models._module import ModulePopulation

    shared: list[nn.Parameter] = []
    specific: list[nn.Parameter] = []
    if isinstance(model, ModulePopulation):
        if losses is None:
            raise ValueError("a user module's parameters are split by the task losses that reach them; pass the first batch's losses")
        named = list(model.named_parameters())
        reached = [0] * len(named)
        for i in range(losses.shape[0]):
            grads = torch.autograd.grad(losses[i], [p for _, p in named], retain_graph=True, allow_unused=True)
            # under torch.vmap a parameter a task does not reach gets a zero gradient rather than None
            reached = [r + (g is not None and bool(g.ne(0).any())) for r, g in zip(reached, grads, strict=True)]
        for (_, p), r in zip(named, reached, strict=True):
            (shared if r >= 2 else specific).append(p)
        return shared, specific
    levels = getattr(model, "levels", None)
    n_levels = len(levels) if isinstance(levels, nn.ModuleList) else 1
    for name, p in model.named_parameters():
        (specific if is_task_specific(name, n_levels) else shared).append(p)
    return shared, specific


def shared_names(trainer: Trainer, seed: int) -> tuple[list[str], int] | None:
    """A user module's shared parameters as a baseline finds them (``split_parameters`` on the first batch): their
    names in the user's module, and how many parameter tensors it has; None for a built-in model (split by name)."""
    from paretomoo.models._module import ModulePopulation

    model = trainer.new_population([seed])
    if not isinstance(model, ModulePopulation):
        return None
    rows = min(trainer.spec.training.batch_size, len(trainer.train))
    losses = trainer.losses(model(trainer.train.rows(0, rows)), trainer.train.y[:rows])[0]
    shared, _ = split_parameters(model, losses)
    ids = {id(p) for p in shared}
    names = [user for user, p in model.weights()[0].items() if id(p) in ids]
    return names, len(model.param_names)


def task_gradients(losses: torch.Tensor, params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The gradient of every task's loss with respect to every parameter: one ``[T, *p.shape]`` per parameter.

    ``losses[T]``: one backward pass per task through the retained graph
    (freed after the last). A parameter a task does not reach gets zeros.
    """
    n = losses.shape[0]
    rows: list[list[torch.Tensor]] = []
    for i in range(n):
        grads = torch.autograd.grad(losses[i], list(params), retain_graph=i < n - 1, allow_unused=True)
        rows.append([torch.zeros_like(p) if g is None else g for g, p in zip(grads, params, strict=True)])
    return [torch.stack([row[j] for row in rows]) for j in range(len(params))]


def flatten(grads: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-parameter gradients ``[T, *p.shape]`` → the Jacobian ``[T, P]``."""
    return torch.cat([g.flatten(1) for g in grads], dim=1)


def assign(params: Sequence[nn.Parameter], vector: torch.Tensor) -> None:
    """Set ``p.grad`` of every parameter from one flat ``vector[P]``, in order."""
    offset = 0
    for p in params:
        p.grad = vector[offset : offset + p.numel()].view_as(p).clone()
        offset += p.numel()


class Method(abc.ABC):
    """One adaptive-weighting method: how a step's task losses become parameter gradients.

    See the module docstring for the call order. ``losses[T]`` is the mean
    loss of every task on the batch, with its graph; ``shared`` and
    ``specific`` come from ``split_parameters``. An instance serves one
    training.
    """

    def setup(self, n_tasks: int, device: torch.device, seed: int) -> list[nn.Parameter]:
        """Called once before the first step; returns the method's own parameters for the loop to optimise."""
        return []

    @abc.abstractmethod
    def backward(self, losses: torch.Tensor, shared: list[nn.Parameter], specific: list[nn.Parameter]) -> torch.Tensor:
        """Fill ``.grad`` for this step; return the weights ``[T]`` (detached) that each task's loss gradient got."""

    def after_step(self, recompute: Callable[[], torch.Tensor]) -> None:
        """Called after the optimizers stepped; ``recompute()`` gives the batch's losses ``[T]`` under the new weights."""
        return None  # most methods keep nothing across steps


class GramianMethod(Method):
    """A gradient-aggregation method that reads only the Gramian ``G = J Jᵀ`` of the shared parameters' Jacobian.

    ``backward`` computes ``J[T, P]`` task by task, asks ``weights(G)`` for
    ``w[T]``, gives the shared parameters ``Jᵀw`` and each task-specific slice
    its own task's gradient. A non-finite Gramian (a gradient overflowed) is
    not handed to ``weights``: w is NaN, the update NaN, and the next step's
    loss ends the training as failed, as a diverged fixed-λ trial does.
    """

    @abc.abstractmethod
    def weights(self, gramian: torch.Tensor) -> torch.Tensor:
        """``gramian[T, T]`` (float64, CPU, symmetric PSD) → the weights ``w[T]`` of the update ``Jᵀw``."""

    def backward(self, losses: torch.Tensor, shared: list[nn.Parameter], specific: list[nn.Parameter]) -> torch.Tensor:
        grads = task_gradients(losses, [*shared, *specific])
        jac = flatten(grads[: len(shared)])  # [T, P]
        j64 = jac.double()
        gram = (j64 @ j64.T).cpu()
        if bool(torch.isfinite(gram).all()):
            w = self.weights(gram).to(device=jac.device, dtype=jac.dtype)
        else:
            w = torch.full((jac.shape[0],), torch.nan, device=jac.device, dtype=jac.dtype)
        assign(shared, w @ jac)
        # each task reaches only its own slice of a task-specific tensor: the sum is every slice's own gradient
        for p, g in zip(specific, grads[len(shared) :], strict=True):
            p.grad = g.sum(dim=0)
        return w
