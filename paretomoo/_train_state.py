"""A member's training state part-way (a checkpoint): taking it after some epochs, and going on from it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from paretomoo.models import PopulationModel

# A member's training state part-way (Trainer.fit's checkpoint / start): "epochs", "step", "weights",
# "exp_avg", "exp_avg_sq" ({parameter: [1, ...]}) and "ideal" ([T]); plain tensors, so torch.load(weights_only=True) reads it.
Checkpoint = dict[str, Any]


def _start_epoch(start: Sequence[Checkpoint] | None, k: int, last: int) -> int:
    """The epoch every row of a ``fit`` starts from: 0, or the one its checkpoints share."""
    if start is None:
        return 0
    if len(start) != k:
        raise ValueError(f"start must give one checkpoint per row of lam ({k}), got {len(start)}")
    epochs = {int(c["epochs"]) for c in start}
    if len(epochs) != 1:
        raise ValueError(f"every checkpoint of one fit must stop at the same epoch, got {sorted(epochs)}")
    first = epochs.pop()
    if not 0 <= first < last:
        raise ValueError(f"checkpoints at epoch {first} cannot train on to epoch {last}")
    return first


def _resume(model: PopulationModel, opt: torch.optim.AdamW, start: Sequence[Checkpoint], device: torch.device) -> torch.Tensor:
    """Load every member's weights and AdamW moments from its checkpoint; return the running ideal point ``[K, T]``."""
    step = {float(c["step"]) for c in start}
    if len(step) != 1:
        raise ValueError(f"every checkpoint of one fit must have taken the same optimizer steps, got {sorted(step)}")
    steps = step.pop()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.cat([c["weights"][name] for c in start]).to(device))
            opt.state[p] = {
                # AdamW keeps its step count as a float32 scalar on the CPU unless it is capturable or fused
                "step": torch.tensor(steps, dtype=torch.float32),
                "exp_avg": torch.cat([c["exp_avg"][name] for c in start]).to(device),
                "exp_avg_sq": torch.cat([c["exp_avg_sq"][name] for c in start]).to(device),
            }
        for name, b in model.named_buffers():  # a user module's stacked buffers (BatchNorm's running statistics)
            if name in start[0]["weights"]:
                b.copy_(torch.cat([c["weights"][name] for c in start]).to(device))
    return torch.stack([c["ideal"] for c in start]).to(device)


def _checkpoint(model: PopulationModel, opt: torch.optim.AdamW, ideal: torch.Tensor | None, k: int, epochs: int) -> Checkpoint:
    """Member k's state after ``epochs`` epochs: weights, AdamW's moments and step count, the running ideal point."""
    params = dict(model.named_parameters())
    state = {name: opt.state[p] for name, p in params.items()}
    one = next(iter(state.values()))
    assert ideal is not None  # at least one step was taken
    return {
        "epochs": epochs,
        "step": float(one["step"]),
        "weights": model.member_state(k),
        "exp_avg": {name: st["exp_avg"].detach()[k : k + 1].cpu().clone() for name, st in state.items()},
        "exp_avg_sq": {name: st["exp_avg_sq"].detach()[k : k + 1].cpu().clone() for name, st in state.items()},
        "ideal": ideal[k].detach().cpu().clone(),
    }
