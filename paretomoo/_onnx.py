"""ONNX graphs of an export (``paretomoo export --format onnx``): serve every trade-off from one graph.

Beside ``model.pt`` an export folder then holds:

* ``model.onnx``: inputs are the batch entries by name (``num`` float32 ``[B, f]`` and
  ``cat`` int64 ``[B, c]`` for the built-in sources, a user loader's own entries
  otherwise), plus, for a conditioned export, ``lam`` float32 ``[T]``: one λ for the
  request. One output ``scores`` float32 ``[B, T]``, columns in task order.
* ``model_rows.onnx`` (conditioned exports only): the same with ``lam`` ``[B, T]``,
  one λ per row.

λ need not be normalised: the graph divides it by its sum (weights ≥ 0 with a
positive sum; the graph does not check). Scores are what ``load_model`` gives:
logits for binary tasks, values in the label's units for regression tasks. The
graph's metadata names the tasks (``paretomoo.tasks``, JSON), the inputs and the
exported λ. B is dynamic (the ``batch`` axis).

One λ per row mixes weights per row, exactly: the built-in models gather each
row's embedding from every anchor and mix those rows (``Σ_i λ_bi E_i[id]``), and
mix every other weight per row, then run their own population forward with one
member per row. A user module's per-row graph mixes all its weights per row
(``B ×`` its size in memory, embedding tables included) and runs the module
under ``torch.vmap`` over rows.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from paretomoo.errors import UserError

if TYPE_CHECKING:
    from paretomoo.conditioned import ConditionedModel, Mixture

INSTALL = "pip install 'paretomoo[serve]'"
TOLERANCE = 1e-5  # the largest |Δ| between onnxruntime's and torch's scores an export accepts
CHUNK = 4096  # validation rows per onnxruntime call when verifying


def require_onnx() -> None:
    """A one-line ``UserError`` naming the install command unless the exporter and runtime are importable."""
    for name in ("onnx", "onnxscript", "onnxruntime"):
        try:
            __import__(name)
        except ImportError:
            raise UserError(f"--format onnx needs the {name} package, which is not installed; {INSTALL}") from None


# -- the graphs -------------------------------------------------------------------------------------------------


class _Fixed(nn.Module):
    """A model trained at one λ: ``forward(*entries)`` → scores ``[B, T]``."""

    def __init__(self, model: nn.Module, names: Sequence[str], tasks: Sequence[str], factory: str | None) -> None:
        super().__init__()
        self.model, self.names, self.tasks, self.factory = model, list(names), list(tasks), factory

    def forward(self, *entries: torch.Tensor) -> torch.Tensor:
        from paretomoo.models._module import scores_of

        batch = dict(zip(self.names, entries, strict=True))
        if self.factory is not None:  # the user's own module
            return scores_of(self.model(batch), self.tasks, self.factory)
        return self.model(batch)[0]


class _PerRequest(nn.Module):
    """A conditioned model with one λ for the batch: ``forward(*entries, lam[T])`` → scores ``[B, T]``."""

    def __init__(self, model: ConditionedModel, names: Sequence[str], tasks: Sequence[str]) -> None:
        from paretomoo.models._module import ModulePopulation

        super().__init__()
        self.mixture: Mixture = model.mixture
        self.names, self.tasks = list(names), list(tasks)
        anchors = self.mixture.anchors
        # a user module runs as itself (member 0's module on the mixed weights), not under torch.vmap over one member:
        # vmap's embedding rule would fix the batch size
        self.user = anchors if isinstance(anchors, ModulePopulation) else None
        self.template: nn.Module = self.mixture.template(1) if self.user is None else self.user.base

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        from paretomoo.models._module import _escape, scores_of

        *entries, lam = inputs
        weights = self.mixture.mixed((lam / lam.sum()).view(1, 1, -1))
        batch = dict(zip(self.names, entries, strict=True))
        if self.user is None:
            return torch.func.functional_call(self.template, weights, (batch,))[0]
        own = {n: weights[f"stacked.{_escape(n)}"][0] for n in self.user.param_names}
        own.update({n: weights[f"stacked_buffers.{_escape(n)}"][0] for n in self.user.buffer_names})
        return scores_of(torch.func.functional_call(self.template, own, (batch,)), self.tasks, self.user.spec.factory)


class _PerRow(nn.Module):
    """A conditioned model with one λ per row: ``forward(*entries, lam[B, T])`` → scores ``[B, T]``.

    One member per row (the population forward's ``stacked`` batches ``[B, 1, ...]``),
    its weights mixed at its row's λ.
    """

    def __init__(self, model: ConditionedModel, names: Sequence[str]) -> None:
        from paretomoo.models._module import ModulePopulation

        super().__init__()
        self.mixture: Mixture = model.mixture
        self.names = list(names)
        self.user = isinstance(self.mixture.anchors, ModulePopulation)
        template = self.mixture.template(1)
        if self.user:  # the population axis is the rows', from the weights: under vmap, whatever mode the study chose
            template = copy.copy(template)
            object.__setattr__(template, "mode", "vmap")
        self.template: nn.Module = template

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        *entries, lam = inputs
        w = lam / lam.sum(dim=1, keepdim=True)  # [B, T]
        batch = dict(zip(self.names, entries, strict=True))
        if self.user:
            weights = self.mixture.mixed(w.unsqueeze(0))  # {name: [B, ...]}
            rows = {k: v.unsqueeze(1) for k, v in batch.items()}
            return torch.func.functional_call(self.template, weights, (rows,), {"stacked": True})[:, 0]
        b, t = w.shape
        cat = batch["cat"]
        weights = {}
        for name, p in self.mixture.anchors.named_parameters():
            if name.startswith("embeddings."):  # each row's id from every anchor's table, mixed: [T, B, d] → [B, 1, d]
                rows_of = p.index_select(1, cat[:, int(name.split(".")[1])])
                weights[name] = torch.einsum("bt,tbd->bd", w, rows_of).unsqueeze(1)
            else:
                weights[name] = (w @ p.reshape(t, -1)).view(b, *p.shape[1:])
        # member b's tables hold one row, its own id's: every id becomes 0
        rows = {"num": batch["num"].unsqueeze(1), "cat": torch.zeros_like(cat).unsqueeze(1)}
        return torch.func.functional_call(self.template, weights, (rows,))[:, 0]


# -- export -----------------------------------------------------------------------------------------------------


def _write(graph: nn.Module, args: tuple[torch.Tensor, ...], names: Sequence[str], out: Path, meta: Mapping[str, str]) -> None:
    """Export ``graph`` (example ``args``; axis 0 of every input is the dynamic batch, but a λ ``[T]``) to ``out``;
    ``Untraceable`` if ``torch.export`` cannot trace it.

    ``torch.export`` (non-strict) first, on its own: ``torch.onnx.export`` given a module
    falls back to other capture strategies, one of which fixes the batch size silently.
    """
    import logging
    import warnings

    batch = torch.export.Dim("batch")
    shapes = tuple(None if n == "lam" and a.dim() == 1 else {0: batch} for n, a in zip(names, args, strict=True))
    # e.g. "torchvision is not installed" on every export; the failed guard of a graph that cannot be traced
    quiet = [logging.getLogger(name) for name in ("torch.onnx", "torch.fx.experimental.symbolic_shapes")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            try:
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):  # the graph, on a failure
                    exported = torch.export.export(graph.eval(), args, dynamic_shapes=(shapes,), strict=False)
            except UserError:
                raise
            except Exception as exc:
                raise Untraceable(_reason(exc)) from None
            program = torch.onnx.export(exported, (), dynamo=True, verbose=False)
    finally:
        for q, level in zip(quiet, levels, strict=True):
            q.setLevel(level)
    assert program is not None
    _name(program.model.graph, names)
    for key, value in meta.items():
        program.model.metadata_props[key] = value
    program.save(str(out), external_data=False)


class Untraceable(Exception):
    """``torch.export`` cannot trace a graph; the message says why, on one line."""


def _reason(exc: BaseException) -> str:
    """Why ``torch.export`` failed, on one line."""
    text = str(exc)
    where = ""
    for path, line, code in re.findall(r'File "([^"]+)", line (\d+), in \w+\n\s*(.+)', text):
        if "/torch/" not in path and "/paretomoo/" not in path:  # the user's own line
            where = f" at {Path(path).name}:{line} ({code.strip()[:80]})"
    if "Constraints violated (batch)" in text:
        return f"the traced graph fixes the batch size (an operation specialises on the number of rows){where}"
    if "data-dependent" in text or "GuardOnDataDependent" in type(exc).__name__:
        return f"its forward branches on tensor values (data-dependent Python control flow, .item() or float(tensor)){where}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else "(no message)"
    return f"{type(exc).__name__}: {first if len(first) <= 200 else first[:199] + '…'}"


def _name(graph: Any, names: Sequence[str]) -> None:
    """Name the graph's inputs ``names`` and its output ``scores`` (torch's ``input_names`` can collide with the name of
    an inner value, e.g. the output of a ``torch.cat``: inner values of those names are renamed first)."""
    wanted = {*names, "scores"}
    for node in graph:
        for value in node.outputs:
            if value.name in wanted and value not in graph.outputs:
                value.name = f"{value.name}_inner"
    for value, name in zip(graph.inputs, names, strict=True):
        value.name = name
    graph.outputs[0].name = "scores"


@dataclass(frozen=True)
class OnnxFiles:
    """What ``write_onnx`` wrote: ``files``; ``verified`` (max |Δ| between onnxruntime's and torch's scores on the
    validation rows, None if not checked); ``notes``: lines to show (a graph that was not written, and why)."""

    files: list[Path]
    verified: float | None
    notes: list[str]


def write_onnx(path: str | Path, verify: bool = True, rows: int = 4) -> OnnxFiles:
    """Write ``model.onnx`` (and ``model_rows.onnx`` for a conditioned export) into the export folder ``path``.

    Traced on the first ``rows`` validation rows (the batch axis stays dynamic);
    with ``verify``, checked with onnxruntime against torch (``verify_onnx``): a
    ``UserError`` beyond ``TOLERANCE``. A model the exporter cannot trace is a
    one-line ``UserError`` saying why; so is a missing ``[serve]`` extra.
    """
    from paretomoo.conditioned import ConditionedModel
    from paretomoo.export import _read, load_export_spec, load_model

    require_onnx()
    folder = Path(path)
    blob = _read(folder / "model.pt")
    tasks = list(load_export_spec(folder).task_names)
    every = _features(folder)  # loaded once: the traced rows, then the verification's
    names = list(every)
    example = tuple(v[:rows].clone() for v in every.values())  # not views: the exporter would trace their storage
    factory = blob["model"].get("factory") if blob["model"].get("type") == "module" else None
    what = f"the module of {factory!r}" if factory else f"the {blob['model'].get('type')} model"
    meta = {"paretomoo.tasks": json.dumps(tasks), "paretomoo.inputs": json.dumps(names), "paretomoo.output": "scores [batch, tasks]"}
    model = load_model(folder)
    cond = blob.get("conditioned")
    for stale in ("model.onnx", "model_rows.onnx"):  # an earlier export's graphs in this folder
        (folder / stale).unlink(missing_ok=True)
    notes = []
    try:
        if cond is None:
            _write(_Fixed(model, names, tasks, factory), example, names, folder / "model.onnx", {**meta, "paretomoo.lam_input": "none"})
        else:
            assert isinstance(model, ConditionedModel)
            meta["paretomoo.lam"] = json.dumps(dict(zip(tasks, cond["lam"], strict=True)))
            lam = torch.tensor(cond["lam"], dtype=torch.float32)
            one = {**meta, "paretomoo.lam_input": "lam [tasks]: one λ per request"}
            _write(_PerRequest(model, names, tasks), (*example, lam), [*names, "lam"], folder / "model.onnx", one)
            per_row = {**meta, "paretomoo.lam_input": "lam [batch, tasks]: one λ per row"}
            try:
                _write(
                    _PerRow(model, names), (*example, lam.expand(rows, -1).clone()), [*names, "lam"], folder / "model_rows.onnx", per_row
                )
            except Untraceable as exc:
                if factory is None:
                    raise
                notes.append(f"model_rows.onnx (one λ per row) not written: torch.vmap over the rows of {what} cannot be exported ({exc})")
    except Untraceable as exc:
        raise UserError(f"{what} cannot be exported to ONNX: {exc}; export with --format pt") from None
    files = [f for f in (folder / "model.onnx", folder / "model_rows.onnx") if f.is_file()]
    diff = verify_onnx(folder, every) if verify else None
    if diff is not None and diff > TOLERANCE:
        raise UserError(
            f"onnxruntime's scores differ from torch's by up to {diff:.3g} on the validation rows (more than {TOLERANCE:g}); "
            "export with --format pt"
        )
    return OnnxFiles(files, diff, notes)


def _features(folder: Path) -> dict[str, torch.Tensor]:
    """The export's validation rows as a batch ``{entry: [n, ...]}`` (the labels left out)."""
    from paretomoo.data import load_data
    from paretomoo.data._tensors import to_tensors
    from paretomoo.export import load_export_spec

    spec = load_export_spec(folder)
    return dict(to_tensors(load_data(spec.data).split("val"), spec.tasks, torch.device("cpu")).features)


