"""Data sources: the built-in synthetic e-commerce generator and real tabular files (CSV, Parquet)."""

from __future__ import annotations

from pathlib import Path

from paretomoo.data._dataset import Dataset, Split, TensorSplit, to_tensors
from paretomoo.data._synthetic import make_synthetic
from paretomoo.data._tabular import data_root, load_tabular
from paretomoo.spec import DataSpec

__all__ = ["Dataset", "Split", "TensorSplit", "data_root", "load_data", "load_tabular", "make_synthetic", "to_tensors"]


def load_data(spec: DataSpec, data_dir: str | Path | None = None) -> Dataset:
    """Build the data set a spec's ``[data]`` section declares.

    ``data_dir`` (tabular sources) replaces ``spec.data_dir`` as the folder that
    relative file paths start from, e.g. from a ``--data-dir`` flag.
    """
    if spec.source == "tabular":
        return load_tabular(spec, data_dir)
    return make_synthetic(spec.rows, spec.seed, spec.conflict, spec.split)
