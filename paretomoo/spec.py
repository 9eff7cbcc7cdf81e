"""Typed, frozen study spec loaded from TOML.

Every key is checked: an unknown key, a wrong type, an unknown task or metric, or
infeasible λ bounds raise :class:`~paretomoo.errors.UserError` with one line that
names the key and the fix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paretomoo.errors import UserError

OPTIMIZERS = ("nsga2", "optuna-nsga2", "optuna-tpe", "random", "grid")
LOSSES = ("bce", "mse")
SOURCES = ("synthetic", "tabular")
MODEL_TYPES = ("shared_bottom", "mmoe", "ple")
# metric -> natural direction; "ndcg@K" is matched by pattern.
METRIC_DIRECTIONS = {
    "auc": "maximize",
    "pr_auc": "maximize",
    "logloss": "minimize",
    "rmse": "minimize",
}
_NDCG = re.compile(r"^ndcg@([1-9][0-9]*)$")


def metric_direction(metric: str) -> str | None:
    """Natural direction of a metric name, or None if it is not known."""
    if _NDCG.match(metric):
        return "maximize"
    return METRIC_DIRECTIONS.get(metric)


# ----------------------------------------------------------------------------
# Conditions: the small expression language of labels and task filters
# ----------------------------------------------------------------------------

# A column is a plain name (letters, digits, '_', '.') or `any name in backquotes`.
_COLUMN = r"(?:`(?P<qcol>[^`]+)`|(?P<col>[A-Za-z0-9_.]+))"
_VALUE = r"(?P<val>'[^']*'|\"[^\"]*\"|[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)"
_COMPARISON = re.compile(rf"\s*{_COLUMN}\s*(?P<op>==|!=|>=|<=|>|<)\s*{_VALUE}\s*")
_BARE = re.compile(rf"\s*{_COLUMN}\s*")


@dataclass(frozen=True)
class Condition:
    """``column op value``: a quoted value is compared as text, a bare number numerically."""

    column: str
    op: str  # ==, !=, >, >=, <, <=
    value: str | float


def parse_conditions(text: str) -> tuple[Condition, ...]:
    """Parse ``"a == 'x' & b > 3"``: comparisons joined by ``&`` (no eval).

    Raises ``ValueError`` with the reason; the caller names the spec key.
    """
    out = []
    pos = 0
    while True:
        m = _COMPARISON.match(text, pos)
        if m is None:
            raise ValueError(
                f"cannot read {text[pos:] or text!r} as COLUMN OP VALUE (OP one of == != > >= < <=, text values in quotes, "
                "comparisons joined by &)"
            )
        raw = m["val"]
        value: str | float = raw[1:-1] if raw[0] in "'\"" else float(raw)
        if isinstance(value, str) and m["op"] not in ("==", "!="):
            raise ValueError(f"{m['op']} needs a number, got the text {raw}")
        out.append(Condition(m["qcol"] or m["col"], m["op"], value))
        pos = m.end()
        if pos == len(text):
            return tuple(out)
        if text[pos] != "&":
            raise ValueError(f"unexpected {text[pos:]!r}; join comparisons with &")
        pos += 1


def bare_column(text: str) -> str | None:
    """The column of a label written as a bare column name (its values are the label), else None."""
    m = _BARE.fullmatch(text)
    return (m["qcol"] or m["col"]) if m else None


# Spec fields that apply to one kind only carry metadata {"for": kinds}: the
# parser refuses them elsewhere, and the result hash leaves them out elsewhere
# (so adding a field never changes the hash of an existing study).
_SYNTHETIC = {"for": ("synthetic",)}
_TABULAR = {"for": ("tabular",)}


@dataclass(frozen=True)
class DataSpec:
    source: str = "synthetic"
    rows: int = field(default=200_000, metadata=_SYNTHETIC)
    seed: int = 0
    conflict: float = field(default=0.8, metadata=_SYNTHETIC)
    # train/val/test fractions of the rows (synthetic), or of the one ``train`` file (tabular)
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    # -- tabular: files, relative to data_dir; data_dir relative to ``base`` (the spec file's folder).
    # Where the files lie is not part of the result hash (like the device); what they are called is.
    data_dir: str = field(default=".", metadata={"for": ("tabular",), "hash": False})
    train: str = field(default="", metadata=_TABULAR)
    val: str | None = field(default=None, metadata=_TABULAR)
    test: str | None = field(default=None, metadata=_TABULAR)
    names_file: str | None = field(default=None, metadata=_TABULAR)
    header: bool = field(default=True, metadata=_TABULAR)
    sep: str = field(default=",", metadata=_TABULAR)
    na_values: tuple[str, ...] = field(default=(), metadata=_TABULAR)
    skipinitialspace: bool = field(default=False, metadata=_TABULAR)
    numeric: tuple[str, ...] = field(default=(), metadata=_TABULAR)
    categorical: tuple[str, ...] | None = field(default=None, metadata=_TABULAR)  # None: every other column
    drop: tuple[str, ...] = field(default=(), metadata=_TABULAR)
    max_categories: int = field(default=100_000, metadata=_TABULAR)
    labels: tuple[tuple[str, str], ...] = field(default=(), metadata=_TABULAR)  # (name, expression)
    keys: tuple[str, ...] = field(default=(), metadata=_TABULAR)  # grouping columns: the tasks' ``group``s
    base: str = field(default="", compare=False, metadata={"for": (), "hash": False})


@dataclass(frozen=True)
class TaskSpec:
    name: str
    label: str
    loss: str
    metric: str
    direction: str
    pos_weight: float = 1.0
    group: str | None = None
    # Rows on which the task's loss and metrics are computed (a condition on the
    # data's labels, e.g. "click == 1" for a conversion rate); None = every row.
    where: str | None = None

    @property
    def objective(self) -> str:
        """Name of the task's objective as users see it, e.g. ``fraud_pr_auc``."""
        return f"{self.name}_{self.metric}"


