"""Serving from ONNX: rows/s of onnxruntime against torch, a fixed-λ model and a λ-conditioned one.

    python benchmarks/serving.py             # about 2 minutes on 2 idle cores

The demo's architecture (studies/ecommerce.toml: shared bottom, embeddings 1, bottom 64-16, towers 16, four
tasks) on its data (the synthetic source, 200k rows; the validation rows are the inputs). The weights are not
trained (rows/s do not depend on their values): the fixed model at its seed's initial weights, the conditioned
model's four anchors drawn apart (N(0, 0.3²) added to each), written as export folders and exported with
``paretomoo._onnx.write_onnx`` (which checks onnxruntime against torch on the 20,000 validation rows: the
``verified`` max |Δ| below). Arms, at batch sizes 1, 64 and 1024:

  fixed     model.onnx of the fixed model          torch: ``load_model(path)(batch)``
  request   model.onnx, λ [T] (one per request)    torch: ``load_model(path)(batch, lam=λ)``
  row       model_rows.onnx, λ [B, T] (per row)    torch: the same per-row module the graph was traced from, eager

One thread each: ``torch.set_num_threads(1)``, onnxruntime ``intra_op_num_threads = inter_op_num_threads = 1``.
Each of ``--rounds`` rounds times every (arm, runtime, batch) once, in an order rotated by one each round
(interleaved, so a busy spell on the shared machine hits every arm); a timing calls the arm until
``--seconds`` have passed (at least 3 calls) after one untimed call. Figures: median rows/s over rounds with the
quartiles; ``ort_vs_torch`` is onnxruntime's rows/s ÷ torch's, taken per round, then the median.
Writes ``benchmarks/results/serving.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bootstrap_cost import run_facts, spread  # noqa: E402

import paretomoo  # noqa: E402
from paretomoo._onnx import _features, _PerRow, session, write_onnx  # noqa: E402
from paretomoo.conditioned import Mixture  # noqa: E402
from paretomoo.data import load_data  # noqa: E402
from paretomoo.models import build_model  # noqa: E402
from paretomoo.spec import load_spec  # noqa: E402
from paretomoo.trainer import Trainer  # noqa: E402

BATCHES = (1, 64, 1024)
MODES = ("fixed", "request", "row")


def export_folders(root: Path) -> dict[str, Path]:
    """The demo's model, fixed and conditioned, as export folders (what ``export_trial`` writes), under ``root``."""
    spec = load_spec(ROOT / "studies" / "ecommerce.toml")
    spec = spec.replace(training={"device": "cpu"})
    shape = Trainer(spec, load_data(spec.data), "cpu").shape
    gen = torch.Generator().manual_seed(1)
    mixture = Mixture(shape, spec.model, [0])
    anchors = {k: v + 0.3 * torch.randn(v.shape, generator=gen) for k, v in mixture.state().items()}
    blobs = {
        "fixed": {"state": build_model(shape, spec.model, [0]).state_dict()},
        "conditioned": {"state": anchors, "conditioned": {"lam": [0.25] * len(spec.tasks), "tasks": spec.task_names}},
    }
    out = {}
    for name, blob in blobs.items():
        folder = root / name
        folder.mkdir()
        torch.save({"shape": shape.to_dict(), "model": asdict(spec.model), **blob}, folder / "model.pt")
        (folder / "spec.toml").write_text(spec.source_text)
        (folder / "metrics.json").write_text(json.dumps({"spec_base": spec.base, "data_dir": None}))
        out[name] = folder
    return out


def rows_per_second(f: Callable[[], object], rows: int, seconds: float) -> float:
    f()  # untimed: first-call costs
    calls, start = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - start < seconds:
        f()
        calls += 1
    return rows * calls / (time.perf_counter() - start)


