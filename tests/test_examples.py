"""The examples in examples/ end to end through the CLI (run, pick, export, load_model), at test sizes; the sequence generator."""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

import paretomoo
from paretomoo.cli import main
from paretomoo.data import load_data, make_sequences
from paretomoo.spec import load_spec

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Path]]:
    """Copy an example into tmp_path with smaller sizes (``rows=``, ``epochs=``: each must appear once in its spec) and
    work there; the example's modules are forgotten afterwards (the examples' module names are their own, not unique)."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)

    def copy(name: str, **sizes: int) -> Path:
        folder = tmp_path / name
        shutil.copytree(EXAMPLES / name, folder, ignore=shutil.ignore_patterns("__pycache__", "runs", "exports"))
        spec = folder / "study.toml"
        text = spec.read_text()
        for key, value in sizes.items():
            text, n = re.subn(rf"\b{key} = \d+", f"{key} = {value}", text)
            assert n == 1, f"{name}/study.toml sets {key} {n} times"
        spec.write_text(text)
        monkeypatch.chdir(folder)
        return folder

    yield copy
    for mod in set(sys.modules) - before:
        if str(tmp_path) in str(getattr(sys.modules[mod], "__file__", "") or ""):
            del sys.modules[mod]


def call(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def run_pick_export(capsys: pytest.CaptureFixture[str], folder: Path) -> tuple[torch.nn.Module, dict]:
    """``paretomoo run`` (4 trials: one training pass), ``pick`` and ``export``; the exported model and its metrics."""
    out = call(capsys, "run", "study.toml", "--trials", "4", "--workers", "1", "--quiet")
    assert "4 complete" in out
    assert re.search(r"members: (vmap|sequential), 4 at a time", out), out
    status = json.loads(call(capsys, "status", "study.toml", "--json"))
    assert len(status) == 4 and all(t["state"] == "complete" for t in status)
    assert all(t["run"]["population"] in ("vmap", "sequential") and t["run"]["members"] == 4 for t in status)
    assert "picked trial" in call(capsys, "pick", "study.toml")
    out = call(capsys, "export", "study.toml", "--out", "exp")
    assert "verified" in out
    metrics = json.loads((folder / "exp" / "metrics.json").read_text())
    return paretomoo.load_model(folder / "exp"), metrics


def val_batch(folder: Path) -> dict[str, torch.Tensor]:
    """The validation split as the model's batch, and its labels: ``{name: [n, ...]}``."""
    data = load_data(load_spec(folder / "study.toml").data)
    split = data.val
    if split.features:
        out = dict(split.features)
    else:
        out = {"num": torch.as_tensor(split.num), "cat": torch.as_tensor(split.cat)}
    out.update({k: torch.as_tensor(v) for k, v in split.labels.items()})
    return out


def gauc(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> float:
    """AUC within each group with both classes, averaged weighted by the group's rows."""
    total = weight = 0.0
    for g in np.unique(groups):
        rows = groups == g
        if 0 < labels[rows].sum() < rows.sum():
            total += rows.sum() * roc_auc_score(labels[rows], scores[rows])
            weight += rows.sum()
    return total / weight


def test_shared_bottom(example, capsys) -> None:
    folder = example("shared_bottom", rows=4000, epochs=1)
    model, metrics = run_pick_export(capsys, folder)
    assert type(model) is sys.modules["mtl"].SharedBottom and not model.training
    batch = val_batch(folder)
    with torch.no_grad():
        scores = model({"num": batch["num"], "cat": batch["cat"]})
    for task in ("click", "ad_click"):
        auc = roc_auc_score(batch[task].numpy(), scores[task].numpy())
        assert auc == pytest.approx(metrics["val"][task]["auc"], abs=1e-6)


def test_sequence(example, capsys) -> None:
    folder = example("sequence", rows=3000, epochs=1)
    model, metrics = run_pick_export(capsys, folder)
    assert type(model) is sys.modules["din"].DIN and not model.training
    batch = val_batch(folder)
    features = {k: v for k, v in batch.items() if k not in ("click", "cart")}
    assert set(features) == {"user", "item", "history", "length", "dense"}  # the loader dropped the label it does not use
    with torch.no_grad():
        scores = model(features)  # [n, T], the spec's task order
    for i, task in enumerate(("click", "cart")):
        auc = roc_auc_score(batch[task].numpy(), scores[:, i].numpy())
        assert auc == pytest.approx(metrics["val"][task]["auc"], abs=1e-6)


def test_conversion(example, capsys) -> None:
    folder = example("conversion", rows=4000, epochs=1)
    model, metrics = run_pick_export(capsys, folder)
    assert type(model) is sys.modules["esmm"].ClickConversion and not model.training
    batch = val_batch(folder)
    with torch.no_grad():
        scores = model({k: v for k, v in batch.items() if k not in ("click", "conversion")})
    click, conversion = batch["click"].numpy(), batch["conversion"].numpy()
    assert np.isnan(conversion[click == 0]).all() and not np.isnan(conversion[click == 1]).any()
    # GAUC of the clicks by user; the conversion AUC on the clicked rows only
    expected = gauc(scores["click"].numpy(), click, batch["user"].numpy())
    assert expected == pytest.approx(metrics["val"]["click"]["gauc"], abs=1e-6)
    clicked = click == 1
    auc = roc_auc_score(conversion[clicked], scores["conversion"].numpy()[clicked])
    assert auc == pytest.approx(metrics["val"]["conversion"]["auc"], abs=1e-6)


def test_make_sequences() -> None:
    a, b = make_sequences(2000, seed=3, history=12, items=200), make_sequences(2000, seed=3, history=12, items=200)
    for s in a:
        for k in a[s]:
            torch.testing.assert_close(a[s][k], b[s][k], rtol=0, atol=0, equal_nan=True)  # the same draw for the same arguments
    assert [len(a[s]["user"]) for s in ("train", "val", "test")] == [1600, 200, 200]
    history, length = torch.cat([a[s]["history"] for s in a]), torch.cat([a[s]["length"] for s in a])
    assert history.shape[1] == 12 and int(length.min()) >= 1 and int(length.max()) <= 12
    valid = torch.arange(12)[None, :] < length[:, None]
    assert bool((history[valid] >= 1).all()) and bool((history[~valid] == 0).all())  # padded with 0 past the length
    item = torch.cat([a[s]["item"] for s in a])
    assert int(item.min()) >= 1 and int(item.max()) <= 200
    click = torch.cat([a[s]["click"] for s in a])
    conversion = torch.cat([a[s]["conversion"] for s in a])
    assert torch.isnan(conversion).equal(click == 0)
    assert 0.08 < float(click.mean()) < 0.16
    # the clicks depend on the history: a candidate the user clicked before is clicked far more often
    seen = (history == item[:, None]).any(dim=1)
    assert float(click[seen].mean()) > 2 * float(click[~seen].mean())
    assert make_sequences(2000, seed=4, history=12, items=200)["train"]["item"].ne(a["train"]["item"]).any()
