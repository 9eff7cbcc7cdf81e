"""``paretomoo export --format onnx``: one ONNX graph per export, checked with onnxruntime against torch.

A fixed model through a study and the CLI; conditioned models (built-in and a
user module) and a user module at one λ from export folders written here as
``export_trial`` writes them (anchors drawn apart, so λ changes the scores);
the one-line errors of a missing extra and of a module the exporter cannot trace.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

import paretomoo
from paretomoo._onnx import TOLERANCE, write_onnx
from paretomoo.conditioned import Mixture
from paretomoo.data import load_data
from paretomoo.errors import UserError
from paretomoo.export import _population
from paretomoo.models import build_model
from paretomoo.models._module import scores_of
from paretomoo.spec import load_spec
from paretomoo.trainer import Trainer

from ._module_models import FACTORY
from .conftest import tiny_text
from .test_cli import call

TASKS = ["click", "ad_click", "search", "fraud"]
MODULE = f'type = "module"\nfactory = "{FACTORY}"\n'
UNTRACEABLE = '''"""A module whose forward branches on a tensor's value."""
from torch import nn


class Branchy(nn.Module):
    def __init__(self, tasks, n_num):
        super().__init__()
        self.lin = nn.Linear(n_num, len(tasks))

    def forward(self, batch):
        x = batch["num"]
        if float(x.abs().max()) > 100:
            x = x / 100
        return self.lin(x)


def build(tasks, shape):
    return Branchy(tasks, shape.n_num)
