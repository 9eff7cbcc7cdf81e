"""Real multi-task tabular data: CSV (plain or compressed) or Parquet files, declared in the spec.

The ``[data]`` section names the files and the role of each column::

    source = "tabular"
    data_dir = "../data"                 # relative to the spec file's folder; --data-dir overrides
    train = "train.csv.gz"               # alone: split at random by `split` and `seed`
    test = "test.csv.gz"                 # train + test: test is split 1:1 at random into val and test
    val = "val.csv.gz"                   # train + val + test: used as they are
    numeric = ["age", "price"]           # standardised with the training split's mean and sd
    categorical = ["country"]            # omitted: every column that has no other role
    drop = ["row_id"]
    [data.labels]
    income = "income_50k == '50000+.'"   # COLUMN OP VALUE (& ...), or a bare numeric column

Columns that define a label or a task's ``group`` are never inputs. Everything
runs column-wise in pandas/numpy (no Python per row); text columns are read as
pandas categoricals, so a million rows × 50 columns take a few hundred MB.

Encoding:
  * numeric: ``(x − mean) / sd`` with the TRAIN split's mean and sd (sd 0 → 1);
    a missing value becomes the train mean (0 after scaling);
  * categorical: the vocabulary is the set of values seen in the TRAIN split,
    sorted; index 0 is the bucket for missing values and for values never seen
    in training (so val/test rows with new values share it);
  * labels: float32, 1.0 where the condition holds (or the column's value);
  * group keys: int64 ids, per split.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from paretomoo.conditions import OPS, Condition, bare_column, label_columns, parse_conditions
from paretomoo.data import _tabular_spec
from paretomoo.data._dataset import Dataset, Split
from paretomoo.data._source import Source
from paretomoo.data._tabular_files import DataFile, column_names, find_file, read_file, read_names_file
from paretomoo.data._tabular_spec import TabularData
from paretomoo.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from paretomoo.spec._sections import DataSpec


@dataclass
class _Part:
    """A split: a file and which of its rows (sorted), or all of them."""

    file: DataFile
    rows: np.ndarray | None

    def take(self, values: np.ndarray) -> np.ndarray:
        return values if self.rows is None else values[self.rows]

    def __len__(self) -> int:
        return len(self.file.frame) if self.rows is None else len(self.rows)


def load_tabular(data: DataSpec, data_dir: str | Path | None = None) -> Dataset:
    """Read, split and encode the files a ``source = "tabular"`` spec declares (``data_dir`` replaces the spec's)."""
    spec: TabularData = data.options
    root = SOURCE.root(data, data_dir)
    assert root is not None
    paths = {key: find_file(root, getattr(spec, key), f"data.{key}") for key in ("train", "val", "test") if getattr(spec, key)}
    names = read_names_file(root, spec)

    label_sources = sorted({c for _, expr in spec.labels for c in label_columns(expr)})
    # every column a key of the spec names, by key, to say which key named a missing one
    named = {"data.numeric": list(spec.numeric), "data.drop": list(spec.drop), "data.labels": label_sources}
    named["the tasks' group"] = list(spec.keys)
    if spec.categorical is not None:
        named["data.categorical"] = list(spec.categorical)

    columns = {p: column_names(p, spec, names) for p in dict.fromkeys(paths.values())}  # train first
    for path, cols in columns.items():
        present = set(cols)
        for key, wanted in named.items():
            for col in wanted:
                if col not in present:
                    close = difflib.get_close_matches(col, cols, n=1)
                    hint = f"did you mean {close[0]!r}? " if close else ""
                    shown = ", ".join(cols[:8]) + (f", ... ({len(cols)} in all)" if len(cols) > 8 else "")
                    raise UserError(f"column {col!r} named in {key} is not in {path.name}; {hint}fix the name (its columns: {shown})")
    train_cols = columns[paths["train"]]
    taken = set(spec.numeric) | set(spec.drop) | set(label_sources) | set(spec.keys)
    categorical = list(spec.categorical) if spec.categorical is not None else [c for c in train_cols if c not in taken]
    for path, cols in columns.items():
        absent = [c for c in categorical if c not in cols]
        if absent:
            raise UserError(
                f"column {absent[0]!r} of {paths['train'].name} is not in {path.name}; every column without another role is a "
                "categorical input, so add it to data.drop or list the inputs in data.categorical"
            )
    text_like = sorted(set(categorical) | set(label_sources) | set(spec.keys))

    files = {p: read_file(p, spec, names, list(spec.numeric), text_like) for p in dict.fromkeys(paths.values())}
    parts = _split(data, paths, files)

    labels = {name: _label(name, expr, parts) for name, expr in spec.labels}
    num, num_names = _numeric(list(spec.numeric), parts)
    cat, cards = _categorical(categorical, parts, spec.max_categories)
    keys = {k: {s: part.take(_codes(part.file.frame[k]).astype(np.int64)) for s, part in parts.items()} for k in spec.keys}

    def split(s: str) -> Split:
        return Split(
            num=num[s],
            cat=cat[s],
            labels={name: v[s] for name, v in labels.items()},
            keys={k: v[s] for k, v in keys.items()},
            name=s,
        )

    return Dataset(
        num_names=tuple(num_names),
        cat_names=tuple(categorical),
        cardinalities=tuple(cards),
        train=split("train"),
        val=split("val"),
        test=split("test"),
        files=tuple((p.name, p.stat().st_size) for p in dict.fromkeys(paths.values())),
    )


# -- splits ----------------------------------------------------------------------


def _split(data: DataSpec, paths: dict[str, Path], files: dict[Path, DataFile]) -> dict[str, _Part]:
    """train/val/test parts: the files as given, test halved into val and test, or one file split at random."""
    train = files[paths["train"]]
    if "val" in paths:
        return {s: _Part(files[paths[s]], None) for s in ("train", "val", "test")}
    rng = np.random.default_rng(data.seed)
    if "test" in paths:  # the MMoE protocol: the test file split 1:1 into validation and test rows
        test = files[paths["test"]]
        order = rng.permutation(len(test.frame))
        half = len(order) // 2
        return {"train": _Part(train, None), "val": _Part(test, np.sort(order[:half])), "test": _Part(test, np.sort(order[half:]))}
    n = len(train.frame)
    order = rng.permutation(n)
    n_train = int(round(data.split[0] * n))
    n_val = int(round(data.split[1] * n))
    rows = (order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :])
    return {s: _Part(train, np.sort(r)) for s, r in zip(("train", "val", "test"), rows, strict=True)}


