"""The tabular source: spec keys, encoding, splits, file formats, every error, the presets on the shared samples."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import paretomoo
from paretomoo.cli import main
from paretomoo.conditions import Condition, parse_conditions
from paretomoo.data import load_data
from paretomoo.errors import UserError
from paretomoo.export import evaluate_export, export_trial
from paretomoo.metrics import auc
from paretomoo.spec import load_spec
from paretomoo.store import Store
from paretomoo.study import run_study
from paretomoo.tasks import task_loss
from paretomoo.trainer import Trainer

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
pytestmark = pytest.mark.usefixtures("one_torch_thread")

STUDIES = Path(__file__).resolve().parents[1] / "studies"


SPEC = """
[study]
name = "shop"
storage = "sqlite:///{root}/shop.db"
artifacts = "{root}/shop.artifacts"

[data]
source = "tabular"
{data}

[data.labels]
{labels}

[[tasks]]
name = "paid"
metric = "auc"

[[tasks]]
name = "click"
metric = "auc"
{tasks}

[model]
type = "{model}"
embedding_dim = 4

[training]
epochs = 1
batch_size = 64
lr = 0.01
device = "cpu"
population = 2

[search]
optimizer = "random"
trials = 2
batch = 2
"""
DATA = 'train = "shop.csv"\nnumeric = ["age", "price"]\ndrop = ["row_id", "session"]'
LABELS = 'paid = "status == \'paid\'"\nclick = "clicks == 1"'


def shop_frame(n: int, seed: int) -> pd.DataFrame:
    """A small shop log: two learnable binary labels, a graded one, missing values, a session key."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    device = rng.choice(["ios", "android", "web"], n)
    country = rng.choice(["de", "fr", "us", "jp", "br"], n).astype(object)
    country[rng.random(n) < 0.05] = None
    price = np.round(rng.gamma(2.0, 20.0, n), 2)
    price[rng.random(n) < 0.05] = np.nan
    paid = rng.random(n) < 1 / (1 + np.exp(-(age - 45) / 8))
    clicks = (rng.random(n) < np.where(device == "web", 0.6, 0.15)).astype(int)
    return pd.DataFrame(
        {
            "row_id": np.arange(n),
            "session": rng.integers(0, n // 6, n),
            "age": age,
            "price": price,
            "country": country,
            "device": device,
            "status": np.where(paid, "paid", "open"),
            "clicks": clicks,
            "grade": rng.integers(0, 4, n),
        }
    )


def write_spec(
    root: Path, *, data: str = DATA, labels: str = LABELS, tasks: str = "", model: str = "mmoe", name: str = "shop.toml"
) -> Path:
    p = root / name
    p.write_text(SPEC.format(root=root, data=data, labels=labels, tasks=tasks, model=model))
    return p


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    shop_frame(600, 0).to_csv(tmp_path / "shop.csv", index=False)
    return tmp_path


def call(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


# -- spec ---------------------------------------------------------------------------


def test_conditions_parse_without_eval() -> None:
    assert parse_conditions("income_50k == '50000+.'") == (Condition("income_50k", "==", "50000+."),)
    assert parse_conditions('marital_stat=="Never married"') == (Condition("marital_stat", "==", "Never married"),)
    assert parse_conditions("price > 10") == (Condition("price", ">", 10.0),)
    assert parse_conditions("x>=-1.5e2") == (Condition("x", ">=", -150.0),)
    assert parse_conditions("a < 3 & b <= 4 & c != 'n/a'") == (
        Condition("a", "<", 3.0),
        Condition("b", "<=", 4.0),
        Condition("c", "!=", "n/a"),
    )
    assert parse_conditions("`unit price` > 0")[0].column == "unit price"
    assert parse_conditions("109_14 == 1")[0].column == "109_14"
    for bad in ("price >> 10", "status == paid", "price > 'ten'", "__import__('os')", "a == 1 | b == 2", "a == 1 &", ""):
        with pytest.raises(ValueError):
            parse_conditions(bad)


def test_tabular_spec_keys(tmp_path: Path) -> None:
    spec = load_spec(
        write_spec(
            tmp_path,
            tasks='\n[[tasks]]\nname = "rank"\nlabel = "grade"\nloss = "mse"\nmetric = "ndcg@5"\ngroup = "session"',
            labels=LABELS + '\ngrade = "grade"',
        )
    )
    assert spec.data.source == "tabular"
    d = spec.data.options
    assert d.train == "shop.csv" and d.val is None and d.test is None
    assert d.numeric == ("age", "price") and d.categorical is None and d.drop == ("row_id", "session")
    assert dict(d.labels) == {"paid": "status == 'paid'", "click": "clicks == 1", "grade": "grade"}
    assert d.keys == ("session",)  # collected from the tasks' group
    assert d.base == str(tmp_path.resolve()) and d.header is True
    # where the files lie is not part of what a trial computes; what they are is
    moved = spec.replace(data={"data_dir": "/elsewhere"})
    assert moved.result_hash() == spec.result_hash()
    assert spec.replace(data={"train": "other.csv"}).result_hash() != spec.result_hash()


# -- loading and encoding --------------------------------------------------------------


def test_encoding_uses_the_training_split_only(tmp_path: Path) -> None:
    train, val, test = shop_frame(300, 0), shop_frame(100, 1), shop_frame(100, 2)
    val.loc[3, "country"] = "zz"  # a value never seen in training
    val.loc[4, "device"] = None
    for name, frame in (("tr", train), ("va", val), ("te", test)):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    data_keys = 'train = "tr.csv"\nval = "va.csv"\ntest = "te.csv"\nnumeric = ["age", "price"]\ncategorical = ["country", "device"]'
    data = load_data(load_spec(write_spec(tmp_path, data=data_keys)).data)
    assert data.num_names == ("age", "price") and data.cat_names == ("country", "device")
    assert (len(data.train), len(data.val), len(data.test)) == (300, 100, 100)
    assert data.train.num.dtype == np.float32 and data.train.cat.dtype == np.int64

    # numeric: the TRAIN mean and sd, on every split; a missing value becomes the train mean (0)
    mean, sd = train["price"].mean(), train["price"].std(ddof=0)
    np.testing.assert_allclose(data.val.num[:, 1], np.nan_to_num((val["price"] - mean) / sd, nan=0.0), rtol=1e-5, atol=1e-6)
    assert abs(data.train.num[:, 0].mean()) < 1e-5 and abs(data.train.num[:, 0].std() - 1) < 1e-4
    assert (data.val.num[val["price"].isna().to_numpy(), 1] == 0).all()

    # categorical: 1 + position in the sorted training vocabulary; 0 = missing or unseen
    vocab = sorted(train["country"].dropna().unique())
    assert data.cardinalities == (len(vocab) + 1, 4)
    expected = val["country"].map({v: i + 1 for i, v in enumerate(vocab)}).fillna(0).astype(int).to_numpy()
    np.testing.assert_array_equal(data.val.cat[:, 0], expected)
    assert data.val.cat[3, 0] == 0 and data.val.cat[4, 1] == 0
    assert data.train.cat[:, 0].min() == 0  # training rows with a missing country share the bucket
    assert data.train.cat.max(axis=0).tolist() == [len(vocab), 3]

    # labels: float32 by name
    np.testing.assert_array_equal(data.test.labels["paid"], (test["status"] == "paid").to_numpy(np.float32))
    np.testing.assert_array_equal(data.test.labels["click"], test["clicks"].to_numpy(np.float32))


def test_one_file_split_at_random_and_the_mmoe_protocol(shop: Path) -> None:
    ids = LABELS + '\nrid = "row_id"'  # a bare column as a label: here, to see which rows went where

    def rows(data) -> list[set[int]]:  # type: ignore[no-untyped-def]
        return [set(data.split(s).labels["rid"].astype(int).tolist()) for s in ("train", "val", "test")]

    spec = load_spec(write_spec(shop, data=DATA + "\nsplit = [0.6, 0.2, 0.2]\nseed = 3", labels=ids))
    a = rows(load_data(spec.data))
    assert [len(r) for r in a] == [360, 120, 120] and set().union(*a) == set(range(600))
    assert rows(load_data(spec.data)) == a  # the same seed, the same split
    assert rows(load_data(spec.replace(data={"seed": 4}).data))[1] != a[1]

    # train + test files: the test file is halved at random into validation and test rows
    shop_frame(200, 1).to_csv(shop / "holdout.csv", index=False)
    spec = load_spec(write_spec(shop, data=DATA.replace('train = "shop.csv"', 'train = "shop.csv"\ntest = "holdout.csv"'), labels=ids))
    train, val, test = rows(load_data(spec.data))
    assert train == set(range(600))
    assert len(val) == len(test) == 100 and val | test == set(range(200))


def test_gzip_and_parquet_read_as_csv(shop: Path) -> None:
    pytest.importorskip("pyarrow")
    frame = pd.read_csv(shop / "shop.csv")
    frame.to_csv(shop / "shop.csv.gz", index=False)
    frame.to_parquet(shop / "shop.parquet", index=False)
    loaded = [
        load_data(load_spec(write_spec(shop, data=DATA.replace("shop.csv", name))).data)
        for name in ("shop.csv", "shop.csv.gz", "shop.parquet")
    ]
    for other in loaded[1:]:
        assert other.cardinalities == loaded[0].cardinalities
        for s in ("train", "val", "test"):
            np.testing.assert_allclose(other.split(s).num, loaded[0].split(s).num, rtol=1e-6)
            np.testing.assert_array_equal(other.split(s).cat, loaded[0].split(s).cat)
            for name, values in loaded[0].split(s).labels.items():
                np.testing.assert_array_equal(other.split(s).labels[name], values)


def test_parquet_without_pyarrow_says_what_to_install(shop: Path, monkeypatch) -> None:
    (shop / "shop.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # as if pyarrow were not installed
    with pytest.raises(UserError, match=r"needs pyarrow; install it with pip install 'paretomoo\[parquet\]'"):
        load_data(load_spec(write_spec(shop, data=DATA.replace("shop.csv", "shop.parquet"))).data)


def test_headerless_file_with_a_names_file(tmp_path: Path) -> None:
    """The UCI census layout: no header, ", " between fields, '?' for missing, labels ending in '.'."""
    rows = [
        "39, State gov, 77516, Divorced, 50000+.",
        "50, Private, ?, Never married, - 50000.",
        "38, ?, 215646, Divorced, - 50000.",
        "53, Private, 234721, Never married, 50000+.",
    ] * 10
    (tmp_path / "adult.data").write_text("\n".join(rows) + "\n")
    (tmp_path / "names.txt").write_text("age\nworkclass\nfnlwgt\nmarital\nincome\n")
    data_keys = 'train = "adult.data"\nnames_file = "names.txt"\nskipinitialspace = true\nna_values = ["?"]\nnumeric = ["age", "fnlwgt"]\nsplit = [0.5, 0.25, 0.25]'
    labels = "paid = \"income == '50000+.'\"\nclick = \"marital == 'Never married'\""
    spec = load_spec(write_spec(tmp_path, data=data_keys, labels=labels))
    assert spec.data.options.header is False
    data = load_data(spec.data)
    assert data.cat_names == ("workclass",)  # marital and income define labels; they are not inputs
    assert data.cardinalities[0] <= 3  # at most Private and State gov, and the bucket of '?' (missing)
    assert (data.train.cat[:, 0] == 0).any() and (data.train.num[:, 1] == 0).any()  # '?' → the bucket / the mean
    all_rows = np.concatenate([data.train.labels["paid"], data.val.labels["paid"], data.test.labels["paid"]])
    assert all_rows.sum() == 20


def test_where_restricts_loss_and_metrics_to_its_rows(shop: Path) -> None:
    spec = load_spec(write_spec(shop, tasks='where = "paid == 1"'))  # click measured on paying rows only
    assert spec.tasks[1].where == "paid == 1"
    data = load_data(spec.data)
    trainer = Trainer(spec, data, "cpu")
    paid = data.val.labels["paid"] == 1
    y = trainer.val.y[:, 1].numpy()
    assert np.isnan(y[~paid]).all() and not np.isnan(y[paid]).any()
    model = trainer.new_model(1)
    scores = trainer.predict(model, trainer.val)[0, :, 1]
    measured = trainer.measure(model, trainer.val)[0]["click"]["auc"]
    keep = torch.as_tensor(paid)
    assert measured == pytest.approx(auc(scores[keep], torch.as_tensor(data.val.labels["click"])[keep]), abs=1e-12)
    # the loss is the mean over the kept rows
    loss = task_loss(spec.tasks[1], scores.unsqueeze(0), trainer.val.y[:, 1], None)
    full = torch.nn.functional.binary_cross_entropy_with_logits(scores[keep], torch.as_tensor(data.val.labels["click"])[keep])
    assert float(loss[0]) == pytest.approx(float(full), rel=1e-6)
    results = trainer.fit(np.array([[0.5, 0.5]]))
    assert results[0].failed is None and math.isfinite(results[0].val["click"]["auc"])


def test_a_label_may_be_missing_where_its_task_leaves_the_rows_out(shop: Path, capsys) -> None:
    frame = shop_frame(600, 0)
    rng = np.random.default_rng(1)
    frame["watch ms"] = np.where(frame["clicks"] == 1, rng.gamma(2.0, 3000.0, len(frame)), np.nan)  # only clicked rows have it
    frame.to_csv(shop / "shop.csv", index=False)
    watch = '\n[[tasks]]\nname = "watch"\nloss = "mse"\nmetric = "rmse"\n'
    labels = LABELS + '\nwatch = "`watch ms`"'
    spec = load_spec(write_spec(shop, labels=labels, tasks=watch + 'where = "click == 1"'))
    data = load_data(spec.data)
    clicked = data.train.labels["click"] == 1
    assert np.isnan(data.train.labels["watch"][~clicked]).all() and not np.isnan(data.train.labels["watch"][clicked]).any()
    result = Trainer(spec, data, "cpu").fit(np.full((1, 3), 1 / 3))[0]
    assert result.failed is None and 0 < result.val["watch"]["rmse"] < 30_000  # raw units (ms), measured on clicked rows

    # without the filter the task would train on rows that have no label: refused in one line, nothing stored
    code, err = call(capsys, "run", str(write_spec(shop, labels=labels, tasks=watch)))
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in ("task 'watch'", "label 'watch' is missing on", "rows it is measured on", "train split", "add a where filter"):
        assert needle in err, (needle, err)
    assert not (shop / "shop.db").exists()


def test_ranking_task_reads_its_group_key(shop: Path) -> None:
    tasks = '\n[[tasks]]\nname = "rank"\nlabel = "grade"\nloss = "mse"\nmetric = "ndcg@5"\ngroup = "session"'
    spec = load_spec(write_spec(shop, tasks=tasks, labels=LABELS + '\ngrade = "grade"'))
    data = load_data(spec.data)
    frame = shop_frame(600, 0)
    assert data.train.keys["session"].dtype == np.int64
    assert (
        len(np.unique(np.concatenate([data.split(s).keys["session"] for s in ("train", "val", "test")]))) >= frame["session"].nunique() - 1
    )
    assert set(np.unique(data.val.labels["grade"])) <= {0.0, 1.0, 2.0, 3.0}
    result = Trainer(spec, data, "cpu").fit(np.full((1, 3), 1 / 3))[0]
    assert result.failed is None and 0 < result.val["rank"]["ndcg@5"] <= 1


# -- a new data set from the spec alone ---------------------------------------------------


@pytest.mark.parametrize("model", ["shared_bottom", "ple"])
def test_spec_only_dataset_runs_end_to_end(shop: Path, tmp_path: Path, monkeypatch, model: str) -> None:
    spec = load_spec(write_spec(shop, model=model))
    store = run_study(spec)
    recs = [r for r in store.records() if r.state == "complete"]
    assert len(recs) == 2 and store.n_finished() == 2
    assert all(0.0 <= r.val["paid"]["auc"] <= 1.0 and set(r.test) == {"paid", "click"} for r in recs)
    # an export remembers where its data lie: it re-measures from any folder
    out = export_trial(Store.open(str(shop / "shop.toml")), recs[0].number, tmp_path / "exp")
    monkeypatch.chdir(tmp_path / "exp")
    again = evaluate_export(out, "val")
    assert again["paid"]["auc"] == pytest.approx(recs[0].val["paid"]["auc"], abs=1e-6)
    assert isinstance(paretomoo.load_model(out), torch.nn.Module)


def test_data_dir_is_relative_to_the_spec_and_can_be_overridden(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "studies").mkdir()
    shop_frame(600, 0).to_csv(tmp_path / "data" / "shop.csv", index=False)
    spec = load_spec(write_spec(tmp_path / "studies", data='data_dir = "../data"\n' + DATA))
    monkeypatch.chdir(tmp_path / "studies" / "..")  # the current folder plays no part
    assert len(load_data(spec.data).train) == 480
    moved = tmp_path / "moved"
    (tmp_path / "data").rename(moved)
    with pytest.raises(UserError, match="shop.csv"):
        load_data(spec.data)
    assert len(load_data(spec.data, data_dir=moved).train) == 480
    path = str(tmp_path / "studies" / "shop.toml")
    code, err = call(capsys, "run", path, "--quiet")
    assert code == 2 and "'shop.csv' (data.train) not found" in err and "--data-dir" in err and err.count("\n") == 1
    code, err = call(capsys, "run", path, "--quiet", "--data-dir", str(moved))
    assert code == 0, err
    assert Store.open(path).n_finished() == 2
    # opened through the spec file, whose data folder is gone, the study reads the folder it was run with
    code, err = call(capsys, "export", path, "--trial", "0", "--out", str(tmp_path / "exp"))
    assert code == 0, err


def test_data_dir_flag_needs_a_tabular_source(write_spec, capsys) -> None:
    code, err = call(capsys, "run", str(write_spec()), "--data-dir", "/tmp")
    assert code == 2 and "--data-dir only applies" in err and err.count("\n") == 1


# -- errors -----------------------------------------------------------------------------


def _bad_value(root: Path) -> None:
    frame = shop_frame(600, 0).astype({"age": object})
    frame.loc[41, "age"] = "forty"
    frame.to_csv(root / "shop.csv", index=False)


def _extra_field(root: Path) -> None:
    """Row 41 (line 43) holds one field more than the header: a value with an unquoted separator."""
    lines = shop_frame(600, 0).to_csv(index=False).splitlines()
    lines[42] = lines[42].replace(",", ",Berlin,", 1)
    (root / "shop.csv").write_text("\n".join(lines) + "\n")


def _extra_field_at_the_end(root: Path) -> None:
    """Line 10 ends with a field the header does not name: pandas would drop it under usecols and read on."""
    lines = shop_frame(600, 0).to_csv(index=False).splitlines()
    lines[9] += ",7"
    (root / "shop.csv").write_text("\n".join(lines) + "\n")


def _many_values(root: Path) -> None:
    frame = shop_frame(600, 0)
    frame["country"] = [f"c{i % 40}" for i in range(600)]
    frame.to_csv(root / "shop.csv", index=False)


def _garbage(root: Path) -> None:
    (root / "shop.csv").write_bytes(bytes(range(256)) * 40)


def _latin1(root: Path) -> None:
    frame = shop_frame(600, 0)
    frame.loc[7, "country"] = "Zürich"
    frame.to_csv(root / "shop.csv", index=False, encoding="latin-1")


def _same_name_twice(root: Path) -> None:
    text = (root / "shop.csv").read_text() if (root / "shop.csv").exists() else shop_frame(600, 0).to_csv(index=False)
    (root / "shop.csv").write_text(text.replace("row_id,session", "row_id,age", 1))


def _truncated_gzip(root: Path) -> None:
    import gzip

    data = gzip.compress(shop_frame(600, 0).to_csv(index=False).encode())
    (root / "shop.csv.gz").write_bytes(data[: len(data) // 2])


def _broken_parquet(root: Path) -> None:
    (root / "shop.parquet").write_bytes(b"PAR1" + bytes(200))


ERRORS = [
    # (what to write, spec edits, words the one line must hold)
    (_garbage, {}, ["data file shop.csv does not look like CSV text"]),
    (_latin1, {}, ["data file shop.csv is not utf-8 text", 'encoding = "latin-1"']),
    (None, {"data": DATA + '\nencoding = "klingon"'}, ["spec key 'data.encoding'", "unknown text encoding 'klingon'"]),
    (_same_name_twice, {}, ["data file shop.csv has 2 columns named 'age'", "rename"]),
    (_truncated_gzip, {"data": DATA.replace("shop.csv", "shop.csv.gz")}, ["data file shop.csv.gz cannot be read as CSV"]),
    (_broken_parquet, {"data": DATA.replace("shop.csv", "shop.parquet")}, ["data file shop.parquet cannot be read as Parquet"]),
    (None, {"data": DATA.replace("shop.csv", "shops.csv")}, ["'shops.csv'", "data.train", "not found"]),
    (None, {"data": DATA.replace('"age"', '"agee"')}, ["'agee'", "data.numeric", "shop.csv", "did you mean 'age'"]),
    (None, {"data": DATA + '\ncategorical = ["country", "colour"]'}, ["'colour'", "data.categorical", "shop.csv"]),
    (None, {"data": DATA.replace('"row_id"', '"rowid"')}, ["'rowid'", "data.drop", "shop.csv"]),
    (None, {"labels": LABELS.replace("status ==", "state ==")}, ["'state'", "data.labels", "shop.csv", "did you mean 'status'"]),
    (
        None,
        {"labels": LABELS.replace("'paid'", "'Paid'")},
        ["label 'paid'", "no row of the training split", "shop.csv", "'paid'", "'open'"],
    ),
    (None, {"labels": LABELS.replace("clicks == 1", "clicks >= 0")}, ["label 'click'", "every row", "training split"]),
    (None, {"labels": LABELS.replace("clicks == 1", "status > 1")}, ["label 'click'", "'status'", "not a number", "line"]),
    (None, {"labels": LABELS.replace("clicks == 1", "country == 'de'")}, ["label 'click'", "'country'", "missing values", "of shop.csv"]),
    (_bad_value, {}, ["numeric column 'age'", "'forty'", "line 43 of shop.csv", "na_values"]),
    (_extra_field, {}, ["line 43 of shop.csv has 10 fields but the header has 9", "quotes"]),
    (_extra_field_at_the_end, {}, ["line 10 of shop.csv has 10 fields but the header has 9"]),
    (_many_values, {"data": DATA + "\nmax_categories = 30"}, ["'country'", "40 distinct values", "max_categories = 30", "data.drop"]),
    (None, {"data": DATA + "\nsurprise = 1"}, ["spec key 'data.surprise' is not known"]),
    (None, {"data": DATA + "\nrows = 5000"}, ["spec key 'data.rows' only applies to source = \"synthetic\""]),
    (None, {"data": DATA.replace('numeric = ["age", "price"]', 'numeric = "age"')}, ["spec key 'data.numeric'", "a list"]),
    (None, {"data": DATA + "\nmax_categories = 0"}, ["spec key 'data.max_categories' must be > 0"]),
    (None, {"data": DATA + '\ncategorical = ["age"]'}, ["spec key 'data.categorical'", "'age'", "data.numeric"]),
    (
        None,
        {"data": DATA.replace('numeric = ["age", "price"]', 'numeric = ["age", "price", "clicks"]')},
        ["'clicks'", "defines label 'click'"],
    ),
    (None, {"labels": LABELS.replace("clicks == 1", "clicks = 1")}, ["spec key 'data.labels.click'", "COLUMN OP VALUE"]),
    (None, {"labels": LABELS.replace("click =", "clik =")}, ["spec key 'tasks[1].label'", "'click' is not declared"]),
    (None, {"data": DATA.replace('train = "shop.csv"', 'train = "shop.csv"\nval = "shop.csv"')}, ["spec key 'data.val' needs 'data.test'"]),
    (
        None,
        {"data": DATA + '\ntest = "shop.csv"\nsplit = [0.5, 0.25, 0.25]'},
        ["spec key 'data.split' only applies to a single train file"],
    ),
    (None, {"data": DATA + "\nheader = false"}, ["spec key 'data.header'", "names_file"]),
    (None, {"tasks": 'where = "status == 1"'}, ["spec key 'tasks[1].where'", "'status' is not a label"]),
]


@pytest.mark.parametrize(("prepare", "edits", "needles"), ERRORS)
def test_bad_data_is_one_line_exit_2(shop: Path, capsys, prepare, edits: dict[str, str], needles: list[str]) -> None:
    if prepare is not None:
        prepare(shop)
    path = write_spec(shop, **edits)
    code, err = call(capsys, "run", str(path))
    assert code == 2, err
    assert err.startswith("paretomoo: error:") and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    assert not (shop / "shop.db").exists()  # nothing was created


def test_a_split_with_one_class_is_refused_at_load(shop: Path, capsys) -> None:
    val = shop_frame(100, 1)
    val["clicks"] = 0
    val.to_csv(shop / "val.csv", index=False)
    shop_frame(100, 2).to_csv(shop / "test.csv", index=False)
    path = write_spec(shop, data=DATA.replace('train = "shop.csv"', 'train = "shop.csv"\nval = "val.csv"\ntest = "test.csv"'))
    code, err = call(capsys, "run", str(path))
    assert code == 2 and err.count("\n") == 1
    for needle in ("task 'click'", "the val split has no positive rows", "auc is undefined", "data.seed"):
        assert needle in err, (needle, err)
    assert not (shop / "shop.db").exists()


# -- the presets on the shared samples ------------------------------------------------------


def _tiny_run(name: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    spec = load_spec(STUDIES / f"{name}.toml")
    spec = spec.replace(
        storage=f"sqlite:///{tmp_path}/{name}.db",
        artifacts=str(tmp_path / f"{name}.artifacts"),
        search={"trials": 2, "batch": 2},
        training={"device": "cpu", "population": 2, "batch_size": 32, "epochs": 1},
    )
    return spec, run_study(spec)


def test_aliccp_preset_runs_on_the_sample(tmp_path: Path) -> None:
    spec, store = _tiny_run("aliccp", tmp_path)
    assert spec.tasks[1].where == "click == 1"
    recs = [r for r in store.records() if r.state == "complete"]
    assert len(recs) == 2
    for r in recs:  # defined on every split (tiny: their values mean nothing)
        assert all(math.isfinite(r.val[t][t_m]) and math.isfinite(r.test[t][t_m]) for t, t_m in (("click", "auc"), ("purchase", "auc")))
    data = load_data(spec.data)
    assert (len(data.train), len(data.val), len(data.test)) == (100, 50, 50)
    assert len(data.num_names) == 8 and len(data.cat_names) == 23


def test_aliexpress_preset_runs_on_the_sample(tmp_path: Path) -> None:
    spec, store = _tiny_run("aliexpress", tmp_path)
    assert spec.model.type == "ple"
    assert store.n_finished() == 2 and all(r.state == "complete" for r in store.records() if r.state != "waiting")
    data = load_data(spec.data)
    assert (len(data.train), len(data.val), len(data.test)) == (100, 10, 10)  # the 20 test rows halved
    assert len(data.num_names) == 63 and len(data.cat_names) == 16 and "search_id" not in data.cat_names


def test_census_income_preset_reads_the_official_train_file() -> None:
    spec = load_spec(STUDIES / "census_income.toml")
    assert spec.model.type == "mmoe" and spec.search.trials == 24
    data = load_data(spec.data)
    assert (len(data.train), len(data.val), len(data.test)) == (159_618, 19_952, 19_953)  # 199,523 rows, 80/10/10
    assert len(data.num_names) == 7 and len(data.cat_names) == 32
    assert not {"marital_stat", "instance_weight", "income_50k"} & set(data.cat_names)
    assert {"det_ind_code", "det_occ_code", "own_or_self", "vet_benefits", "year"} <= set(data.cat_names)
    rows = {name: np.concatenate([data.split(s).labels[name] for s in ("train", "val", "test")]) for name in ("income", "never_married")}
    assert int(rows["income"].sum()) == 12_382 and int(rows["never_married"].sum()) == 86_485  # PROVENANCE.md


def test_presets_point_at_the_shared_data() -> None:
    for name in ("census_income", "aliccp", "aliexpress"):
        spec = load_spec(STUDIES / f"{name}.toml")
        assert (Path(spec.data.options.base) / spec.data.options.data_dir).resolve().parent == SHARED.resolve(), name
    assert os.path.isdir(SHARED), "the shared data folder is expected beside the repository (../shared/data)"


def test_a_file_in_another_encoding_reads_with_data_encoding(shop: Path) -> None:
    _latin1(shop)
    spec = load_spec(write_spec(shop, data=DATA + '\nencoding = "latin-1"'))
    data = load_data(spec.data)
    assert len(data.train) + len(data.val) + len(data.test) == 600
    plain = load_spec(write_spec(shop, name="plain.toml"))
    # a key added after studies were made enters their hash only when set
    assert spec.result_hash() != plain.result_hash()
    assert spec.replace(data={"encoding": "utf-8"}).result_hash() == plain.result_hash()
