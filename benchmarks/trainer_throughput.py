"""Trials per minute of the inner trainer, against a plain PyTorch loop, on the same data and model.

    python benchmarks/trainer_throughput.py                 # CPU: every arm, about 5 minutes on 2 cores
    python benchmarks/trainer_throughput.py --device cuda   # GPU (see benchmarks/gpu_check.sh)

Arms, all on the demo data (200k rows: 160k train, 20k val, 20k test), a shared
bottom 256-128 with four 64-wide towers, embeddings of 8, 2 epochs, batch 1024:

  seed loop   the loop of a typical article: a torch Dataset of dict rows,
              DataLoader(shuffle=True) with the default collate, a fresh
              nn.Module (embeddings + MLP bottom + towers) and AdamW per λ,
              loss Σ λ_i f_i; then the same metrics on val and test
  K=1         paretomoo's trainer, one λ per pass, one process (a lone λ trains
              as a pair, see Trainer.fit, so it costs two)
  K=4 ... 32  populations of K λ in one pass, one process
  WxK         W single-thread processes each training a population of K (CPU)

To keep the run short every arm runs its training loop on the full data for
about ``--trial-budget`` trials' worth of optimizer steps only (the trainer's
own ``fit``, stopped by an optimizer hook; the seed loop: ``--seed-steps``
steps) and the full 2 epochs are extrapolated from it; evaluation (val + test
metrics) is timed whole. Each timing is taken ``--repeats`` times and the
quickest counts, since the machine may be shared. ``--check`` then trains the
best arm's layout for real, 2 full epochs through the study's own executor; its
time is the headline (``best_s_per_trial``, ``speedup``, ``achieved_gflops`` in
the JSON), the extrapolation beside it.

Each arm runs in fresh processes (its own peak memory, its own thread setting).
FLOPs are counted from the layer shapes (``models.flops_per_row``): a training
row costs 3× a forward pass, an evaluation row 1×. Next to each arm's GFLOP/s
is the fp32 matrix-multiply peak measured in the same processes with the same
threads (a 2048² torch.mm; in a multi-process arm all processes at once), just
before and just after the arm; an arm during which it dropped (other work on a
shared machine) is measured again.

Writes ``benchmarks/results/trainer_throughput[_cuda].json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import multiprocessing as mp
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from paretomoo._parallel import InProcess, ProcessPool, physical_cores  # noqa: E402
from paretomoo.data import Dataset, Split, load_data  # noqa: E402
from paretomoo.models import ModelShape, flops_per_row  # noqa: E402
from paretomoo.spec import StudySpec, load_spec  # noqa: E402
from paretomoo.tasks import all_metrics  # noqa: E402
from paretomoo.trainer import Trainer  # noqa: E402

# An arm whose matmul peak, measured just before and just after it, fell below this
# share of the best peak of the run was slowed by other work on the machine: it is
# measured again (twice at most).
DISTURBED = 0.85


@dataclasses.dataclass(frozen=True)
class Arm:
    name: str
    kind: str  # "seed" or "trainer"
    population: int = 1
    workers: int = 1
    threads: int = 0  # torch threads per process; 0 = torch's default


def make_spec(args: argparse.Namespace) -> StudySpec:
    spec = load_spec(ROOT / "studies" / "ecommerce.toml")
    return spec.replace(
        data={"rows": args.rows},
        model={"type": "shared_bottom", "embedding_dim": 8, "bottom": (256, 128), "tower": (64,)},
        training={"epochs": args.epochs, "batch_size": args.batch_size, "device": args.device, "population": 0, "workers": 1},
    )


def lambdas(k: int, n_tasks: int) -> np.ndarray:
    return np.random.default_rng(0).dirichlet(np.ones(n_tasks), size=k)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def matmul_peak(device: str, seconds: float = 1.0) -> float:
    """GFLOP/s of a large fp32 torch.mm on this process's threads (or the GPU), the best of four windows."""
    n = 8192 if device.startswith("cuda") else 2048
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    for _ in range(2):
        a @ b
    sync(device)
    best = 0.0
    for _ in range(4):  # the best of four windows: the machine may be shared
        reps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 4:
            a @ b
            reps += 1
            sync(device)
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - start) / 1e9)
    return best


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# -- the seed loop ---------------------------------------------------------------------------


