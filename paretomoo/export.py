"""Export one trial — λ, metrics, spec and trained weights — and load it back.

An export folder holds:
  lambda.json    {task: weight}
  metrics.json   trial number, validation and test metrics, seed, why it was chosen
  spec.toml      the study spec the trial was trained with
  model.pt       the weights, with the model's shape

Load it back with one line::

    model = paretomoo.load_model("exports/ecommerce-trial17")   # scores: model(num, cat)[0]
"""

from __future__ import annotations

import json
import math
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from paretomoo._files import writable_folder
from paretomoo.data import data_root, load_data
from paretomoo.data._tensors import to_tensors
from paretomoo.errors import UserError
from paretomoo.models import ModelShape, build_model
from paretomoo.spec import ModelSpec, StudySpec, parse_spec
from paretomoo.store import CheckpointError, Record, Store
from paretomoo.trainer import Trainer


def export_trial(store: Store, number: int, out: str | Path, reason: str | None = None, noise: dict[str, Any] | None = None) -> Path:
    """Write trial ``number`` of ``store`` to the folder ``out``."""
    rec = store.record(number)
    check_exportable(store, rec)
    out = writable_folder(out)
    spec = store.spec
    conditioned = None
    if rec.conditioned is not None:  # the study's conditioned model (its first seed's), set to this trial's λ
        try:
            blob = store.weights.load_conditioned()
        except CheckpointError as exc:
            raise UserError(f"{exc}; run the study again to train them, or export an exactly trained trial") from None
        seeds = [int(x) for x in blob["seeds"]]
        r = seeds.index(spec.training.seed) if spec.training.seed in seeds else 0  # the study's own seed, as weights_metrics
        t = len(spec.tasks)
        state = {name: w[r * t : (r + 1) * t].clone() for name, w in blob["anchors"].items()}
        conditioned = {"lam": [rec.lam[name] for name in spec.task_names], "tasks": spec.task_names}
    else:
        try:
            state = store.weights.load(number)
        except CheckpointError as exc:
            state = rerun_weights(store, number)
            print(f"paretomoo: {exc}; re-ran trial {number} and stored its weights again (its metrics reproduce)", file=sys.stderr)
    shape = store.study.user_attrs.get("model_shape")
    (out / "lambda.json").write_text(json.dumps(rec.lam, indent=2) + "\n")
    metrics = {
        "study": spec.name,
        "trial": number,
        "objectives": dict(zip(spec.objectives, rec.values, strict=True)),
        "val": rec.val,
        "val_se": rec.val_se,
        "test": rec.test,
        "test_se": rec.test_se,
        "seeds": rec.seeds,  # val and test are the means over these; model.pt holds the first one's weights
        "conditioned": rec.conditioned is not None,  # model.pt is the λ-conditioned model, set to this λ (load_model(lam=...))
        "model_val": weights_metrics(store, number),  # what model.pt measures on the validation rows
        "seed": spec.training.seed,
        "reason": reason,
        "seed_noise": noise,
        "data_dir": _str_or_none(data_root(spec.data)),  # the spec's relative data paths start here
        "paretomoo_version": store.study.user_attrs.get("paretomoo_version"),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out / "spec.toml").write_text(spec.source_text)
    blob = {"shape": shape, "model": asdict(spec.model), "state": state}
    if conditioned is not None:
        blob["conditioned"] = conditioned
    torch.save(blob, out / "model.pt")
    return out


def check_exportable(store: Store, rec: Record) -> None:
    """A one-line error unless trial ``rec`` has a model to export (it is complete)."""
    if rec.state == "promoted":  # successive halving: its λ went on from its checkpoint as a later trial
        later = {r.continues: r for r in store.records() if r.continues is not None}
        last = rec
        while last.number in later:
            last = later[last.number]
        raise UserError(
            f"trial {rec.number} stopped at a rung of successive halving and went on as trial {last.number} ({last.state}); "
            f"export trial {last.number}" + ("" if last.state == "complete" else ", or pick a complete trial (see paretomoo status)")
        )
    if rec.state != "complete":
        raise UserError(f"trial {rec.number} is {rec.state}, so it has no model to export; pick a complete trial (see paretomoo status)")


def _str_or_none(path: Path | None) -> str | None:
    return None if path is None else str(path)


def weights_metrics(store: Store, number: int) -> dict[str, dict[str, float]]:
    """The validation metrics of the model whose weights a trial keeps: its first seed's (the trial's own values are
    the means over its seeds)."""
    by_seed = store.study.trials[number].user_attrs.get("by_seed", {})
    first = by_seed.get(str(store.spec.training.seed))
    return first["val"] if first else store.record(number).val


