"""``[data] source = "python"``: the user's loader, as tensors, a map-style Dataset or an IterableDataset, and NaN
labels (a task measured on some rows only) masked in losses and metrics."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, IterableDataset

from paretomoo.data import load_data
from paretomoo.errors import UserError
from paretomoo.models import ModelShape
from paretomoo.spec import StudySpec, load_spec
from paretomoo.tasks import all_metrics, metric_replicates
from paretomoo.trainer import Trainer

# -- the user's code: one data set given four ways, a model, a loss ------------------------------------------


def tensors(rows: int = 1000, seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """Features ``x [n, 3]``, ``user [n]``; labels ``click`` and ``buy`` (NaN where not clicked)."""
    g = torch.Generator().manual_seed(seed)

    def part(n: int) -> dict[str, torch.Tensor]:
        x = torch.randn(n, 3, generator=g)
        user = torch.randint(0, 10, (n,), generator=g)
        click = (x[:, 0] + 0.5 * torch.randn(n, generator=g) > 0).float()
        buy = (x[:, 1] + 0.5 * torch.randn(n, generator=g) > 0).float()
        return {"x": x, "user": user, "click": click, "buy": torch.where(click > 0, buy, torch.tensor(math.nan))}

    return {"train": part(rows), "val": part(rows // 2), "test": part(rows // 2)}


class Rows(Dataset):
    """A map-style Dataset: item i is row i as a dict of tensors (labels as Python floats)."""

    def __init__(self, split: dict[str, torch.Tensor]) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split["x"])

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {k: float(v[i]) if k in ("click", "buy") else v[i] for k, v in self.split.items()}


class Stream(IterableDataset):
    """An IterableDataset yielding rows (``batch = 0``) or batches of ``batch`` rows; counts its passes."""

    passes = 0

    def __init__(self, split: dict[str, torch.Tensor], batch: int = 0) -> None:
        self.split, self.batch = split, batch

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        type(self).passes += 1
        n = len(self.split["x"])
        if self.batch:
            for i in range(0, n, self.batch):
                yield {k: v[i : i + self.batch] for k, v in self.split.items()}
        else:
            for i in range(n):
                yield {k: v[i] for k, v in self.split.items()}


def as_numpy(rows: int = 1000) -> dict[str, dict[str, np.ndarray]]:
    return {s: {k: v.numpy() for k, v in part.items()} for s, part in tensors(rows).items()}


def as_rows(rows: int = 1000) -> dict[str, Rows]:
    return {s: Rows(part) for s, part in tensors(rows).items()}


def as_stream(rows: int = 1000) -> dict[str, Stream]:
    return {s: Stream(part) for s, part in tensors(rows).items()}


def as_batches(rows: int = 1000) -> dict[str, Stream]:
    return {s: Stream(part, batch=96) for s, part in tensors(rows).items()}


LOADERS = ["tensors", "as_numpy", "as_rows", "as_stream", "as_batches"]


class Tiny(nn.Module):
    def __init__(self, tasks: list[str], users: int) -> None:
        super().__init__()
        self.tasks = tasks
        self.user = nn.Embedding(users, 3)
        self.body = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, len(tasks)))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.body(torch.cat([batch["x"], self.user(batch["user"])], -1))  # [B, T] in task order


def build(tasks: list[str], shape: ModelShape) -> Tiny:
    return Tiny(tasks, shape.vocabulary("user"))


def focal(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(scores)
    pt = torch.where(labels > 0.5, p, 1 - p)
    return -((1 - pt) ** 2) * torch.log(pt.clamp(min=1e-7))


SPEC = """
[study]
name = "source"
storage = "sqlite:///{root}/source.db"
[data]
source = "python"
loader = "tests.test_python_source:{loader}"
[[tasks]]
name = "click"
metric = "auc"
[[tasks]]
name = "buy"
loss = "{buy_loss}"
metric = "auc"
[model]
type = "module"
factory = "tests.test_python_source:build"
population = "vmap"  # not "auto": its choice goes by timing, and the two modes differ in the last bits
[training]
epochs = 1
batch_size = 128
lr = 0.01
device = "cpu"
"""


def spec_for(root: Path, loader: str = "tensors", buy_loss: str = "bce") -> StudySpec:
    path = root / f"{loader}.toml"
    path.write_text(SPEC.format(root=root, loader=loader, buy_loss=buy_loss))
    return load_spec(path)


# -- one data set, however it is given -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    spec = spec_for(tmp_path_factory.mktemp("reference"))
    data = load_data(spec.data)
    return spec, data


@pytest.mark.parametrize("loader", LOADERS[1:])
def test_every_form_of_a_split_gives_the_same_data_and_the_same_training(reference, tmp_path, loader: str, one_torch_thread) -> None:
    spec, data = reference
    other = load_data(spec_for(tmp_path, loader).data)
    for split in ("train", "val", "test"):
        a, b = data.split(split), other.split(split)
        assert a.features is not None and b.features is not None
        assert list(a.features) == list(b.features) == ["x", "user"]  # the labels are not features
        for name in a.features:
            assert a.features[name].dtype == b.features[name].dtype and torch.equal(a.features[name], b.features[name]), name
        for name in ("click", "buy"):
            np.testing.assert_array_equal(a.labels[name], b.labels[name])  # NaN where not clicked, in both
    lam = np.array([[0.7, 0.3], [0.2, 0.8]])
    ours = Trainer(spec, data, "cpu").fit(lam)
    theirs = Trainer(spec, other, "cpu").fit(lam)
    assert [r.val for r in ours] == [r.val for r in theirs] and [r.test for r in ours] == [r.test for r in theirs]


def test_an_iterable_dataset_is_read_once(tmp_path) -> None:
    """Streamed splits are read once, in the order they yield; batches and shuffling are then paretomoo's."""
    Stream.passes = 0
    load_data(spec_for(tmp_path, "as_stream").data)
    assert Stream.passes == 3  # train, val, test: once each


