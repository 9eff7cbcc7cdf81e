"""Data sources: the built-in synthetic e-commerce generator, real tabular files (CSV, Parquet) and the user's own loader.

``SOURCES`` is the registry: one :class:`Source` entry per ``[data] source``
value, carrying the source's own spec keys, its checks and its loader. A new
source is a module with a ``SOURCE`` entry, listed here. Nothing in this
package's import loads torch; ``to_tensors`` (device tensors) loads it on first use.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paretomoo.data import _python, _synthetic, _tabular
from paretomoo.data._dataset import Dataset, Split
from paretomoo.data._sequences import make_sequences
from paretomoo.data._source import Source
from paretomoo.data._synthetic import make_synthetic
from paretomoo.data._tabular import load_tabular

if TYPE_CHECKING:
    from paretomoo.data._tensors import TensorSplit, to_tensors
    from paretomoo.spec._sections import DataSpec

__all__ = [
    "SOURCES",
    "Dataset",
    "Source",
    "Split",
    "TensorSplit",
    "data_root",
    "load_data",
    "load_tabular",
    "make_sequences",
    "make_synthetic",
    "to_tensors",
]

SOURCES: dict[str, Source] = {s.name: s for s in (_synthetic.SOURCE, _tabular.SOURCE, _python.SOURCE)}


def load_data(spec: DataSpec, data_dir: str | Path | None = None) -> Dataset:
    """Build the data set a spec's ``[data]`` section declares.

    ``data_dir`` (sources that read files) replaces the spec's ``data_dir`` as
    the folder that relative file paths start from, e.g. from a ``--data-dir`` flag.
    """
    return SOURCES[spec.source].load(spec, data_dir)


def data_root(spec: DataSpec, data_dir: str | Path | None = None) -> Path | None:
    """The folder the spec's relative data paths start from; None for a source that reads no files."""
    return SOURCES[spec.source].root(spec, data_dir)


def __getattr__(name: str) -> Any:
    if name in ("TensorSplit", "to_tensors"):
        return getattr(importlib.import_module("paretomoo.data._tensors"), name)
    raise AttributeError(f"module 'paretomoo.data' has no attribute {name!r}")
