"""The public API (``paretomoo.open_study``): what a notebook does, and that the command line says the same."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import paretomoo
from paretomoo.cli import main
from paretomoo.errors import UserError
from paretomoo.front import hypervolume, pareto_mask, to_min

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def call(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def two_studies(trained_study) -> tuple[Path, Path]:
    """One spec searched by two optimizers, as two studies side by side (trained once per test process, copied for each test)."""
    paths = [
        trained_study(f"{name}.toml", name=name, optimizer=optimizer, trials=8, batch=4, rows=6000, epochs=1)
        for name, optimizer in (("tiny", "nsga2"), ("tiny-random", "random"))
    ]
    return paths[0], paths[1]


def test_the_notebook_session_matches_the_command_line(two_studies, capsys, tmp_path: Path, monkeypatch) -> None:
    spec_path, _ = two_studies
    study = paretomoo.open_study(spec_path)
    assert "complete trials" in repr(study)

    df = study.trials_dataframe()
    code, out, _ = call(capsys, "status", str(spec_path), "--json")
    stored = json.loads(out)
    assert len(df) == len(stored) == 8 and list(df["number"]) == [t["number"] for t in stored]
    for col in ("lambda_click", "val_click_auc", "val_se_click_auc", "test_fraud_pr_auc", "p_front", "on_front", "repeats"):
        assert col in df.columns, col
    for t, (_, row) in zip(stored, df.iterrows(), strict=True):
        assert row["val_click_auc"] == pytest.approx(t["val"]["click"]["auc"])
        assert row["test_fraud_pr_auc"] == pytest.approx(t["test"]["fraud"]["pr_auc"])
        assert row["lambda_ad_click"] == pytest.approx(t["lambda"]["ad_click"])
        assert row["p_front"] == pytest.approx(t["p_front"])
    assert np.allclose(df.filter(like="lambda_").sum(axis=1), 1.0)

    # the front is the non-dominated rows of the validation means
    values = df[[f"val_{o}" for o in study.spec.objectives]].to_numpy()
    mask = pareto_mask(to_min(values, study.spec.directions))
    assert list(study.front()["number"]) == list(df["number"][mask])

    # pick: the same trial and reason as the command line
    p = study.pick(constraints=["fraud_pr_auc>=0"])
    code, out, _ = call(capsys, "pick", str(spec_path), "--constraint", "fraud_pr_auc>=0")
    assert code == 0 and out.startswith(f"picked trial {p.trial}: {p.reason}")
    assert all(line in out for line in p.lines()) and p.stability is not None and 0 <= p.stability <= 1
    assert study.pick(weights={"click_auc": 1.0}).reason == study.pick(weights="click_auc=1").reason

    e = study.export(tmp_path / "exp", weights={"click_auc": 1.0})
    assert e.verified is not None and e.verified <= 1e-4
    metrics = json.loads((e.path / "metrics.json").read_text())
    assert metrics["trial"] == e.pick.trial == study.pick(weights="click_auc=1").trial

    monkeypatch.chdir(tmp_path)
    assert [p.name for p in study.plot()] == ["front_pairs.png", "hypervolume.png", "front_lambda.png"]


def test_bad_api_input_is_a_user_error(two_studies, tmp_path: Path) -> None:
    study = paretomoo.open_study(two_studies[0])
    with pytest.raises(UserError, match="'clik_auc'"):
        study.pick(weights={"clik_auc": 1.0})
    with pytest.raises(UserError, match=r"export\(trial=N\) names the trial itself"):
        study.export(tmp_path / "x", trial=0, weights="click_auc=1")
    with pytest.raises(UserError, match="no study named 'nope'"):
        paretomoo.open_study("nope", storage=f"sqlite:///{tmp_path}/tiny.db")


def test_compare_measures_every_front_against_one_reference(two_studies, capsys, tmp_path: Path) -> None:
    a, b = (paretomoo.open_study(p) for p in two_studies)
    c = paretomoo.compare([a, b])
    assert c.studies == ["tiny", "tiny-random"] and c.same_data
    # every objective has a floor (AUC 0.5, PR-AUC 0): the common reference is each study's own
    assert np.allclose(c.ref, a.summary.ref_natural()) and np.allclose(c.ref, b.summary.ref_natural())
    assert c.hv == pytest.approx([a.summary.hv, b.summary.hv])
    # dominated[a, b] from first principles
    Fa = to_min(a.summary.values, c.directions)[a.summary.on_front]
    Fb = to_min(b.summary.values, c.directions)[b.summary.on_front]
    share = np.mean([np.any(np.all(Fa <= f, axis=1) & np.any(Fa < f, axis=1)) for f in Fb])
    assert c.dominated[0, 1] == pytest.approx(share)
    for j, best in enumerate(c.best):
        assert min(Fa[:, j].min(), Fb[:, j].min()) == [Fa, Fb][best][:, j].min()
    assert hypervolume(Fa, to_min(c.ref[None], c.directions)[0]) == pytest.approx(c.hv[0])
    # a study never dominates its own copy
    assert paretomoo.compare([a, a]).dominated[0, 1] == 0.0

    code, out, err = call(capsys, "compare", *map(str, two_studies), "--out", str(tmp_path / "cmp.html"))
    assert code == 0, err
    assert "tiny-random" in out and "dominates" in out and "best per objective" in out
    html = (tmp_path / "cmp.html").read_text()
    assert 'id="compare"' in html and "tiny-random" in html


def test_compare_refuses_studies_of_other_objectives(two_studies, write_spec, capsys) -> None:
    other = write_spec("other.toml", name="other", trials=4, batch=4)
    text = other.read_text().replace('metric = "pr_auc"', 'metric = "logloss"')
    other.write_text(text)
    assert call(capsys, "run", str(other), "--quiet")[0] == 0
    code, _, err = call(capsys, "compare", str(two_studies[0]), str(other))
    assert code == 2 and err.count("\n") == 1 and "measure different objectives" in err
    code, _, err = call(capsys, "compare", str(two_studies[0]))
    assert code == 2 and "at least two studies" in err


def test_baseline_trials_live_beside_the_search_and_never_in_it(two_studies) -> None:
    study = paretomoo.open_study(two_studies[0])
    before = (study.store.n_finished(), [r.number for r in study.store.records()])
    m = study.spec.tasks
    val = {t.name: {t.metric: 0.6} for t in m}
    rec = study.store.baselines.add(
        "uw", 0, val=val, test=val, val_se={}, test_se={}, weights={t.name: 1 / len(m) for t in m}, seconds=1.5, device="cpu", failed=None
    )
    assert rec.state == "complete" and rec.values == [0.6] * len(m)
    failed = study.store.baselines.add(
        "gradnorm", 0, val={}, test={}, val_se={}, test_se={}, weights={}, seconds=0.1, device="cpu", failed="loss became NaN"
    )
    assert failed.state == "failed" and failed.fail_reason == "loss became NaN"
    assert all(math.isnan(v) for v in failed.values)
    again = paretomoo.open_study(two_studies[0])
    assert [b.method for b in again.baselines()] == ["uw", "gradnorm"]
    assert {(b.method, b.seed, b.state) for b in again.baselines()} == {("uw", 0, "complete"), ("gradnorm", 0, "failed")}
    assert (again.store.n_finished(), [r.number for r in again.store.records()]) == before
    # the λ search's proposals and front see only λ trials
    assert len(again.summary.complete) == 8


def test_baselines_report_and_status_from_the_command_line(two_studies, capsys, tmp_path: Path, monkeypatch) -> None:
    from tests._browser import open_page

    spec = str(two_studies[0])
    code, out, err = call(capsys, "baseline", spec, "--method", "uw,pcgrad")
    assert code == 0, err
    # ew is trained too: every method's cost is measured against it
    for method in ("ew", "uw", "pcgrad"):
        assert f"baseline {method} (seed 0" in out, out
    assert "cost ÷ ew" in out and "dominate" in out
    study = paretomoo.open_study(spec)
    first = {b.method: b.seconds for b in study.baselines()}
    assert set(first) == {"ew", "uw", "pcgrad"}
    for b in study.baselines():
        assert b.state == "complete" and all(math.isfinite(v) for v in b.values + b.test_values)
        assert sum(b.weights.values()) == pytest.approx(1.0)
    # asked again: read from the store, not trained again
    assert call(capsys, "baseline", spec, "--method", "uw")[0] == 0
    assert {b.method: b.seconds for b in paretomoo.open_study(spec).baselines()} == first
    # the front's verdict on each baseline is dominance on the validation means
    from paretomoo.report._from_study import study_baselines

    s = study.summary
    F = to_min(s.values, s.directions)[s.on_front]
    numbers = [r.number for r, f in zip(s.complete, s.on_front, strict=True) if f]
    beaten, kept = [], []
    for row in study_baselines(study):
        f = to_min(np.asarray(row.values), s.directions)[0]
        dominated_by = [n for n, g in zip(numbers, F, strict=True) if np.all(g <= f) and np.any(g < f)]
        assert row.dominated_by == dominated_by
        assert row.method != "ew" or row.cost == 1.0
        (beaten if dominated_by else kept).append(row.method)

    code, out, _ = call(capsys, "status", spec)
    assert code == 0
    # status names the baselines the front dominates and those it does not, each in the one line that holds
    assert (f"the front dominates {', '.join(beaten)} (on the validation means)" in out) is bool(beaten), out
    assert (f"the front does not dominate {', '.join(kept)}: no front point" in out) is bool(kept), out
    assert ("the front dominates" in out) is bool(beaten) and ("the front does not dominate" in out) is bool(kept)
    monkeypatch.chdir(tmp_path)
    assert call(capsys, "plot", spec)[0] == 0

    code, out, err = call(capsys, "report", spec, "--out", str(tmp_path / "r" / "report.html"))
    assert code == 0, err
    page = open_page(tmp_path / "r" / "report.html", tmp_path / "browser")
    assert page.console == [] and page.requests == []
    for section in ("summary", "history", "scatter", "parallel", "front", "pick", "baselines"):
        assert f'id="{section}"' in page.dom, section
    for method in ("uw", "pcgrad", "Uncertainty weighting"):
        assert method in page.dom
    assert f"picked trial {study.pick().trial}" in page.dom


def test_bad_report_and_baseline_input_is_one_line(two_studies, write_spec, capsys, tmp_path: Path) -> None:
    from paretomoo.spec import load_spec
    from paretomoo.store import Store

    spec = str(two_studies[0])
    empty = write_spec("empty.toml", name="empty")
    Store.create_or_resume(load_spec(empty))
    (tmp_path / "taken").mkdir()
    cases = [
        (["baseline", spec, "--method", "dwa"], "unknown baseline method 'dwa'; use one of ew, uw"),
        (["report", str(empty)], "has no complete trial yet"),
        (["report", spec, "--out", str(tmp_path / "taken")], "is a folder; give the report's file name"),
        (["report", spec, "--out", "/proc/paretomoo/report.html"], "cannot write to the folder /proc/paretomoo"),
        (["report", spec, "--out", f"{spec}/report.html"], "is a file, not a folder; choose a path in a folder"),
        (["baseline", spec, "--method", ",,"], "--method names no method"),
        (["compare", spec, str(empty)], "'empty' has no complete trial yet"),
    ]
    for argv, needle in cases:
        code, _, err = call(capsys, *argv)
        assert code == 2 and err.startswith("paretomoo: error:") and err.count("\n") == 1 and "Traceback" not in err, (argv, err)
        assert needle in err, (argv, err)
    assert paretomoo.open_study(spec).baselines() == []


def test_a_pick_names_at_most_twenty_trials_within_noise() -> None:
    from paretomoo.api import WITHIN_SHOWN, Pick
    from paretomoo.store import Record

    rec = Record(number=3, state="complete", lam={}, values=[], val={}, test={}, batch=0, seconds=0.0, fail_reason=None)
    many = Pick(3, rec, "knee", list(range(1000)), 0.9, 200, "seed noise", None)
    line = many.lines()[0]
    assert line.endswith(f"trial {WITHIN_SHOWN - 1} and {1000 - WITHIN_SHOWN} more (Pick.within lists them all)")
    assert line.count("trial ") == WITHIN_SHOWN + 1  # "within noise of trial 3", then the twenty
    few = Pick(3, rec, "knee", [1, 2], 0.9, 200, "seed noise", None)
    assert few.lines()[0].endswith("trial 1, trial 2")
