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
def done_study(trained_study) -> Path:
    """``paretomoo run`` of an 8-trial study (trained once per test process, copied for each test)."""
    return trained_study(trials=8, batch=4, rows=8000, epochs=2, argv=())


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
    assert code == 0 and "balanced pick of the" in out and "its worst task" in out and "test" in out
    code, out, _ = call(capsys, "pick", path, "--method", "knee")
    assert code == 0 and "knee of the" in out
    code, out, _ = call(capsys, "pick", path, "--weights", "click_auc=1")
    assert code == 0 and "on every objective the weights name (click_auc=1.00)" in out
    code, out, _ = call(capsys, "pick", path, "--method", "pseudo-weights", "--weights", "click_auc=1")
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
        (["pick", path, "--method", "weights"], "method 'weights' needs weights"),
        (
            ["pick", path, "--method", "knee", "--weights", "click_auc=1"],
            "weights apply to the methods weights and pseudo-weights, not 'knee'",
        ),
        (["export", path, "--take-confirmed", "--out", str(tmp_path / "e")], "--take-confirmed needs --noise N"),
        (["export", path, "--trial", "1", "--method", "knee", "--out", str(tmp_path / "e")], "--trial names the trial itself"),
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


@pytest.fixture
def every_state(done_study: Path):
    """The done study plus one trial in each other state: running, interrupted (its retry waiting), failed, waiting."""
    import numpy as np

    from paretomoo.store import Store

    store = Store.open(str(done_study))
    store.queue.enqueue(np.zeros((4, 4)), batch=9)
    running, interrupted, failed = store.queue.pop(3)
    store.queue.release([interrupted])
    failed.set_user_attr("fail_reason", "training loss became NaN/inf in epoch 1")
    store.storage.set_trial_state_values(failed._trial_id, optuna.trial.TrialState.FAIL)
    states = {r.number: r.state for r in store.records()}
    numbers = {s: [n for n, st in states.items() if st == s] for s in ("running", "interrupted", "failed", "waiting")}
    assert all(numbers.values()), numbers
    return done_study, {s: ns[0] for s, ns in numbers.items()}


@pytest.mark.parametrize("state", ["running", "interrupted", "failed", "waiting"])
@pytest.mark.parametrize("noise", [[], ["--noise", "2"]])
def test_export_of_a_trial_without_a_model_is_one_line(every_state, capsys, tmp_path: Path, state: str, noise: list[str]) -> None:
    path, numbers = every_state
    before = stored(tmp_path / "tiny.db")
    out = tmp_path / "e"
    code, _, err = call(capsys, "export", str(path), "--trial", str(numbers[state]), *noise, "--out", str(out))
    assert code == 2 and err.count("\n") == 1, err
    assert f"trial {numbers[state]} is {state}, so it has no model to export" in err
    assert not out.exists()  # refused before anything was written or trained
    assert stored(tmp_path / "tiny.db") == before


def test_status_pick_and_plot_read_every_state(every_state, capsys, tmp_path: Path) -> None:
    path, numbers = every_state
    code, out, _ = call(capsys, "status", str(path))
    assert code == 0 and "1 failed" in out and "1 running" in out and "1 interrupted" in out and "8 complete" in out
    assert f"trial {numbers['failed']} failed: training loss became NaN/inf" in out
    trials = json.loads(call(capsys, "status", str(path), "--json")[1])
    assert {t["state"] for t in trials} == {"complete", "running", "interrupted", "failed", "waiting"}
    assert call(capsys, "pick", str(path))[0] == 0
    assert call(capsys, "plot", str(path), "--out", str(tmp_path / "p"))[0] == 0


