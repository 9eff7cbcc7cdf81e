"""One λ-conditioned training against a 32-trial sweep: front quality, wall time, and the gap at each end.

For each spec and each of ``--seeds`` seeds, interleaved, two real studies on the
same data, one CPU thread each, the same epochs per model:

* ``sweep``: ``--budget`` fixed-λ trials by the default optimizer (optuna-tpe, the best
  of benchmarks/front_quality.py), through the population trainer;
* ``conditioned``: ``optimizer = "conditioned"`` (one conditioned model, ``points`` λ
  measured by forward passes), then its 5 exact checks (knee and each end).

Reported (validation values, since the fronts are selected there): the
hypervolume of the conditioned points' front ÷ the sweep's, both normalised by
the ideal and nadir of the non-dominated set of every exactly trained model of
the run (each sweep and each check); the wall time of training plus measuring
and storing every λ ÷ the sweep's wall time; at each objective's end, the
conditioned point's shortfall against its exact retraining beside that
difference's seed noise (``Gap``). Median and quartiles over the seeds.

    python benchmarks/conditioned.py [--seeds 3] [--budget 32]

Writes ``benchmarks/results/conditioned.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from bootstrap_cost import run_facts
from front_quality import hv_ratio, normaliser, spread

ROOT = Path(__file__).resolve().parents[1]
SPECS = {"ecommerce": ("studies/ecommerce.toml", {"rows": 60000}), "census_income": ("studies/census_income.toml", {})}


def _values(spec: Any, records: list[Any], keep: Any) -> np.ndarray:
    rows = [r.values for r in records if r.state == "complete" and keep(r)]
    return np.array(rows, dtype=np.float64).reshape(-1, len(spec.tasks))


def sweep(path: str, data: dict[str, Any], seed: int, budget: int) -> dict[str, Any]:
    from paretomoo.spec import load_spec
    from paretomoo.study import run_study

    spec = load_spec(path).replace(
        data=data, training={"device": "cpu", "workers": 1, "population": 8}, search={"seed": seed, "trials": budget, "batch": 8}
    )
    with tempfile.TemporaryDirectory(prefix="paretomoo-cond-") as tmp:
        t0 = time.perf_counter()
        store = run_study(spec, storage=f"sqlite:///{tmp}/s.db")
        wall = time.perf_counter() - t0
        return {"wall_s": wall, "values": _values(spec, store.records(), lambda r: True).tolist(), "directions": spec.directions}


def conditioned(path: str, data: dict[str, Any], seed: int) -> dict[str, Any]:
    from paretomoo.conditioned import gaps, run_conditioned
    from paretomoo.spec import load_spec
    from paretomoo.study import execute, prepare

    spec = load_spec(path).replace(
        data=data, training={"device": "cpu", "workers": 1, "population": 8}, search={"seed": seed, "optimizer": "conditioned", "trials": 5}
    )
    with tempfile.TemporaryDirectory(prefix="paretomoo-cond-") as tmp:
        t0 = time.perf_counter()
        store, trainer, layout = prepare(spec, storage=f"sqlite:///{tmp}/c.db")
        setup = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_conditioned(store, trainer)
        wall = time.perf_counter() - t0
        execute(store, trainer, layout)
        records = store.records()
        attrs = store.study.user_attrs["conditioned"]
        found = gaps(records, spec.objectives, spec.directions, spec.tasks)
    ends = {}
    for g in found:
        if g.end is not None:
            j = spec.objectives.index(g.end)
            ends[g.end] = {"gap": g.gap[j], "noise": g.noise[j]}
    return {
        "wall_s": wall,
        "setup_s": setup,
        "train_s": attrs["train_seconds"],
        "measure_s": attrs["measure_seconds"],
        "points": attrs["points"],
        "values": _values(spec, records, lambda r: r.conditioned is not None).tolist(),
        "checks": _values(spec, records, lambda r: r.check_of is not None).tolist(),
        "ends": ends,
    }


def main() -> None:
    import torch

    from paretomoo.front import pareto_mask, to_min

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budget", type=int, default=32)
    ap.add_argument("--specs", default=",".join(SPECS))
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/conditioned.json"))
    args = ap.parse_args()
    out: dict[str, Any] = {"facts": run_facts(), "seeds": args.seeds, "budget": args.budget}
    for name in args.specs.split(","):
        path, data = SPECS[name]
        runs = []
        for seed in range(args.seeds):  # the two arms interleaved, seed by seed
            runs.append(
                {"sweep": sweep(str(ROOT / path), data, seed, args.budget), "conditioned": conditioned(str(ROOT / path), data, seed)}
            )
        directions = runs[0]["sweep"]["directions"]
        exact = np.vstack([np.array(r["sweep"]["values"]) for r in runs] + [np.array(r["conditioned"]["checks"]) for r in runs])
        F_ref = to_min(exact, directions)
        F_ref = F_ref[pareto_mask(F_ref)]
        ideal, span = normaliser(F_ref)
        ratios, times, end_gap, end_noise = [], [], [], []
        for r in runs:
            hv_s = hv_ratio(to_min(np.array(r["sweep"]["values"]), directions), ideal, span, 1.0)
            hv_c = hv_ratio(to_min(np.array(r["conditioned"]["values"]), directions), ideal, span, 1.0)
            ratios.append(hv_c / hv_s if hv_s > 0 else float("nan"))
            times.append(r["conditioned"]["wall_s"] / r["sweep"]["wall_s"])
            worst = max(r["conditioned"]["ends"].values(), key=lambda e: e["gap"] - e["noise"])
            end_gap.append(worst["gap"])
            end_noise.append(worst["noise"])
        out[name] = {
            "hv_ratio": float(np.median(ratios)),
            "time_ratio": float(np.median(times)),
            "max_end_gap": float(np.median(end_gap)),
            "max_end_noise": float(np.median(end_noise)),
            "spread": {"hv_ratio": spread(ratios), "time_ratio": spread(times), "max_end_gap": spread(end_gap)},
            "runs": runs,
        }
        print(f"\n{name} ({args.seeds} seeds, sweep of {args.budget} by optuna-tpe), median [q25–q75]")
        print(f"{'measure':<34}{'median':>10}{'q25':>10}{'q75':>10}")
        for key, xs in (
            ("HV conditioned ÷ sweep", ratios),
            ("wall time conditioned ÷ sweep", times),
            ("worst end gap (fraction)", end_gap),
            ("  its seed noise", end_noise),
        ):
            s = spread(xs)
            print(f"{key:<34}{s['median']:>10.3f}{s['q25']:>10.3f}{s['q75']:>10.3f}")
        ends = {k for r in runs for k in r["conditioned"]["ends"]}
        for k in sorted(ends):
            gs = [r["conditioned"]["ends"][k]["gap"] for r in runs if k in r["conditioned"]["ends"]]
            ns = [r["conditioned"]["ends"][k]["noise"] for r in runs if k in r["conditioned"]["ends"]]
            print(f"  end of {k}: gap {np.median(gs):+.3f} (seed noise ±{np.median(ns):.3f})")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
