"""Data sources: the built-in synthetic e-commerce generator."""

from __future__ import annotations

from paretomoo.data._dataset import Dataset, Split, TensorSplit, to_tensors
from paretomoo.data._synthetic import make_synthetic
from paretomoo.spec import DataSpec

__all__ = ["Dataset", "Split", "TensorSplit", "load_data", "make_synthetic", "to_tensors"]


def load_data(spec: DataSpec) -> Dataset:
    """Build the data set a spec's ``[data]`` section declares."""
    return make_synthetic(spec.rows, spec.seed, spec.conflict, spec.split)
