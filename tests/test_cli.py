"""The CLI end to end on a tiny study, and every bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from wsgiref.util import setup_testing_defaults

import optuna
import pytest

from paretomoo.cli import main


def call(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def done_study(write_spec, capsys):
    path = write_spec(trials=8, batch=4, rows=8000, epochs=2)
    code, out, err = call(capsys, "run", str(path))
    assert code == 0, err
    return path


def test_run_status_plot_pick_export(done_study: Path, capsys, tmp_path: Path, monkeypatch) -> None:
    path = str(done_study)
    code, out, err = call(capsys, "status", path)
    assert code == 0 and "study tiny: 8 complete" in out and "hypervolume" in out
    code, out, _ = call(capsys, "status", path, "--json")
    trials = json.loads(out)
    assert len(trials) == 8 and {t["state"] for t in trials} == {"complete"}
    assert set(trials[0]) >= {"number", "state", "lambda", "val", "test"}
    # by study name and storage URL instead of the spec file
    code, out, _ = call(capsys, "status", "tiny", "--storage", f"sqlite:///{tmp_path}/tiny.db", "--json")
    assert code == 0 and len(json.loads(out)) == 8

    monkeypatch.chdir(tmp_path)
    code, out, _ = call(capsys, "plot", path)
    assert code == 0
    for name in ("front_pairs.png", "hypervolume.png", "front_lambda.png"):
        f = tmp_path / "plots" / "tiny" / name
        assert f.stat().st_size > 10_000, name

    code, out, _ = call(capsys, "pick", path)
    assert code == 0 and "knee of the" in out and "test" in out
    code, out, _ = call(capsys, "pick", path, "--weights", "click_auc=1")
    assert code == 0 and "pseudo-weights" in out

    code, out, err = call(capsys, "export", path, "--pick", "--out", str(tmp_path / "exp"))
    assert code == 0, err
    assert "verified" in out
    assert {p.name for p in (tmp_path / "exp").iterdir()} == {"lambda.json", "metrics.json", "spec.toml", "model.pt"}


def test_progress_and_resume_message(write_spec, capsys) -> None:
    path = str(write_spec(trials=4, batch=4))
    assert call(capsys, "run", path)[0] == 0
    code, out, err = call(capsys, "run", path, "--trials", "8")
    assert code == 0
    assert "4/8 trials stored" in out
    assert "trial 8/8" in err and "ETA" in err and "hypervolume" in err


def test_optuna_dashboard_reads_the_study(done_study: Path, tmp_path: Path) -> None:
    from optuna_dashboard import wsgi

    app = wsgi(f"sqlite:///{tmp_path}/tiny.db")

    def get(url: str) -> dict:
        status: list[str] = []
        environ = {"PATH_INFO": url}
        setup_testing_defaults(environ)
        environ["wsgi.errors"] = sys.stderr
        body = app(environ, lambda s, h, *exc: status.append(s))
        assert status[0].startswith("200"), (url, status)
        return json.loads(b"".join(body))

    studies = get("/api/studies")["study_summaries"]
    assert [s["study_name"] for s in studies] == ["tiny"]
    detail = get(f"/api/studies/{studies[0]['study_id']}")
    assert len(detail["trials"]) == 8
    assert detail["objective_names"] == ["click_auc", "ad_click_auc", "search_ndcg@10", "fraud_pr_auc"]


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda t: t.replace("seed = 0\ndevice", "seed = 0\nsurprise = 1\ndevice"), "training.surprise"),
        (lambda t: t.replace("lr = 0.01", "lr = 'fast'"), "training.lr"),
        (lambda t: t.replace('metric = "auc"', 'metric = "f1"', 1), "tasks[0].metric"),
        (lambda t: t.replace('label = "fraud"', 'label = "fraud"\ndirection = "minimize"'), "tasks[3].direction"),
        (lambda t: t + "\n[lambda]\nbounds = { returns = [0.1, 0.5] }\n", "lambda.bounds.returns"),
        (lambda t: t + "\n[lambda]\nbounds = { click = [0.5, 1.0], fraud = [0.6, 1.0] }\n", "lambda.bounds"),
        (lambda t: t + "\n[lambda]\nfixed = { click = 0.5, fraud = 0.6 }\n", "lambda.fixed"),
        (lambda t: t.replace('optimizer = "nsga2"', 'optimizer = "cmaes"'), "search.optimizer"),
        (lambda t: t.replace("trials = 8", "trials = 0"), "search.trials"),
        (lambda t: t.replace("[data]", "[data]\nsplit = [0.5, 0.1, 0.1]").replace("rows = 6000\n", "rows = 6000\n"), "data.split"),
        (lambda t: t.replace('storage = "sqlite:', 'storage = "runs/x.db" #'), "study.storage"),
        (lambda t: t.replace("lr = 0.01", "lr = 0.01\n[extra]\nx = 1"), "extra"),
    ],
)
def test_bad_spec_is_one_line_exit_2(write_spec, capsys, tmp_path: Path, edit, key: str) -> None:
    good = write_spec()
    bad = tmp_path / "bad.toml"
    bad.write_text(edit(good.read_text()))
    code, out, err = call(capsys, "run", str(bad))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("paretomoo: error:") and "Traceback" not in err
    assert key in err, err
    assert not (tmp_path / "tiny.db").exists()  # nothing was created


def test_bad_inputs_name_the_problem(done_study: Path, capsys, tmp_path: Path) -> None:
    path = str(done_study)
    db = tmp_path / "tiny.db"
    before = stored(db)
    cases = [
        (["run", str(tmp_path / "missing.toml")], "does not exist"),
        (["run", path, "--storage", "nosuchdb://x"], "cannot open storage"),
        (["status", "nosuch", "--storage", f"sqlite:///{db}"], "no study named 'nosuch'"),
        (["status", "nosuch"], "is not a spec file"),
        (["pick", path, "--constraint", "fraud_pr_auc>>1"], "NAME>=VALUE"),
        (["pick", path, "--constraint", "returns_auc>=0.5"], "no objective is named 'returns_auc'"),
        (["pick", path, "--constraint", "fraud_pr_auc>=0.99"], "no trial satisfies"),
        (["pick", path, "--weights", "click_auc=-1"], "--weights"),
        (["export", path, "--trial", "99", "--out", str(tmp_path / "e")], "has no trial 99"),
        (["export", path, "--trial", "1", "--pick", "--out", str(tmp_path / "e")], "--trial"),
        (["run", path, "--trials", "zero"], "positive integer"),
        (["run", path, "--device", "tpu"], "invalid choice"),
    ]
    for argv, needle in cases:
        with pytest.raises(SystemExit) if argv[-1] in ("zero", "tpu") else _nullcontext():
            code, out, err = call(capsys, *argv)
            assert code == 2, (argv, err)
            assert needle in err and err.count("\n") == 1 and "Traceback" not in err, (argv, err)
        if argv[-1] in ("zero", "tpu"):
            err = capsys.readouterr().err
            assert needle in err and err.count("\n") == 1, err
    assert stored(db) == before  # nothing stored was touched
    assert len(before) == 8


def stored(db: Path) -> list[tuple]:
    """Everything the study holds, trial by trial (SQLite's WAL may move bytes around; this may not change)."""
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{db}")
    return [(t.number, t.state, t.params, t.values, t.user_attrs, t.system_attrs) for t in study.trials]


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False


def test_help_and_bad_specs_answer_without_loading_torch(tmp_path: Path) -> None:
    """--help, a bad flag and a bad spec answer at once: torch, Optuna and pymoo load only for real work."""
    import subprocess

    bad = tmp_path / "bad.toml"
    bad.write_text("[study]\n")
    code = (
        "import sys\n"
        "from paretomoo.cli import main\n"
        "for argv in (['run', '--help'], ['run', 'x.toml', '--trials', '0'], ['run', sys.argv[1]]):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = sorted(m for m in ('torch', 'optuna', 'pymoo') if m in sys.modules)\n"
        "print('loaded:', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(bad)], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("loaded: []"), out.stdout + out.stderr
    assert "spec key" in out.stderr  # the bad spec was read and refused
