"""A trainer's device and data: which device, running out of its memory, the splits shared between processes,
the regression labels' standardisation and the batch entries a model is built for."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from paretomoo.data._tensors import TensorSplit
from paretomoo.errors import UserError
from paretomoo.spec import StudySpec


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r} was asked for but no CUDA GPU is visible; use --device auto or --device cpu")
    return device


def label_standardisation(spec: StudySpec, y: torch.Tensor) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    """Mean and sd of each regression task's training labels (0 and 1 for the others); ``(None, None)`` without regression tasks.

    ``y[n, T]`` holds the training labels, NaN where a task's ``where`` filter
    drops the row. An sd of 0 (a constant label) counts as 1.
    """
    if not any(t.loss == "mse" for t in spec.tasks):
        return None, None
    shift, scale = [], []
    for i, t in enumerate(spec.tasks):
        col = y[:, i][~torch.isnan(y[:, i])].to(torch.float64)
        if t.loss != "mse" or col.numel() == 0:
            shift.append(0.0)
            scale.append(1.0)
            continue
        sd = float(col.std(unbiased=False))
        shift.append(float(col.mean()))
        scale.append(sd if sd > 0 and math.isfinite(sd) else 1.0)
    return tuple(shift), tuple(scale)


def batch_entries(*splits: TensorSplit) -> tuple[tuple[str, str, tuple[int, ...], int], ...]:
    """Each batch entry as ``(name, dtype, shape of one row, vocabulary)``; the vocabulary (an integer entry's max id
    + 1 over every split, else 0) sizes a user model's embedding tables."""
    out = []
    for name, t in splits[0].features.items():
        vocab = 0
        if not t.is_floating_point() and t.dtype != torch.bool and t.numel():
            vocab = max(int(s.features[name].max()) for s in splits if s.features[name].numel()) + 1
        out.append((name, str(t.dtype).removeprefix("torch."), tuple(t.shape[1:]), vocab))
    return tuple(out)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says that a device (or the host) ran out of memory."""
    if isinstance(exc, torch.cuda.OutOfMemoryError | MemoryError):
        return True
    text = str(exc).lower()
    # CUDA: "CUDA out of memory"; the CPU allocator: "not enough memory: you tried to allocate"
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "not enough memory" in text)


@dataclass(frozen=True)
class SharedData:
    """A trainer's splits in shared memory (``Trainer.shared``): the trainer processes of a host build their own
    trainer from it (``Trainer(spec, shared)``) instead of another copy of the data."""

    train: TensorSplit
    val: TensorSplit
    test: TensorSplit
    n_num: int
    cardinalities: tuple[int, ...]
