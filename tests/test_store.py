"""The store's edges: storage URLs as users type them, where weights go, and what a resumed study warns about."""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from paretomoo.data import load_data
from paretomoo.errors import StudyWarning, UserError
from paretomoo.spec import load_spec
from paretomoo.store import Store, open_storage
from paretomoo.store._storage import artifacts_folder, with_driver
from paretomoo.study import run_study

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_plain_postgresql_url_opens_with_the_postgres_extra(pg_storage: str) -> None:
    """``postgresql://`` with no driver named, as in docs/workers.md: psycopg 3, what the extra installs."""
    assert pg_storage.startswith("postgresql://")
    storage = open_storage(pg_storage)
    assert storage.engine.dialect.driver == "psycopg"


def test_a_missing_driver_names_the_extra(monkeypatch) -> None:
    for module in ("psycopg", "psycopg2"):
        monkeypatch.setitem(sys.modules, module, None)  # as if neither driver were installed
    with pytest.raises(UserError, match=r"needs the database driver 'psycopg'.*pip install 'paretomoo\[postgres\]'"):
        with_driver("postgresql://user@db.example/study")
    with pytest.raises(UserError, match="needs the database driver 'MySQLdb'.*pip install MySQLdb"):
        with_driver("mysql://user@db.example/study")
    with pytest.raises(UserError, match="write a SQLAlchemy URL"):
        with_driver("nosuchdb://x")


def test_psycopg2_alone_serves_a_plain_url(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "psycopg" else (object() if name == "psycopg2" else real(name, *a))
    )
    assert with_driver("postgresql://user:secret@db.example:5433/study") == "postgresql+psycopg2://user:secret@db.example:5433/study"
    assert with_driver("sqlite:///runs/x.db") == "sqlite:///runs/x.db"


def test_sqlite_storage_in_a_folder_that_cannot_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UserError, match="cannot create the folder"):
        open_storage(f"sqlite:///{blocker}/sub/x.db")
    with pytest.raises(UserError, match="names a folder"):
        open_storage(f"sqlite:///{tmp_path}")


def test_weights_follow_the_storage_unless_the_spec_names_a_folder(write_spec, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert artifacts_folder("sqlite:///runs/a.db", "a", None) == (tmp_path / "runs" / "a.artifacts")
    assert artifacts_folder("postgresql://h/db", "a", None) == (tmp_path / "runs" / "a.artifacts")
    assert artifacts_folder("sqlite:///runs/a.db", "a", "w") == (tmp_path / "w")
    # a spec without study.artifacts, run against another database: its weights go beside that database
    text = write_spec(trials=4).read_text()
    spec_path = tmp_path / "plain.toml"
    spec_path.write_text("\n".join(line for line in text.splitlines() if not line.startswith("artifacts")))
    store = run_study(load_spec(spec_path), storage=f"sqlite:///{tmp_path}/other/x.db")
    assert Path(store.artifacts) == tmp_path / "other" / "x.artifacts"
    assert len([p for p in (tmp_path / "other" / "x.artifacts").rglob("*") if p.is_file()]) == 4
    assert not (tmp_path / "tiny.artifacts").exists()


def test_resume_warns_when_the_version_changed(write_spec) -> None:
    spec = load_spec(write_spec(trials=4))
    store = run_study(spec)
    assert store.study.user_attrs["paretomoo_version"]
    store.study.set_user_attr("paretomoo_version", "0.0.1")
    with pytest.warns(StudyWarning, match="made by paretomoo 0.0.1"):
        run_study(spec.replace(search={"trials": 8}))
    with warnings.catch_warnings():
        warnings.simplefilter("error", StudyWarning)  # made by this version: no warning
        run_study(load_spec(write_spec("two.toml", name="two", trials=4)))
        run_study(load_spec(write_spec("two.toml", name="two", trials=8)))


def _shop(tmp_path: Path, rows: int) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 3))
    frame = pd.DataFrame(
        {
            "a": x[:, 0],
            "b": x[:, 1],
            "shop": rng.choice(["s1", "s2", "s3"], rows),
            "click": (x[:, 0] + rng.normal(size=rows) > 1).astype(int),
            "buy": (x[:, 1] + rng.normal(size=rows) > 1.5).astype(int),
        }
    )
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    frame.to_csv(data / "shop.csv", index=False)
    spec = tmp_path / "specs" / "shop.toml"
    spec.parent.mkdir(exist_ok=True)
    spec.write_text(
        f"""
[study]
name = "shop"
storage = "sqlite:///{tmp_path}/shop.db"

[data]
source = "tabular"
data_dir = "../data"
train = "shop.csv"
numeric = ["a", "b"]

[data.labels]
click = "click == 1"
buy = "buy == 1"

[[tasks]]
name = "click"
metric = "auc"

[[tasks]]
name = "buy"
metric = "auc"

[model]
embedding_dim = 2
bottom = [8, 4]
tower = [4]

[training]
epochs = 1
batch_size = 256
device = "cpu"
population = 2

[search]
optimizer = "random"
trials = 2
batch = 2
"""
    )
    return spec


