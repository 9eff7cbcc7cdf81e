"""In-memory multi-task dataset: numpy arrays per split."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Rows of each split that the fingerprint hashes: enough to notice a changed or
# reordered file, cheap for any size.
FINGERPRINT_ROWS = 1000


@dataclass(frozen=True)
class Split:
    """One split: ``num[n, f]`` float32, ``cat[n, c]`` int64, labels and keys by name.

    ``name`` ("train", "val" or "test") is only used in messages. ``features``
    (a user loader's split, ``source = "python"``) holds the batch entries a
    model reads, CPU tensors ``[n, ...]`` by name; ``num`` and ``cat`` are then
    empty. With ``unmeasured_nan`` a NaN label means that the task is not
    measured on that row; otherwise a NaN label on a row a task reads is an error.
    """

    num: np.ndarray
    cat: np.ndarray
    labels: dict[str, np.ndarray]
    keys: dict[str, np.ndarray]
    name: str = ""
    features: dict[str, Any] = field(default_factory=dict)
    unmeasured_nan: bool = False

    def __len__(self) -> int:
        return self.num.shape[0]


@dataclass(frozen=True)
class Dataset:
    num_names: tuple[str, ...]
    cat_names: tuple[str, ...]
    cardinalities: tuple[int, ...]
    train: Split
    val: Split
    test: Split
    files: tuple[tuple[str, int], ...] = field(default=())  # (name, bytes) of the files read, for the fingerprint

    def split(self, name: str) -> Split:
        return {"train": self.train, "val": self.val, "test": self.test}[name]

    def fingerprint(self) -> dict[str, object]:
        """What identifies this data when a study resumes: file sizes, rows per split, columns, a hash of each split's head."""
        digest = hashlib.sha256()
        for s in (self.train, self.val, self.test):
            head = slice(0, FINGERPRINT_ROWS)
            arrays = [s.num[head], s.cat[head]] + [s.labels[k][head] for k in sorted(s.labels)] + [s.keys[k][head] for k in sorted(s.keys)]
            arrays += [s.features[k][head].numpy() for k in sorted(s.features)]
            for a in arrays:
                digest.update(np.ascontiguousarray(a).tobytes())
        return {
            "files": {name: size for name, size in self.files},
            "rows": {"train": len(self.train), "val": len(self.val), "test": len(self.test)},
            "columns": {"numeric": len(self.num_names), "categorical": len(self.cat_names)},
            **({"features": sorted(self.train.features)} if self.train.features else {}),
            "head_sha256": digest.hexdigest()[:16],
        }
