"""What the row bootstrap of every metric costs, against the training of one demo trial.

    python benchmarks/bootstrap_cost.py        # about 2 minutes on 2 cores

The demo (studies/ecommerce.toml on the CPU): 20,000 validation and 20,000 test
rows, four tasks: click and ad_click (AUC), search (NDCG@10 by query, graded
relevance 0-4), fraud (PR-AUC at 1 % positives). Each round (``--repeats``, 5)
times, on one thread (``torch.set_num_threads(1)``), side by side:

  trial      ``Trainer.fit`` of ``--population`` λ (default 4: on a CPU a study runs one
             single-thread process per core, each training populations of 4), its
             evaluation included; a trial is the pass over the population size;
  bootstrap  for the first model of that pass, every metric each task reports (click,
             ad_click, fraud: auc, pr_auc, logloss; search: rmse, ndcg@10) on both
             splits, B = ``metrics.BOOTSTRAP`` replicates, each task through
             ``bootstrap_metrics``: the first call right after training (cold caches,
             as in a worker), then the median of ``--calls`` (10) more. Each split
             has one weights tensor drawn per query (the split's group key), used by
             every task: a replicate is one resample of queries for all objectives, as
             joint statistics (P(on the front)) need;
  alone      each metric through its own ``Metric.bootstrap`` (nothing shared), the
             median of ``--calls`` timings: the breakdown.

The rounds interleave the arms, so a slow moment of the machine slows both; the
share of a trial is taken per round (that round's bootstrap over that round's
trial) and the median and quartiles over rounds are reported. Each round also
measures the share of the machine's CPU that other processes took (``/proc/stat``,
steal included): while more than ``--busy`` (20 %) of it went elsewhere in too
many rounds, rounds are added, ``--retries`` (3) at most, and the ``--repeats``
least disturbed count. Drawing the weights (``bootstrap_weights``, once per split
and process, not per trial) is timed apart.

Writes ``benchmarks/results/bootstrap_cost.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from paretomoo.data import load_data
from paretomoo.metrics import BOOTSTRAP, bootstrap_metrics, bootstrap_weights, get_metric, reported
from paretomoo.spec import load_spec
from paretomoo.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]


class OthersCpu:
    """Share of the machine's CPU that other processes took between ``start`` and ``stop`` (``/proc/stat``, steal included)."""

    HZ = os.sysconf("SC_CLK_TCK")

    def _read(self) -> tuple[float, float, float]:
        with open("/proc/stat") as f:
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in f.readline().split()[1:9])
        t = os.times()
        return time.perf_counter(), (user + nice + system + irq + softirq + steal) / self.HZ, t.user + t.system

    def start(self) -> None:
        self.begin = self._read()

    def stop(self) -> float:
        end = self._read()
        wall, busy, own = (e - b for e, b in zip(end, self.begin, strict=True))
        return max(0.0, (busy - own) / (wall * (os.cpu_count() or 1)))


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def run_facts() -> dict[str, object]:
    """Where and when a benchmark ran: the machine, torch, the date, the load average (every result JSON starts so)."""
    return {
        "machine": f"{cpu_model()}, {os.cpu_count()} logical CPUs",
        "torch": torch.__version__,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "load_average": list(os.getloadavg()),
    }


def spread(xs: list[float]) -> dict[str, float]:
    q1, med, q3 = np.percentile(xs, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "min": float(min(xs)), "max": float(max(xs)), "n": len(xs)}