class RowDataset(torch.utils.data.Dataset):
    """One dict of tensors per row, as the article builds it."""

    def __init__(self, split: Split, spec: StudySpec) -> None:
        self.num, self.cat = split.num, split.cat
        self.labels = {t.name: split.labels[t.label] for t in spec.tasks}

    def __len__(self) -> int:
        return len(self.num)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        row = {"num": torch.tensor(self.num[i]), "cat": torch.tensor(self.cat[i])}
        row.update({name: torch.tensor(y[i]) for name, y in self.labels.items()})
        return row


class SeedModel(torch.nn.Module):
    def __init__(self, shape: ModelShape, spec: StudySpec) -> None:
        super().__init__()
        m = spec.model
        self.embeddings = torch.nn.ModuleList(torch.nn.Embedding(c, m.embedding_dim) for c in shape.cardinalities)
        layers: list[torch.nn.Module] = []
        width = shape.n_num + m.embedding_dim * len(shape.cardinalities)
        for w in m.bottom:
            layers += [torch.nn.Linear(width, w), torch.nn.ReLU()]
            width = w
        self.bottom = torch.nn.Sequential(*layers)
        self.towers = torch.nn.ModuleList(
            torch.nn.Sequential(torch.nn.Linear(width, m.tower[0]), torch.nn.ReLU(), torch.nn.Linear(m.tower[0], 1)) for _ in spec.tasks
        )

    def forward(self, num: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
        x = torch.cat([num] + [e(cat[:, j]) for j, e in enumerate(self.embeddings)], dim=1)
        h = self.bottom(x)
        return torch.cat([tower(h) for tower in self.towers], dim=1)


def seed_loop(spec: StudySpec, data: Dataset, device: str, steps: int, repeats: int) -> dict[str, float]:
    """Seconds per trial of the article's loop: ``steps`` timed steps extrapolated to the epochs, plus evaluation.

    The steps are timed in ``repeats`` windows and the quickest counts (the machine may be shared).
    """
    shape = ModelShape(n_num=data.train.num.shape[1], cardinalities=data.cardinalities, n_tasks=len(spec.tasks))
    lam = lambdas(1, len(spec.tasks))[0]
    cfg = spec.training
    model = SeedModel(shape, spec).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    losses = [
        torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(t.pos_weight, device=device)) if t.loss == "bce" else torch.nn.MSELoss()
        for t in spec.tasks
    ]
    loader = torch.utils.data.DataLoader(RowDataset(data.train, spec), batch_size=cfg.batch_size, shuffle=True)
    warmup, window = 5, max(1, steps // repeats)
    marks = {warmup + w * window for w in range(repeats + 1)}
    times = []
    for i, batch in enumerate(loader):
        if i in marks:
            sync(device)
            times.append(time.perf_counter())
        if i == warmup + repeats * window:
            break
        batch = {k: v.to(device) for k, v in batch.items()}
        pred = model(batch["num"], batch["cat"])
        loss = sum(w * f(pred[:, j], batch[t.name]) for j, (w, f, t) in enumerate(zip(lam, losses, spec.tasks, strict=True)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    step_s = min(b - a for a, b in zip(times[:-1], times[1:], strict=True)) / window  # the quietest window

    start = time.perf_counter()
    model.eval()
    with torch.no_grad():
        for split in (data.val, data.test):
            scores, ys = [], []
            for batch in torch.utils.data.DataLoader(RowDataset(split, spec), batch_size=cfg.batch_size):
                scores.append(model(batch["num"].to(device), batch["cat"].to(device)).cpu())
                ys.append(torch.stack([batch[t.name] for t in spec.tasks], dim=1))
            s, y = torch.cat(scores), torch.cat(ys)
            for j, t in enumerate(spec.tasks):
                group = torch.as_tensor(split.keys[t.group]) if t.group else None
                all_metrics(t, s[:, j], y[:, j], group)
    eval_s = time.perf_counter() - start
    steps_per_trial = cfg.epochs * math.ceil(len(data.train) / cfg.batch_size)
    return {"step_s": step_s, "eval_s": eval_s, "pass_s": steps_per_trial * step_s + eval_s, "trials_per_pass": 1, "steps": steps}


# -- paretomoo's trainer -------------------------------------------------------------------------


class _Enough(Exception):
    """Raised after the optimizer steps to be timed, to leave ``Trainer.fit`` early."""


def fit_steps(trainer: Trainer, lam: np.ndarray, steps: int) -> None:
    """Run ``trainer.fit(lam)`` on its full data, but stop after ``steps`` optimizer steps."""
    done = 0

    def count(optimizer: Any, args: Any, kwargs: Any) -> None:
        nonlocal done
        done += 1
        if done == steps:
            raise _Enough

    hook = register_optimizer_step_post_hook(count)
    try:
        trainer.fit(lam)
    except _Enough:
        pass
    finally:
        hook.remove()


def trainer_pass(spec: StudySpec, data: Dataset, device: str, k: int, steps: int, repeats: int, barrier: Any = None) -> dict[str, float]:
    """Seconds of one pass of K λ over the full epochs: ``steps`` timed steps extrapolated, plus evaluation.

    The steps are the trainer's own loop on the full training rows, stopped
    early; evaluation and the steps are each timed ``repeats`` times and the
    quickest counts.
    """
    cfg = spec.training
    lam = lambdas(k, len(spec.tasks))
    trainer = Trainer(spec, data, device)
    steps_per_trial = cfg.epochs * math.ceil(len(data.train) / cfg.batch_size)
    steps = min(steps, steps_per_trial)
    fit_steps(trainer, lam, 3)  # warm-up: allocator and kernels

    def timed(call: Any) -> float:
        best = math.inf
        for _ in range(repeats):
            if barrier is not None:
                barrier.wait()
            sync(device)
            start = time.perf_counter()
            call()
            sync(device)
            best = min(best, time.perf_counter() - start)
        return best

    model = trainer.new_model(k)
    eval_s = timed(lambda: (trainer.measure(model, trainer.val), trainer.measure(model, trainer.test)))
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    step_s = timed(lambda: fit_steps(trainer, lam, steps)) / steps
    return {"step_s": step_s, "eval_s": eval_s, "pass_s": steps_per_trial * step_s + eval_s, "trials_per_pass": k, "steps": steps}


def run_arm(arm: Arm, spec: StudySpec, device: str, steps: int, seed_steps: int, repeats: int, barrier: Any, queue: Any) -> None:
    """One process of an arm: time it, measure the matmul peak on the same threads before and after, report."""
    try:
        if arm.threads:
            torch.set_num_threads(arm.threads)
        data = load_data(spec.data)

        def peak() -> float:
            if barrier is not None:
                barrier.wait()  # every process of the arm multiplies at once: the peak of all their cores
            return matmul_peak(device, seconds=0.6)

        before = peak()
        if arm.kind == "seed":
            out = seed_loop(spec, data, device, seed_steps, repeats)
        else:
            out = trainer_pass(spec, data, device, arm.population, steps, repeats, barrier)
        out["memory_mb"] = peak_memory_mb(device)
        after = peak()
        out["peak_gflops"], out["peak_low_gflops"] = max(before, after), min(before, after)
        out["threads"] = torch.get_num_threads()
        queue.put(out)
    except BaseException as exc:  # report, do not hang the parent
        queue.put({"error": f"{type(exc).__name__}: {exc}"})
        raise


def measure_arm(arm: Arm, spec: StudySpec, args: argparse.Namespace) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    barrier = ctx.Barrier(arm.workers) if arm.workers > 1 else None
    # the timed steps of all repeats together are about trial_budget trials' worth of member-steps
    member_steps = args.trial_budget * args.epochs * math.ceil(0.8 * args.rows / args.batch_size)
    steps = max(args.min_steps, math.ceil(member_steps / (arm.population * arm.workers * args.repeats)))
    procs = [
        ctx.Process(target=run_arm, args=(arm, spec, args.device, steps, args.seed_steps, args.repeats, barrier, queue))
        for _ in range(arm.workers)
    ]
    for p in procs:
        p.start()
    outs = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    errors = [o["error"] for o in outs if "error" in o]
    if errors:
        raise RuntimeError(f"arm {arm.name}: {errors[0]}")
    # the processes of a multi-process arm run side by side: a pass takes as long as the slowest
    pass_s = max(o["pass_s"] for o in outs)
    trials = sum(o["trials_per_pass"] for o in outs)
    return {
        "arm": arm.name,
        "kind": arm.kind,
        "population": arm.population,
        "workers": arm.workers,
        "threads_per_process": outs[0]["threads"],
        "timed_steps": outs[0]["steps"],
        "step_s": max(o["step_s"] for o in outs),
        "eval_s": max(o["eval_s"] for o in outs),
        "s_per_trial": pass_s / trials,
        "trials_per_min": 60 * trials / pass_s,
        "memory_mb": sum(o["memory_mb"] for o in outs),
        "peak_gflops": sum(o["peak_gflops"] for o in outs),
        "peak_low_gflops": sum(o["peak_low_gflops"] for o in outs),
    }


def check_best(best: dict[str, Any], spec: StudySpec, args: argparse.Namespace) -> float:
    """Seconds per trial of a real pass (full epochs) of the best trainer layout, through the study's executor.

    The quickest of ``--repeats`` passes counts, as for the arms.
    """
    k, workers = best["population"], best["workers"]
    lam = lambdas(workers * k, len(spec.tasks))
    if workers == 1:
        executor: InProcess | ProcessPool = InProcess(Trainer(spec, load_data(spec.data), args.device))
    else:
        executor = ProcessPool(spec, args.device, workers, threads=1)
    seconds = math.inf
    with executor:  # timed from here: a pool's processes have started and hold their data
        for _ in range(args.repeats):
            start = time.perf_counter()
            results = executor.fit(lam, k)
            seconds = min(seconds, time.perf_counter() - start)
            assert all(r.failed is None for r in results)
    return seconds / len(lam)


# -- report ---------------------------------------------------------------------------------------


def machine(device: str) -> str:
    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name()} ({torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB)"
    model = platform.processor() or "CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {physical_cores()} physical cores ({os.cpu_count()} logical)"


def table(rows: list[dict[str, Any]], seed_s: float) -> str:
    head = ["arm", "procs×threads", "s/trial", "trials/min", "peak mem MB", "GFLOP/s", "peak GFLOP/s", "% peak", "speedup"]
    lines = []
    for r in rows:
        lines.append(
            [
                r["arm"],
                f"{r['workers']}×{r['threads_per_process']}",
                f"{r['s_per_trial']:.3f}",
                f"{r['trials_per_min']:.1f}",
                f"{r['memory_mb']:.0f}",
                f"{r['achieved_gflops']:.1f}",
                f"{r['peak_gflops']:.1f}",
                f"{100 * r['achieved_gflops'] / r['peak_gflops']:.0f}",
                f"{seed_s / r['s_per_trial']:.2f}×",
            ]
        )
    widths = [max(len(h), *(len(x[i]) for x in lines)) for i, h in enumerate(head)]
    out = ["  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True))]
    out += ["  ".join(c.rjust(w) for c, w in zip(x, widths, strict=True)) for x in lines]
    return "\n".join(out)


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["arm"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
    a.bar(names, [r["trials_per_min"] for r in rows], color=["#999"] + ["#4a7ab5"] * (len(rows) - 1))
    a.set_ylabel("trials per minute")
    b.bar(names, [100 * r["achieved_gflops"] / r["peak_gflops"] for r in rows], color=["#999"] + ["#4a7ab5"] * (len(rows) - 1))
    b.axhline(70, color="#c44", lw=1, ls="--")
    b.set_ylabel("% of measured fp32 matmul peak")
    for ax in (a, b):
        ax.tick_params(axis="x", rotation=45)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--populations", default=None, help="K of the one-process arms (default: 1,4,8,16,32 on CPU; 1,16,64,256 on CUDA)")
    p.add_argument("--layouts", default=None, help="WxK multi-process arms, CPU only (default: cores x 2, 4, 8)")
    p.add_argument("--trial-budget", type=float, default=2.0, help="trials' worth of optimizer steps timed per arm")
    p.add_argument("--min-steps", type=int, default=12, help="fewest timed steps of an arm")
    p.add_argument("--seed-steps", type=int, default=40, help="timed steps of the seed loop")
    p.add_argument("--repeats", type=int, default=2, help="timings per arm; the quickest counts (a shared machine is noisy)")
    p.add_argument("--check", action=argparse.BooleanOptionalAction, default=True, help="train the best layout for real once")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = p.parse_args(argv)
    cuda = args.device.startswith("cuda")
    spec = make_spec(args)
    cores = physical_cores()

    default_pops = "1,16,64,256" if cuda else "1,4,8,16,32"
    pops = [int(x) for x in (default_pops if args.populations is None else args.populations).split(",") if x]
    arms = [Arm("seed loop", "seed")] + [Arm(f"K={k}", "trainer", population=k) for k in pops]
    if not cuda:
        layouts = args.layouts or ",".join(f"{cores}x{k}" for k in (2, 4, 8))
        for text in layouts.split(","):
            w, k = (int(x) for x in text.lower().split("x"))
            arms.append(Arm(f"{w}x{k}", "trainer", population=k, workers=w, threads=1))

    data = load_data(spec.data)
    shape = ModelShape(n_num=data.train.num.shape[1], cardinalities=data.cardinalities, n_tasks=len(spec.tasks))
    fwd = flops_per_row(shape, spec.model)
    flops_per_trial = 3 * fwd * len(data.train) * args.epochs + fwd * (len(data.val) + len(data.test))
    load = os.getloadavg()
    print(
        f"{machine(args.device)}; torch {torch.version.__version__}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n"
        f"data {len(data.train):,} train / {len(data.val):,} val / {len(data.test):,} test rows; shared bottom "
        f"{'-'.join(map(str, spec.model.bottom))}, towers {spec.model.tower[0]}, embeddings {spec.model.embedding_dim}; "
        f"{args.epochs} epochs of batch {args.batch_size}; {flops_per_trial / 1e9:.1f} GFLOP per trial",
        flush=True,
    )
    rows = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    per_core = matmul_peak(args.device, seconds=0.6)  # the best matmul peak per core (or of the GPU) seen so far
    torch.set_num_threads(threads)
    for arm in arms:
        for attempt in range(1, 4):
            r = measure_arm(arm, spec, args)
            cores_used = 1 if cuda else r["workers"] * r["threads_per_process"]
            per_core = max(per_core, r["peak_gflops"] / cores_used)
            if r["peak_low_gflops"] >= DISTURBED * per_core * cores_used or attempt == 3:
                break
            print(
                f"  {arm.name}: disturbed by other work (matmul peak fell to {r['peak_low_gflops']:.0f} of "
                f"{per_core * cores_used:.0f} GFLOP/s); measuring again",
                flush=True,
            )
        r["attempts"] = attempt
        r["achieved_gflops"] = flops_per_trial / r["s_per_trial"] / 1e9
        rows.append(r)
        print(f"  {arm.name}: {r['s_per_trial']:.3f} s/trial ({r['timed_steps']} steps timed)", flush=True)

    seed_s = rows[0]["s_per_trial"]
    best = min(rows[1:], key=lambda r: r["s_per_trial"])
    print()
    print(table(rows, seed_s))
    print(
        f"\nseed loop: {args.seed_steps} steps timed and extrapolated to {args.epochs} epochs; trainer arms: "
        f"~{args.trial_budget:g} trials' worth of steps timed and extrapolated; evaluation timed whole; the quickest of "
        f"{args.repeats} timings counts."
    )
    checked = None
    if args.check:
        checked = check_best(best, spec, args)
        print(
            f"best arm {best['arm']} trained for real ({args.epochs} full epochs, {best['workers'] * best['population']} λ): "
            f"{checked:.3f} s/trial (extrapolated: {best['s_per_trial']:.3f})"
        )
    best_s = checked if checked is not None else best["s_per_trial"]
    print(
        f"best: {best['arm']}, {best_s:.3f} s/trial: {seed_s / best_s:.1f}× the seed loop; "
        f"{flops_per_trial / best_s / 1e9:.0f} GFLOP/s = {100 * flops_per_trial / best_s / 1e9 / best['peak_gflops']:.0f}% "
        f"of the {best['peak_gflops']:.0f} GFLOP/s matmul peak"
    )
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    result = {
        "machine": machine(args.device),
        "device": args.device,
        "torch": torch.version.__version__,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "load_average": [round(x, 2) for x in load],  # 1, 5 and 15 minutes, when the run started
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "setup": {
            "rows": args.rows,
            "train_rows": len(data.train),
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "model": dataclasses.asdict(spec.model),
            "forward_flops_per_row": fwd,
            "gflop_per_trial": flops_per_trial / 1e9,
            "seed_steps_timed": args.seed_steps,
            "trial_budget": args.trial_budget,
            "repeats": args.repeats,
        },
        "seed_loop_s_per_trial": seed_s,
        "best_arm": best["arm"],
        # trained for real when --check ran, else extrapolated
        "best_s_per_trial": best_s,
        "best_s_per_trial_extrapolated": best["s_per_trial"],
        "best_s_per_trial_measured": checked,
        "best_k": best["population"],
        "best_workers": best["workers"],
        "speedup": seed_s / best_s,
        "achieved_gflops": flops_per_trial / best_s / 1e9,
        "peak_gflops": best["peak_gflops"],
        "arms": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "trainer_throughput" + ("_cuda" if cuda else "")
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(rows, out / f"{stem}.png", f"{result['machine']}; torch {result['torch']}")
    print(f"wrote {out / stem}.json and .png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