def test_resume_warns_when_the_data_changed(tmp_path: Path) -> None:
    spec_path = _shop(tmp_path, 3000)
    run_study(load_spec(spec_path))
    _shop(tmp_path, 3200)  # the same file name, 200 rows more
    with pytest.warns(StudyWarning, match=r"resumes on data that differ .*files, head_sha256, rows changed"):
        run_study(load_spec(spec_path).replace(search={"trials": 4}))


def test_a_study_opened_by_name_reads_its_data_where_it_was_made(tmp_path: Path, monkeypatch) -> None:
    spec_path = _shop(tmp_path, 3000)
    run_study(load_spec(spec_path))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the spec's data_dir is relative to the spec file, not to here
    store = Store.open("shop", f"sqlite:///{tmp_path}/shop.db")
    assert store.spec.data.options.data_dir == str((tmp_path / "data").resolve())
    assert len(load_data(store.spec.data).train) == 2400


def test_a_study_of_unscaled_regression_labels_is_refused_with_the_reason(write_spec) -> None:
    spec = load_spec(write_spec(trials=4))
    store = run_study(spec)
    store.study.set_user_attr("spec_hash", spec.result_hash(standardised_labels=False))  # as a study of 0.1 stored it
    with pytest.raises(UserError, match="did not standardise regression labels"):
        run_study(spec.replace(search={"trials": 8}))


def _finished_trials(n: int) -> list:
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    dists = {"logit_a": FloatDistribution(-3.0, 3.0), "logit_b": FloatDistribution(-3.0, 3.0)}
    out = []
    for i in range(n):
        params = {"logit_a": 0.1 * i - 2.0, "logit_b": -0.05 * i}
        attrs = {"conditioned": i, "val": {"a": {"auc": 0.5 + i / 100}}, "lambda": {"a": 0.3, "b": 0.7}, "run": {"seed": 0}}
        if i % 7 == 3:
            out.append(create_trial(state=TrialState.FAIL, params=params, distributions=dists, user_attrs={**attrs, "fail_reason": "x"}))
        else:
            values = [0.5 + i / 100, float("inf") if i == 5 else 0.25 * i]
            out.append(create_trial(state=TrialState.COMPLETE, params=params, distributions=dists, values=values, user_attrs=attrs))
    return out


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_bulk_written_trials_read_back_as_optunas_own(tmp_path, request, backend: str) -> None:
    from paretomoo.store import open_storage
    from paretomoo.store._bulk import add_finished_trials

    url = request.getfixturevalue("pg_storage") if backend == "postgresql" else f"sqlite:///{tmp_path}/b.db"
    storage = open_storage(url)
    mine = optuna.create_study(storage=storage, study_name="bulk", directions=["maximize", "minimize"])
    theirs = optuna.create_study(storage=storage, study_name="own", directions=["maximize", "minimize"])
    theirs.enqueue_trial({"logit_a": 0.0, "logit_b": 0.0})  # a trial already there: numbering goes on after it
    mine.enqueue_trial({"logit_a": 0.0, "logit_b": 0.0})
    trials = _finished_trials(23)
    add_finished_trials(mine, storage, trials)
    theirs.add_trials(trials)
    a, b = mine.get_trials(deepcopy=False), theirs.get_trials(deepcopy=False)
    assert [t.number for t in a] == list(range(24))
    for x, y in zip(a, b, strict=True):
        assert (x.number, x.state, x.params, x.distributions, x.values, x.user_attrs) == (
            y.number,
            y.state,
            y.params,
            y.distributions,
            y.values,
            y.user_attrs,
        )
        assert x.datetime_start == y.datetime_start and x.datetime_complete == y.datetime_complete
