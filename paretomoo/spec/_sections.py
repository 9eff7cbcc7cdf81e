"""The typed, frozen sections of a study spec, and the TOML text of a spec changed by ``StudySpec.replace``."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from paretomoo.spec._write import to_toml


@dataclass(frozen=True)
class DataSpec:
    """``[data]``: the keys every source shares, and ``options``, the source's own (see ``paretomoo.data.SOURCES``)."""

    source: str = "synthetic"
    seed: int = 0
    # train/val/test fractions of the rows (synthetic), or of the one ``train`` file (tabular)
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    # a frozen dataclass of the source's; fields with metadata {"hash": False} stay out of the result
    # hash, and {"hash": "if_set"} enter it only when set to other than their default (keys added later
    # leave the hash of every existing study as it was)
    options: Any = None

    def hashed(self) -> dict[str, Any]:
        """What enters the result hash: the shared keys and the source's hashed options, in one flat table."""
        out: dict[str, Any] = {"source": self.source, "seed": self.seed, "split": self.split}
        for f in dataclasses.fields(self.options) if self.options is not None else ():
            rule, value = f.metadata.get("hash", True), getattr(self.options, f.name)
            if rule is True or (rule == "if_set" and value != f.default):
                out[f.name] = value
        return out


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
    # what the model's score for the task is: "logit", "probability" or "value"; None = the loss's own
    # (a logit for bce, a value for mse and a user loss); see paretomoo.tasks
    output: str | None = None
    # the spec file's folder: a loss or metric given as an import path ("my_losses:focal") is imported from there
    base: str = field(default="", compare=False)

    @property
    def kind(self) -> str:
        """What the model outputs for the task: ``logit``, ``probability`` or ``value``."""
        return self.output or ("logit" if self.loss == "bce" else "value")

    @property
    def objective(self) -> str:
        """Name of the task's objective as users see it, e.g. ``fraud_pr_auc``; a metric of the user's own is named
        by its function (``"shop.metrics:revenue_at_10"`` → ``click_revenue_at_10``)."""
        metric = self.metric.rsplit(":", 1)[-1].rsplit(".", 1)[-1] if ":" in self.metric else self.metric
        return f"{self.name}_{metric}"


# [[tasks]] output values: what a model's score for the task is (paretomoo.tasks turns it into what losses and metrics read)
OUTPUTS = ("logit", "probability", "value")


# Fields that apply to some model types only carry metadata {"for": types}: the
# parser refuses them elsewhere, and the result hash leaves them out elsewhere
# (so adding a field never changes the hash of an existing study).
_EXPERTS = {"for": ("mmoe", "ple")}
_BUILT_IN = {"for": ("shared_bottom", "mmoe", "ple")}
_MODULE = {"for": ("module",)}
# [model] population values for type = "module": how its members run (paretomoo.models._module)
POPULATION_MODES = ("auto", "vmap", "sequential")


@dataclass(frozen=True)
class ModelSpec:
    type: str = "shared_bottom"
    embedding_dim: int = field(default=8, metadata=_BUILT_IN)  # every categorical column
    bottom: tuple[int, ...] = field(default=(64, 16), metadata={"for": ("shared_bottom",)})
    tower: tuple[int, ...] = field(default=(16,), metadata=_BUILT_IN)
    experts: int = field(default=4, metadata=_EXPERTS)  # mmoe: experts; ple: shared experts per level
    expert: tuple[int, ...] = field(default=(64, 32), metadata=_EXPERTS)  # widths of each expert's MLP
    task_experts: int = field(default=1, metadata={"for": ("ple",)})  # per task and level
    levels: int = field(default=1, metadata={"for": ("ple",)})  # extraction levels; 1 = CGC
    # type = "module": the user's nn.Module, built by factory(tasks=[...], **options) (paretomoo.models._module)
    factory: str = field(default="", metadata=_MODULE)
    options: tuple[tuple[str, Any], ...] = field(default=(), metadata=_MODULE)
    # how the members run: "vmap" (all at once), "sequential" (one after another), "auto" (the faster, timed)
    population: str = field(default="auto", metadata={"for": ("module",), "hash": False})
    base: str = field(default="", compare=False, metadata={"for": ("module",), "hash": False})  # the spec file's folder


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


# [search] scalarization values; the functions are paretomoo._losses.SCALARIZATIONS (torch: not loaded to read a spec)
SCALARIZATION_NAMES = ("weighted_sum", "tchebycheff")
# [search] fidelity values: "none" trains every λ for all its epochs; "epochs": successive halving over epochs (paretomoo.halving)
FIDELITY_NAMES = ("none", "epochs")