def arms(folders: dict[str, Path], features: dict[str, torch.Tensor]) -> dict[tuple[str, str, int], Callable[[], object]]:
    """(mode, runtime, batch) → one call scoring ``batch`` rows."""
    fixed = paretomoo.load_model(folders["fixed"])
    cond = paretomoo.load_model(folders["conditioned"])
    per_row = _PerRow(cond, list(features)).eval()  # type: ignore[arg-type]
    sessions = {
        "fixed": session(folders["fixed"] / "model.onnx", threads=1),
        "request": session(folders["conditioned"] / "model.onnx", threads=1),
        "row": session(folders["conditioned"] / "model_rows.onnx", threads=1),
    }
    rng = np.random.default_rng(0)
    lam = rng.dirichlet(np.ones(4)).astype(np.float32)
    out: dict[tuple[str, str, int], Callable[[], object]] = {}
    for b in BATCHES:
        batch = {k: v[:b].clone() for k, v in features.items()}
        feeds = {k: v.numpy() for k, v in batch.items()}
        lam_rows = rng.dirichlet(np.ones(4), size=b).astype(np.float32)
        lam_t, lam_rows_t = torch.from_numpy(lam), torch.from_numpy(lam_rows)
        ort_feeds = {"fixed": feeds, "request": {**feeds, "lam": lam}, "row": {**feeds, "lam": lam_rows}}
        for mode in MODES:
            sess, fd = sessions[mode], ort_feeds[mode]
            out[(mode, "onnxruntime", b)] = lambda sess=sess, fd=fd: sess.run(["scores"], fd)
        out[("fixed", "torch", b)] = lambda batch=batch: fixed(batch)
        out[("request", "torch", b)] = lambda batch=batch, lam_t=lam_t: cond(batch, lam=lam_t)
        out[("row", "torch", b)] = lambda batch=batch, lam_rows_t=lam_rows_t: per_row(*batch.values(), lam_rows_t)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.25, help="time per timing (at least 3 calls)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "serving.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    facts = run_facts()
    with tempfile.TemporaryDirectory() as tmp:
        folders = export_folders(Path(tmp))
        start = time.perf_counter()
        verified = {name: write_onnx(folder).verified for name, folder in folders.items()}
        export_seconds = time.perf_counter() - start
        features = _features(folders["fixed"])
        calls = arms(folders, features)
        keys = list(calls)
        rates: dict[tuple[str, str, int], list[float]] = {k: [] for k in keys}
        with torch.no_grad():
            for r in range(args.rounds):
                for k in keys[r % len(keys) :] + keys[: r % len(keys)]:
                    rates[k].append(rows_per_second(calls[k], k[2], args.seconds))
    result: dict[str, object] = {
        **facts,
        "load_average_end": list(os.getloadavg()),
        "threads": "one each: torch.set_num_threads(1); onnxruntime intra_op_num_threads = inter_op_num_threads = 1",
        "weights": "untrained (the fixed model's initial weights; the conditioned anchors drawn apart)",
        "rounds": args.rounds,
        "seconds_per_timing": args.seconds,
        "verified_max_abs_diff": verified,
        "export_seconds_both": export_seconds,
        "rows_per_s": {f"{m}/{rt}/{b}": spread(v) for (m, rt, b), v in rates.items()},
        "ort_vs_torch": {
            f"{m}/{b}": spread([o / t for o, t in zip(rates[(m, "onnxruntime", b)], rates[(m, "torch", b)], strict=True)])
            for m in MODES
            for b in BATCHES
        },
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"load average {facts['load_average']} → {result['load_average_end']}; verified max |Δ| {verified}")
    print(f"{'arm':<9} {'runtime':<12}" + "".join(f"{'B = ' + str(b):>28}" for b in BATCHES))
    for m in MODES:
        for rt in ("onnxruntime", "torch"):
            cells = []
            for b in BATCHES:
                s = result["rows_per_s"][f"{m}/{rt}/{b}"]  # type: ignore[index]
                cells.append(f"{s['median']:>10,.0f} [{s['q1']:,.0f}–{s['q3']:,.0f}]")
            print(f"{m:<9} {rt:<12}" + "".join(f"{c:>28}" for c in cells))
        ratio = [result["ort_vs_torch"][f"{m}/{b}"] for b in BATCHES]  # type: ignore[index]
        cells = [f"{s['median']:.2f}× [{s['q1']:.2f}–{s['q3']:.2f}]" for s in ratio]
        print(f"{m:<9} {'ort ÷ torch':<12}" + "".join(f"{c:>28}" for c in cells))


if __name__ == "__main__":
    main()
