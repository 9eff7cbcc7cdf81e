"""One training under an adaptive-weighting method, on the terms of a fixed-λ trial.

The same data, model, initial weights, optimizer (``trainer.adamw``: AdamW at
the spec's lr and weight decay), epochs, batch size and batch order
(``torch.randperm`` from a CPU generator seeded with the training seed, one
permutation per epoch, as ``Trainer._train`` draws them), and the same task
losses; only how the losses become gradients differs (``Method.backward``).
The model has one member: a method reads one model's per-task gradients.
Measured by ``Trainer.evaluate``, so the result carries what a trial carries.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from paretomoo import _batches
from paretomoo.baselines._base import Method, split_parameters
from paretomoo.models import PopulationModel
from paretomoo.trainer import MemberResult, Trainer, adamw


def train(trainer: Trainer, method: Method, seed: int) -> MemberResult:
    """Train one model under ``method`` with training seed ``seed`` and measure it.

    Returns a ``MemberResult`` whose ``lam`` is the method's task weights,
    averaged over the steps of the last epoch trained and normalised to sum 1,
    and ``seconds`` the wall time of training (evaluation, the same for every
    method, is left out, so the time compares with the trials'). A non-finite
    task loss stops the training: the result has ``failed`` set (no state).
    """
    start = time.perf_counter()
    deterministic = torch.are_deterministic_algorithms_enabled()
    if trainer.device.type == "cuda":
        torch.use_deterministic_algorithms(True, warn_only=True)  # as Trainer._fit: reproducible weights
    try:
        model = trainer.new_population([seed])
        bad_epoch, lam = _train(trainer, model, method, seed)
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        result = trainer.evaluate(model, lam[None], [bad_epoch])[0]
    finally:
        torch.use_deterministic_algorithms(deterministic)
    result.seconds = seconds
    result.seed = seed
    return result


def _train(trainer: Trainer, model: PopulationModel, method: Method, seed: int) -> tuple[int, np.ndarray]:
    """The training loop: ``(bad_epoch, lam[T])``, ``bad_epoch`` -1 or the 1-based epoch whose loss became NaN/inf."""
    cfg, tasks = trainer.spec.training, trainer.spec.tasks
    n_tasks = len(tasks)
    own = method.setup(n_tasks, trainer.device, seed)
    opts = [adamw(list(model.parameters()), cfg.lr, cfg.weight_decay)]
    if own:
        opts.append(adamw(own, cfg.lr, 0.0))  # a method's own weights are not decayed towards 0

    def batch_losses(batch: dict[str, torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        return trainer.losses(model(batch), y)[0]  # [T]

    shared: list[torch.nn.Parameter] | None = None
    specific: list[torch.nn.Parameter] = []
    lam = np.full(n_tasks, np.nan)
    model.train()
    for epoch, batches in _batches.epochs(trainer.train, [seed], cfg.batch_size, 0, cfg.epochs):
        total, steps = torch.zeros(n_tasks, dtype=torch.float64, device=trainer.device), 0
        for batch, y, _ in batches:
            losses = batch_losses(batch, y)  # [T]
            if shared is None:
                shared, specific = split_parameters(model, losses)
            if not bool(torch.isfinite(losses).all()):
                if steps:
                    lam = _normalised(total)
                return epoch + 1, lam
            for opt in opts:
                opt.zero_grad(set_to_none=True)
            weights = method.backward(losses, shared, specific)
            for opt in opts:
                opt.step()

            def recompute(batch: dict[str, torch.Tensor] = batch, y: torch.Tensor = y) -> torch.Tensor:
                with torch.no_grad():
                    return batch_losses(batch, y)

            method.after_step(recompute)
            total += weights.detach().to(total)
            steps += 1
        if steps:
            lam = _normalised(total)
    return -1, lam


def _normalised(total: torch.Tensor) -> np.ndarray:
    """Summed weights → weights on the simplex (NaN where they do not sum to a positive number)."""
    w = total.cpu().numpy()
    s = float(w.sum())
    return w / s if s > 0 and np.isfinite(s) else np.full(w.shape, np.nan)
