"""Reading a study spec: TOML text → :class:`StudySpec`, every key checked once."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path
from typing import Any

from paretomoo._imports import freeze, is_target
from paretomoo.errors import UserError
from paretomoo.spec._lambda import parse_lambda
from paretomoo.spec._sections import (
    FIDELITY_NAMES,
    POPULATION_MODES,
    SCALARIZATION_NAMES,
    DataSpec,
    ModelSpec,
    SearchSpec,
    StudySpec,
    TrainingSpec,
)
from paretomoo.spec._table import REQUIRED, Table, show
from paretomoo.spec._task import parse_task


def load_spec(path: str | Path) -> StudySpec:
    """Read and check a study spec file (UTF-8 TOML)."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"spec file '{path}' is a folder; pass the path of a .toml study spec, e.g. studies/ecommerce.toml")
    if not p.is_file():
        raise UserError(f"spec file '{path}' does not exist; pass the path of a .toml study spec, e.g. studies/ecommerce.toml")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise UserError(f"spec file '{path}' cannot be read ({exc.strerror}); check its permissions") from None
    try:
        text = data.decode("utf-8-sig")  # a UTF-8 byte-order mark is harmless
    except UnicodeDecodeError as exc:
        utf16 = data[:2] in (b"\xff\xfe", b"\xfe\xff")
        what = "UTF-16 text" if utf16 else f"text in UTF-8 (byte {exc.start} is 0x{data[exc.start]:02x})"
        raise UserError(f"spec file '{path}' is {'' if utf16 else 'not '}{what}; save it as UTF-8 TOML") from None
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
    from paretomoo.data import SOURCES  # the data package reads its own keys with this package's Table

    top = Table(raw, "")
    study = Table(top.get("study", dict, REQUIRED, '[study] name = "my-study"'), "study")
    name = study.get("name", str, REQUIRED, 'name = "my-study"')
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise UserError(f"spec key 'study.name': {name!r} is not a valid study name; use letters, digits, '-', '_' and '.'")
    storage = study.get("storage", str, f"sqlite:///runs/{name}.db", 'storage = "sqlite:///runs/my-study.db"')
    if "://" not in storage:
        raise UserError(
            f"spec key 'study.storage': {storage!r} is not a database URL; write e.g. sqlite:///runs/{name}.db or postgresql://user@host/db"
        )
    artifacts = study.get("artifacts", str, None, 'artifacts = "runs/my-study.artifacts"')
    if artifacts is not None and not artifacts.strip():
        raise UserError("spec key 'study.artifacts' is empty; write a folder, e.g. artifacts = \"runs/my-study.artifacts\", or remove it")
    study.done()

    data = _parse_data(Table(top.get("data", dict, {}, "[data]"), "data"), base)
    raw_tasks = top.get("tasks", list, REQUIRED, '[[tasks]] name = "click"')
    if not raw_tasks:
        raise UserError("spec key 'tasks' is empty; declare at least two [[tasks]] tables")
    tasks = tuple(parse_task(Table(t, f"tasks[{i}]"), base) for i, t in enumerate(raw_tasks))
    names = [t.name for t in tasks]
    if len(tasks) < 2:
        raise UserError("spec key 'tasks': a Pareto study needs at least two tasks; add another [[tasks]] table")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UserError(f"spec key 'tasks': task name {dup[0]!r} is declared twice; give each task its own name")
    data = SOURCES[data.source].link(data, tasks)

    model = _parse_model(Table(top.get("model", dict, {}, "[model]"), "model"), base)
    training = _parse_training(Table(top.get("training", dict, {}, "[training]"), "training"))
    search = _parse_search(Table(top.get("search", dict, {}, "[search]"), "search"))
    lam = parse_lambda(Table(top.get("lambda", dict, {}, "[lambda]"), "lambda"), names)
    top.done()
    if search.fidelity != "none" and len(search.rungs(training.epochs)) < 2:
        raise UserError(
            f"spec key 'search.fidelity' = \"{search.fidelity}\" needs training.epochs >= search.eta to make a rung "
            f"(epochs = {training.epochs}, eta = {search.eta}); raise epochs or lower eta"
        )
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
        base=base,
    )


