"""Scale-out: 1, 2 and 4 local `paretomoo worker` processes on the same study budget.

For each arm a fresh study of the demo spec (same data, model, epochs, budget)
is run by N worker processes sharing one store (SQLite by default; pass
--storage-base postgresql://user@host to use fresh PostgreSQL databases).
Reported per arm: wall time, trials per minute, scaling efficiency
(T1 / (N · TN)), the store's overhead per trial (time a worker spends talking
to the store: lock, recovery, proposing, popping, storing results and weights)
and that overhead as a share of the training time of a trial.

    python benchmarks/scaleout.py [--workers 1 2 4] [--trials 16]

Writes benchmarks/results/scaleout.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def arm(n: int, args: argparse.Namespace, tmp: Path) -> dict:
    spec_text = (ROOT / "studies" / "ecommerce.toml").read_text()
    name = f"scaleout{n}"
    spec_text = spec_text.replace('name = "ecommerce"', f'name = "{name}"').replace("runs/ecommerce", str(tmp / name))
    # One proposal batch holds the whole budget, so that no worker waits for another's generation.
    spec_text = spec_text.replace("trials = 32", f"trials = {args.trials}").replace("batch = 8 ", f"batch = {args.trials} ")
    spec = tmp / f"{name}.toml"
    spec.write_text(spec_text)
    storage = f"{args.storage_base}/{name}" if args.storage_base else f"sqlite:///{tmp}/{name}.db"
    threads = max(1, (os.cpu_count() or 1) // n)
    cmd = [sys.executable, "-m", "paretomoo.cli", "worker", str(spec), "--storage", storage, "--quiet"]
    cmd += ["--threads", str(threads), "--population", str(args.population)]
    start = time.perf_counter()
    procs = []
    for i in range(n):
        with open(tmp / f"{name}.{i}.err", "w") as err:
            procs.append(subprocess.Popen([*cmd, "--stats", str(tmp / f"{name}.{i}.json")], cwd=ROOT, stderr=err))
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"a worker failed: {(tmp / f'{name}.{procs.index(p)}.err').read_text()}")
    wall = time.perf_counter() - start
    stats = [json.loads((tmp / f"{name}.{i}.json").read_text()) for i in range(n)]
    trials = sum(s["trials"] for s in stats)
    train_s = sum(s["train_s"] for s in stats)
    store_s = sum(s["store_s"] for s in stats)
    return {
        "workers": n,
        "threads_per_worker": threads,
        "trials": trials,
        "wall_s": round(wall, 2),
        "trials_per_min": round(60 * trials / wall, 2),
        "train_s_per_trial": round(train_s / trials, 3),
        "store_ms_per_trial": round(1000 * store_s / trials, 1),
        "store_share_of_trial": round(store_s / train_s, 4),
        "wait_s": round(sum(s["wait_s"] for s in stats), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--population", type=int, default=2, help="λ per pass of each worker")
    ap.add_argument("--storage-base", help="e.g. postgresql://postgres@127.0.0.1:5432 (databases scaleout1.. must exist)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "scaleout.json"))
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rows = [arm(n, args, tmp) for n in args.workers]
    base = rows[0]
    for r in rows:
        r["speedup"] = round(base["wall_s"] / r["wall_s"], 2)
        r["efficiency"] = round(base["wall_s"] / (r["workers"] * r["wall_s"]) * base["workers"], 2)
    result = {
        "benchmark": "scaleout",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "torch": torch.__version__,
        "storage": "postgresql" if args.storage_base else "sqlite",
        "spec": "studies/ecommerce.toml (demo data, model and epochs)",
        "trials": args.trials,
        "population": args.population,
        "arms": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    head = ["workers", "threads", "wall s", "trials/min", "speedup", "efficiency", "train s/trial", "store ms/trial", "store share"]
    print(" | ".join(head))
    for r in rows:
        cells = [
            r["workers"],
            r["threads_per_worker"],
            r["wall_s"],
            r["trials_per_min"],
            r["speedup"],
            r["efficiency"],
            r["train_s_per_trial"],
            r["store_ms_per_trial"],
            f"{100 * r['store_share_of_trial']:.2f} %",
        ]
        print(" | ".join(str(c) for c in cells))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
