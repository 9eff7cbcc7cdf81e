"""Your own nn.Module as a population: seconds per trial against the built-in model, vmap against one member at a time.

    python benchmarks/own_model.py             # about 4 minutes on 2 idle cores

Arms (``Trainer.fit`` of K λ, one epoch, batch 1,024, two threads, device cpu; s/trial = the fit's seconds ÷ K,
training and the val/test metrics both), at K = 4 and 8:

  builtin             paretomoo's own shared-bottom population (``type = "shared_bottom"``: embeddings 8,
                      bottom 64-4, towers 16) on the built-in synthetic data (``--rows``, default 60k: 48k train)
  module_vmap         the same architecture as a plain ``nn.Module`` (examples/shared_bottom/mtl.py), its members
                      stacked and run under ``torch.vmap`` (``population = "vmap"``), the same data
  module_sequential   the same module, one member after another on each batch (``population = "sequential"``)
  din_vmap            the behaviour-sequence model of examples/sequence/din.py (target attention over the last
  din_sequential      20 clicks) on its own loader (``--sequence-rows``, default 20k): vmap, one at a time

The arms are interleaved: each of ``--rounds`` (default 5) rounds times one fit of every (arm, K), the order
rotated by one each round, after one untimed warm-up fit of each. Every figure is the median over rounds with its
quartiles; the ratios are taken per round (the two fits of one round) before the median:

  vmap_vs_sequential       module_sequential ÷ module_vmap at K = 8 (what stacking the members saves)
  vmap_vs_builtin          module_vmap ÷ builtin at K = 8 (what a plain module costs against the hand-fused model)
  din_vmap_vs_sequential   din_sequential ÷ din_vmap at K = 8

and, for each model and K, what ``population = "auto"`` chooses (it times a few steps of both on the first batch).
Beside the wall-clock seconds, each fit's process CPU seconds are kept (less sensitive to other processes on
the same cores, which slow the arms unequally: small operators suffer most). The load average is recorded at the
start and the end.
Writes ``benchmarks/results/own_model.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bootstrap_cost import run_facts, spread

from paretomoo._imports import freeze
from paretomoo.data import Dataset, load_data
from paretomoo.spec import StudySpec, load_spec
from paretomoo.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
KS = (4, 8)
THREADS = 2
BUILTIN = {"type": "shared_bottom", "embedding_dim": 8, "bottom": [64, 4], "tower": [16]}  # the module's architecture
# arm → (the data it trains on, [model] keys over the example's spec)
ARMS = {
    "builtin": ("plain", BUILTIN),
    "module_vmap": ("plain", {"population": "vmap"}),
    "module_sequential": ("plain", {"population": "sequential"}),
    "din_vmap": ("sequence", {"population": "vmap"}),
    "din_sequential": ("sequence", {"population": "sequential"}),
}
# the JSON's ratios, taken per round at K = 8: (name, numerator arm, denominator arm)
RATIOS = (
    ("vmap_vs_sequential", "module_sequential", "module_vmap"),
    ("vmap_vs_builtin", "module_vmap", "builtin"),
    ("din_vmap_vs_sequential", "din_sequential", "din_vmap"),
)


def base_specs(rows: int, sequence_rows: int) -> dict[str, StudySpec]:
    """The two examples' specs at one epoch, batch 1,024, on the CPU, at the benchmark's sizes."""
    training = {"epochs": 1, "batch_size": 1024, "device": "cpu", "workers": 1}
    plain = load_spec(EXAMPLES / "shared_bottom" / "study.toml").replace(data={"rows": rows}, training=training)
    seq = load_spec(EXAMPLES / "sequence" / "study.toml")
    options = freeze({**dict(seq.data.options.loader_options), "rows": sequence_rows})
    return {"plain": plain, "sequence": seq.replace(data={"loader_options": options}, training=training)}


def lambdas(k: int, tasks: int) -> np.ndarray:
    return np.random.default_rng(k).dirichlet(np.ones(tasks), size=k)


def auto_choice(spec: StudySpec, data: Dataset, k: int) -> tuple[str, str]:
    """What ``population = "auto"`` picks for this model at K (and why): a fresh trainer times both on the first batch."""
    auto = Trainer(spec.replace(model={"population": "auto"}), data, "cpu")
    auto.new_population([spec.training.seed] * k)
    return auto.population_mode[k]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=60_000, help="rows of the synthetic data (80 %% train)")
    parser.add_argument("--sequence-rows", type=int, default=20_000, help="rows of the sequence data (80 %% train)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=THREADS, help="torch threads (2: the floors' setting)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "own_model.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    facts = run_facts()
    started = time.perf_counter()

    bases = base_specs(args.rows, args.sequence_rows)
    data = {name: load_data(spec.data) for name, spec in bases.items()}
    specs = {arm: bases[which].replace(model=model) for arm, (which, model) in ARMS.items()}
    trainers = {arm: Trainer(spec, data[ARMS[arm][0]], "cpu") for arm, spec in specs.items()}
    runs = [(arm, k) for arm in ARMS for k in KS]
    for arm, k in runs:  # warm-up: first-call allocations, vmap's first trace
        trainers[arm].fit(lambdas(k, len(specs[arm].tasks)))
    print(f"{len(runs)} arms warmed up ({time.perf_counter() - started:.0f} s); {args.rounds} interleaved rounds", flush=True)

    wall: dict[tuple[str, int], list[float]] = {r: [] for r in runs}
    cpu: dict[tuple[str, int], list[float]] = {r: [] for r in runs}
    for r in range(args.rounds):
        for arm, k in runs[r % len(runs) :] + runs[: r % len(runs)]:
            t0, c0 = time.perf_counter(), time.process_time()
            trainers[arm].fit(lambdas(k, len(specs[arm].tasks)))
            wall[(arm, k)].append((time.perf_counter() - t0) / k)
            cpu[(arm, k)].append((time.process_time() - c0) / k)
        print(f"  round {r + 1}: " + ", ".join(f"{a} K={k} {wall[(a, k)][-1]:.3f}" for a, k in runs), flush=True)

    auto = {f"{arm.split('_')[0]} K={k}": auto_choice(specs[arm], data[ARMS[arm][0]], k) for arm in ("module_vmap", "din_vmap") for k in KS}
    ratios = {name: [n / d for n, d in zip(wall[(num, 8)], wall[(den, 8)], strict=True)] for name, num, den in RATIOS}
    result: dict[str, Any] = {
        **facts,
        "load_average_end": list(os.getloadavg()),
        "setup": {
            "rows": args.rows,
            "sequence_rows": args.sequence_rows,
            "epochs": 1,
            "batch_size": 1024,
            "threads": args.threads,
            "rounds": args.rounds,
            "populations": list(KS),
            "seconds": time.perf_counter() - started,
        },
        **{name: float(np.median(v)) for name, v in ratios.items()},
        "ratios": {name: spread(v) for name, v in ratios.items()},
        "auto": {key: {"mode": mode, "why": why} for key, (mode, why) in auto.items()},
        "arms": {},
    }
    for (arm, k), xs in wall.items():
        q25, med, q75 = np.percentile(xs, [25, 50, 75])
        result["arms"][f"{arm}_k{k}"] = {
            "s_per_trial_median": float(med),
            "s_per_trial_q25": float(q25),
            "s_per_trial_q75": float(q75),
            "s_per_trial": spread(xs),
            "cpu_s_per_trial": spread(cpu[(arm, k)]),  # process CPU seconds (both threads) ÷ K: less sensitive to others' load
        }
    print(table(result))
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


def table(result: dict[str, Any]) -> str:
    setup = result["setup"]
    lines = [
        f"s/trial (one λ: its share of a fit, training + val/test metrics), median [q25–q75] of {setup['rounds']} interleaved rounds, "
        f"{setup['threads']} thread{'s' if setup['threads'] != 1 else ''}; CPU s/trial likewise",
        f"  {'arm':<24} {'s/trial':>22} {'CPU s/trial':>22}",
    ]
    for name, a in result["arms"].items():
        c = a["cpu_s_per_trial"]
        lines.append(
            f"  {name:<24} {a['s_per_trial_median']:7.3f} [{a['s_per_trial_q25']:.3f}–{a['s_per_trial_q75']:.3f}]"
            f" {c['median']:7.3f} [{c['q1']:.3f}–{c['q3']:.3f}]"
        )
    labels = {
        "vmap_vs_sequential": "plain module, K = 8: one at a time ÷ vmap (floor 1.8)",
        "vmap_vs_builtin": "plain module through vmap ÷ built-in, K = 8 (ceiling 1.3)",
        "din_vmap_vs_sequential": "sequence model, K = 8: one at a time ÷ vmap",
    }
    for key, label in labels.items():
        q = result["ratios"][key]
        lines.append(f"{label}: {q['median']:.2f} [{q['q1']:.2f}–{q['q3']:.2f}]")
    lines.append('population = "auto" chooses:')
    lines.extend(f"  {k:<10} {v['mode']:<10} ({v['why']})" for k, v in result["auto"].items())
    start, end = (" ".join(f"{x:.2f}" for x in result[k]) for k in ("load_average", "load_average_end"))
    lines.append(f"load average: {start} at the start, {end} at the end; {setup['seconds']:.0f} s in all")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
