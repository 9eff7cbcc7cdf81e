"""Reading a tabular source's files: CSV (plain or compressed) or Parquet, only the columns used.

Text columns are read as pandas categoricals, so a million rows × 50 columns
take a few hundred MB. Whatever a broken file raises while it is read (not
text, another encoding, truncated, not Parquet) becomes one line naming the
file and the fix.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from paretomoo.data._tabular_spec import TabularData
from paretomoo.errors import UserError

if TYPE_CHECKING:
    from types import ModuleType

    import pandas as pd

PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass
class DataFile:
    """One data file read into memory: only the columns that are used."""

    path: Path
    frame: pd.DataFrame
    first_line: int  # file line of row 0 (1-based), for messages

    def where(self, row: int) -> str:
        if self.path.suffix in PARQUET_SUFFIXES:
            return f"row {row} of {self.path.name}"
        return f"line {self.first_line + row} of {self.path.name}"


def find_file(root: Path, name: str, key: str) -> Path:
    p = root / Path(name).expanduser()
    if not p.is_file():
        raise UserError(
            f"data file {name!r} ({key}) not found in {p.parent}; fix the path in the spec, or point data.data_dir "
            "(relative to the spec file) or --data-dir at the folder that holds it"
        )
    return p


def read_names_file(root: Path, spec: TabularData) -> list[str] | None:
    if spec.names_file is None:
        return None
    p = find_file(root, spec.names_file, "data.names_file")
    names = [line.strip() for line in p.read_text().splitlines() if line.strip()]
    dup = sorted({n for n in names if names.count(n) > 1})
    if not names or dup:
        why = f"{dup[0]!r} appears twice" if dup else "it is empty"
        raise UserError(f"names file {p.name} must list one column name per line, each once, but {why}; fix the file")
    return names


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in PARQUET_SUFFIXES


def _pq() -> ModuleType:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError("reading Parquet files needs pyarrow; install it with pip install 'paretomoo[parquet]'") from None
    return pq


def column_names(path: Path, spec: TabularData, names: list[str] | None) -> list[str]:
    """The column names of a file (from the names file, its header, or its schema)."""
    import pandas as pd

    if _is_parquet(path):
        with _reading(path, spec):
            return list(_pq().read_schema(path).names)
    with _reading(path, spec):
        first = pd.read_csv(
            path,
            header=None,
            nrows=1,
            dtype=str,
            sep=spec.sep,
            skipinitialspace=spec.skipinitialspace,
            na_values=list(spec.na_values) or None,
            encoding=spec.encoding,
        )
    if any(ch < " " and ch != "\t" for c in first.iloc[0].tolist() for ch in str(c)):
        raise UserError(f"data file {path.name} does not look like CSV text (its first line holds control characters); check the file")
    if names is not None:
        if first.shape[1] != len(names):
            raise UserError(
                f"names file {spec.names_file} lists {len(names)} columns but {path.name} has {first.shape[1]} "
                f"(separator {spec.sep!r}); fix the names file or data.sep"
            )
        return names
    if not spec.header:  # the spec parser prevents this
        raise UserError("data.header = false needs data.names_file")
    header = [str(c) for c in first.iloc[0].tolist()]
    dup = sorted({c for c in header if header.count(c) > 1})
    if dup:
        raise UserError(f"data file {path.name} has {header.count(dup[0])} columns named {dup[0]!r}; rename them in the file's header")
    return header


def read_file(path: Path, spec: TabularData, names: list[str] | None, numeric: list[str], text_like: list[str]) -> DataFile:
    """Read the used columns: numeric ones as numbers where they parse, the others as categoricals."""
    import pandas as pd

    usecols = numeric + text_like
    if _is_parquet(path):
        with _reading(path, spec):
            return DataFile(path, _read_parquet(path, usecols, text_like), 0)
    header = 0 if spec.header else None
    with _reading(path, spec):
        frame = pd.read_csv(
            path,
            header=header,
            names=names,
            usecols=usecols,
            dtype={c: "category" for c in text_like},
            low_memory=False,
            sep=spec.sep,
            skipinitialspace=spec.skipinitialspace,
            na_values=list(spec.na_values) or None,
            encoding=spec.encoding,
            engine="c",
        )
        _check_widths(path, spec, names)
    return DataFile(path, frame, 2 if spec.header else 1)


def _check_widths(path: Path, spec: TabularData, names: list[str] | None) -> None:
    """Refuse a row with more fields than the header (or the names file): pandas reads such a row under ``usecols``
    without a word, its values shifted into the wrong columns. One pass of Python's C csv reader over the text, as
    pandas opens it (compression and encoding inferred alike); ``line`` counts the file's lines."""
    import csv

    from pandas.io.common import get_handle  # type: ignore[import-not-found]  # pandas-stubs leave it out

    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))  # pandas reads fields of any length
    with get_handle(path, "r", encoding=spec.encoding, compression="infer") as handles:
        reader = csv.reader(handles.handle, delimiter=spec.sep, skipinitialspace=spec.skipinitialspace)
        width = None if names is None else len(names)
        if spec.header:
            header = next(reader, [])
            width = len(header) if width is None else width
        for row in reader:
            if width is not None and len(row) > width:
                against = "the header" if names is None else f"names file {spec.names_file}"
                raise UserError(
                    f"line {reader.line_num} of {path.name} has {len(row)} fields but {against} has {width}; fix the line "
                    f"(a stray {spec.sep!r}, or a value holding {spec.sep!r} that needs quotes)"
                )


@contextlib.contextmanager
def _reading(path: Path, spec: TabularData) -> Iterator[None]:
    """Turn what a broken file raises while it is read into one line naming the file and the fix."""
    import csv

    import pandas as pd

    try:
        yield
    except UserError:
        raise
    except UnicodeDecodeError as exc:
        raise UserError(
            f"data file {path.name} is not {spec.encoding} text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start} of a block); "
            f'set data.encoding to the file\'s encoding (e.g. encoding = "latin-1") or save it as UTF-8'
        ) from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, csv.Error) as exc:
        raise UserError(f"data file {path.name} cannot be read as CSV ({_first_line(exc)}); check the file and data.sep") from None
    except (OSError, EOFError, ValueError) as exc:  # truncated archives, unreadable files, broken Parquet (ArrowInvalid is a ValueError)
        kind = "Parquet" if _is_parquet(path) else "CSV"
        raise UserError(f"data file {path.name} cannot be read as {kind} ({_first_line(exc)}); check the file") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _read_parquet(path: Path, columns: list[str], text_like: list[str]) -> pd.DataFrame:
    import pyarrow as pa

    table = _pq().read_table(path, columns=columns)
    for name in text_like:
        col = table.column(name)
        if not pa.types.is_dictionary(col.type):
            i = table.schema.get_field_index(name)
            table = table.set_column(i, name, col.combine_chunks().dictionary_encode())
    return table.to_pandas()
