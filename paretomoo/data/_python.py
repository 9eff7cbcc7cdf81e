"""``source = "python"``: the data from the user's own loader.

``loader = "package.module:load"`` (or ``"file.py:load"``, relative to the spec
file) is called as ``load(**options)`` and returns a mapping with keys
``train``, ``val`` and ``test``, each

* a mapping of tensors (or numpy arrays), every one ``[n, ...]`` over the same rows;
* a map-style ``torch.utils.data.Dataset`` whose items are such mappings for one
  row (collated with ``torch.utils.data.default_collate``);
* an ``IterableDataset`` yielding rows or batches of such mappings (an item
  whose task labels are scalars is a row; ``[b]``, a batch of b rows).

Every split is read once into host memory as tensors: batching, shuffling and
seeds are then paretomoo's (a permutation per epoch from the training seed),
so common random numbers, resume, repeats and halving hold as for any source.
An ``IterableDataset`` is read once, in the order it yields, and then treated
like the others (its own shuffling, if any, fixes which rows fall in which
split, not the batch order).

Each task's ``label`` names an entry: a float label, NaN on rows where the task
is not measured (e.g. conversion on clicked rows only: those rows carry no loss
and no metric for it). A task's ``group`` names an integer entry. Every entry
that is not a task's label is a feature of the batch the model's ``forward``
reads (group ids too).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from paretomoo._imports import freeze, load_target, options_dict
from paretomoo.conditions import parse_conditions
from paretomoo.data._dataset import Dataset, Split
from paretomoo.data._source import Source
from paretomoo.errors import UserError

if TYPE_CHECKING:
    import torch

    from paretomoo.spec._sections import DataSpec, TaskSpec
    from paretomoo.spec._table import Table

SPLITS = ("train", "val", "test")
COLLATE_ROWS = 4096  # rows collated at a time from a map-style Dataset


@dataclass(frozen=True)
class PythonData:
    """``[data]`` keys of ``source = "python"``."""

    loader: str = ""
    loader_options: tuple[tuple[str, Any], ...] = ()  # the key `options`: keyword arguments of the loader
    base: str = field(default="", compare=False, metadata={"hash": False})  # the spec file's folder: imports start there
    labels: tuple[str, ...] = field(default=(), metadata={"hash": False})  # filled by link: the tasks' labels and where columns
    keys: tuple[str, ...] = field(default=(), metadata={"hash": False})  # the tasks' group columns


def _parse(t: Table, data: DataSpec) -> PythonData:
    loader = t.get("loader", str, None, 'loader = "my_data:load"')
    if not loader:
        raise UserError(
            'spec key \'data.loader\' is missing: source = "python" reads the data from your function; write loader = "my_data:load"'
        )
    if ":" not in loader:
        raise UserError(f'spec key \'data.loader\': {loader!r} is not an import path; write "package.module:load" or "file.py:load"')
    options = t.get("options", dict, {}, "options = { rows = 10000 }")
    return PythonData(loader=loader, loader_options=freeze(options))


def _link(data: DataSpec, tasks: tuple[TaskSpec, ...]) -> DataSpec:
    import dataclasses

    labels = [t.label for t in tasks]
    for t in tasks:
        for c in parse_conditions(t.where) if t.where else ():
            labels.append(c.column)
    keys = [t.group for t in tasks if t.group is not None]
    options = dataclasses.replace(data.options, labels=tuple(dict.fromkeys(labels)), keys=tuple(dict.fromkeys(keys)))
    return dataclasses.replace(data, options=options)


def _load(data: DataSpec, data_dir: str | Path | None = None) -> Dataset:
    opts: PythonData = data.options
    load = load_target(opts.loader, opts.base, "data.loader")
    try:
        out = load(**options_dict(opts.loader_options))
    except UserError:
        raise
    except Exception as exc:
        first = (str(exc).strip().splitlines() or ["(no message)"])[0]
        raise UserError(f"data.loader {opts.loader!r} raised {type(exc).__name__}: {first}") from None
    if not isinstance(out, Mapping) or any(s not in out for s in SPLITS):
        got = sorted(map(str, out)) if isinstance(out, Mapping) else type(out).__name__
        raise UserError(f"data.loader {opts.loader!r} returned {got}; return a mapping with keys 'train', 'val' and 'test'")
    splits = {s: _split(s, _tensors(out[s], s, opts.loader, opts.labels), opts) for s in SPLITS}
    return Dataset(num_names=(), cat_names=(), cardinalities=(), train=splits["train"], val=splits["val"], test=splits["test"])


def _tensors(part: Any, split: str, loader: str, labels: Sequence[str] = ()) -> dict[str, torch.Tensor]:
    """One split as ``{name: tensor [n, ...]}`` on the CPU, every entry over the same rows; ``labels`` (the tasks'
    label entries) tell an ``IterableDataset``'s rows from its batches."""
    from torch.utils.data import DataLoader, IterableDataset
    from torch.utils.data import Dataset as TorchDataset

    where = f"data.loader {loader!r}, split {split!r}"
    if isinstance(part, Mapping):
        out = {str(k): _as_tensor(v, f"{where}, entry {k!r}") for k, v in part.items()}
    elif isinstance(part, IterableDataset):
        out = _concat([_rows_or_batch(item, where, batched=_is_batch(item, labels)) for item in part], where)
    elif isinstance(part, TorchDataset) and hasattr(part, "__len__"):
        first = part[0] if len(part) else {}
        if not isinstance(first, Mapping):  # said before collation turns a tuple into a list
            raise UserError(f"{where}: an item is {type(first).__name__}; items must be mappings of named tensors (features and labels)")
        loader_ = DataLoader(part, batch_size=COLLATE_ROWS, shuffle=False)
        out = _concat([_rows_or_batch(b, where, batched=True) for b in loader_], where)
    else:
        raise UserError(f"{where} is {type(part).__name__}; return a mapping of tensors, a torch Dataset or an IterableDataset")
    if not out:
        raise UserError(f"{where} holds no entry; return features and labels as named tensors")
    sizes = {k: v.shape[0] if v.dim() else -1 for k, v in out.items()}
    if len(set(sizes.values())) != 1:
        raise UserError(f"{where}: entries differ in their number of rows ({sizes}); every entry must have one row per example")
    return out