@dataclass(frozen=True)
class ModelSpec:
    type: str = "shared_bottom"
    embedding_dim: int = 8  # every categorical column
    bottom: tuple[int, ...] = field(default=(64, 16), metadata={"for": ("shared_bottom",)})
    tower: tuple[int, ...] = (16,)
    experts: int = field(default=4, metadata={"for": ("mmoe", "ple")})  # mmoe: experts; ple: shared experts per level
    expert: tuple[int, ...] = field(default=(64, 32), metadata={"for": ("mmoe", "ple")})  # widths of each expert's MLP
    task_experts: int = field(default=1, metadata={"for": ("ple",)})  # per task and level
    levels: int = field(default=1, metadata={"for": ("ple",)})  # extraction levels; 1 = CGC


@dataclass(frozen=True)
class TrainingSpec:
    epochs: int = 3
    batch_size: int = 1024
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    device: str = "auto"
    # λ vectors trained together in one pass; 0 means "choose for the device".
    population: int = 0
    # training processes, each with its own populations; 0 means "choose for the device"
    # (one per physical core on a CPU, one on a GPU).
    workers: int = 0


@dataclass(frozen=True)
class SearchSpec:
    optimizer: str = "nsga2"
    trials: int = 32
    batch: int = 8
    seed: int = 0