# -- verification -----------------------------------------------------------------------------------------------


def session(path: str | Path, threads: int = 0) -> Any:
    """An onnxruntime CPU session of ``path`` (``threads`` intra-op threads; 0: onnxruntime's default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _run(sess: Any, batch: Mapping[str, torch.Tensor], lam: np.ndarray | None = None) -> np.ndarray:
    feeds = {k: v.numpy() for k, v in batch.items()}
    if lam is not None:
        feeds["lam"] = lam.astype(np.float32)
    return sess.run(["scores"], feeds)[0]


def verify_onnx(path: str | Path, features: Mapping[str, torch.Tensor] | None = None) -> float:
    """Largest |difference| between onnxruntime's and torch's scores on the export's validation rows.

    A fixed model: ``model.onnx`` against ``load_model``. A conditioned one: ``model.onnx``
    at the exported λ and at each task's end against ``load_model(path, lam=...)``, and
    ``model_rows.onnx`` with those λ taking turns over the rows against the same scores. ``features``: the
    validation rows as ``_features`` reads them, if the caller has them already.
    """
    from paretomoo.export import _read, load_export_spec, load_model
    from paretomoo.models._module import scores_of

    folder = Path(path)
    blob = _read(folder / "model.pt")
    features = _features(folder) if features is None else features
    n = next(iter(features.values())).shape[0]
    chunks = [slice(i, min(i + CHUNK, n)) for i in range(0, n, CHUNK)]
    model = load_model(folder)
    worst = 0.0
    with torch.no_grad():
        if "conditioned" not in blob:
            sess = session(folder / "model.onnx")
            user = blob["model"].get("type") == "module"
            tasks = list(load_export_spec(folder).task_names)
            for c in chunks:
                batch = {k: v[c] for k, v in features.items()}
                out = model(batch)
                ref = scores_of(out, tasks, blob["model"]["factory"]) if user else out[0]
                worst = max(worst, float(np.abs(_run(sess, batch) - ref.numpy()).max()))
            return worst
        t = len(blob["conditioned"]["tasks"])
        lams = np.vstack([np.asarray(blob["conditioned"]["lam"], dtype=np.float32), np.eye(t, dtype=np.float32)])  # [L, T]
        one = session(folder / "model.onnx")
        rows = session(folder / "model_rows.onnx") if (folder / "model_rows.onnx").is_file() else None
        for c in chunks:
            batch = {k: v[c] for k, v in features.items()}
            ref = model(batch, lam=torch.from_numpy(lams)).numpy()  # [L, b, T]
            for i, lam in enumerate(lams):
                worst = max(worst, float(np.abs(_run(one, batch, lam) - ref[i]).max()))
            if rows is None:
                continue
            pick = np.arange(c.start, c.stop) % len(lams)  # row r at λ number r mod L
            got = _run(rows, batch, lams[pick])
            worst = max(worst, float(np.abs(got - ref[pick, np.arange(len(pick))]).max()))
    return worst