@dataclass(frozen=True)
class SearchSpec:
    optimizer: str = "auto"  # paretomoo.proposers.AUTO
    trials: int = 32
    batch: int = 8
    seed: int = 0
    # training seeds per λ: repeat r of every λ trains under training.seed + r (common random numbers)
    repeats: int = 1
    # "front:R": every λ trains once, and only trials on or near the front get more seeds, up to `repeats`
    adaptive: bool = False
    # a proposal within this max |Δ log λ| (centred log-ratios) of a stored λ is replaced (paretomoo.proposers._distinct); 0: off
    distinct: float = 0.15
    # how λ and the task losses become one loss: "weighted_sum" (Σ λ_i f_i) or "tchebycheff" (smooth, paretomoo.trainer)
    scalarization: str = "weighted_sum"
    # "epochs": a batch trains for a fraction of the epochs, and only its best 1/eta (non-dominated rank, then
    # hypervolume contribution) go on from their checkpoints to the next rung (paretomoo.halving)
    fidelity: str = "none"
    eta: int = 3
    # optimizer = "conditioned" (paretomoo.conditioned): the Dirichlet concentration of the λ drawn in training, and the
    # most λ of the logit box the trained models are screened at (the box's centre and each task's end first)
    alpha: float = 0.3  # benchmarks/conditioned.py: 0.3 kept more of the sweep's front than 1 (docs/conditioned.md)
    points: int = 1024

    def rungs(self, epochs: int) -> list[int]:
        """The epochs each rung trains up to: ``epochs // eta**(R - i)`` for i = 0..R, R the most rungs with at least
        one epoch (``[epochs]`` without fidelity). 6 epochs, eta 3: [2, 6]; eta 2: [1, 3, 6]; 9 epochs, eta 3: [1, 3, 9]."""
        if self.fidelity == "none":
            return [epochs]
        top = 0
        while epochs // self.eta ** (top + 1) >= 1:
            top += 1
        return [epochs // self.eta ** (top - i) for i in range(top + 1)]

    def first_seeds(self, base: int) -> list[int]:
        """The seeds a new λ trains under when it is first trained."""
        return [base] if self.adaptive else [base + r for r in range(self.repeats)]


@dataclass(frozen=True)
class LambdaSpec:
    max_ratio: float = 1000.0
    bounds: tuple[tuple[str, float, float], ...] = ()
    fixed: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class StudySpec:
    name: str
    storage: str
    artifacts: str | None  # None: beside a SQLite database, else runs/<name>.artifacts (see store.artifacts_folder)
    data: DataSpec
    tasks: tuple[TaskSpec, ...]
    model: ModelSpec
    training: TrainingSpec
    search: SearchSpec
    lam: LambdaSpec
    source_text: str = field(default="", compare=False, repr=False)
    # the spec file's folder: relative data paths and the user's import paths (factory, loader, losses, metrics) start there
    base: str = field(default="", compare=False, repr=False)

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]

    @property
    def objectives(self) -> list[str]:
        return [t.objective for t in self.tasks]

    @property
    def directions(self) -> list[str]:
        return [t.direction for t in self.tasks]

    def result_hash(self, standardised_labels: bool = True) -> str:
        """Hash of everything that changes what a trial computes.

        The search section (but its scalarization and fidelity), the device, the population size and the number of
        worker processes are left out on purpose: a study may be resumed with a
        larger budget, another optimizer (warm-started from every stored trial)
        or on another device. So is where the data files lie (``data_dir``).
        Regression tasks train on standardised labels (``ModelShape``); studies
        made before that have the hash of ``standardised_labels=False``.
        """
        payload: dict[str, Any] = {
            "data": self.data.hashed(),
            "tasks": [
                {k: v for k, v in dataclasses.asdict(t).items() if not (k in ("where", "output") and v is None) and k != "base"}
                for t in self.tasks
            ],
            "model": _applicable(self.model, self.model.type),
            "training": {k: v for k, v in dataclasses.asdict(self.training).items() if k not in ("device", "population", "workers")},
            "lambda": dataclasses.asdict(self.lam),
        }
        if self.search.scalarization != "weighted_sum":  # what a trial minimises (absent: the hashes of earlier studies hold)
            payload["scalarization"] = self.search.scalarization
        if self.search.fidelity != "none":  # the study holds pruned trials and checkpoints besides complete ones
            payload["fidelity"] = [self.search.fidelity, self.search.eta]
        if standardised_labels and any(t.loss == "mse" for t in self.tasks):
            payload["regression_labels"] = "standardised"
        text = json.dumps(payload, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def replace(self, **sections: Any) -> StudySpec:
        """Copy with overrides, e.g. ``spec.replace(search={"trials": 8})``.

        ``data={...}`` may name the shared keys (``seed``) and the source's own
        (``rows``, ``data_dir``) alike. The copy's ``source_text`` is its own spec
        as TOML (what a study made from it stores), not the file's.
        """
        changes: dict[str, Any] = {}
        for key, value in sections.items():
            if key == "data" and isinstance(value, dict):
                own = {f.name for f in dataclasses.fields(DataSpec)}
                options = {k: v for k, v in value.items() if k not in own}
                data = dataclasses.replace(self.data, **{k: v for k, v in value.items() if k in own})
                changes["data"] = dataclasses.replace(data, options=dataclasses.replace(data.options, **options)) if options else data
            elif isinstance(value, dict):
                attr = "lam" if key == "lambda" else key
                changes[attr] = dataclasses.replace(getattr(self, attr), **value)
            else:
                changes[key] = value
        new = dataclasses.replace(self, **changes)
        if new == self or not self.source_text:
            return dataclasses.replace(new, source_text=self.source_text)
        return dataclasses.replace(new, source_text=replaced_text(self.source_text, new, sections))


def _applicable(obj: Any, kind: str) -> dict[str, Any]:
    """The fields of a spec section that apply to ``kind`` and enter the result hash."""
    return {
        f.name: getattr(obj, f.name)
        for f in dataclasses.fields(obj)
        if kind in f.metadata.get("for", (kind,)) and f.metadata.get("hash", True)
    }


def replaced_text(text: str, spec: StudySpec, sections: Mapping[str, Any]) -> str:
    """The TOML of ``spec``, made from the spec text ``text`` by ``spec.replace(**sections)``: the sections named are
    written again from ``spec``, the others kept as ``text`` has them. So a study stores the spec it ran."""
    doc: dict[str, Any] = tomllib.loads(text)
    for key in sections:
        if key in ("name", "storage", "artifacts"):
            doc["study"] = {"name": spec.name, "storage": spec.storage, "artifacts": spec.artifacts}
        elif key == "tasks":
            doc["tasks"] = [{f.name: _plain(getattr(t, f.name)) for f in dataclasses.fields(t) if f.name != "base"} for t in spec.tasks]
        elif key == "model":
            m = spec.model
            doc["model"] = {
                f.name: _plain(getattr(m, f.name), pairs=f.name == "options")
                for f in dataclasses.fields(m)
                if f.name != "base" and m.type in f.metadata.get("for", (m.type,))
            }
        elif key == "data":
            doc["data"] = _data(doc.get("data", {}), spec, sections["data"])
        elif key in ("training", "search"):
            doc[key] = {
                **doc.get(key, {}),
                **{k: _plain(getattr(getattr(spec, key), k)) for k in _changed(sections[key], getattr(spec, key))},
            }
            if key == "search":
                s = spec.search
                doc["search"].pop("adaptive", None)
                doc["search"]["repeats"] = f"front:{s.repeats}" if s.adaptive else s.repeats
        elif key in ("lambda", "lam"):
            lam = spec.lam
            table = {"max_ratio": lam.max_ratio, "bounds": {t: [lo, hi] for t, lo, hi in lam.bounds}, "fixed": dict(lam.fixed)}
            doc["lambda"] = {k: v for k, v in table.items() if v != {}}
    return to_toml(doc)


def _changed(value: Any, section: Any) -> list[str]:
    """The fields an override names: a mapping's keys, or every field of a whole section."""
    return list(value) if isinstance(value, Mapping) else [f.name for f in dataclasses.fields(section)]


def _data(table: Mapping[str, Any], spec: StudySpec, value: Any) -> dict[str, Any]:
    """``[data]`` after an override: a mapping's keys set in the file's table (another source, or a whole section:
    the table written again), as the spec file writes them."""
    d = spec.data
    whole = not isinstance(value, Mapping) or d.source != table.get("source", "synthetic")
    out: dict[str, Any] = {"source": d.source, "seed": d.seed} if whole else dict(table)
    if whole and d.split != type(d)().split:
        out["split"] = list(d.split)
    derived = {"base", "keys"} | ({"labels"} if d.source == "python" else set())
    names = [f.name for f in dataclasses.fields(d.options) if f.name not in derived] if whole and d.options is not None else list(value)
    for name in names:
        if name in ("source", "seed", "split"):
            out[name] = _plain(getattr(d, name))
        elif name == "loader_options":  # the key `options` of source = "python"
            out["options"] = _plain(getattr(d.options, name), pairs=True)
        elif name == "labels":
            out["labels"] = dict(getattr(d.options, name))
        else:
            out[name] = _plain(getattr(d.options, name))
    return out


def _plain(v: Any, pairs: bool = False) -> Any:
    """A spec value as TOML writes it: tuples as arrays; with ``pairs``, a frozen table (``freeze``'s sorted pairs)."""
    if isinstance(v, tuple):
        return {str(k): _plain(x) for k, x in v} if pairs else [_plain(x) for x in v]
    return v
