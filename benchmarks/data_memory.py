"""Memory of a study's processes on one host: the data shared between them, or a copy in each.

`paretomoo run` of the demo spec at 1,000,000 rows with 2 training processes (one epoch, 4 trials, so that every
process trains), once with the data in shared memory (the default) and once with `PARETOMOO_SHARE_DATA=0` (each
training process loads its own copy, as before), interleaved, `--repeats` times each. While it runs, the
resident (RSS) and proportional (PSS: a shared page counted once over the processes that map it) set sizes of
the main process and its children are read from /proc every 0.1 s; reported: the peak of their sums.

    python benchmarks/data_memory.py [--rows 1000000] [--repeats 3]

Writes benchmarks/results/data_memory.json and prints a table (median [q25–q75] over the repeats).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ARMS = {"shared": "1", "copy per process": "0"}


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def _sizes(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in bytes of one process, from /proc/PID/smaps_rollup (0, 0 once it is gone)."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss, pss


def run(arm: str, args: argparse.Namespace, tmp: Path, i: int) -> dict:
    text = (ROOT / "studies" / "ecommerce.toml").read_text()
    name = f"memory{i}"
    spec = tmp / f"{name}.toml"
    text = text.replace('name = "ecommerce"', f'name = "{name}"').replace("runs/ecommerce", str(tmp / name))
    text = re.sub(r"(?m)^rows = \d+", f"rows = {args.rows}", text)
    spec.write_text(re.sub(r"(?m)^epochs = \d+", "epochs = 1", text))
    env = {**os.environ, "PARETOMOO_SHARE_DATA": ARMS[arm]}
    cmd = [sys.executable, "-m", "paretomoo.cli", "run", str(spec), "--quiet", "--workers", "2", "--trials", "4"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak_rss = peak_pss = most = 0
    while proc.poll() is None:
        pids = _tree(proc.pid)
        sizes = [_sizes(p) for p in pids]
        peak_rss = max(peak_rss, sum(r for r, _ in sizes))
        peak_pss = max(peak_pss, sum(p for _, p in sizes))
        most = max(most, len(pids))
        time.sleep(0.1)
    if proc.returncode != 0:
        raise SystemExit(f"{arm}: paretomoo run failed: {proc.stderr.read() if proc.stderr else ''}")
    return {
        "arm": arm,
        "peak_rss_mb": peak_rss / 2**20,
        "peak_pss_mb": peak_pss / 2**20,
        "processes": most,
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "data_memory.json"))
    args = ap.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for arm in ARMS if r % 2 == 0 else reversed(list(ARMS)):  # interleaved, the order alternating
                runs.append(run(arm, args, Path(tmp), len(runs)))
                print(f"  {arm}: peak PSS {runs[-1]['peak_pss_mb']:.0f} MB, RSS {runs[-1]['peak_rss_mb']:.0f} MB", flush=True)
    arms = {}
    for arm in ARMS:
        mine = [x for x in runs if x["arm"] == arm]
        arms[arm] = {
            key: {"median": float(np.median(v)), "q25": float(np.quantile(v, 0.25)), "q75": float(np.quantile(v, 0.75))}
            for key in ("peak_pss_mb", "peak_rss_mb", "seconds")
            for v in [[x[key] for x in mine]]
        }
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "rows": args.rows,
        "training_processes": 2,
        "repeats": args.repeats,
        "arms": arms,
        "pss_ratio": arms["shared"]["peak_pss_mb"]["median"] / arms["copy per process"]["peak_pss_mb"]["median"],
        "runs": runs,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\ndemo spec at {args.rows:,} rows, main + 2 training processes, {args.repeats} runs per arm (median [q25–q75])")
    print(f"{'data':<18}{'peak PSS (MB)':>22}{'peak RSS (MB)':>22}{'seconds':>18}")
    for arm, a in arms.items():
        cells = [f"{a[k]['median']:.0f} [{a[k]['q25']:.0f}–{a[k]['q75']:.0f}]" for k in ("peak_pss_mb", "peak_rss_mb", "seconds")]
        print(f"{arm:<18}{cells[0]:>22}{cells[1]:>22}{cells[2]:>18}")
    print(f"PSS shared ÷ copy per process: {result['pss_ratio']:.2f}")


if __name__ == "__main__":
    main()