# -- columns ----------------------------------------------------------------------


def _codes(series: pd.Series) -> np.ndarray:
    """Category codes of a categorical column (−1 = missing)."""
    return series.cat.codes.to_numpy()


def _categories(series: pd.Series) -> pd.Index:
    """Category values as text, so that a value is the same whichever file (CSV or Parquet) it came from."""
    import pandas as pd

    return pd.Index(series.cat.categories.astype(str))


def _label(name: str, expr: str, parts: dict[str, _Part]) -> dict[str, np.ndarray]:
    """A label's float32 values on every split; refuse one that is constant on the training split.

    A label that is a column's values may be missing (NaN) where a task's ``where``
    filter leaves the rows out (watch time on clicked rows only); ``to_tensors``
    refuses a missing value on a row a task measures. A condition on a missing
    value has no answer, so there it is refused here.
    """
    bare = bare_column(expr)
    conditions = [Condition(bare, "value", 0.0)] if bare is not None else list(parse_conditions(expr))
    per_file: dict[Path, np.ndarray] = {}
    for part in parts.values():
        f = part.file
        if f.path in per_file:
            continue
        value = np.ones(len(f.frame), dtype=np.bool_)
        for c in conditions:
            series = f.frame[c.column]
            codes = _codes(series)
            missing = codes < 0
            if missing.any() and c.op != "value":
                raise UserError(
                    f"label {name!r}: column {c.column!r} has {int(missing.sum()):,} missing values ({f.where(int(np.argmax(missing)))} is "
                    "the first); fill them in the file or define the label on another column"
                )
            cats = _categories(series)
            if c.op == "value" or not isinstance(c.value, str):
                numbers = _as_numbers(cats, name, c, f, codes)
                if c.op == "value":
                    value = np.where(missing, np.nan, numbers[np.maximum(codes, 0)]).astype(np.float32)
                    continue
                hit = OPS[c.op](numbers, c.value)
            else:
                hit = OPS[c.op](np.asarray(cats, dtype=object), c.value)
            value = value & np.asarray(hit, dtype=bool)[codes]
        per_file[f.path] = value.astype(np.float32)
    out = {s: part.take(per_file[part.file.path]) for s, part in parts.items()}
    train = out["train"]
    if len(train) and np.isnan(train).all():
        raise UserError(f"label {name!r}: column {bare!r} has no value in the training split; define the label on another column")
    if len(train) and float(np.nanmin(train)) == float(np.nanmax(train)):
        part = parts["train"]
        first = conditions[0].column
        series = part.file.frame[first]
        counts = np.bincount(part.take(_codes(series)), minlength=len(series.cat.categories))
        top = ", ".join(repr(v) for v in _categories(series)[np.argsort(-counts, kind="stable")[:4]])
        if bare is not None:
            raise UserError(
                f"label {name!r}: column {bare!r} is constant on the training split ({part.file.path.name}); a task needs a label that varies"
            )
        what = "every" if train[0] == 1 else "no"
        raise UserError(
            f"label {name!r} ({expr}) is true on {what} row of the training split ({part.file.path.name}), so its task cannot be learned; "
            f"check the value (quotes, spaces, a trailing '.'): the most common values of {first!r} are {top}"
        )
    return out


