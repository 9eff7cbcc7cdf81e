"""Export one trial — λ, metrics, spec and trained weights — and load it back.

An export folder holds:
  lambda.json    {task: weight}
  metrics.json   trial number, validation and test metrics, seed, why it was chosen
  spec.toml      the study spec the trial was trained with
  model.pt       the weights, with the model's shape
  model.onnx     with --format onnx: the model as one ONNX graph (model_rows.onnx too: a conditioned model, one λ per row)

Load it back with one line::

    model = paretomoo.load_model("exports/ecommerce-trial17")   # scores: model(num, cat)[0]

A study of your own module loads as your own class, holding the trial's weights.
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
from paretomoo._imports import freeze
from paretomoo._method import method_of_study
from paretomoo.data import data_root, load_data
from paretomoo.data._tensors import to_tensors
from paretomoo.errors import UserError
from paretomoo.models import ModelShape, build_model
from paretomoo.models._module import ModulePopulation, build_members, state_error
from paretomoo.spec import ModelSpec, StudySpec, parse_spec
from paretomoo.store import CheckpointError, Record, Store
from paretomoo.trainer import Trainer


def export_trial(store: Store, number: int, out: str | Path, reason: str | None = None, noise: dict[str, Any] | None = None) -> Path:
    """Write trial ``number`` of ``store`` to the folder ``out``."""
    rec = store.record(number)
    check_exportable(store, rec)
    out = writable_folder(out)
    spec = store.spec
    mixed = method_of_study(spec.search.optimizer, store.study.user_attrs).weights(store, rec)  # a point measured, not trained
    if mixed is not None:
        state, extra = mixed
    else:
        extra = {}
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
        "measured_test": rec.measured_test,  # False: a conditioned λ screened on validation only (test empty)
        "seeds": rec.seeds,  # val and test are the means over these; model.pt holds the first one's weights
        "conditioned": rec.conditioned is not None,  # model.pt is the λ-conditioned model, set to this λ (load_model(lam=...))
        "model_val": weights_metrics(store, number),  # what model.pt measures on the validation rows
        "seed": spec.training.seed,
        "reason": reason,
        "seed_noise": noise,
        "data_dir": _str_or_none(data_root(spec.data)),  # the spec's relative data paths start here
        "spec_base": spec.base,  # the study's spec folder: its import paths (factory, loader, losses, metrics) start here
        "paretomoo_version": store.study.user_attrs.get("paretomoo_version"),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out / "spec.toml").write_text(spec.source_text)
    blob = {"shape": shape, "model": asdict(spec.model), "state": state}
    if extra:
        blob.update(extra)
    elif spec.model.type == "module":  # the user's own state_dict, for their own class (load_model builds it)
        blob["state"] = _population(ModelShape.from_dict(store.study.user_attrs["model_shape"]), spec.model).user_state(state)
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
    """The exported model, in eval mode.

    A built-in model loads as a population of one: ``model(num, cat)`` → ``[1, B, T]``;
    scores are logits for binary tasks and values in the label's units for regression tasks.
    A study of your own module (``[model] type = "module"``) loads as an instance of
    your own class, built by the study's factory with its options, holding the
    trial's weights: call it as you always do.
    An export of a conditioned trial (``optimizer = "conditioned"``) loads as a
    :class:`~paretomoo.conditioned.ConditionedModel`: ``model(num, cat, lam=...)``
    scores at any λ (one weight per task, spec order), by default the exported
    trial's λ, or ``lam`` here ({task: weight} or a list). ``lam`` for another
    export is a one-line error.
    """
    blob = _read(Path(path) / "model.pt")
    shape = ModelShape.from_dict(blob["shape"])
    mspec = _model_spec(blob)
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
        if mspec.type == "module":
            module = build_members(mspec, shape, [0])[0]
            module.load_state_dict(blob["state"])
            return module.to(device).eval()
        model = build_model(shape, mspec, [0])
        model.load_state_dict(blob["state"])
    except RuntimeError as exc:  # missing or unexpected keys, other shapes
        first = state_error(exc)
        what = f"{mspec.factory}'s module" if mspec.type == "module" else f"this version's {mspec.type} model"
        raise UserError(f"the weights in {path} do not fit {what} ({first}); export the trial again with this version") from None
    return model.to(device).eval()


def _model_spec(blob: Mapping[str, Any]) -> ModelSpec:
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in blob["model"].items()}
    if "options" in fields:
        fields["options"] = freeze(dict(fields["options"]))
    return ModelSpec(**fields)


def _population(shape: ModelShape, mspec: ModelSpec, module: torch.nn.Module | None = None) -> ModulePopulation:
    """A population of one member of the user's module (``module``, or a new one from the factory)."""
    return ModulePopulation(shape, mspec, [0], members=None if module is None else [module])


def _scorer(path: str | Path, device: str) -> torch.nn.Module:
    """The exported model as ``Trainer.measure`` reads it: scores ``[1, B, T]`` of a batch."""
    model = load_model(path, device)
    blob = _read(Path(path) / "model.pt")
    if blob["model"].get("type") == "module" and "conditioned" not in blob:  # the user's own class: as a population of one
        return _population(ModelShape.from_dict(blob["shape"]), _model_spec(blob), model).to(device).eval()
    return model


def load_export_spec(path: str | Path) -> StudySpec:
    p = Path(path) / "spec.toml"
    if not p.is_file():
        raise UserError(f"{path} is not an export folder (no spec.toml); pass the --out folder of paretomoo export")
    text = p.read_text()
    metrics = Path(path) / "metrics.json"
    stored = json.loads(metrics.read_text()) if metrics.is_file() else {}
    spec = parse_spec(tomllib.loads(text), source_text=text, base=stored.get("spec_base") or "")
    data_dir = stored.get("data_dir")
    return spec.replace(data={"data_dir": data_dir}) if data_dir and data_root(spec.data) is not None else spec


def evaluate_export(path: str | Path, split: str = "val", device: str = "cpu") -> dict[str, dict[str, float]]:
    """Re-measure an exported model on its data: ``{task: {metric: value}}``."""
    spec = load_export_spec(path)
    model = _scorer(path, device)
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
