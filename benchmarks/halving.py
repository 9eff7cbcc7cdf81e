"""Does successive halving find the front for fewer training epochs?

    python benchmarks/halving.py        # the demo at 60k rows, 6 epochs, 5 search seeds: about 15 minutes on 2 cores

Runs real studies (``run_study``, a throw-away SQLite file each, one training
process with populations of 4, one thread; two studies at a time) of the
spec's optimizer (``auto``) under ``--seeds`` search seeds:

* ``full``: every λ trains all its epochs, ``--budget`` λ;
* ``eta3`` and ``eta2``: ``[search] fidelity = "epochs"`` with eta 3 (rungs of
  2 and 6 epochs) and eta 2 (1, 3 and 6), ``--halving-budget`` λ.

A study proposes a batch from the batches before it only, and a batch's
survivors depend on that batch alone, so the first b batches of a run are the
run a budget of b batches would have made: each run is read at every batch,
as a curve of hypervolume against the epochs (and seconds) trained so far.

* **Hypervolume ratio:** as in ``front_quality.py``: objectives normalised to
  the ideal and nadir of the reference front (the non-dominated set of every
  complete trial of every run), the reference point at its nadir. Pruned trials
  never count (they are not on a study's front).
* **The floor:** per search seed, halving's ratio at the most batches whose
  epochs stay within half of full training's at ``--at`` (32) λ, over full's
  ratio at ``--at`` λ (``hv_ratio_vs_full``, with ``epoch_ratio``); and the same
  at equal epochs. Medians and quartiles over seeds.

Merges ``halving`` into ``benchmarks/results/front_quality.json`` and prints
the table.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from bootstrap_cost import run_facts
from front_quality import hv_ratio, normaliser, spread

ROOT = Path(__file__).resolve().parents[1]
ARMS = {"full": None, "eta3": 3, "eta2": 2}


def run(job: tuple[str, int, str, int, int, int]) -> dict[str, Any]:
    """One study: ``arm`` under search seed ``seed``; every trial's batch, state, final epochs, seconds and values."""
    import torch

    from paretomoo.spec import load_spec
    from paretomoo.study import run_study

    torch.set_num_threads(1)
    arm, seed, path, rows, epochs, budget = job
    spec = load_spec(path).replace(
        data={"rows": rows},
        training={"device": "cpu", "epochs": epochs, "workers": 1, "population": 4},
        search={"seed": seed, "trials": budget, **({"fidelity": "epochs", "eta": ARMS[arm]} if ARMS[arm] else {})},
    )
    with tempfile.TemporaryDirectory(prefix="paretomoo-halving-") as tmp:
        t0 = time.perf_counter()
        store = run_study(spec, storage=f"sqlite:///{tmp}/study.db")
        wall = time.perf_counter() - t0
        records = store.records()
    names = [t.name for t in spec.tasks]
    return {
        "arm": arm,
        "seed": seed,
        "wall_s": wall,
        "directions": spec.directions,
        "trials": [
            {
                "batch": r.batch,
                "state": r.state,
                "epochs": r.epochs if r.epochs is not None else epochs,
                "seconds": r.seconds,
                "values": [r.val[n][t.metric] for n, t in zip(names, spec.tasks, strict=True)] if r.state == "complete" else None,
            }
            for r in records
            if r.state != "interrupted"
        ],
    }


def curve(r: dict[str, Any]) -> list[dict[str, Any]]:
    """After each batch: λ ended, epochs and seconds trained, the complete trials' values."""
    from paretomoo.front import to_min

    out = []
    for b in range(max(t["batch"] for t in r["trials"]) + 1):
        mine = [t for t in r["trials"] if t["batch"] <= b]
        ended = [t for t in mine if t["state"] in ("complete", "pruned", "failed")]
        done = [t["values"] for t in mine if t["state"] == "complete"]
        F = to_min(np.array(done), r["directions"]) if done else np.zeros((0, len(r["directions"])))
        out.append({"lambdas": len(ended), "epochs": sum(t["epochs"] for t in ended), "seconds": sum(t["seconds"] for t in mine), "F": F})
    return out


