"""The pick end to end: a seeded fluke in a tiny study is caught by the confirmation before it is exported."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import optuna

import paretomoo
from paretomoo.cli import main
from paretomoo.spec import load_spec
from paretomoo.study import run_study


def add_fluke(spec_path: Path, like: int) -> int:
    """Store a copy of trial ``like`` (same λ) whose validation metrics read 0.999 everywhere: a trial the front
    ranks first that retraining cannot reproduce. Returns its number."""
    study = paretomoo.open_study(spec_path)
    t = study.store.study.trials[like]
    attrs = copy.deepcopy(t.user_attrs)
    attrs.pop("by_seed")  # its means are its own "val" now
    for task in study.spec.tasks:
        attrs["val"][task.name][task.metric] = 0.999
    values = [attrs["val"][task.name][task.metric] for task in study.spec.tasks]
    study.store.study.add_trial(optuna.trial.create_trial(params=t.params, distributions=t.distributions, values=values, user_attrs=attrs))
    return len(study.store.study.trials) - 1


def test_export_refuses_a_seed_fluke_and_takes_the_next_candidate_that_confirms(write_spec, capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("paretomoo.confirm.CANDIDATES", 1)  # confirm one candidate after the pick: a third of the training
    path = write_spec(trials=4, batch=4, epochs=1)
    run_study(load_spec(str(path)))
    fake = add_fluke(path, like=0)
    study = paretomoo.open_study(path)
    assert study.pick().trial == fake and "the best on every objective" in study.pick().reason
    verdict = study.summary.verdict
    assert verdict is not None and verdict.suggested is not None and study.summary.complete[verdict.suggested].number == fake

    # pick --noise says so in one line
    assert main(["pick", str(path), "--noise", "3"]) == 0
    out = capsys.readouterr().out
    assert f"trial {fake} is a seed fluke: retrained under 3 fresh seeds" in out
    assert "--take-confirmed exports the next candidate that confirms" in out

    # export refuses it, naming the first of the next candidates whose confirmation holds
    assert main(["export", str(path), "--noise", "3", "--out", str(tmp_path / "refused")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"paretomoo: error: trial {fake} is a seed fluke") and err.count("\n") == 1
    assert "in the balanced order that holds, can be exported with --take-confirmed" in err
    assert not (tmp_path / "refused").exists()
    found = re.search(r"trial (\d+), the next in the balanced order that holds", err)
    assert found is not None
    held = int(found[1])
    assert held == study.pick().order[1] != fake

    # --take-confirmed exports that candidate, and metrics.json records its confirmation
    code = main(["export", str(path), "--noise", "3", "--take-confirmed", "--out", str(tmp_path / "exp")])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith(f"trial {fake} is a seed fluke") and f"picked trial {held}: the first in the balanced order" in out
    assert f"confirmed: trial {held} retrained under 3 fresh seeds lands within its interval on every objective" in out
    assert "verified" in out
    metrics = json.loads((tmp_path / "exp" / "metrics.json").read_text())
    assert metrics["trial"] == held and metrics["seed_noise"]["confirmation"]["holds"] is True
    assert metrics["seed_noise"]["seeds"] == [1, 2, 3]

    # a trial named by number is exported whatever its confirmation says
    assert main(["export", str(path), "--trial", str(fake), "--noise", "3", "--out", str(tmp_path / "named"), "--no-verify"]) == 0
    assert f"trial {fake} is a seed fluke" in capsys.readouterr().out
    assert json.loads((tmp_path / "named" / "metrics.json").read_text())["seed_noise"]["confirmation"]["holds"] is False