# -- NaN labels: rows a task is not measured on -------------------------------------------------------------


@pytest.mark.parametrize("buy_loss", ["bce", "tests.test_python_source:focal"])
def test_a_nan_label_carries_no_loss_and_no_metric_whatever_the_model_says(tmp_path, buy_loss: str) -> None:
    spec = spec_for(tmp_path, buy_loss=buy_loss)
    trainer = Trainer(spec, load_data(spec.data), "cpu")
    assert trainer.masked == [False, True]  # the loader's NaN labels make buy a masked task
    y = trainer.val.y[:256]  # [B, T]
    unmeasured = torch.isnan(y[:, 1])
    assert 0 < int(unmeasured.sum()) < 256
    g = torch.Generator().manual_seed(1)
    scores = torch.randn(2, 256, 2, generator=g, requires_grad=True)  # [K, B, T]
    other = torch.where(unmeasured[None, :, None], torch.randn(2, 256, 2, generator=g) * 50, scores.detach())
    losses = trainer.losses(scores, y)
    assert torch.isfinite(losses).all()
    torch.testing.assert_close(trainer.losses(other, y)[:, 1], losses[:, 1].detach(), rtol=0, atol=0)
    losses[:, 1].sum().backward()
    assert scores.grad is not None and bool((scores.grad[:, unmeasured, 1] == 0).all())
    assert bool((scores.grad[:, ~unmeasured, 1] != 0).any())
    # metrics and their bootstrap replicates: the measured rows only
    task = spec.tasks[1]
    measured = ~unmeasured
    m = all_metrics(task, scores[0, :, 1].detach(), y[:, 1], None)
    assert m == all_metrics(task, other[0, :, 1], y[:, 1], None)
    assert m == all_metrics(task, scores[0, measured, 1].detach(), y[measured, 1], None)
    assert all(math.isfinite(v) for v in m.values())
    w = torch.ones(3, 256)
    reps = metric_replicates(task, scores[0, :, 1].detach(), y[:, 1], None, w)
    assert all(torch.equal(reps[name], metric_replicates(task, other[0, :, 1], y[:, 1], None, w)[name]) for name in reps)


# -- bad loaders: one line naming what is wrong -----------------------------------------------------------------


def bad_not_a_mapping() -> list[int]:
    return [1, 2, 3]


def bad_no_test() -> dict[str, Any]:
    return {k: v for k, v in tensors(100).items() if k != "test"}


def bad_split_type() -> dict[str, Any]:
    return {**tensors(100), "val": [1.0, 2.0]}


def bad_items() -> dict[str, Any]:
    class Pairs(Dataset):
        def __len__(self) -> int:
            return 4

        def __getitem__(self, i: int) -> tuple[torch.Tensor, float]:
            return torch.zeros(3), 1.0

    return {**tensors(100), "train": Pairs()}


def bad_lengths() -> dict[str, Any]:
    d = tensors(100)
    d["train"]["x"] = d["train"]["x"][:50]
    return d


def bad_objects() -> dict[str, Any]:
    d: dict[str, Any] = tensors(100)
    d["train"]["user"] = np.array(["a"] * 100, dtype=object)
    return d


def bad_scalar() -> dict[str, Any]:
    d = tensors(100)
    d["train"]["x"] = torch.tensor(1.0)
    return d


def bad_label_shape() -> dict[str, Any]:
    d = tensors(100)
    d["train"]["click"] = torch.zeros(100, 2)
    return d


def bad_raises() -> dict[str, Any]:
    raise FileNotFoundError("no such file: /data/events.parquet")


@pytest.mark.parametrize(
    ("loader", "needle"),
    [
        ("bad_not_a_mapping", "returned list; return a mapping with keys 'train', 'val' and 'test'"),
        ("bad_no_test", "returned ['train', 'val']; return a mapping with keys 'train', 'val' and 'test'"),
        ("bad_split_type", "split 'val' is list; return a mapping of tensors, a torch Dataset or an IterableDataset"),
        ("bad_items", "split 'train': an item is tuple; items must be mappings of named tensors"),
        ("bad_lengths", "split 'train': entries differ in their number of rows"),
        ("bad_objects", "split 'train', entry 'user' is an array of Python objects"),
        ("bad_scalar", "split 'train', entry 'x' is a scalar; give one value per row"),
        ("bad_label_shape", "split 'train': label 'click' has shape (100, 2); give one value per row"),
        ("bad_raises", "raised FileNotFoundError: no such file: /data/events.parquet"),
    ],
)
def test_a_loader_that_returns_the_wrong_things_is_a_one_line_error(tmp_path, loader: str, needle: str) -> None:
    with pytest.raises(UserError) as info:
        load_data(spec_for(tmp_path, loader).data)
    text = str(info.value)
    assert "\n" not in text and text.startswith(f"data.loader 'tests.test_python_source:{loader}'") and needle in text