@dataclass(frozen=True)
class LambdaSpec:
    max_ratio: float = 1000.0
    bounds: tuple[tuple[str, float, float], ...] = ()
    fixed: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class StudySpec:
    name: str
    storage: str
    artifacts: str
    data: DataSpec
    tasks: tuple[TaskSpec, ...]
    model: ModelSpec
    training: TrainingSpec
    search: SearchSpec
    lam: LambdaSpec
    source_text: str = field(default="", compare=False, repr=False)

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]

    @property
    def objectives(self) -> list[str]:
        return [t.objective for t in self.tasks]

    @property
    def directions(self) -> list[str]:
        return [t.direction for t in self.tasks]

    def result_hash(self) -> str:
        """Hash of everything that changes what a trial computes.

        The search section, the device, the population size and the number of
        worker processes are left out on purpose: a study may be resumed with a
        larger budget, another optimizer (warm-started from every stored trial)
        or on another device.
        """
        payload = {
            "data": _applicable(self.data, self.data.source),
            "tasks": [{k: v for k, v in dataclasses.asdict(t).items() if not (k == "where" and v is None)} for t in self.tasks],
            "model": _applicable(self.model, self.model.type),
            "training": {k: v for k, v in dataclasses.asdict(self.training).items() if k not in ("device", "population", "workers")},
            "lambda": dataclasses.asdict(self.lam),
        }
        text = json.dumps(payload, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def replace(self, **sections: Any) -> StudySpec:
        """Copy with overrides, e.g. ``spec.replace(search={"trials": 8})``."""
        changes: dict[str, Any] = {}
        for key, value in sections.items():
            if isinstance(value, dict):
                attr = "lam" if key == "lambda" else key
                changes[attr] = dataclasses.replace(getattr(self, attr), **value)
            else:
                changes[key] = value
        return dataclasses.replace(self, **changes)


def _applicable(obj: Any, kind: str) -> dict[str, Any]:
    """The fields of a spec section that apply to ``kind`` and enter the result hash."""
    return {
        f.name: getattr(obj, f.name)
        for f in dataclasses.fields(obj)
        if kind in f.metadata.get("for", (kind,)) and f.metadata.get("hash", True)
    }


# ----------------------------------------------------------------------------
# Parsing
# ----------------------------------------------------------------------------


class _Table:
    """A TOML table being read: typed getters, and unknown keys reported."""

    def __init__(self, raw: Any, where: str) -> None:
        if not isinstance(raw, dict):
            raise UserError(f"spec key '{where}': expected a table, got {_show(raw)}")
        self.raw = raw
        self.where = where
        self.seen: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, kind: type | tuple[type, ...], default: Any, hint: str) -> Any:
        self.seen.add(key)
        if key not in self.raw:
            if default is _REQUIRED:
                raise UserError(f"spec key '{self._key(key)}' is missing; add it, e.g. {hint}")
            return default
        value = self.raw[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds:
            raise UserError(f"spec key '{self._key(key)}': expected {_kind_name(kinds)}, got {_show(value)}; write e.g. {hint}")
        if not isinstance(value, kinds):
            raise UserError(f"spec key '{self._key(key)}': expected {_kind_name(kinds)}, got {_show(value)}; write e.g. {hint}")
        return value

    def positive(self, key: str, kind: type, default: Any, hint: str, *, allow_zero: bool = False) -> Any:
        value = self.get(key, kind, default, hint)
        if value < 0 or (value == 0 and not allow_zero) or (isinstance(value, float) and not math.isfinite(value)):
            bound = ">= 0" if allow_zero else "> 0"
            raise UserError(f"spec key '{self._key(key)}' must be {bound}, got {value}; write e.g. {hint}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: Any) -> str:
        value = self.get(key, str, default, f'{key} = "{choices[0]}"')
        if value not in choices:
            raise UserError(f"spec key '{self._key(key)}': unknown value {value!r}; choose one of {', '.join(choices)}")
        return value

    def int_list(self, key: str, default: tuple[int, ...], hint: str) -> tuple[int, ...]:
        value = self.get(key, list, list(default), hint)
        if not value or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
            raise UserError(
                f"spec key '{self._key(key)}': expected a non-empty list of positive integers, got {_show(value)}; write e.g. {hint}"
            )
        return tuple(value)

    def str_list(self, key: str, default: Any, hint: str) -> Any:
        value = self.get(key, list, default, hint)
        if value is default:
            return default
        if not all(isinstance(v, str) for v in value):
            raise UserError(f"spec key '{self._key(key)}': expected a list of strings, got {_show(value)}; write e.g. {hint}")
        dup = sorted({v for v in value if value.count(v) > 1})
        if dup:
            raise UserError(f"spec key '{self._key(key)}': {dup[0]!r} is listed twice; list it once")
        return tuple(value)

    def only_for(self, cls: type, kind: str, selector: str) -> None:
        """Refuse keys of ``cls`` that do not apply to ``kind`` (see the fields' ``for`` metadata)."""
        for f in dataclasses.fields(cls):
            kinds = f.metadata.get("for")
            if f.name in self.raw and kinds and kind not in kinds:
                which = " or ".join(f'{selector} = "{k}"' for k in kinds)
                raise UserError(f"spec key '{self._key(f.name)}' only applies to {which}; remove it")

    def done(self) -> None:
        unknown = sorted(set(self.raw) - self.seen)
        if unknown:
            known = ", ".join(sorted(self.seen))
            raise UserError(f"spec key '{self._key(unknown[0])}' is not known; remove it (known keys here: {known})")


_REQUIRED = object()


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table", bool: "true or false"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def load_spec(path: str | Path) -> StudySpec:
    """Read and check a study spec file."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"spec file '{path}' does not exist; pass the path of a .toml study spec, e.g. studies/ecommerce.toml")
    text = p.read_text()
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"spec file '{path}' is not valid TOML ({exc}); fix the syntax at that line") from None
    return parse_spec(raw, source_text=text, base=str(p.resolve().parent))


def parse_spec(raw: dict[str, Any], *, source_text: str = "", base: str = "") -> StudySpec:
    """Build a :class:`StudySpec` from a parsed TOML document.

    ``base`` is the folder that a relative ``data.data_dir`` starts from (the spec
    file's folder; the current folder when empty).
    """
    top = _Table(raw, "")
    study = _Table(top.get("study", dict, _REQUIRED, '[study] name = "my-study"'), "study")
    name = study.get("name", str, _REQUIRED, 'name = "my-study"')
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise UserError(f"spec key 'study.name': {name!r} is not a valid study name; use letters, digits, '-', '_' and '.'")
    storage = study.get("storage", str, f"sqlite:///runs/{name}.db", 'storage = "sqlite:///runs/my-study.db"')
    if "://" not in storage:
        raise UserError(
            f"spec key 'study.storage': {storage!r} is not a database URL; write e.g. sqlite:///runs/{name}.db or postgresql://user@host/db"
        )
    artifacts = study.get("artifacts", str, f"runs/{name}.artifacts", 'artifacts = "runs/my-study.artifacts"')
    study.done()

    data = _parse_data(_Table(top.get("data", dict, {}, "[data]"), "data"))
    raw_tasks = top.get("tasks", list, _REQUIRED, '[[tasks]] name = "click"')
    if not raw_tasks:
        raise UserError("spec key 'tasks' is empty; declare at least two [[tasks]] tables")
    tasks = tuple(_parse_task(_Table(t, f"tasks[{i}]")) for i, t in enumerate(raw_tasks))
    names = [t.name for t in tasks]
    if len(tasks) < 2:
        raise UserError("spec key 'tasks': a Pareto study needs at least two tasks; add another [[tasks]] table")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UserError(f"spec key 'tasks': task name {dup[0]!r} is declared twice; give each task its own name")
    data = dataclasses.replace(data, base=base)
    if data.source == "tabular":
        data = _link_tabular(data, tasks)

    model = _parse_model(_Table(top.get("model", dict, {}, "[model]"), "model"))
    training = _parse_training(_Table(top.get("training", dict, {}, "[training]"), "training"))
    search = _parse_search(_Table(top.get("search", dict, {}, "[search]"), "search"))
    lam = _parse_lambda(_Table(top.get("lambda", dict, {}, "[lambda]"), "lambda"), names)
    top.done()
    return StudySpec(
        name=name,
        storage=storage,
        artifacts=artifacts,
        data=data,
        tasks=tasks,
        model=model,
        training=training,
        search=search,
        lam=lam,
        source_text=source_text,
    )


def _parse_data(t: _Table) -> DataSpec:
    source = t.choice("source", SOURCES, "synthetic")
    t.only_for(DataSpec, source, "source")
    seed = t.get("seed", int, 0, "seed = 0")
    split = t.get("split", list, list(DataSpec.split), "split = [0.8, 0.1, 0.1]")
    if len(split) != 3 or not all(isinstance(s, (int, float)) and s > 0 for s in split) or abs(sum(split) - 1) > 1e-6:
        raise UserError(f"spec key 'data.split': expected three positive fractions (train, val, test) summing to 1, got {_show(split)}")
    split = tuple(float(s) for s in split)
    if source == "tabular":
        return _parse_tabular(t, seed, split)
    rows = t.positive("rows", int, DataSpec.rows, "rows = 200000")
    if rows < 1000:
        raise UserError(f"spec key 'data.rows' must be >= 1000 so that every split holds positives of the rare tasks, got {rows}")
    conflict = t.get("conflict", float, DataSpec.conflict, "conflict = 0.8")
    if not 0.0 <= conflict <= 1.0:
        raise UserError(f"spec key 'data.conflict' must be within [0, 1], got {conflict}; 0 = tasks aligned, 1 = tasks independent")
    t.done()
    return DataSpec(source=source, rows=rows, seed=seed, conflict=conflict, split=split)


_LABEL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _parse_tabular(t: _Table, seed: int, split: tuple[float, float, float]) -> DataSpec:
    def path(key: str, hint: str, default: Any = None) -> Any:
        value = t.get(key, str, default, hint)
        if value is not None and not value.strip():
            raise UserError(f"spec key 'data.{key}' is empty; write a file path, e.g. {hint}")
        return value

    data_dir = path("data_dir", 'data_dir = "../data"', ".")
    train = path("train", 'train = "train.csv"', _REQUIRED)
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
    max_categories = t.positive("max_categories", int, DataSpec.max_categories, "max_categories = 100000")
    raw_labels = t.get("labels", dict, _REQUIRED, '[data.labels] click = "click == 1"')
    if not raw_labels:
        raise UserError("spec key 'data.labels' is empty; declare one label per task, e.g. click = \"click == 1\"")
    labels = []
    for name, expr in raw_labels.items():
        key = f"data.labels.{name}"
        if not _LABEL_NAME.fullmatch(name):
            raise UserError(f"spec key '{key}': {name!r} is not a valid label name; use letters, digits and '_'")
        if not isinstance(expr, str):
            raise UserError(f"spec key '{key}': expected a string, got {_show(expr)}; write e.g. {name} = \"price > 10\"")
        if bare_column(expr) is None:
            try:
                parse_conditions(expr)
            except ValueError as exc:
                raise UserError(f"spec key '{key}': {exc}; write e.g. {name} = \"status == 'paid'\" or \"price > 10\"") from None
        labels.append((name, expr))
    spec = DataSpec(
        source="tabular",
        seed=seed,
        split=split,
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
        labels=tuple(labels),
    )
    t.done()
    named = {"numeric": spec.numeric, "categorical": spec.categorical or (), "drop": spec.drop}
    for a, b in (("numeric", "categorical"), ("numeric", "drop"), ("categorical", "drop")):
        both = sorted(set(named[a]) & set(named[b]))
        if both:
            raise UserError(f"spec key 'data.{b}': column {both[0]!r} is also in data.{a}; list it in one of them")
    for name, expr in labels:
        sources = label_columns(expr)
        for key in ("numeric", "categorical"):
            leak = sorted(set(sources) & set(named[key]))
            if leak:
                raise UserError(
                    f"spec key 'data.{key}': column {leak[0]!r} defines label {name!r}, so it cannot be an input too; remove it from data.{key}"
                )
    return spec


def label_columns(expr: str) -> list[str]:
    """The data columns a label expression reads."""
    bare = bare_column(expr)
    return [bare] if bare is not None else [c.column for c in parse_conditions(expr)]


def _link_tabular(data: DataSpec, tasks: tuple[TaskSpec, ...]) -> DataSpec:
    """Check that tasks name declared labels; collect their grouping columns."""
    declared = [name for name, _ in data.labels]
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
        for name, expr in data.labels:
            if key in label_columns(expr):
                raise UserError(f"spec key 'data.labels.{name}': column {key!r} is also a task's group; group by another column")
    for section in ("numeric", "categorical"):
        bad = sorted(set(keys) & set(getattr(data, section) or ()))
        if bad:
            raise UserError(
                f"spec key 'data.{section}': column {bad[0]!r} is a task's group (a key, not an input); remove it from data.{section}"
            )
    return dataclasses.replace(data, keys=keys)


def _parse_task(t: _Table) -> TaskSpec:
    name = t.get("name", str, _REQUIRED, 'name = "click"')
    where = t.where
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
        raise UserError(f"spec key '{where}.name': {name!r} is not a valid task name; use letters, digits and '_'")
    label = t.get("label", str, name, 'label = "click"')
    loss = t.choice("loss", LOSSES, "bce")
    metric = t.get("metric", str, _REQUIRED, 'metric = "auc"')
    natural = metric_direction(metric)
    if natural is None:
        raise UserError(
            f"spec key '{where}.metric': unknown metric {metric!r}; choose one of auc, pr_auc, logloss, rmse, ndcg@K (e.g. ndcg@10)"
        )
    direction = t.get("direction", str, natural, f'direction = "{natural}"')
    if direction not in ("maximize", "minimize"):
        raise UserError(f"spec key '{where}.direction': expected 'maximize' or 'minimize', got {direction!r}")
    if direction != natural:
        raise UserError(
            f"spec key '{where}.direction': {direction!r} contradicts metric {metric!r}, which is {natural}d; remove the key or write direction = \"{natural}\""
        )
    pos_weight = t.positive("pos_weight", float, 1.0, "pos_weight = 5.0")
    if pos_weight != 1.0 and loss != "bce":
        raise UserError(f"spec key '{where}.pos_weight' only applies to loss = \"bce\"; remove it")
    group = t.get("group", str, None, 'group = "query"')
    if metric.startswith("ndcg@") and group is None:
        raise UserError(f"spec key '{where}.group' is missing: metric {metric!r} ranks rows within groups; add e.g. group = \"query\"")
    if group is not None and not metric.startswith("ndcg@"):
        raise UserError(f"spec key '{where}.group' only applies to ranking metrics (ndcg@K); remove it")
    if metric in ("auc", "pr_auc", "logloss") and loss != "bce":
        raise UserError(f"spec key '{where}.loss': metric {metric!r} needs a binary label and loss = \"bce\", got {loss!r}")
    row_filter = t.get("where", str, None, 'where = "click == 1"')
    if row_filter is not None:
        try:
            parse_conditions(row_filter)
        except ValueError as exc:
            raise UserError(f"spec key '{where}.where': {exc}; write e.g. where = \"click == 1\"") from None
        if group is not None:
            raise UserError(f"spec key '{where}.where' cannot be combined with group (it would cut rows out of groups); remove one")
    t.done()
    return TaskSpec(
        name=name, label=label, loss=loss, metric=metric, direction=direction, pos_weight=pos_weight, group=group, where=row_filter
    )


def _parse_model(t: _Table) -> ModelSpec:
    kind = t.choice("type", MODEL_TYPES, "shared_bottom")
    t.only_for(ModelSpec, kind, "type")
    m = ModelSpec(
        type=kind,
        embedding_dim=t.positive("embedding_dim", int, ModelSpec.embedding_dim, "embedding_dim = 8"),
        bottom=t.int_list("bottom", ModelSpec.bottom, "bottom = [64, 16]"),
        tower=t.int_list("tower", ModelSpec.tower, "tower = [16]"),
        experts=t.positive("experts", int, ModelSpec.experts, "experts = 4"),
        expert=t.int_list("expert", ModelSpec.expert, "expert = [64, 32]"),
        task_experts=t.positive("task_experts", int, ModelSpec.task_experts, "task_experts = 1"),
        levels=t.positive("levels", int, ModelSpec.levels, "levels = 1"),
    )
    t.done()
    return m


def _parse_training(t: _Table) -> TrainingSpec:
    device = t.get("device", str, "auto", 'device = "auto"')
    if not re.fullmatch(r"auto|cpu|cuda(:[0-9]+)?", device):
        raise UserError(f"spec key 'training.device': unknown device {device!r}; use auto, cpu, cuda or cuda:N")
    population = t.get("population", (int, str), 0, 'population = "auto"')
    if population == "auto":
        population = 0
    if isinstance(population, str) or population < 0:
        raise UserError(f"spec key 'training.population': expected \"auto\" or a positive integer, got {_show(population)}")
    workers = t.get("workers", (int, str), 0, 'workers = "auto"')
    if workers == "auto":
        workers = 0
    if isinstance(workers, str) or workers < 0:
        raise UserError(f"spec key 'training.workers': expected \"auto\" or a positive integer, got {_show(workers)}")
    s = TrainingSpec(
        epochs=t.positive("epochs", int, TrainingSpec.epochs, "epochs = 3"),
        batch_size=t.positive("batch_size", int, TrainingSpec.batch_size, "batch_size = 1024"),
        lr=t.positive("lr", float, TrainingSpec.lr, "lr = 0.003"),
        weight_decay=t.positive("weight_decay", float, TrainingSpec.weight_decay, "weight_decay = 0.0001", allow_zero=True),
        seed=t.get("seed", int, 0, "seed = 0"),
        device=device,
        population=population,
        workers=workers,
    )
    t.done()
    return s


def _parse_search(t: _Table) -> SearchSpec:
    s = SearchSpec(
        optimizer=t.choice("optimizer", OPTIMIZERS, "nsga2"),
        trials=t.positive("trials", int, SearchSpec.trials, "trials = 32"),
        batch=t.positive("batch", int, SearchSpec.batch, "batch = 8"),
        seed=t.get("seed", int, 0, "seed = 0"),
    )
    if s.batch < 2 and s.optimizer in ("nsga2", "optuna-nsga2"):
        raise UserError(f"spec key 'search.batch' must be >= 2 for {s.optimizer} (it is the population size), got {s.batch}")
    t.done()
    return s


def _parse_lambda(t: _Table, names: list[str]) -> LambdaSpec:
    max_ratio = t.positive("max_ratio", float, LambdaSpec.max_ratio, "max_ratio = 1000")
    if max_ratio < 100:
        raise UserError(f"spec key 'lambda.max_ratio' must be >= 100 so that every proposer reaches 1:100 trade-offs, got {max_ratio}")
    raw_bounds = t.get("bounds", dict, {}, "bounds = { fraud = [0.01, 0.5] }")
    raw_fixed = t.get("fixed", dict, {}, "fixed = { ad_click = 0.25 }")
    t.done()

    def check_task(key: str, task: str) -> None:
        if task not in names:
            raise UserError(f"spec key 'lambda.{key}.{task}': no task is named {task!r}; use one of {', '.join(names)}")

    bounds = []
    for task, value in raw_bounds.items():
        check_task("bounds", task)
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            or not 0 <= value[0] <= value[1] <= 1
        ):
            raise UserError(f"spec key 'lambda.bounds.{task}': expected [lower, upper] with 0 <= lower <= upper <= 1, got {_show(value)}")
        bounds.append((task, float(value[0]), float(value[1])))
    fixed = []
    for task, value in raw_fixed.items():
        check_task("fixed", task)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
            raise UserError(f"spec key 'lambda.fixed.{task}': expected a weight in [0, 1], got {_show(value)}")
        if task in raw_bounds:
            raise UserError(f"spec key 'lambda.fixed.{task}': the task also has bounds; keep either a fixed value or bounds")
        fixed.append((task, float(value)))
    spec = LambdaSpec(max_ratio=max_ratio, bounds=tuple(bounds), fixed=tuple(fixed))
    _check_feasible(spec, names)
    return spec


def _check_feasible(spec: LambdaSpec, names: list[str]) -> None:
    fixed = dict(spec.fixed)
    free = [n for n in names if n not in fixed]
    mass = 1.0 - sum(fixed.values())
    if not free:
        raise UserError("spec key 'lambda.fixed': every task is fixed, so there is nothing to search; leave at least two tasks free")
    if len(free) < 2:
        raise UserError(f"spec key 'lambda.fixed': only {free[0]!r} is free, so its weight is forced; leave at least two tasks free")
    if mass < -1e-9:
        raise UserError(f"spec key 'lambda.fixed': fixed weights sum to {1 - mass:.4g} > 1; λ lives on the simplex, so lower them")
    bounds = {n: (lo, hi) for n, lo, hi in spec.bounds}
    lo_sum = sum(bounds.get(n, (0.0, 1.0))[0] for n in free)
    hi_sum = sum(bounds.get(n, (0.0, 1.0))[1] for n in free)
    if lo_sum > mass + 1e-9:
        raise UserError(
            f"spec key 'lambda.bounds': lower bounds sum to {lo_sum:.4g} but only {mass:.4g} of the weight is free; lower them so that they sum to at most {mass:.4g}"
        )
    if hi_sum < mass - 1e-9:
        raise UserError(
            f"spec key 'lambda.bounds': upper bounds sum to {hi_sum:.4g} but the free weights must sum to {mass:.4g}; raise them"
        )