def _parse_data(t: Table, base: str) -> DataSpec:
    from paretomoo.data import SOURCES

    source = t.choice("source", list(SOURCES), "synthetic")
    _only_for_source(t, source, SOURCES)
    seed = t.get("seed", int, 0, "seed = 0")
    split = t.get("split", list, list(DataSpec.split), "split = [0.8, 0.1, 0.1]")
    if len(split) != 3 or not all(isinstance(s, (int, float)) and s > 0 for s in split) or abs(sum(split) - 1) > 1e-6:
        raise UserError(f"spec key 'data.split': expected three positive fractions (train, val, test) summing to 1, got {show(split)}")
    data = DataSpec(source=source, seed=seed, split=(float(split[0]), float(split[1]), float(split[2])))
    options = SOURCES[source].parse(t, data)
    t.done()
    if any(f.name == "base" for f in dataclasses.fields(options)):  # the folder its files and imports start from
        options = dataclasses.replace(options, base=base)
    return dataclasses.replace(data, options=options)


def _only_for_source(t: Table, source: str, sources: dict[str, Any]) -> None:
    """Refuse a key that belongs to another source's options, naming that source."""
    own = {f.name for f in dataclasses.fields(DataSpec)} | {"source"}
    mine = _option_keys(sources[source])
    for key in t.raw:
        if key in own or key in mine:
            continue
        others = [name for name, s in sources.items() if key in _option_keys(s)]
        if others:
            which = " or ".join(f'source = "{o}"' for o in others)
            raise UserError(f"spec key 'data.{key}' only applies to {which}; remove it")


def _option_keys(source: Any) -> set[str]:
    """The keys a source reads from [data] (not those it fills in itself)."""
    return {f.name for f in dataclasses.fields(source.options)} - {"base", "keys"}


def _parse_model(t: Table, base: str = "") -> ModelSpec:
    from paretomoo.models import MODELS

    kind = t.choice("type", list(MODELS), "shared_bottom")
    t.only_for(ModelSpec, kind, "type")
    if kind == "module":
        factory = t.get("factory", str, None, 'factory = "my_model:build"')
        if not factory:
            raise UserError(
                'spec key \'model.factory\' is missing: type = "module" builds your nn.Module; write factory = "my_model:build" '
                "(a function in my_model.py beside the spec)"
            )
        if not is_target(factory):
            raise UserError(
                f'spec key \'model.factory\': {factory!r} is not an import path; write "package.module:build" or "file.py:build"'
            )
        m = ModelSpec(
            type=kind,
            factory=factory,
            options=freeze(t.get("options", dict, {}, "options = { hidden = 64 }")),
            population=t.choice("population", list(POPULATION_MODES), "auto"),
            base=base,
        )
        t.done()
        return m
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


def _auto(t: Table, key: str) -> int:
    """A count that may be "auto" (stored as 0)."""
    value = t.get(key, (int, str), 0, f'{key} = "auto"')
    if value == "auto":
        return 0
    if isinstance(value, str) or value < 0:
        raise UserError(f"spec key 'training.{key}': expected \"auto\" or a positive integer, got {show(value)}")
    return int(value)


def _parse_training(t: Table) -> TrainingSpec:
    device = t.get("device", str, "auto", 'device = "auto"')
    if not re.fullmatch(r"auto|cpu|cuda(:[0-9]+)?", device):
        raise UserError(f"spec key 'training.device': unknown device {device!r}; use auto, cpu, cuda or cuda:N")
    s = TrainingSpec(
        epochs=t.positive("epochs", int, TrainingSpec.epochs, "epochs = 3"),
        batch_size=t.positive("batch_size", int, TrainingSpec.batch_size, "batch_size = 1024"),
        lr=t.positive("lr", float, TrainingSpec.lr, "lr = 0.003"),
        weight_decay=t.positive("weight_decay", float, TrainingSpec.weight_decay, "weight_decay = 0.0001", allow_zero=True),
        seed=t.get("seed", int, 0, "seed = 0"),
        device=device,
        population=_auto(t, "population"),
        workers=_auto(t, "workers"),
    )
    t.done()
    return s