def _as_tensor(v: Any, where: str) -> torch.Tensor:
    import torch

    if isinstance(v, torch.Tensor):
        t = v.detach().cpu()
    elif isinstance(v, np.ndarray):
        if v.dtype == object:
            raise UserError(f"{where} is an array of Python objects; give numbers (float labels, integer ids)")
        t = torch.from_numpy(np.ascontiguousarray(v))
    else:
        try:
            t = torch.as_tensor(v)
        except (TypeError, ValueError, RuntimeError):
            raise UserError(f"{where} is {type(v).__name__}, not a tensor; give a tensor or numpy array") from None
    if t.dim() == 0:
        raise UserError(f"{where} is a scalar; give one value per row ([n] or [n, ...])")
    return t


def _is_batch(item: Any, labels: Sequence[str]) -> bool:
    """Whether an item of an ``IterableDataset`` is a batch of rows: its first task label has one value per row
    (``[b]`` or ``[b, 1]``), where a row's label is one number."""
    if isinstance(item, Mapping):
        for name in labels:
            if name in item:
                return bool(np.ndim(item[name]) >= 1)
    return False


def _rows_or_batch(item: Any, where: str, batched: bool = False) -> dict[str, torch.Tensor]:
    """An item of a Dataset: one row (made a batch of one) or, when ``batched``, a collated batch."""
    import torch

    if not isinstance(item, Mapping):
        raise UserError(f"{where}: an item is {type(item).__name__}; items must be mappings of named tensors (features and labels)")
    out = {}
    for k, v in item.items():
        t = v if isinstance(v, torch.Tensor) else torch.as_tensor(np.asarray(v))
        out[str(k)] = t if batched else t.unsqueeze(0)
    return out


def _concat(parts: list[dict[str, torch.Tensor]], where: str) -> dict[str, torch.Tensor]:
    import torch

    if not parts:
        raise UserError(f"{where} yields no row")
    names = list(parts[0])
    for p in parts:
        if list(p) != names:
            raise UserError(f"{where}: items have different entries ({names} and {list(p)}); give every row the same names")
    return {n: torch.cat([p[n] for p in parts]) for n in names}


def _split(name: str, tensors: dict[str, torch.Tensor], opts: PythonData) -> Split:
    import torch

    n = next(iter(tensors.values())).shape[0]
    labels: dict[str, np.ndarray] = {}
    for col in opts.labels:
        if col not in tensors:
            raise UserError(
                f"data.loader {opts.loader!r}, split {name!r}: no entry {col!r} (a task's label or where column); "
                f"entries: {', '.join(sorted(tensors))}"
            )
        v = tensors[col]
        if v.dim() > 2 or (v.dim() == 2 and v.shape[1] != 1):
            raise UserError(
                f"data.loader {opts.loader!r}, split {name!r}: label {col!r} has shape {tuple(v.shape)}; give one value per row"
            )
        labels[col] = v.reshape(-1).to(torch.float32).numpy()
    keys: dict[str, np.ndarray] = {}
    for col in opts.keys:
        if col not in tensors:
            raise UserError(
                f"data.loader {opts.loader!r}, split {name!r}: no entry {col!r} (a task's group); entries: {', '.join(sorted(tensors))}"
            )
        v = tensors[col]
        if v.is_floating_point() or v.dim() != 1:
            raise UserError(
                f"data.loader {opts.loader!r}, split {name!r}: group {col!r} must be integer ids [n], got {v.dtype} {tuple(v.shape)}"
            )
        keys[col] = v.to(torch.int64).numpy()
    task_labels = set(opts.labels) - set(opts.keys)
    features = {k: v for k, v in tensors.items() if k not in task_labels}
    if not features:
        raise UserError(f"data.loader {opts.loader!r}, split {name!r} holds labels only; add the features the model reads")
    empty = np.zeros((n, 0), dtype=np.float32)
    return Split(
        num=empty,
        cat=np.zeros((n, 0), dtype=np.int64),
        labels=labels,
        keys=keys,
        name=name,
        features=features,
        unmeasured_nan=True,
    )


SOURCE = Source(
    "python",
    "your own loader: a function returning train/val/test as tensors or torch Datasets",
    PythonData,
    _parse,
    _load,
    link=_link,
)