def rerun_weights(store: Store, number: int) -> dict[str, torch.Tensor]:
    """Train trial ``number`` again (a pure function of spec and λ), check it, store and return its weights."""
    spec = store.spec
    rec = store.record(number)
    trainer = Trainer(spec, load_data(spec.data), spec.training.device)
    result = trainer.fit(np.array([[rec.lam[t] for t in spec.task_names]]), seeds=spec.training.seed)[0]
    if result.state is None:
        raise UserError(f"re-running trial {number} failed ({result.failed}); its stored weights cannot be recovered")
    stored = weights_metrics(store, number)
    diff = max(abs(result.val[t][m] - v) for t, ms in stored.items() for m, v in ms.items() if math.isfinite(v))
    if diff > 1e-4:
        raise UserError(
            f"re-running trial {number} gave validation metrics {diff:.3g} away from the stored ones "
            f"(another device or library version?); re-run the study on the machine that made it"
        )
    store.weights.replace(number, result.state)
    return result.state


def load_model(path: str | Path, device: str = "cpu", lam: Sequence[float] | Mapping[str, float] | None = None) -> torch.nn.Module:
    """The exported model (population of one, in eval mode): ``model(num, cat)`` → ``[1, B, T]``.

    Scores are logits for binary tasks and values in the label's units for regression tasks.
    An export of a conditioned trial (``optimizer = "conditioned"``) loads as a
    :class:`~paretomoo.conditioned.ConditionedModel`: ``model(num, cat, lam=...)``
    scores at any λ (one weight per task, spec order), by default the exported
    trial's λ, or ``lam`` here ({task: weight} or a list). ``lam`` for another
    export is a one-line error.
    """
    blob = _read(Path(path) / "model.pt")
    shape = ModelShape.from_dict(blob["shape"])
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in blob["model"].items()}
    mspec = ModelSpec(**fields)
    cond = blob.get("conditioned")
    if cond is None and lam is not None:
        raise UserError(f'{path} holds a model trained at one λ; lam= applies to exports of conditioned trials (optimizer = "conditioned")')
    try:
        if cond is not None:
            from paretomoo.conditioned import ConditionedModel

            tasks = list(cond["tasks"])
            if isinstance(lam, Mapping):
                unknown = sorted(set(lam) - set(tasks))
                if unknown:
                    raise UserError(f"lam names task {unknown[0]!r}, which the model does not have; use {', '.join(tasks)}")
                lam = [float(lam.get(t, 0.0)) for t in tasks]
            return ConditionedModel(shape, mspec, blob["state"], lam if lam is not None else cond["lam"], tasks).to(device).eval()
        model = build_model(shape, mspec, [0])
        model.load_state_dict(blob["state"])
    except RuntimeError as exc:  # missing or unexpected keys, other shapes
        first = str(exc).strip().splitlines()[0]
        raise UserError(
            f"the weights in {path} do not fit this version's {mspec.type} model ({first}); export the trial again with this version"
        ) from None
    return model.to(device).eval()


def load_export_spec(path: str | Path) -> StudySpec:
    p = Path(path) / "spec.toml"
    if not p.is_file():
        raise UserError(f"{path} is not an export folder (no spec.toml); pass the --out folder of paretomoo export")
    text = p.read_text()
    spec = parse_spec(tomllib.loads(text), source_text=text)
    metrics = Path(path) / "metrics.json"
    data_dir = json.loads(metrics.read_text()).get("data_dir") if metrics.is_file() else None
    return spec.replace(data={"data_dir": data_dir}) if data_dir and data_root(spec.data) is not None else spec


def evaluate_export(path: str | Path, split: str = "val", device: str = "cpu") -> dict[str, dict[str, float]]:
    """Re-measure an exported model on its data: ``{task: {metric: value}}``."""
    spec = load_export_spec(path)
    model = load_model(path, device)
    data = load_data(spec.data)
    trainer = Trainer(spec, data, device)
    return trainer.measure(model, to_tensors(data.split(split), spec.tasks, trainer.device))[0]  # type: ignore[arg-type]


def verify_export(path: str | Path) -> float:
    """Largest |difference| between stored and re-measured validation metrics."""
    metrics = json.loads((Path(path) / "metrics.json").read_text())
    stored = metrics.get("model_val", metrics["val"])
    again = evaluate_export(path, "val")
    diffs = [abs(again[t][m] - v) for t, ms in stored.items() for m, v in ms.items() if math.isfinite(v)]
    return max(diffs, default=0.0)


def _read(p: Path) -> dict[str, Any]:
    if not p.is_file():
        raise UserError(f"{p.parent} is not an export folder (no model.pt); pass the --out folder of paretomoo export")
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated or corrupted bytes, or not a torch file
        raise UserError(f"{p} cannot be read ({type(exc).__name__}); export the trial again") from None
    if not isinstance(blob, dict) or not {"shape", "model", "state"} <= set(blob):
        raise UserError(f"{p} is not a paretomoo model file (it lacks shape, model or state); export the trial again")
    return blob
