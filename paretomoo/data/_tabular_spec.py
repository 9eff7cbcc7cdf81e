"""The ``[data]`` keys of ``source = "tabular"``: which files, how to read them, the role of each column, the labels."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from paretomoo.conditions import bare_column, label_columns, parse_conditions
from paretomoo.errors import UserError
from paretomoo.spec._table import REQUIRED, Table, show

if TYPE_CHECKING:
    from paretomoo.spec._sections import DataSpec, TaskSpec

_NO_HASH = {"hash": False}


@dataclass(frozen=True)
class TabularData:
    """Files relative to ``data_dir``; ``data_dir`` relative to ``base`` (the spec file's folder).

    Where the files lie is not part of the result hash (like the device); what they are called is.
    """

    data_dir: str = field(default=".", metadata=_NO_HASH)
    train: str = ""
    val: str | None = None
    test: str | None = None
    names_file: str | None = None
    header: bool = True
    sep: str = ","
    na_values: tuple[str, ...] = ()
    skipinitialspace: bool = False
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] | None = None  # None: every column with no other role
    drop: tuple[str, ...] = ()
    max_categories: int = 100_000
    labels: tuple[tuple[str, str], ...] = ()  # (name, expression)
    keys: tuple[str, ...] = ()  # grouping columns: the tasks' ``group``s
    encoding: str = field(default="utf-8", metadata={"hash": "if_set"})
    base: str = field(default="", compare=False, metadata=_NO_HASH)


_LABEL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def parse(t: Table, data: DataSpec) -> TabularData:
    def path(key: str, hint: str, default: Any = None) -> Any:
        value = t.get(key, str, default, hint)
        if value is not None and not value.strip():
            raise UserError(f"spec key 'data.{key}' is empty; write a file path, e.g. {hint}")
        return value

    data_dir = path("data_dir", 'data_dir = "../data"', ".")
    train = path("train", 'train = "train.csv"', REQUIRED)
    val = path("val", 'val = "val.csv"')
    test = path("test", 'test = "test.csv"')
    if val is not None and test is None:
        raise UserError("spec key 'data.val' needs 'data.test' as well; add test = \"test.csv\", or remove val to split train")
    if test is not None and "split" in t.raw:
        raise UserError(
            "spec key 'data.split' only applies to a single train file; remove it (with val and test files they are the splits; "
            "with train and test only, test is split 1:1 into val and test)"
        )
    names_file = path("names_file", 'names_file = "columns.txt"')
    header = t.get("header", bool, names_file is None, "header = true")
    if not header and names_file is None:
        raise UserError("spec key 'data.header' is false, so the columns need names; add names_file = \"columns.txt\" (one name per line)")
    sep = t.get("sep", str, ",", 'sep = ","')
    if not sep:
        raise UserError('spec key \'data.sep\' is empty; write the field separator, e.g. sep = "," or sep = "\\t"')
    max_categories = t.positive("max_categories", int, TabularData.max_categories, "max_categories = 100000")
    options = TabularData(
        data_dir=data_dir,
        train=train,
        val=val,
        test=test,
        names_file=names_file,
        header=header,
        sep=sep,
        na_values=t.str_list("na_values", (), 'na_values = ["?"]'),
        skipinitialspace=t.get("skipinitialspace", bool, False, "skipinitialspace = true"),
        numeric=t.str_list("numeric", (), 'numeric = ["age", "price"]'),
        categorical=t.str_list("categorical", None, 'categorical = ["country", "device"]'),
        drop=t.str_list("drop", (), 'drop = ["row_id"]'),
        max_categories=max_categories,
        encoding=_encoding(t),
        labels=_labels(t.get("labels", dict, REQUIRED, '[data.labels] click = "click == 1"')),
    )
    _check_roles(options)
    return options


def _encoding(t: Table) -> str:
    import codecs

    name = t.get("encoding", str, TabularData.encoding, 'encoding = "latin-1"')
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise UserError(f'spec key \'data.encoding\': unknown text encoding {name!r}; write e.g. encoding = "utf-8" or "latin-1"') from None


def _labels(raw: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    if not raw:
        raise UserError("spec key 'data.labels' is empty; declare one label per task, e.g. click = \"click == 1\"")
    labels = []
    for name, expr in raw.items():
        key = f"data.labels.{name}"
        if not _LABEL_NAME.fullmatch(name):
            raise UserError(f"spec key '{key}': {name!r} is not a valid label name; use letters, digits and '_'")
        if not isinstance(expr, str):
            raise UserError(f"spec key '{key}': expected a string, got {show(expr)}; write e.g. {name} = \"price > 10\"")
        if bare_column(expr) is None:
            try:
                parse_conditions(expr)
            except ValueError as exc:
                raise UserError(f"spec key '{key}': {exc}; write e.g. {name} = \"status == 'paid'\" or \"price > 10\"") from None
        labels.append((name, expr))
    return tuple(labels)


def _check_roles(spec: TabularData) -> None:
    """A column has one role: numeric input, categorical input, dropped, or a label's source."""
    named = {"numeric": spec.numeric, "categorical": spec.categorical or (), "drop": spec.drop}
    for a, b in (("numeric", "categorical"), ("numeric", "drop"), ("categorical", "drop")):
        both = sorted(set(named[a]) & set(named[b]))
        if both:
            raise UserError(f"spec key 'data.{b}': column {both[0]!r} is also in data.{a}; list it in one of them")
    for name, expr in spec.labels:
        for key in ("numeric", "categorical"):
            leak = sorted(set(label_columns(expr)) & set(named[key]))
            if leak:
                raise UserError(
                    f"spec key 'data.{key}': column {leak[0]!r} defines label {name!r}, so it cannot be an input too; remove it from data.{key}"
                )


def link(data: DataSpec, tasks: tuple[TaskSpec, ...]) -> DataSpec:
    """Check that tasks name declared labels; collect their grouping columns."""
    spec: TabularData = data.options
    declared = [name for name, _ in spec.labels]
    for i, task in enumerate(tasks):
        if task.label not in declared:
            raise UserError(
                f"spec key 'tasks[{i}].label': {task.label!r} is not declared in [data.labels]; declare it there or use one of {', '.join(declared)}"
            )
        if task.where is not None:
            for c in parse_conditions(task.where):
                if c.column not in declared:
                    raise UserError(
                        f"spec key 'tasks[{i}].where': {c.column!r} is not a label in [data.labels]; a filter reads labels, use one of {', '.join(declared)}"
                    )
    keys = tuple(sorted({t.group for t in tasks if t.group is not None}))
    for key in keys:
        for name, expr in spec.labels:
            if key in label_columns(expr):
                raise UserError(f"spec key 'data.labels.{name}': column {key!r} is also a task's group; group by another column")
    for section in ("numeric", "categorical"):
        bad = sorted(set(keys) & set(getattr(spec, section) or ()))
        if bad:
            raise UserError(
                f"spec key 'data.{section}': column {bad[0]!r} is a task's group (a key, not an input); remove it from data.{section}"
            )
    return dataclasses.replace(data, options=dataclasses.replace(spec, keys=keys))