def main() -> None:
    from paretomoo.front import hypervolume, pareto_mask

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", default=str(ROOT / "studies" / "ecommerce.toml"))
    parser.add_argument("--rows", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=64, help="λ of a full-training run")
    parser.add_argument("--halving-budget", type=int, default=96, help="λ of a halving run")
    parser.add_argument("--at", type=int, default=32, help="full training's budget that the floor compares with")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "front_quality.json"))
    args = parser.parse_args()

    start = time.perf_counter()
    jobs = [
        (arm, s, args.spec, args.rows, args.epochs, args.budget if arm == "full" else args.halving_budget)
        for s in range(args.seeds)
        for arm in ARMS
    ]
    runs = []
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for r in pool.imap_unordered(run, jobs):
            runs.append(r)
            print(f"  {r['arm']:5s} seed {r['seed']}: {len(r['trials'])} trials in {r['wall_s']:5.0f} s", flush=True)
    curves = {(r["arm"], r["seed"]): curve(r) for r in runs}
    F_all = np.vstack([c[-1]["F"] for c in curves.values()])
    F_ref = F_all[pareto_mask(F_all)]
    ideal, span = normaliser(F_ref)
    hv_ref = hypervolume((F_ref - ideal) / span, np.ones(F_ref.shape[1]))
    for c in curves.values():
        for point in c:
            point["hv"] = hv_ratio(point["F"], ideal, span, hv_ref)

    seeds = range(args.seeds)
    full_at = {s: next(p for p in curves[("full", s)] if p["lambdas"] >= args.at) for s in seeds}
    arms: dict[str, Any] = {}
    for arm in ARMS:
        rows = []
        for share in (0.5, 1.0):  # of full training's epochs at `at` λ
            ratios, epoch_ratios, second_ratios, hv, lambdas = [], [], [], [], []
            for s in seeds:
                full = full_at[s]
                within = [p for p in curves[(arm, s)] if p["epochs"] <= share * full["epochs"]]
                if not within:
                    continue
                p = within[-1]
                ratios.append(p["hv"] / full["hv"] if full["hv"] > 0 else float("nan"))
                epoch_ratios.append(p["epochs"] / full["epochs"])
                second_ratios.append(p["seconds"] / full["seconds"])
                hv.append(p["hv"])
                lambdas.append(p["lambdas"])
            if ratios:
                rows.append(
                    {
                        "epoch_share": share,
                        "hv_ratio_vs_full": spread(ratios),
                        "epoch_ratio": spread(epoch_ratios),
                        "seconds_ratio": spread(second_ratios),
                        "hv_ratio": spread(hv),
                        "lambdas": spread(lambdas),
                    }
                )
        # the anytime curve: HV ratio against epochs, on a common grid of epochs (one batch of full training apart)
        step = 8 * args.epochs
        grid = list(range(step, int(min(c[-1]["epochs"] for (a, _), c in curves.items() if a == arm)) + 1, step))
        at = {e: [max([p["hv"] for p in curves[(arm, s)] if p["epochs"] <= e], default=0.0) for s in seeds] for e in grid}
        arms[arm] = {
            "seeds": args.seeds,
            "compare": rows,
            "epochs": grid,
            "hv_ratio_median": [spread(at[e])["median"] for e in grid],
            "hv_ratio_q25": [spread(at[e])["q25"] for e in grid],
            "hv_ratio_q75": [spread(at[e])["q75"] for e in grid],
            "wall_seconds_median": float(np.median([r["wall_s"] for r in runs if r["arm"] == arm])),
        }

    print(f"\nfull training at {args.at} λ: HV ratio {spread([full_at[s]['hv'] for s in seeds])['median']:.3f} (median over seeds)")
    print(f"{'arm':5s} {'epochs ≤':>9s} {'λ':>5s} {'HV ÷ full':>20s} {'epochs ÷ full':>14s} {'seconds ÷ full':>15s}")
    for arm, v in arms.items():
        for row in v["compare"]:
            h, e, t = row["hv_ratio_vs_full"], row["epoch_ratio"], row["seconds_ratio"]
            print(
                f"{arm:5s} {row['epoch_share']:8.1f}× {row['lambdas']['median']:5.0f} "
                f"{h['median']:.3f} [{h['q25']:.3f}–{h['q75']:.3f}] {e['median']:14.2f} {t['median']:15.2f}"
            )
    print(f"\nHV ratio against epochs trained, median [q25–q75] over {args.seeds} seeds")
    for arm, v in arms.items():
        cells = "  ".join(
            f"{e}: {m:.2f} [{a:.2f}–{c:.2f}]"
            for e, m, a, c in zip(v["epochs"], v["hv_ratio_median"], v["hv_ratio_q25"], v["hv_ratio_q75"], strict=True)
        )
        print(f"{arm:5s} {cells}")

    out = Path(args.out)
    result: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    name = Path(args.spec).stem
    best = min(
        (a for a in ARMS if a != "full"), key=lambda a: -arms[a]["compare"][0]["hv_ratio_vs_full"]["median"] if arms[a]["compare"] else 0
    )
    half = arms[best]["compare"][0]
    result.setdefault("halving", {})[name] = {
        "hv_ratio_vs_full": half["hv_ratio_vs_full"]["median"],
        "epoch_ratio": half["epoch_ratio"]["median"],
        "best_arm": best,
        "setup": {"rows": args.rows, "epochs": args.epochs, "budget": args.budget, "halving_budget": args.halving_budget, "at": args.at},
        "reference_points": int(len(F_ref)),
        "arms": arms,
        "seconds": time.perf_counter() - start,
        **run_facts(),
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out} ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