def test_bad_paths_are_one_line(done_study: Path, capsys, tmp_path: Path) -> None:
    db = tmp_path / "tiny.db"
    before = stored(db)
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    garbage = tmp_path / "garbage.toml"
    garbage.write_bytes(bytes(range(256)) * 4)
    utf16 = tmp_path / "utf16.toml"
    utf16.write_bytes(done_study.read_text().encode("utf-16"))
    assert utf16.read_bytes()[:2] == b"\xff\xfe"
    cases = [
        (["run", str(garbage)], "not text in UTF-8 (byte 128 is 0x80); save it as UTF-8"),
        (["status", str(utf16)], "is UTF-16 text; save it as UTF-8"),
        (["run", str(tmp_path)], "is a folder; pass the path of a .toml study spec"),
        (["export", str(done_study), "--trial", "0", "--out", str(a_file)], f"--out {a_file} is a file, not a folder"),
        (["export", str(done_study), "--pick", "--out", "/proc/paretomoo-export"], "cannot write to the folder /proc/paretomoo-export"),
        (["plot", str(done_study), "--out", str(a_file)], f"--out {a_file} is a file, not a folder"),
        (["status", "tiny", "--storage", f"sqlite:///{a_file}/x.db"], f"no study database at {a_file}/x.db"),
        (["run", str(done_study), "--storage", f"sqlite:///{a_file}/x.db"], "cannot create the folder"),
        (["run", str(done_study), "--data-dir", str(tmp_path)], "--data-dir only applies to data sources that read files"),
        (["export", str(done_study), "--trial", "-1"], "has no trial -1"),
        (["status", "tiny", "--storage", f"sqlite:///{tmp_path}/nothere.db"], f"no study database at {tmp_path}/nothere.db"),
    ]
    for argv, needle in cases:
        code, _, err = call(capsys, *argv)
        assert code == 2 and needle in err and err.count("\n") == 1 and "Traceback" not in err, (argv, err)
    with pytest.raises(SystemExit) as exit_:
        main(["pick", str(done_study), "--noise", "1"])
    assert exit_.value.code == 2 and "at least 2" in capsys.readouterr().err
    assert stored(db) == before
    assert not (tmp_path / "nothere.db").exists()  # reading a study leaves no empty database behind


def test_a_column_name_with_a_hyphen_gets_the_backquote_hint(write_spec, capsys, tmp_path: Path) -> None:
    spec = tmp_path / "adult.toml"
    spec.write_text(
        '[study]\nname = "adult"\n[data]\nsource = "tabular"\ntrain = "adult.csv"\n'
        "[data.labels]\nrich = \"income == '>50K'\"\nsingle = \"marital-status == 'Never-married'\"\n"
        '[[tasks]]\nname = "rich"\nmetric = "auc"\n[[tasks]]\nname = "single"\nmetric = "auc"\n'
    )
    code, _, err = call(capsys, "run", str(spec))
    assert code == 2 and err.count("\n") == 1
    assert "spec key 'data.labels.single'" in err and "write it in backquotes: `marital-status`" in err


