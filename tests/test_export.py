"""An export reloads and reproduces the stored metrics."""

from __future__ import annotations

import json

import torch

import paretomoo
from paretomoo.export import evaluate_export, export_trial
from paretomoo.spec import load_spec
from paretomoo.store import Store


def test_export_reloads_and_reproduces_stored_metrics(write_spec, tmp_path) -> None:
    spec = load_spec(write_spec(trials=4, rows=8000, epochs=2))
    paretomoo.run_study(spec)
    store = Store.open(spec.name, spec.storage)
    rec = next(r for r in store.records() if r.state == "complete")
    out = export_trial(store, rec.number, tmp_path / "exp", reason="test")
    lam = json.loads((out / "lambda.json").read_text())
    assert lam == rec.lam
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["trial"] == rec.number and metrics["val"] == rec.val and metrics["test"] == rec.test

    model = paretomoo.load_model(out)  # the documented one-liner
    assert isinstance(model, torch.nn.Module)
    again_val = evaluate_export(out, "val")
    again_test = evaluate_export(out, "test")
    for task, ms in rec.val.items():
        for m, v in ms.items():
            assert abs(again_val[task][m] - v) < 1e-6, (task, m)
            assert abs(again_test[task][m] - rec.test[task][m]) < 1e-6, (task, m)


def test_corrupted_checkpoint_is_rerun_not_fatal(write_spec, tmp_path, capsys) -> None:
    spec = load_spec(write_spec(trials=4, rows=8000, epochs=2))
    paretomoo.run_study(spec)
    store = Store.open(spec.name, spec.storage)
    rec = next(r for r in store.records() if r.state == "complete")
    good = store.weights.load(rec.number)
    files = [p for p in (tmp_path / "tiny.artifacts").rglob("*") if p.is_file()]
    assert len(files) == 4
    for f in files:  # corrupt every stored checkpoint
        f.write_bytes(b"not a checkpoint")
    out = export_trial(store, rec.number, tmp_path / "exp")
    assert "re-ran trial" in capsys.readouterr().err
    again = store.weights.load(rec.number)  # repaired in place
    for name, tensor in good.items():
        torch.testing.assert_close(again[name], tensor)
    assert evaluate_export(out, "val")["click"]["auc"] == rec.val["click"]["auc"]
