"""A split as device tensors, with the labels of a study's tasks; checks that every task can be measured on it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from paretomoo.conditions import OPS, parse_conditions
from paretomoo.data._dataset import Split
from paretomoo.errors import UserError
from paretomoo.metrics import NEEDS_BOTH, NEEDS_POSITIVE, NEEDS_ROWS, get_metric
from paretomoo.spec._sections import TaskSpec


@dataclass(frozen=True)
class TensorSplit:
    """A split as device tensors, with labels in task order.

    ``features`` are the entries of a batch, ``[n, ...]`` by name: ``num``
    (float32 ``[n, f]``) and ``cat`` (int64 ``[n, c]``) for the built-in
    sources, a user loader's own entries otherwise. ``y[n, T]`` float32;
    ``groups[t]`` is an int64 tensor of group ids for ranking task t, absent for
    the others. ``y[:, t]`` is NaN on the rows that task t is not measured on
    (its ``where`` filter, or a NaN label from a user loader): they add nothing
    to its loss or its metrics.
    """

    features: dict[str, torch.Tensor]
    y: torch.Tensor
    groups: dict[int, torch.Tensor]

    def __len__(self) -> int:
        return self.y.shape[0]

    @property
    def num(self) -> torch.Tensor:
        return self.features["num"]

    @property
    def cat(self) -> torch.Tensor:
        return self.features["cat"]

    def take(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """The batch of rows ``idx[B]``: ``{name: [B, ...]}`` (``index_select``: the rows of ``t[idx]``, a third of the time on a CPU)."""
        return {k: v.index_select(0, idx) for k, v in self.features.items()}

    def take_members(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        """One batch per member, rows ``rows[K, B]``: ``{name: [K, B, ...]}``."""
        flat = rows.flatten()
        return {k: v.index_select(0, flat).view(*rows.shape, *v.shape[1:]) for k, v in self.features.items()}

    def rows(self, begin: int, end: int) -> dict[str, torch.Tensor]:
        """The batch of rows ``begin:end``."""
        return {k: v[begin:end] for k, v in self.features.items()}


def to_tensors(split: Split, tasks: tuple[TaskSpec, ...], device: torch.device) -> TensorSplit:
    """Select the tasks' labels and grouping keys; move everything to ``device``.

    Refuses (``UserError``) a task whose primary metric would be undefined on this
    split, e.g. an AUC on a split with one class only: that would fail every trial.
    """
    ys = []
    groups: dict[int, torch.Tensor] = {}
    for i, t in enumerate(tasks):
        if t.label not in split.labels:
            raise UserError(f"task {t.name!r}: label {t.label!r} is not in the data; use one of {', '.join(sorted(split.labels))}")
        y = split.labels[t.label].astype(np.float32)
        kept = _where(split, t) if t.where is not None else np.ones(len(split), dtype=bool)
        absent = kept & np.isnan(y)
        if absent.any() and not split.unmeasured_nan:
            where = f" (where {t.where})" if t.where else ""
            raise UserError(
                f"task {t.name!r}: label {t.label!r} is missing on {int(absent.sum()):,} of the rows it is measured on{where} in the "
                f'{split.name or "a"} split; fill them in the file, or add a where filter that leaves them out (e.g. where = "click == 1")'
            )
        if t.where is not None:
            y = np.where(kept, y, np.float32(np.nan)).astype(np.float32)
        if t.group is not None:
            if t.group not in split.keys:
                raise UserError(
                    f"task {t.name!r}: group {t.group!r} is not a column of the data; use one of {', '.join(sorted(split.keys))}"
                )
            groups[i] = torch.as_tensor(split.keys[t.group], dtype=torch.int64, device=device)
        _check_defined(split, t, y)
        ys.append(y)
    if split.features:
        features = {k: v.to(device) for k, v in split.features.items()}
    else:
        features = {
            "num": torch.as_tensor(split.num, dtype=torch.float32, device=device),
            "cat": torch.as_tensor(split.cat, dtype=torch.int64, device=device),
        }
    return TensorSplit(features=features, y=torch.as_tensor(np.stack(ys, axis=1), device=device), groups=groups)


def _where(split: Split, task: TaskSpec) -> np.ndarray:
    """The rows a task's ``where`` filter keeps: a condition on the split's labels."""
    keep = np.ones(len(split), dtype=bool)
    for c in parse_conditions(task.where or ""):
        if c.column not in split.labels:
            raise UserError(
                f"task {task.name!r}: where {task.where!r} reads {c.column!r}, which is not a label of the data; use one of {', '.join(sorted(split.labels))}"
            )
        if isinstance(c.value, str):
            raise UserError(
                f"task {task.name!r}: where {task.where!r} compares a label with text; labels are numbers, write e.g. {c.column} == 1"
            )
        keep &= OPS[c.op](split.labels[c.column], c.value)
    return keep


def _check_defined(split: Split, task: TaskSpec, y: np.ndarray) -> None:
    """Raise if ``task``'s primary metric is undefined on this split (no rows, or one class for an AUC, ...)."""
    metric = get_metric(task.metric)
    needs = metric.needs if metric is not None else NEEDS_ROWS
    rows = y[~np.isnan(y)]
    where = f" (where {task.where})" if task.where else ""
    name = f"the {split.name} split" if split.name else "a split"
    fix = "use a larger file or another data.seed for the split, or a label/where filter whose rows hold both classes"
    if len(rows) == 0:
        raise UserError(f"task {task.name!r}: {name} has no row{where}, so its {task.metric} is undefined; {fix}")
    positive = int((rows > 0.5).sum()) if task.loss == "bce" else int((rows > 0).sum())
    if (needs == NEEDS_BOTH and positive in (0, len(rows))) or (needs == NEEDS_POSITIVE and positive == 0):
        has = "no positive" if positive == 0 else "only positive"
        raise UserError(
            f"task {task.name!r}: {name} has {has} rows ({len(rows):,} rows{where}, label {task.label!r}), so its {task.metric} is undefined (it needs {needs}); {fix}"
        )