def timed(f: Callable[[], object], calls: int) -> tuple[float, float]:
    """Seconds of the first of ``calls`` + 1 calls of f, and the median of the others."""
    times = []
    for _ in range(calls + 1):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return times[0], statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="rounds, each a trial and the bootstrap side by side")
    parser.add_argument("--population", type=int, default=4, help="λ per training pass (a trial is the pass / population)")
    parser.add_argument("--calls", type=int, default=10, help="bootstrap timings per round (their median counts)")
    parser.add_argument("--busy", type=float, default=0.2, help="share of the CPU taken by others above which a round is disturbed")
    parser.add_argument("--retries", type=int, default=3, help="rounds added at most while too many are disturbed")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bootstrap_cost.json"))
    args = parser.parse_args()

    torch.set_num_threads(1)
    spec = load_spec(ROOT / "studies" / "ecommerce.toml").replace(training={"device": "cpu"})
    trainer = Trainer(spec, load_data(spec.data), "cpu")
    splits = {"val": trainer.val, "test": trainer.test}
    key = next(i for i, t in enumerate(spec.tasks) if t.group is not None)  # the query key: per-query weights for every task

    start = time.perf_counter()
    weights = {name: bootstrap_weights(len(split.y), groups=split.groups[key]) for name, split in splits.items()}
    draw_s = time.perf_counter() - start

    def jobs(model: torch.nn.Module) -> list[tuple[str, str, list, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]]:
        out = []
        for name, split in splits.items():
            scores = trainer.predict(model, split)[0]
            for i, task in enumerate(spec.tasks):
                primary = get_metric(task.metric)
                grouped = primary if primary is not None and primary.grouped else None
                out.append((name, task.name, reported(task.loss, grouped), scores[:, i], split.y[:, i], weights[name], split.groups.get(i)))
        return out

    rng = np.random.default_rng(0)
    rounds = []
    trainer.fit(rng.dirichlet(np.ones(len(spec.tasks)), args.population))  # warm-up: first-pass allocations
    r = 0
    while r < args.repeats + args.retries and (r < args.repeats or sum(x["others_cpu"] > args.busy for x in rounds) > r - args.repeats):
        r += 1
        others = OthersCpu()
        others.start()
        lam = rng.dirichlet(np.ones(len(spec.tasks)), args.population)
        t = time.perf_counter()
        results = trainer.fit(lam)
        trial_s = (time.perf_counter() - t) / args.population
        model = trainer.new_model(1)
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(results[0].state[name])
        work = jobs(model)
        first_s, boot_s = timed(lambda work=work: [bootstrap_metrics(m, s, y, w, g) for _, _, m, s, y, w, g in work], args.calls)
        alone = {}
        for split_name, task_name, metrics, s, y, w, g in work:
            for m in metrics:
                alone[f"{split_name}/{task_name}/{m.name}"] = timed(lambda m=m, s=s, y=y, w=w, g=g: m.bootstrap(s, y, w, g), args.calls)[1]
        rounds.append(
            {
                "trial_s": trial_s,
                "bootstrap_first_ms": first_s * 1e3,
                "bootstrap_ms": boot_s * 1e3,
                "share_first_percent": 100 * first_s / trial_s,
                "share_percent": 100 * boot_s / trial_s,
                "alone_ms": {k: v * 1e3 for k, v in alone.items()},
            }
        )
        rounds[-1]["others_cpu"] = others.stop()
        print(
            f"round {r}: trial {trial_s:.2f} s, bootstrap {boot_s * 1e3:.1f} ms ({100 * boot_s / trial_s:.2f} %), "
            f"right after training {first_s * 1e3:.1f} ms ({100 * first_s / trial_s:.2f} %), "
            f"others' CPU {100 * rounds[-1]['others_cpu']:.0f} %",
            flush=True,
        )

    run = rounds
    rounds = sorted(rounds, key=lambda x: x["others_cpu"])[: args.repeats]  # the least disturbed
    boot = spread([r["bootstrap_ms"] for r in rounds])
    share = spread([r["share_percent"] for r in rounds])
    first = spread([r["bootstrap_first_ms"] for r in rounds])
    share_first = spread([r["share_first_percent"] for r in rounds])
    trial = spread([r["trial_s"] for r in rounds])
    per_metric = {k: statistics.median(r["alone_ms"][k] for r in rounds) for k in rounds[0]["alone_ms"]}
    print(f"\ntrial (training + evaluation of one λ, 1 thread): {trial['median']:.2f} s [{trial['q1']:.2f}–{trial['q3']:.2f}]")
    print(f"bootstrap, every metric on both splits, B = {BOOTSTRAP}: {boot['median']:.1f} ms [{boot['q1']:.1f}–{boot['q3']:.1f}]")
    print(f"share of a trial: {share['median']:.2f} % [{share['q1']:.2f}–{share['q3']:.2f}]")
    print(
        f"the first call, right after training: {first['median']:.1f} ms [{first['q1']:.1f}–{first['q3']:.1f}], "
        f"{share_first['median']:.2f} % [{share_first['q1']:.2f}–{share_first['q3']:.2f}] of a trial"
    )
    print(f"drawing the weights of both splits (once per process): {draw_s * 1e3:.0f} ms")
    print("\neach metric alone (ms, median over rounds):")
    for k, v in per_metric.items():
        print(f"  {k:28s} {v:6.2f}")
    print(f"  {'sum':28s} {sum(per_metric.values()):6.2f}")

    result = {
        **run_facts(),
        "setup": {
            "spec": "studies/ecommerce.toml (device cpu)",
            "rows": {name: len(split.y) for name, split in splits.items()},
            "replicates": BOOTSTRAP,
            "weights": "Poisson(1) per query (the split's group key), one tensor per split for every task",
            "metrics": {t.name: [m.name for m in reported(t.loss, get_metric(t.metric) if t.group else None)] for t in spec.tasks},
            "threads": 1,
            "population": args.population,
            "calls_per_round": args.calls,
            "repeats": args.repeats,
            "busy": args.busy,
            "retries": args.retries,
        },
        "trial_s": trial,
        "bootstrap_ms": boot,
        "share_of_trial_percent": share,
        "bootstrap_first_ms": first,
        "share_of_trial_first_percent": share_first,
        "draw_weights_ms": draw_s * 1e3,
        "alone_ms": per_metric,
        "alone_sum_ms": sum(per_metric.values()),
        "others_cpu_counted": spread([r["others_cpu"] for r in rounds]),
        "rounds": run,
        "rounds_counted": [run.index(x) for x in rounds],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
