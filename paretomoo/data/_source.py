"""The contract of a data source: its own ``[data]`` keys, how it reads them, how it builds the data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from paretomoo.data._dataset import Dataset
    from paretomoo.spec._sections import DataSpec, TaskSpec
    from paretomoo.spec._table import Table


def _unchanged(data: DataSpec, tasks: tuple[TaskSpec, ...]) -> DataSpec:
    return data


@dataclass(frozen=True)
class Source:
    """One entry of ``paretomoo.data.SOURCES``.

    * ``options``: the frozen dataclass of the source's own keys.
    * ``parse(table, data)``: read the source's own keys from the ``[data]``
      table (the shared ``source``, ``seed`` and ``split`` are already read into
      ``data``) and return its options, a frozen dataclass; one-line
      ``UserError``s name the key and the fix. Options fields with metadata
      ``{"hash": False}`` stay out of the study's result hash, and those with
      ``{"hash": "if_set"}`` enter it only when not at their default (a key
      added later leaves existing studies' hashes as they were).
    * ``link(data, tasks)``: checks against the tasks, once they are read
      (e.g. that every task's label is declared); may return a new ``DataSpec``.
    * ``load(data, data_dir)``: the :class:`Dataset`.
    * ``reads_files``: its options then have ``data_dir`` (relative to ``base``,
      the spec file's folder) and ``base``; ``root`` gives the folder its paths
      start from, which ``--data-dir`` replaces.
    """

    name: str
    help: str
    options: type  # the frozen dataclass of its keys
    parse: Callable[[Table, DataSpec], Any]
    load: Callable[[DataSpec, str | Path | None], Dataset]
    link: Callable[[DataSpec, tuple[TaskSpec, ...]], DataSpec] = _unchanged
    reads_files: bool = False

    def root(self, data: DataSpec, data_dir: str | Path | None = None) -> Path | None:
        """The folder relative data paths start from: ``data_dir`` (e.g. ``--data-dir``), else the spec's; None if no files are read."""
        if not self.reads_files:
            return None
        if data_dir is not None:
            return Path(data_dir).expanduser().resolve()
        base = Path(data.options.base) if data.options.base else Path.cwd()
        return (base / Path(data.options.data_dir).expanduser()).resolve()