def _parse_search(t: Table) -> SearchSpec:
    from paretomoo.proposers import CONDITIONED, OPTIMIZER_NAMES

    optimizer = t.choice("optimizer", OPTIMIZER_NAMES, SearchSpec.optimizer)
    conditioned = optimizer == CONDITIONED
    for key in ("alpha", "points"):
        if key in t.raw and not conditioned:
            raise UserError(f"spec key 'search.{key}' applies to optimizer = \"conditioned\" only; remove it, or set that optimizer")
    repeats, adaptive = parse_repeats(t.get("repeats", (int, str), 1, 'repeats = 3 or repeats = "front:3"'), "spec key 'search.repeats'")
    s = SearchSpec(
        optimizer=optimizer,
        # conditioned: the points of the conditioned front retrained exactly (the knee and each objective's end first)
        trials=t.positive("trials", int, CONDITIONED_CHECKS if conditioned else SearchSpec.trials, "trials = 32"),
        batch=t.positive("batch", int, SearchSpec.batch, "batch = 8"),
        seed=t.get("seed", int, 0, "seed = 0"),
        repeats=repeats,
        adaptive=adaptive,
        scalarization=t.choice("scalarization", list(SCALARIZATION_NAMES), SearchSpec.scalarization),
        distinct=float(t.positive("distinct", (int, float), SearchSpec.distinct, "distinct = 0.15", allow_zero=True)),
        fidelity=t.choice("fidelity", list(FIDELITY_NAMES), SearchSpec.fidelity),
        eta=t.positive("eta", int, SearchSpec.eta, "eta = 3"),
        alpha=float(t.positive("alpha", (int, float), SearchSpec.alpha, "alpha = 0.3")),
        points=t.positive("points", int, SearchSpec.points, "points = 1024"),
    )
    if s.eta < 2:
        raise UserError(f"spec key 'search.eta' must be >= 2 (each rung keeps 1/eta of the λ), got {s.eta}; write e.g. eta = 3")
    if s.fidelity != "none" and (s.repeats > 1 or s.adaptive):
        raise UserError(
            f"spec keys 'search.fidelity' = \"{s.fidelity}\" and 'search.repeats' do not go together: halving trains each λ "
            'under one seed; remove repeats, or set fidelity = "none"'
        )
    check_optimizer(s)
    t.done()
    return s


# optimizer = "conditioned": trials retrained exactly unless the spec says (the knee and each end of four objectives)
CONDITIONED_CHECKS = 5


def check_optimizer(s: SearchSpec) -> None:
    """What the search's optimizer cannot go with (checked again when ``--optimizer`` replaces the spec's): one-line
    errors naming the key and the fix."""
    from paretomoo.proposers import CONDITIONED, PROPOSERS, resolve

    if s.optimizer != CONDITIONED:
        need = PROPOSERS[resolve(s.optimizer)].min_batch
        if s.batch < need:
            raise UserError(f"spec key 'search.batch' must be >= {need} for {s.optimizer} (it is a generation's offspring), got {s.batch}")
        return
    if s.adaptive:
        raise UserError('spec key \'search.repeats\': optimizer = "conditioned" trains R models at once; write repeats = 3, not "front:3"')
    if s.fidelity != "none":
        raise UserError(
            'spec keys \'search.fidelity\' and optimizer = "conditioned" do not go together: it trains once; set fidelity = "none"'
        )
    if s.scalarization != "weighted_sum":
        raise UserError(
            "spec key 'search.scalarization': optimizer = \"conditioned\" minimises the weighted sum of the λ it draws; "
            'set scalarization = "weighted_sum"'
        )


def parse_repeats(value: int | str, where: str) -> tuple[int, bool]:
    """``3`` → (3, fixed); ``"front:3"`` → (3, adaptive): a one-line ``UserError`` naming ``where`` otherwise."""
    fix = 'write e.g. repeats = 3 (every λ under 3 seeds) or repeats = "front:3" (more seeds only near the front)'
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise UserError(f"{where} must be >= 1, got {value}; {fix}")
        return value, False
    m = re.fullmatch(r"front:([0-9]+)", str(value).strip())
    if m is None:
        raise UserError(f"{where}: cannot read {value!r}; {fix}")
    if int(m[1]) < 2:
        raise UserError(f'{where}: "front:R" needs R >= 2 (the most seeds a λ near the front gets), got {m[1]}; {fix}')
    return int(m[1]), True
