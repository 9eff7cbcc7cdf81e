"""In-memory multi-task dataset: numpy arrays per split, moved to a device once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from paretomoo.errors import UserError
from paretomoo.spec import TaskSpec


@dataclass(frozen=True)
class Split:
    """One split: ``num[n, f]`` float32, ``cat[n, c]`` int64, labels and keys by name."""

    num: np.ndarray
    cat: np.ndarray
    labels: dict[str, np.ndarray]
    keys: dict[str, np.ndarray]

    def __len__(self) -> int:
        return self.num.shape[0]


@dataclass(frozen=True)
class Dataset:
    num_names: tuple[str, ...]
    cat_names: tuple[str, ...]
    cardinalities: tuple[int, ...]
    train: Split
    val: Split
    test: Split

    def split(self, name: str) -> Split:
        return {"train": self.train, "val": self.val, "test": self.test}[name]


@dataclass(frozen=True)
class TensorSplit:
    """A split as device tensors, with labels in task order.

    ``y[n, T]`` float32; ``groups[t]`` is an int64 tensor of group ids for ranking
    task t, absent for the others.
    """

    num: torch.Tensor
    cat: torch.Tensor
    y: torch.Tensor
    groups: dict[int, torch.Tensor]

    def __len__(self) -> int:
        return self.num.shape[0]


def to_tensors(split: Split, tasks: tuple[TaskSpec, ...], device: torch.device) -> TensorSplit:
    """Select the tasks' labels and grouping keys; move everything to ``device``."""
    ys = []
    groups: dict[int, torch.Tensor] = {}
    for i, t in enumerate(tasks):
        if t.label not in split.labels:
            raise UserError(f"task {t.name!r}: label {t.label!r} is not in the data; use one of {', '.join(sorted(split.labels))}")
        ys.append(split.labels[t.label].astype(np.float32))
        if t.group is not None:
            if t.group not in split.keys:
                raise UserError(
                    f"task {t.name!r}: group {t.group!r} is not a column of the data; use one of {', '.join(sorted(split.keys))}"
                )
            groups[i] = torch.as_tensor(split.keys[t.group], dtype=torch.int64, device=device)
    return TensorSplit(
        num=torch.as_tensor(split.num, dtype=torch.float32, device=device),
        cat=torch.as_tensor(split.cat, dtype=torch.int64, device=device),
        y=torch.as_tensor(np.stack(ys, axis=1), device=device),
        groups=groups,
    )