def test_status_plot_and_pick_do_not_load_torch(done_study: Path, tmp_path: Path) -> None:
    """Reading a study needs the store, the front and matplotlib; training code (torch) stays unloaded."""
    import subprocess

    code = (
        "import sys\n"
        "from paretomoo.cli import main\n"
        "spec, out = sys.argv[1], sys.argv[2]\n"
        "assert main(['status', spec]) == 0 and main(['status', spec, '--json']) == 0\n"
        "assert main(['plot', spec, '--out', out]) == 0\n"
        "assert main(['pick', spec]) == 0 and main(['pick', spec, '--weights', 'click_auc=1'])  == 0\n"
        "print('loaded:', sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(done_study), str(tmp_path / "p")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("loaded: []"), out.stdout[-300:]


def test_names_in_the_cli_and_specs_come_from_the_registries() -> None:
    import dataclasses

    from paretomoo.cli import _parser
    from paretomoo.data import SOURCES
    from paretomoo.metrics import METRICS, metric_names
    from paretomoo.models import MODELS
    from paretomoo.proposers import PROPOSERS
    from paretomoo.spec import DataSpec, ModelSpec

    for name in PROPOSERS:  # every registered optimizer is accepted by the flag, and is what it says
        assert _parser().parse_args(["run", "x.toml", "--optimizer", name]).optimizer == name
        assert PROPOSERS[name].load().name == name
    with pytest.raises(SystemExit):
        _parser().parse_args(["run", "x.toml", "--optimizer", "cmaes"])
    from paretomoo.models import ModelShape, PopulationModel

    shape = ModelShape(n_num=3, cardinalities=(5,), n_tasks=2)
    for name, entry in MODELS.items():
        cls = entry.load()
        assert issubclass(cls, PopulationModel)  # one population interface, whoever wrote the model
        assert cls.flops_per_row(shape, ModelSpec(type=name)) > 0 or name == "module"  # a user's module: cost unknown
    for f in dataclasses.fields(ModelSpec):
        assert set(f.metadata.get("for", ())) <= set(MODELS), f.name  # model-specific keys name registered models
    own = {f.name for f in dataclasses.fields(DataSpec)}
    for source in SOURCES.values():
        assert not own & {f.name for f in dataclasses.fields(source.options)}, source.name  # no key means two things
    assert [m.split("@")[0] for m in metric_names()] == list(METRICS)


def test_a_resume_under_another_version_warns_in_one_line(done_study: Path, capsys) -> None:
    from paretomoo.store import Store

    Store.open(str(done_study)).study.set_user_attr("paretomoo_version", "0.0.1")
    code, out, err = call(capsys, "run", str(done_study), "--trials", "8")
    assert code == 0
    warning = [line for line in err.splitlines() if line.startswith("paretomoo: warning:")]
    assert len(warning) == 1 and "made by paretomoo 0.0.1" in warning[0] and "Traceback" not in err


@pytest.fixture
def repeated_study(trained_study) -> Path:
    """``paretomoo run --quiet`` of an 8-trial study with 2 seeds a λ (trained once per test process, copied for each test)."""
    return trained_study(trials=8, batch=4, rows=8000, epochs=2, extra="repeats = 2")


def test_status_and_pick_carry_the_noise(repeated_study: Path, capsys) -> None:
    path = str(repeated_study)
    code, out, _ = call(capsys, "status", path)
    assert code == 0 and "P(front)" in out and "seeds" in out and "±" in out
    assert "% interval)" in out  # the hypervolume's interval (and, when the means' volume lies outside it, why)
    # the verdict: at the data's conflict of 0.8 some objectives trade off beyond noise, named pair by pair, as the
    # study's summary finds them
    import paretomoo

    verdict = paretomoo.open_study(path).summary.verdict
    assert verdict is not None and verdict.trade_off.any(), verdict
    assert verdict.text in out and "no trade-off exceeds noise" not in out
    assert out.count("trade-off beyond noise (") == int(verdict.trade_off.sum()) // 2 > 0
    trials = json.loads(call(capsys, "status", path, "--json")[1])
    for t in trials:
        assert t["repeats"] == 2 and 0.0 <= t["p_front"] <= 1.0
        assert set(t["val_se"]) == set(t["val"]) and set(t["test_se"]) == set(t["test"])
        assert set(t["val_se"]["click"]) == set(t["val"]["click"])  # every metric has its error
    code, out, _ = call(capsys, "pick", path)
    assert code == 0 and "stability" in out and "within noise of trial" in out
    code, out, err = call(capsys, "pick", path, "--constraint", "fraud_pr_auc>=0.0@0.9")
    assert code == 0 and "fraud_pr_auc>=0@0.9" in out, err
    # the export holds the first seed's weights: they reproduce that seed's metrics, not the mean's
    out_dir = repeated_study.parent / "exp"
    code, out, err = call(capsys, "export", path, "--pick", "--out", str(out_dir))
    assert code == 0 and "verified" in out, err
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["seeds"] == [0, 1] and metrics["model_val"] != metrics["val"] and set(metrics["val_se"]) == set(metrics["val"])


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["pick", "{path}", "--constraint", "fraud_pr_auc>=0.2@1.5"], "the confidence after @ must lie within (0, 1), got 1.5"),
        (["pick", "{path}", "--constraint", "fraud_pr_auc>=0.2@0"], "the confidence after @ must lie within (0, 1), got 0"),
        (["pick", "{path}", "--constraint", "returns_auc>=0.2@0.9"], "no objective is named 'returns_auc'"),
        (["pick", "{path}", "--constraint", "fraud_pr_auc>=0.99@0.9"], "no trial satisfies fraud_pr_auc>=0.99@0.9"),
        (["run", "{path}", "--repeats", "0"], "--repeats must be >= 1, got 0"),
        (["run", "{path}", "--repeats", "front:1"], '--repeats: "front:R" needs R >= 2'),
        (["run", "{path}", "--repeats", "many"], "--repeats: cannot read 'many'"),
    ],
)
def test_bad_noise_inputs_are_one_line(repeated_study: Path, capsys, tmp_path: Path, argv: list[str], needle: str) -> None:
    before = stored(tmp_path / "tiny.db")
    code, _, err = call(capsys, *[a.format(path=repeated_study) for a in argv])
    assert code == 2 and needle in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert stored(tmp_path / "tiny.db") == before


def test_an_optimizer_from_the_command_line_is_checked_against_the_spec(write_spec, capsys, tmp_path) -> None:
    """``--optimizer`` replaces the spec's after the spec was checked: what the new optimizer cannot go with (a batch
    smaller than a generation) is the same one-line error as in the file, and nothing is stored."""
    path = write_spec(optimizer="random", batch=1)
    code, _, err = call(capsys, "run", str(path), "--optimizer", "nsga2")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "spec key 'search.batch' must be >= 2 for nsga2" in err
    assert not (tmp_path / "tiny.db").exists()
    in_the_file = write_spec("file.toml", optimizer="nsga2", batch=1)
    code, _, err_file = call(capsys, "run", str(in_the_file))
    assert code == 2 and err_file == err