def _as_numbers(cats: pd.Index, name: str, c: Condition, f: DataFile, codes: np.ndarray) -> np.ndarray:
    import pandas as pd

    numbers = pd.to_numeric(pd.Series(cats), errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(numbers)
    if bad.any():
        j = int(np.argmax(bad))
        row = int(np.argmax(codes == j))
        fix = f"compare it as text: {c.column} == '{cats[j]}'" if c.op != "value" else "define the label with a comparison"
        raise UserError(f"label {name!r}: column {c.column!r} holds {cats[j]!r} ({f.where(row)}), which is not a number; {fix}")
    return numbers


def _numeric(columns: list[str], parts: dict[str, _Part]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Standardised float32 ``[n, f]`` per split, with the training split's statistics."""
    out = {s: np.zeros((len(p), len(columns)), dtype=np.float32) for s, p in parts.items()}
    for j, col in enumerate(columns):
        values = {f.path: _numbers(f, col) for f in {p.file.path: p.file for p in parts.values()}.values()}
        train = parts["train"].take(values[parts["train"].file.path])
        if np.isnan(train).all():
            raise UserError(f"numeric column {col!r} has no values in the training split; move it to data.drop")
        mean = float(np.nanmean(train))
        sd = float(np.nanstd(train))
        sd = sd if sd > 0 and np.isfinite(sd) else 1.0
        for s, p in parts.items():
            x = (p.take(values[p.file.path]) - mean) / sd
            out[s][:, j] = np.nan_to_num(x, nan=0.0)
    return out, columns


def _numbers(f: DataFile, col: str) -> np.ndarray:
    """A numeric column as float64 (NaN = missing); a value that is not a number is refused."""
    import pandas as pd

    series = f.frame[col]
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    coerced = pd.to_numeric(series, errors="coerce")
    bad = (coerced.isna() & series.notna()).to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise UserError(
            f"numeric column {col!r} holds {str(series.iloc[row])!r} ({f.where(row)}), which is not a number; fix the value, add it to "
            f"data.na_values if it means missing, or list {col!r} in data.categorical"
        )
    return coerced.to_numpy(dtype=np.float64, na_value=np.nan)


def _categorical(columns: list[str], parts: dict[str, _Part], max_categories: int) -> tuple[dict[str, np.ndarray], list[int]]:
    """int64 ids ``[n, c]`` per split: 1 + position in the training vocabulary, 0 for missing or unseen values."""
    out = {s: np.zeros((len(p), len(columns)), dtype=np.int64) for s, p in parts.items()}
    cards = []
    train = parts["train"]
    for j, col in enumerate(columns):
        series = train.file.frame[col]
        seen = np.unique(train.take(_codes(series)))
        seen = seen[seen >= 0]
        if len(seen) > max_categories:
            raise UserError(
                f"categorical column {col!r} has {len(seen):,} distinct values in the training split, more than "
                f"data.max_categories = {max_categories:,}; raise max_categories (each value costs an embedding row per model) "
                f"or add {col!r} to data.drop"
            )
        vocab = _categories(series)[seen].sort_values()
        cards.append(len(vocab) + 1)
        for s, p in parts.items():
            other = p.file.frame[col]
            lookup = np.append(vocab.get_indexer(_categories(other)) + 1, 0)  # unseen → 0; code −1 (missing) → last → 0
            out[s][:, j] = p.take(lookup[_codes(other)])
    return out, cards


SOURCE = Source(
    "tabular",
    "CSV (plain or compressed) or Parquet files; columns and labels declared in the spec",
    TabularData,
    _tabular_spec.parse,
    load_tabular,
    link=_tabular_spec.link,
    reads_files=True,
)