'''


def export_folder(root: Path, model: str = "", conditioned: bool = False) -> Path:
    """An export folder as ``export_trial`` writes it, of a tiny spec's model (``model``: lines replacing the built-in
    shared bottom's): untrained weights; a conditioned model's anchors drawn apart from each other."""
    root.mkdir(parents=True, exist_ok=True)
    text = tiny_text(root, rows=1500)
    if model:
        text = text.replace("embedding_dim = 4\nbottom = [16, 8]\ntower = [8]\n", model)
    (root / "tiny.toml").write_text(text)
    spec = load_spec(root / "tiny.toml")
    shape = Trainer(spec, load_data(spec.data), "cpu").shape
    blob: dict[str, object] = {"shape": shape.to_dict(), "model": asdict(spec.model)}
    if conditioned:
        gen = torch.Generator().manual_seed(1)
        blob["state"] = {k: v + 0.3 * torch.randn(v.shape, generator=gen) for k, v in Mixture(shape, spec.model, [0]).state().items()}
        blob["conditioned"] = {"lam": [0.4, 0.3, 0.2, 0.1], "tasks": TASKS}
    elif spec.model.type == "module":
        pop = _population(shape, spec.model)
        blob["state"] = pop.user_state(pop.member_state(0))
    else:
        blob["state"] = build_model(shape, spec.model, [0]).state_dict()
    out = root / "exp"
    out.mkdir()
    torch.save(blob, out / "model.pt")
    (out / "spec.toml").write_text(spec.source_text)
    (out / "metrics.json").write_text(json.dumps({"spec_base": spec.base, "data_dir": None}))
    return out


def val_rows(path: Path) -> dict[str, torch.Tensor]:
    from paretomoo._onnx import _features

    return _features(path)


def run(path: Path, batch: dict[str, torch.Tensor], lam: np.ndarray | None = None) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {k: v.numpy() for k, v in batch.items()}
    if lam is not None:
        feeds["lam"] = lam.astype(np.float32)
    return sess.run(["scores"], feeds)[0]


def test_export_format_onnx_of_a_study_matches_torch(trained_study, capsys, tmp_path: Path) -> None:
    spec = trained_study(trials=4, batch=4, rows=3000)
    out = tmp_path / "e"
    code, text, err = call(capsys, "export", str(spec), "--trial", "0", "--out", str(out), "--format", "onnx")
    assert code == 0, err
    assert "model.pt, model.onnx)" in text and "verified onnx: onnxruntime's scores match torch's" in text
    assert sorted(p.name for p in out.glob("*.onnx")) == ["model.onnx"]
    batch = val_rows(out)
    torch_scores = paretomoo.load_model(out)(batch)[0].detach().numpy()
    got = run(out / "model.onnx", batch)
    assert got.shape == (300, 4) and np.abs(got - torch_scores).max() <= TOLERANCE
    one = run(out / "model.onnx", {k: v[:1] for k, v in batch.items()})  # the batch axis is dynamic, down to one row
    assert np.abs(one - torch_scores[:1]).max() <= TOLERANCE
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(out / "model.onnx")).metadata_props}
    assert json.loads(meta["paretomoo.tasks"]) == TASKS and json.loads(meta["paretomoo.inputs"]) == ["num", "cat"]
    code, text, err = call(capsys, "export", str(spec), "--trial", "1", "--out", str(out))  # --format pt into the same folder
    assert code == 0 and "model.pt)" in text and not (out / "model.onnx").exists()  # no graph of another trial left beside it


def test_a_conditioned_graph_takes_lambda_per_request_and_per_row(tmp_path: Path) -> None:
    out = export_folder(tmp_path, conditioned=True)
    files = write_onnx(out)
    assert [f.name for f in files.files] == ["model.onnx", "model_rows.onnx"] and files.notes == []
    assert files.verified is not None and files.verified <= TOLERANCE
    batch = val_rows(out)
    a, b = np.array([0.7, 0.1, 0.1, 0.1]), np.array([1.0, 0.0, 0.0, 3.0])  # b unnormalised: the graph divides by its sum
    at_a, at_b = run(out / "model.onnx", batch, a), run(out / "model.onnx", batch, b)
    assert np.abs(at_a - at_b).max() > 0.05  # λ changes the scores
    for lam, got in ((a, at_a), (b, at_b)):
        ref = paretomoo.load_model(out, lam=lam.tolist())(batch)[0].detach().numpy()
        assert np.abs(got - ref).max() <= TOLERANCE
    rows = np.where(np.arange(len(at_a))[:, None] % 2 == 0, a, b)  # λ a on even rows, b on odd ones
    per_row = run(out / "model_rows.onnx", batch, rows)
    assert np.abs(per_row[0::2] - at_a[0::2]).max() <= TOLERANCE and np.abs(per_row[1::2] - at_b[1::2]).max() <= TOLERANCE
    one = run(out / "model_rows.onnx", {k: v[1:2] for k, v in batch.items()}, rows[1:2])
    assert np.abs(one - at_b[1:2]).max() <= TOLERANCE


def test_user_modules_export_at_one_lambda_and_conditioned(tmp_path: Path) -> None:
    fixed = export_folder(tmp_path / "fixed", MODULE)
    files = write_onnx(fixed)
    assert [f.name for f in files.files] == ["model.onnx"] and files.verified is not None and files.verified <= TOLERANCE
    batch = val_rows(fixed)
    module = paretomoo.load_model(fixed)  # the user's own class
    assert np.abs(run(fixed / "model.onnx", batch) - scores_of(module(batch), TASKS, FACTORY).detach().numpy()).max() <= TOLERANCE

    cond = export_folder(tmp_path / "cond", MODULE, conditioned=True)
    files = write_onnx(cond)
    # one λ per request; one per row would run the module under torch.vmap, whose embedding lookup fixes the batch size
    assert [f.name for f in files.files] == ["model.onnx"] and files.verified is not None and files.verified <= TOLERANCE
    [note] = files.notes
    assert note.startswith("model_rows.onnx (one λ per row) not written: torch.vmap over the rows") and "batch size" in note
    lam = np.array([0.1, 0.2, 0.3, 0.4])
    ref = paretomoo.load_model(cond, lam=lam.tolist())(batch)[0].detach().numpy()
    got = run(cond / "model.onnx", batch, lam)
    assert np.abs(got - ref).max() <= TOLERANCE and np.abs(got - run(cond / "model.onnx", batch, np.array([1.0, 0, 0, 0]))).max() > 0.05


def test_a_module_the_exporter_cannot_trace_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "branchy.py").write_text(UNTRACEABLE)
    out = export_folder(tmp_path, f'type = "module"\nfactory = "{tmp_path / "branchy.py"}:build"\n')
    with pytest.raises(UserError) as err:
        write_onnx(out)
    text = str(err.value)
    assert "\n" not in text and "cannot be exported to ONNX: its forward branches on tensor values" in text
    assert "branchy.py:12 (if float(x.abs().max()) > 100:)" in text and text.endswith("export with --format pt")
    assert not (out / "model.onnx").exists()


def test_without_the_serve_extra_format_onnx_is_one_line_naming_the_install(trained_study, capsys, tmp_path: Path, monkeypatch) -> None:
    spec = trained_study(trials=4, batch=4, rows=3000)
    real = builtins.__import__

    def no_onnxruntime(name: str, *args: object, **kwargs: object) -> object:
        if name == "onnxruntime":
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnxruntime)
    out = tmp_path / "e"
    code, _, err = call(capsys, "export", str(spec), "--trial", "0", "--out", str(out), "--format", "onnx")
    assert code == 2 and err.count("\n") == 1, err
    assert "--format onnx needs the onnxruntime package" in err and "pip install 'paretomoo[serve]'" in err
    assert not out.exists()  # refused before anything was written
