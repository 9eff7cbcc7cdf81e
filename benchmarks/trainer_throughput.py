"""Trials per minute of the inner trainer, against a plain PyTorch loop, on the same data and model.

    python benchmarks/trainer_throughput.py                 # CPU: every arm, about 6 minutes on 2 cores
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
  K=4 vmap    what a PyTorch user writes for K models: K ordinary nn.Module
              shared-bottom models (the seed loop's module), combined with
              torch.func.stack_module_state + torch.vmap + functional_call,
              AdamW (foreach, as the trainer's) on the
              stacked parameters, loss Σ_i λ_ki f_i with the trainer's task
              losses (a regression task's error over the sd of its training
              labels, ``Trainer.loss_scale``), the outputs mapped to label units
              as the trainer's model maps them (shift + scale · z from
              ``Trainer.shape``), the trainer's batches (one index permutation
              from the same seeded generator, index_select, batch 1024) and the
              trainer's evaluation (Trainer.measure: the same chunks and
              metrics on val and test); the vmapped forward is checked against
              each member's own forward, and the mapping against the trainer's
              model, first
(the K of the vmap arm is ``--compare-k``, default 4; its plain ``K=`` arm is
added when ``--populations`` lacks it, as the baseline). The trainer arms run
SharedBottom's forward as it ships: plain autograd ops (``"forward":
"autograd"`` in the JSON). The comparison with the former hand-written
``dense_chain`` is recorded in
benchmarks/results/trainer_throughput_chain_vs_autograd.json: dense_chain was
1.04-1.08× quicker than autograd, its spreads overlapping, so it was removed.

To keep the run short every arm times, per repeat, about ``--trial-budget``
trials' worth of optimizer steps (default 0.5; the trainer's own ``fit`` on the
full data, stopped by an optimizer hook; at least ``--min-steps``; the seed
loop: ``--seed-steps`` steps, default 20) and the full 2 epochs are
extrapolated from them; evaluation (val + test metrics) is timed whole, once a
repeat. (Earlier versions timed 2 trials' worth of steps in 2 windows, all of
one arm before the next, and the quickest window counted; now 0.5 trials'
worth a repeat, 5 interleaved repeats, and the median counts.)

A shared machine is noisy (others' test suites, moments of contention), so
every arm runs in its own persistent processes (its own peak memory, its own
thread setting), started before the timings, and the arms are interleaved:
each of ``--repeats`` rounds (default 5) runs one repeat of every arm in turn
(the order rotated by one arm each round). Right before and right after each
repeat the same processes, on the same threads, measure the fp32
matrix-multiply peak (a 2048² torch.mm, the best of four windows; in a
multi-process arm all processes at once); that repeat's share of the peak is
its achieved GFLOP/s over the mean of that pair. Every figure is the median
over the rounds, with its spread (min, quartiles, max and n in the JSON;
[min–max] in the table): s/trial, GFLOP/s, % of peak, and speedups against
the seed loop and the vmap arm's ratio to its baseline, which are taken per
round (the seed loop's or the baseline's repeat of that round over the arm's).

Other work on the machine slows a timing far more than the matmul peak shows
(small kernels on two threads wait at every barrier for a descheduled
thread: 5-10× on a 2-core machine while a test suite ran, with the peak down
by less than half). So each repeat also measures the share of the machine's CPU
that other processes took during it (``/proc/stat`` less the arm's own
processes, steal included). When more than ``--repeats`` rounds are above
``--busy`` (20 %, the mean over a round's repeats), whole rounds are added,
``--retries`` (3) at most, and the ``--repeats`` least disturbed rounds count
(whole, so that per-round ratios still compare repeats taken side by side).
The table's last column is that share (median [max] over the counted repeats).

``--check`` then trains the best arm's layout for real, 2 full epochs through
the study's own executor, ``--repeats`` times; each such pass is a round of its
own: a repeat of the seed loop, then the peak in the best arm's processes (same
layout and threads), the pass, the peak again. Its median time is the headline
(``best_s_per_trial``, ``speedup``, ``achieved_gflops``, ``peak_gflops`` in the
JSON, each with a ``_spread``), the extrapolation beside it.

FLOPs are counted from the layer shapes (``models.flops_per_row``): a training
row costs 3× a forward pass, an evaluation row 1×.

Writes ``benchmarks/results/trainer_throughput[_cuda].json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import copy
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
import traceback
from collections.abc import Sequence
from multiprocessing.connection import wait
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
from paretomoo.tasks import all_metrics, task_loss  # noqa: E402
from paretomoo.trainer import Trainer, adamw  # noqa: E402

# A repeat whose two matmul peaks (before and after) differ by more than this share of the
# higher one was disturbed by other work on the machine; counted per arm (``disturbed_rounds``).
DISTURBED = 0.85
# Seconds between two arms' repeats, for the idle OpenMP threads of the one before to stop spinning.
SETTLE = 0.2


@dataclasses.dataclass(frozen=True)
class Arm:
    name: str
    kind: str  # "seed", "trainer" or "vmap"
    population: int = 1
    workers: int = 1
    threads: int = 0  # torch threads per process; 0 = torch's default

    @property
    def baseline(self) -> bool:
        """paretomoo's trainer as it ships (a candidate for the best layout)."""
        return self.kind == "trainer"


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


class MatmulPeak:
    """GFLOP/s of a large fp32 torch.mm on this process's threads (or the GPU), the best of four windows.

    The operands are drawn once per process (and multiplied twice to warm up); each call then times
    four windows of ``seconds / 4``. With a barrier (a multi-process arm) every process multiplies at
    once: the peak of all their cores.
    """

    def __init__(self, device: str, barrier: Any = None, seconds: float = 0.6) -> None:
        self.device, self.barrier, self.seconds = device, barrier, seconds
        n = 8192 if device.startswith("cuda") else 2048
        self.flop = 2 * n**3
        self.a = torch.randn(n, n, device=device)
        self.b = torch.randn(n, n, device=device)
        for _ in range(2):
            self.a @ self.b
        sync(device)

    def __call__(self) -> float:
        if self.barrier is not None:
            self.barrier.wait()
        self.a @ self.b  # the caches and threads of this moment
        sync(self.device)
        best = 0.0
        for _ in range(4):  # the best of four windows: the machine may be shared
            reps, start = 0, time.perf_counter()
            while time.perf_counter() - start < self.seconds / 4:
                self.a @ self.b
                reps += 1
                sync(self.device)
            best = max(best, self.flop * reps / (time.perf_counter() - start) / 1e9)
        return best


class Memory:
    """Peak memory of this process: resident set on a CPU; on a GPU the most allocated during training steps."""

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith("cuda")
        self.most = 0.0

    def before_steps(self) -> None:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()

    def after_steps(self) -> None:
        if self.cuda:
            self.most = max(self.most, torch.cuda.max_memory_allocated() / 2**20)

    def mb(self) -> float:
        if self.cuda:
            return self.most
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def steps_per_trial(spec: StudySpec, data: Dataset) -> int:
    return spec.training.epochs * math.ceil(len(data.train) / spec.training.batch_size)


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
    """An ordinary shared-bottom model: an embedding per categorical column, a Linear+ReLU bottom, one tower per task."""

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


class SeedRunner:
    """The article's loop: each repeat a fresh model and optimizer, ``steps`` timed steps extrapolated, plus evaluation."""

    def __init__(self, spec: StudySpec, data: Dataset, device: str, steps: int, memory: Memory) -> None:
        self.spec, self.data, self.device, self.memory = spec, data, device, memory
        self.shape = ModelShape(n_num=data.train.num.shape[1], cardinalities=data.cardinalities, n_tasks=len(spec.tasks))
        self.lam = lambdas(1, len(spec.tasks))[0]
        self.losses = [
            torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(t.pos_weight, device=device)) if t.loss == "bce" else torch.nn.MSELoss()
            for t in spec.tasks
        ]
        self.train_rows = RowDataset(data.train, spec)
        self.warm = 2  # untimed steps of each repeat (its first batches, the model's first pass)
        self.steps = max(1, min(steps, math.ceil(len(data.train) / spec.training.batch_size) - self.warm - 1))
        self.steps_per_trial = steps_per_trial(spec, data)
        self.info: dict[str, Any] = {}
        self._train(5, warm=0)  # warm-up: allocator, kernels, the optimizer's first import

    def _train(self, steps: int, warm: int) -> float:
        """Seconds per step: ``steps`` steps after ``warm`` untimed ones (each a batch loaded and a step)."""
        cfg = self.spec.training
        model = SeedModel(self.shape, self.spec).to(self.device)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        loader = torch.utils.data.DataLoader(self.train_rows, batch_size=cfg.batch_size, shuffle=True)
        start = time.perf_counter()
        for i, batch in enumerate(loader):
            if i == warm:
                sync(self.device)
                self.memory.before_steps()
                start = time.perf_counter()
            if i == warm + steps:
                break
            batch = {k: v.to(self.device) for k, v in batch.items()}
            pred = model(batch["num"], batch["cat"])
            loss = sum(
                w * f(pred[:, j], batch[t.name]) for j, (w, f, t) in enumerate(zip(self.lam, self.losses, self.spec.tasks, strict=True))
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
        sync(self.device)
        seconds = (time.perf_counter() - start) / steps
        self.memory.after_steps()
        self.model = model
        return seconds

    def _evaluate(self) -> None:
        model, spec = self.model, self.spec
        model.eval()
        with torch.no_grad():
            for split in (self.data.val, self.data.test):
                scores, ys = [], []
                for batch in torch.utils.data.DataLoader(RowDataset(split, spec), batch_size=spec.training.batch_size):
                    scores.append(model(batch["num"].to(self.device), batch["cat"].to(self.device)).cpu())
                    ys.append(torch.stack([batch[t.name] for t in spec.tasks], dim=1))
                s, y = torch.cat(scores), torch.cat(ys)
                for j, t in enumerate(spec.tasks):
                    group = torch.as_tensor(split.keys[t.group]) if t.group else None
                    all_metrics(t, s[:, j], y[:, j], group)

    def repeat(self) -> dict[str, float]:
        step_s = self._train(self.steps, self.warm)
        start = time.perf_counter()
        self._evaluate()
        eval_s = time.perf_counter() - start
        return {
            "step_s": step_s,
            "eval_s": eval_s,
            "pass_s": self.steps_per_trial * step_s + eval_s,
            "trials_per_pass": 1,
            "steps": self.steps,
        }


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


def _timed(call: Any, device: str, barrier: Any) -> float:
    if barrier is not None:
        barrier.wait()
    sync(device)
    start = time.perf_counter()
    call()
    sync(device)
    return time.perf_counter() - start


class TrainerRunner:
    """paretomoo's trainer, as it ships."""

    def __init__(self, spec: StudySpec, data: Dataset, device: str, k: int, steps: int, barrier: Any, memory: Memory) -> None:
        self.device, self.barrier, self.memory = device, barrier, memory
        self.lam = lambdas(k, len(spec.tasks))
        self.trainer = Trainer(spec, data, device)
        self.info: dict[str, Any] = {}
        self.steps_per_trial = steps_per_trial(spec, data)
        self.steps = min(steps, self.steps_per_trial)
        fit_steps(self.trainer, self.lam, 3)  # warm-up: allocator and kernels
        self.model = self.trainer.new_model(k)

    def repeat(self) -> dict[str, float]:
        trainer = self.trainer
        eval_s = _timed(
            lambda: (trainer.measure(self.model, trainer.val), trainer.measure(self.model, trainer.test)), self.device, self.barrier
        )
        self.memory.before_steps()
        step_s = _timed(lambda: fit_steps(trainer, self.lam, self.steps), self.device, self.barrier) / self.steps
        self.memory.after_steps()
        return {
            "step_s": step_s,
            "eval_s": eval_s,
            "pass_s": self.steps_per_trial * step_s + eval_s,
            "trials_per_pass": len(self.lam),
            "steps": self.steps,
        }


# -- K ordinary models through torch.func.vmap ------------------------------------------------------


class Stacked:
    """K ordinary models as one: ``torch.func.stack_module_state`` + ``torch.vmap`` of ``functional_call``.

    Called like a population model (``population``, ``model(num, cat) → [K, B, T]``), so the
    trainer's own ``measure`` evaluates it. With ``labels`` (a ``ModelShape`` whose ``label_scale``
    is set) the models' outputs ``z`` are mapped to label units, ``shift + scale · z``, as
    ``PopulationModel.outputs`` maps the trainer's.
    """

    def __init__(self, models: Sequence[torch.nn.Module], labels: ModelShape | None = None) -> None:
        self.population = len(models)
        self.labels: tuple[torch.Tensor, torch.Tensor] | None = None  # shift[T], scale[T]
        if labels is not None and labels.label_scale is not None:
            device = next(models[0].parameters()).device
            self.labels = (
                torch.tensor(labels.label_shift, dtype=torch.float32, device=device),
                torch.tensor(labels.label_scale, dtype=torch.float32, device=device),
            )
        self.params, self.buffers = torch.func.stack_module_state(models)  # leaves [K, ...] that require grad
        base = copy.deepcopy(models[0]).to("meta")

        def call(params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], num: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
            return torch.func.functional_call(base, (params, buffers), (num, cat))

        self.forward = torch.vmap(call, in_dims=(0, 0, None, None))

    def outputs(self, z: torch.Tensor) -> torch.Tensor:
        """Scores ``[K, B, T]`` in the labels' units from the models' ``z``."""
        return z if self.labels is None else torch.addcmul(self.labels[0], z, self.labels[1])

    def __call__(self, num: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
        return self.outputs(self.forward(self.params, self.buffers, num, cat))


class VmapRunner:
    """K nn.Module models stacked and vmapped, trained like the trainer trains a population."""

    def __init__(self, spec: StudySpec, data: Dataset, device: str, k: int, steps: int, barrier: Any, memory: Memory) -> None:
        self.spec, self.device, self.k, self.barrier, self.memory = spec, device, k, barrier, memory
        self.trainer = Trainer(spec, data, device)  # its device tensors, shape, pos_weight, loss_scale and evaluation
        self.lam = torch.as_tensor(lambdas(k, len(spec.tasks)), dtype=torch.float32, device=self.trainer.device)
        self.steps_per_trial = steps_per_trial(spec, data)
        self.steps = min(steps, self.steps_per_trial)
        self.info = self._check()
        self.fit(3)  # warm-up: allocator, kernels, vmap's first trace
        self.model: Any = self.build()  # Trainer.measure takes it for a population model

    def build(self, seeds: list[int] | None = None) -> Stacked:
        models = []
        for s in seeds or [self.spec.training.seed] * self.k:  # every member starts alike, as in the trainer
            torch.manual_seed(s)
            models.append(SeedModel(self.trainer.shape, self.spec).to(self.trainer.device))
        return Stacked(models, self.trainer.shape)

    def _check(self, rows: int = 64) -> dict[str, float]:
        """The vmapped forward of three different models against each one's own forward (mapped to label
        units alike), and that mapping against the trainer's model's (``PopulationModel.outputs``) on the
        same ``z``. Returns the largest difference of each."""
        seeds = [0, 1, 2]
        stacked = self.build(seeds)
        num, cat = self.trainer.train.num[:rows], self.trainer.train.cat[:rows]
        with torch.no_grad():
            out = stacked(num, cat)
            diff = 0.0
            for m, s in enumerate(seeds):
                torch.manual_seed(s)
                alone = stacked.outputs(SeedModel(self.trainer.shape, self.spec).to(self.trainer.device)(num, cat))
                torch.testing.assert_close(out[m], alone)
                diff = max(diff, float((out[m] - alone).abs().max()))
            z = torch.randn(len(seeds), rows, len(self.spec.tasks), generator=torch.Generator().manual_seed(0)).to(self.trainer.device)
            mapped, theirs = stacked.outputs(z), self.trainer.new_model(len(seeds)).outputs(z)
            torch.testing.assert_close(mapped, theirs)
        return {"vmap_forward_max_abs_diff": diff, "vmap_outputs_max_abs_diff": float((mapped - theirs).abs().max())}

    def fit(self, steps: int) -> None:
        """Trainer._train's loop on a fresh stack of K models, stopped after ``steps`` optimizer steps."""
        cfg, trainer = self.spec.training, self.trainer
        model = self.build()
        opt = adamw(list(model.params.values()), cfg.lr, cfg.weight_decay)
        gen = torch.Generator().manual_seed(cfg.seed)
        data, n = trainer.train, len(trainer.train)
        bad = torch.zeros(self.k, dtype=torch.bool, device=trainer.device)
        done = 0
        for _ in range(cfg.epochs):
            perm = torch.randperm(n, generator=gen).to(trainer.device)
            for begin in range(0, n, cfg.batch_size):
                idx = perm[begin : begin + cfg.batch_size]
                pred = model(data.num.index_select(0, idx), data.cat.index_select(0, idx))  # [K, B, T]
                y = data.y.index_select(0, idx)
                losses = torch.stack(
                    [
                        task_loss(t, pred[..., i], y[:, i], trainer.pos_weight[i], trainer.loss_scale[i])
                        for i, t in enumerate(self.spec.tasks)
                    ],
                    dim=1,
                )  # [K, T]
                per_member = (self.lam * losses).sum(dim=1)
                bad |= ~torch.isfinite(per_member)  # the trainer's guard against a diverged member, for a like-for-like step
                total = torch.where(bad, torch.zeros_like(per_member), per_member).sum()
                opt.zero_grad(set_to_none=True)
                total.backward()
                opt.step()
                done += 1
                if done == steps:
                    return

    def repeat(self) -> dict[str, float]:
        trainer, model = self.trainer, self.model
        eval_s = _timed(lambda: (trainer.measure(model, trainer.val), trainer.measure(model, trainer.test)), self.device, self.barrier)
        self.memory.before_steps()
        step_s = _timed(lambda: self.fit(self.steps), self.device, self.barrier) / self.steps
        self.memory.after_steps()
        return {
            "step_s": step_s,
            "eval_s": eval_s,
            "pass_s": self.steps_per_trial * step_s + eval_s,
            "trials_per_pass": self.k,
            "steps": self.steps,
        }


# -- the arms' processes ----------------------------------------------------------------------------


def serve_arm(arm: Arm, spec: StudySpec, device: str, steps: int, seed_steps: int, barrier: Any, conn: Any) -> None:
    """One process of an arm: build the arm once, then answer ``repeat`` (peak, one timing, peak) and ``peak``."""
    try:
        if arm.threads:
            torch.set_num_threads(arm.threads)
        data = load_data(spec.data)
        memory = Memory(device)
        runner: SeedRunner | TrainerRunner | VmapRunner
        if arm.kind == "seed":
            runner = SeedRunner(spec, data, device, seed_steps, memory)
        elif arm.kind == "vmap":
            runner = VmapRunner(spec, data, device, arm.population, steps, barrier, memory)
        else:
            runner = TrainerRunner(spec, data, device, arm.population, steps, barrier, memory)
        peak = MatmulPeak(device, barrier)
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        conn.send(("ok", {**runner.info, "threads": torch.get_num_threads()}))
        while True:
            try:
                command = conn.recv()
            except (EOFError, OSError):  # the parent is gone
                return
            if command == "stop":
                return
            if command == "peak":
                conn.send(("ok", {"peak": peak()}))
                continue
            before = peak()
            out: dict[str, Any] = runner.repeat()
            after = peak()
            out.update(peak_before=before, peak_after=after, memory_mb=memory.mb())
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
            conn.send(("ok", out))
    except BaseException:
        try:
            conn.send(("error", traceback.format_exc()))
        except OSError:
            pass


class ArmProcesses:
    """An arm's persistent processes (``workers`` of them), spoken to through pipes."""

    def __init__(self, arm: Arm, spec: StudySpec, args: argparse.Namespace, steps: int) -> None:
        ctx = mp.get_context("spawn")
        self.arm, self.steps = arm, steps
        # kept here: the children rebuild it by name, which must outlive their start
        self.barrier = barrier = ctx.Barrier(arm.workers) if arm.workers > 1 else None
        self.procs, self.conns = [], []
        for i in range(arm.workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=serve_arm,
                args=(arm, spec, args.device, steps, args.seed_steps, barrier, child),
                name=f"arm-{arm.name}-{i}".replace(" ", "-"),
                daemon=True,
            )
            proc.start()
            child.close()
            self.procs.append(proc)
            self.conns.append(parent)
        self.info: dict[str, Any] = {}

    def receive(self) -> list[dict[str, Any]]:
        """Every process's reply; raise at once on an error or a dead process (its siblings may wait at a barrier)."""
        replies: dict[int, dict[str, Any]] = {}
        pending = dict(enumerate(self.conns))
        while pending:
            ready = wait(list(pending.values()) + [self.procs[i].sentinel for i in pending])
            for i, conn in list(pending.items()):
                if conn in ready or self.procs[i].sentinel in ready:
                    try:
                        status, payload = conn.recv()
                    except (EOFError, OSError):
                        raise RuntimeError(f"arm {self.arm.name}: process {i} stopped (exit code {self.procs[i].exitcode})") from None
                    if status == "error":
                        raise RuntimeError(f"arm {self.arm.name}, process {i}:\n{payload}")
                    replies[i] = payload
                    del pending[i]
        return [replies[i] for i in range(len(self.conns))]

    def ready(self) -> None:
        self.info = self.receive()[0]

    def call(self, command: str) -> list[dict[str, Any]]:
        for conn in self.conns:
            conn.send(command)
        return self.receive()

    def close(self) -> None:
        for conn in self.conns:
            try:
                conn.send("stop")
            except OSError:
                pass
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)


class OthersCpu:
    """The share of the machine's CPU that other work took while a block ran (Linux; None elsewhere).

    Busy CPU time of the whole machine (``/proc/stat``: user, nice, system, irq, softirq; plus
    steal, time the hypervisor gave to other machines) minus the CPU time of ``pids`` (the arm's
    processes and this one, ``/proc/<pid>/stat``), over the wall time × the logical CPUs. A timing
    during which others ran is slowed more than the matmul peak shows: small kernels on two threads
    wait for a descheduled thread at every barrier.
    """

    HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def __init__(self, pids: list[int]) -> None:
        self.pids = [os.getpid(), *pids]

    def _machine(self) -> float:
        with open("/proc/stat") as f:
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in f.readline().split()[1:9])
        return (user + nice + system + irq + softirq + steal) / self.HZ

    def _own(self) -> float:
        total = 0
        for pid in self.pids:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / self.HZ

    def __enter__(self) -> OthersCpu:
        self.share: float | None = None
        try:
            self.start = (time.perf_counter(), self._machine(), self._own())
        except (OSError, ValueError):
            self.start = None  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        if self.start is None:
            return
        wall, busy, own = self.start
        try:
            others = (self._machine() - busy) - (self._own() - own)
        except (OSError, ValueError):
            return
        self.share = max(0.0, others / ((time.perf_counter() - wall) * (os.cpu_count() or 1)))


def one_repeat(arm: ArmProcesses, flops_per_trial: float, round_no: int) -> dict[str, Any]:
    """One repeat of an arm, all its processes side by side (a pass takes as long as the slowest)."""
    with OthersCpu([p.pid for p in arm.procs if p.pid is not None]) as others:
        outs = arm.call("repeat")
    pass_s = max(o["pass_s"] for o in outs)
    trials = sum(o["trials_per_pass"] for o in outs)
    before, after = sum(o["peak_before"] for o in outs), sum(o["peak_after"] for o in outs)
    s = pass_s / trials
    achieved = flops_per_trial / s / 1e9
    return {
        "round": round_no,
        "s_per_trial": s,
        "step_s": max(o["step_s"] for o in outs),
        "eval_s": max(o["eval_s"] for o in outs),
        "peak_before_gflops": before,
        "peak_after_gflops": after,
        "peak_gflops": (before + after) / 2,
        "achieved_gflops": achieved,
        "percent_of_peak": 100 * achieved / ((before + after) / 2),
        "memory_mb": sum(o["memory_mb"] for o in outs),
        "steps": outs[0]["steps"],
        "disturbed": min(before, after) < DISTURBED * max(before, after),
        "others_cpu": others.share,
    }


def spread(values: list[float]) -> dict[str, float]:
    """Median, quartiles, extremes and count of per-round values."""
    a = np.asarray(values, dtype=np.float64)
    q1, median, q3 = np.percentile(a, [25, 50, 75])
    return {"median": float(median), "min": float(a.min()), "q1": float(q1), "q3": float(q3), "max": float(a.max()), "n": len(a)}


def per_round_ratio(num: list[dict[str, Any]], den: list[dict[str, Any]]) -> list[float]:
    """``num / den`` of s/trial, round by round."""
    by_round = {r["round"]: r["s_per_trial"] for r in den}
    return [r["s_per_trial"] / by_round[r["round"]] for r in num if r["round"] in by_round]


def check_rounds(
    best: Arm, procs: dict[str, ArmProcesses], spec: StudySpec, args: argparse.Namespace, flops_per_trial: float
) -> list[dict[str, Any]]:
    """Real passes (full epochs) of the best trainer layout through the study's executor, one a round.

    Each round: a repeat of the seed loop, the matmul peak in the best arm's processes (same layout
    and threads), the pass, the peak again.
    """
    k, workers = best.population, best.workers
    lam = lambdas(workers * k, len(spec.tasks))
    if workers == 1:
        trainer = Trainer(spec, load_data(spec.data), args.device)
        trainer.warm_up()
        executor: InProcess | ProcessPool = InProcess(trainer)
    else:
        executor = ProcessPool(spec, args.device, workers, threads=1)
    seed, probe = procs["seed loop"], procs[best.name]
    rounds = []
    with executor:  # a pool's processes have started and hold their data
        for r in range(args.repeats):
            seed_s = one_repeat(seed, flops_per_trial, r)["s_per_trial"]
            time.sleep(SETTLE)
            before = sum(o["peak"] for o in probe.call("peak"))
            with OthersCpu([p.pid for p in getattr(executor, "processes", []) if p.pid is not None]) as others:
                sync(args.device)
                start = time.perf_counter()
                results = executor.fit(lam, k)
                sync(args.device)
                s = (time.perf_counter() - start) / len(lam)
            after = sum(o["peak"] for o in probe.call("peak"))
            assert all(x.failed is None for x in results)
            achieved = flops_per_trial / s / 1e9
            rounds.append(
                {
                    "round": r,
                    "s_per_trial": s,
                    "seed_s_per_trial": seed_s,
                    "speedup": seed_s / s,
                    "peak_before_gflops": before,
                    "peak_after_gflops": after,
                    "peak_gflops": (before + after) / 2,
                    "achieved_gflops": achieved,
                    "percent_of_peak": 100 * achieved / ((before + after) / 2),
                    "others_cpu": others.share,
                }
            )
            busy = "" if others.share is None else f"; others took {100 * others.share:.0f}% of the CPU"
            print(f"  check {r + 1}/{args.repeats}: {s:.3f} s/trial, seed loop {seed_s:.2f}{busy}", flush=True)
            time.sleep(SETTLE)
    return rounds


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


def summarize(
    arm: Arm, procs: ArmProcesses, rounds: list[dict[str, Any]], seed_rounds: list[dict[str, Any]], flops: float
) -> dict[str, Any]:
    s = spread([r["s_per_trial"] for r in rounds])
    speedups = [1 / x for x in per_round_ratio(rounds, seed_rounds)]
    return {
        "arm": arm.name,
        "kind": arm.kind,
        "forward": "autograd" if arm.kind == "trainer" else arm.kind,  # the trainer's forward is plain autograd ops
        "population": arm.population,
        "workers": arm.workers,
        "threads_per_process": procs.info["threads"],
        "timed_steps": rounds[0]["steps"],
        "repeats": len(rounds),
        "step_s": spread([r["step_s"] for r in rounds])["median"],
        "eval_s": spread([r["eval_s"] for r in rounds])["median"],
        "s_per_trial": s["median"],
        "s_per_trial_spread": s,
        "trials_per_min": 60 / s["median"],
        "memory_mb": max(r["memory_mb"] for r in rounds),
        "achieved_gflops": flops / s["median"] / 1e9,
        "achieved_gflops_spread": spread([r["achieved_gflops"] for r in rounds]),
        "peak_gflops": spread([r["peak_gflops"] for r in rounds])["median"],
        "peak_gflops_spread": spread([r["peak_gflops"] for r in rounds]),
        "peak_low_gflops": min(min(r["peak_before_gflops"], r["peak_after_gflops"]) for r in rounds),
        "percent_of_peak": spread([r["percent_of_peak"] for r in rounds])["median"],
        "percent_of_peak_spread": spread([r["percent_of_peak"] for r in rounds]),
        "speedup": spread(speedups)["median"],
        "speedup_spread": spread(speedups),
        "disturbed_rounds": sum(r["disturbed"] for r in rounds),
        # the share of the machine's CPU other work took during each counted repeat
        "others_cpu_spread": spread([r["others_cpu"] for r in rounds]) if all(r["others_cpu"] is not None for r in rounds) else None,
        "checks": {k: v for k, v in procs.info.items() if k != "threads"},
        "rounds": rounds,
    }


def fmt(sp: dict[str, float], digits: int, suffix: str = "") -> str:
    return f"{sp['median']:.{digits}f}{suffix} [{sp['min']:.{digits}f}–{sp['max']:.{digits}f}]"


def table(rows: list[dict[str, Any]]) -> str:
    head = [
        "arm",
        "procs×threads",
        "s/trial [min–max]",
        "trials/min",
        "peak mem MB",
        "GFLOP/s",
        "peak GFLOP/s",
        "% peak [min–max]",
        "speedup [min–max]",
        "others' CPU % [max]",
    ]
    lines = []
    for r in rows:
        lines.append(
            [
                r["arm"],
                f"{r['workers']}×{r['threads_per_process']}",
                fmt(r["s_per_trial_spread"], 3),
                f"{r['trials_per_min']:.1f}",
                f"{r['memory_mb']:.0f}",
                f"{r['achieved_gflops']:.1f}",
                f"{r['peak_gflops']:.0f}",
                fmt(r["percent_of_peak_spread"], 0),
                fmt(r["speedup_spread"], 2, "×"),
                "?"
                if r["others_cpu_spread"] is None
                else f"{100 * r['others_cpu_spread']['median']:.0f} [{100 * r['others_cpu_spread']['max']:.0f}]",
            ]
        )
    widths = [max(len(h), *(len(x[i]) for x in lines)) for i, h in enumerate(head)]
    out = ["  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True))]
    out += ["  ".join(c.rjust(w) for c, w in zip(x, widths, strict=True)) for x in lines]
    return "\n".join(out)


def comparisons(arms: list[Arm], rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each vmap arm against the trainer arm of the same layout, round by round."""
    out = []
    for arm in arms:
        if arm.baseline or arm.kind == "seed":
            continue
        base = next(
            (a for a in arms if a.baseline and (a.population, a.workers, a.threads) == (arm.population, arm.workers, arm.threads)), None
        )
        if base is None:
            continue
        a, b = rows[arm.name], rows[base.name]
        ratios = per_round_ratio(a["rounds"], b["rounds"])
        sa, sb = a["s_per_trial_spread"], b["s_per_trial_spread"]
        out.append(
            {
                "arm": arm.name,
                "baseline": base.name,
                "s_per_trial": sa,
                "baseline_s_per_trial": sb,
                # the arm's time over the baseline's, per round: > 1 means the baseline (the trainer) is quicker
                "time_ratio": spread(ratios),
                "time_ratio_per_round": ratios,
                "ranges_overlap": not (sa["min"] > sb["max"] or sb["min"] > sa["max"]),
            }
        )
    return out


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"seed": "#999", "autograd": "#4a7ab5", "vmap": "#4a9a5a"}
    names = [r["arm"] for r in rows]
    color = [colors["seed"] if r["kind"] == "seed" else colors[r["forward"]] for r in rows]
    tpm = [r["trials_per_min"] for r in rows]
    tpm_err = [
        [t - 60 / r["s_per_trial_spread"]["max"] for t, r in zip(tpm, rows, strict=True)],
        [60 / r["s_per_trial_spread"]["min"] - t for t, r in zip(tpm, rows, strict=True)],
    ]
    pct = [r["percent_of_peak"] for r in rows]
    pct_err = [
        [p - r["percent_of_peak_spread"]["min"] for p, r in zip(pct, rows, strict=True)],
        [r["percent_of_peak_spread"]["max"] - p for p, r in zip(pct, rows, strict=True)],
    ]
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.2))
    a.bar(names, tpm, yerr=tpm_err, color=color, capsize=3)
    a.set_ylabel("trials per minute (median, min–max)")
    b.bar(names, pct, yerr=pct_err, color=color, capsize=3)
    b.axhline(70, color="#c44", lw=1, ls="--")
    b.set_ylabel("% of fp32 matmul peak (per-repeat pair)")
    for ax in (a, b):
        ax.tick_params(axis="x", rotation=60)
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
    p.add_argument("--compare-k", type=int, default=4, help="K of the vmap arm (0: none)")
    p.add_argument("--trial-budget", type=float, default=0.5, help="trials' worth of optimizer steps timed per arm and repeat")
    p.add_argument("--min-steps", type=int, default=12, help="fewest timed steps of an arm's repeat")
    p.add_argument("--seed-steps", type=int, default=20, help="timed steps of the seed loop per repeat")
    p.add_argument("--repeats", type=int, default=5, help="rounds: one timing of every arm each; medians and spreads over them")
    p.add_argument("--busy", type=float, default=0.2, help="share of the CPU other work may take during a round before it is made up")
    p.add_argument("--retries", type=int, default=3, help="most rounds run to make up for disturbed ones (0: none)")
    p.add_argument("--check", action=argparse.BooleanOptionalAction, default=True, help="train the best layout for real, once a round")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    cuda = args.device.startswith("cuda")
    spec = make_spec(args)
    cores = physical_cores()

    default_pops = "1,16,64,256" if cuda else "1,4,8,16,32"
    pops = [int(x) for x in (default_pops if args.populations is None else args.populations).split(",") if x]
    ck = args.compare_k
    if ck and ck not in pops:
        pops = sorted([*pops, ck])  # the baseline of the comparison
    arms = [Arm("seed loop", "seed")]
    for k in pops:
        arms.append(Arm(f"K={k}", "trainer", population=k))
        if k == ck:
            arms.append(Arm(f"K={k} vmap", "vmap", population=k))
    if not cuda:
        layouts = args.layouts or ",".join(f"{cores}x{k}" for k in (2, 4, 8))
        for text in layouts.split(","):
            w, k = (int(x) for x in text.lower().split("x"))
            arms.append(Arm(f"{w}x{k}", "trainer", population=k, workers=w, threads=1))

    data = load_data(spec.data)
    shape = ModelShape(n_num=data.train.num.shape[1], cardinalities=data.cardinalities, n_tasks=len(spec.tasks))
    fwd = flops_per_row(shape, spec.model)
    flops_per_trial = 3 * fwd * len(data.train) * args.epochs + fwd * (len(data.val) + len(data.test))
    # the timed steps of a repeat are about trial_budget trials' worth of member-steps
    member_steps = args.trial_budget * steps_per_trial(spec, data)
    load = os.getloadavg()
    started = time.perf_counter()
    print(
        f"{machine(args.device)}; torch {torch.version.__version__}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n"
        f"data {len(data.train):,} train / {len(data.val):,} val / {len(data.test):,} test rows; shared bottom "
        f"{'-'.join(map(str, spec.model.bottom))}, towers {spec.model.tower[0]}, embeddings {spec.model.embedding_dim}; "
        f"{args.epochs} epochs of batch {args.batch_size}; {flops_per_trial / 1e9:.1f} GFLOP per trial; "
        f"{len(arms)} arms × {args.repeats} interleaved rounds",
        flush=True,
    )

    procs: dict[str, ArmProcesses] = {}
    try:
        for arm in arms:  # all start at once; none is timed before every one is ready
            steps = max(args.min_steps, math.ceil(member_steps / (arm.population * arm.workers)))
            procs[arm.name] = ArmProcesses(arm, spec, args, steps)
        for arm in arms:
            procs[arm.name].ready()
        print(f"  {sum(len(x.procs) for x in procs.values())} processes ready ({time.perf_counter() - started:.0f} s)", flush=True)

        every: dict[str, list[dict[str, Any]]] = {arm.name: [] for arm in arms}
        busy: list[float] = []  # per round: the mean share of the CPU that other work took during its repeats
        while True:
            r = len(busy)
            shift = r % len(arms)
            for arm in arms[shift:] + arms[:shift]:
                every[arm.name].append(one_repeat(procs[arm.name], flops_per_trial, r))
                time.sleep(SETTLE)
            busy.append(float(np.mean([every[a.name][-1]["others_cpu"] or 0.0 for a in arms])))
            print(
                f"  round {r + 1} ({time.perf_counter() - started:.0f} s; others took {100 * busy[-1]:.0f}% of the CPU): "
                + ", ".join(f"{a.name} {every[a.name][-1]['s_per_trial']:.3g}" for a in arms),
                flush=True,
            )
            quiet = sum(b <= args.busy for b in busy)
            if len(busy) >= args.repeats and (quiet >= args.repeats or len(busy) >= args.repeats + args.retries):
                break
        # the least disturbed rounds count, whole (every arm's repeat of a round stays beside the others')
        counted = sorted(sorted(range(len(busy)), key=lambda i: busy[i])[: args.repeats])
        if len(busy) > args.repeats:
            print(f"  {len(busy) - args.repeats} round(s) made up; counted: {', '.join(str(i + 1) for i in counted)}", flush=True)
        rounds = {name: [rec for rec in recs if rec["round"] in counted] for name, recs in every.items()}

        seed_rounds = rounds["seed loop"]
        rows = {arm.name: summarize(arm, procs[arm.name], rounds[arm.name], seed_rounds, flops_per_trial) for arm in arms}
        for arm in arms:
            rows[arm.name]["dropped_rounds"] = [rec for rec in every[arm.name] if rec["round"] not in counted]
        best_arm = min((a for a in arms if a.baseline), key=lambda a: rows[a.name]["s_per_trial"])
        best = rows[best_arm.name]
        checked = check_rounds(best_arm, procs, spec, args, flops_per_trial) if args.check else None
    finally:
        for x in procs.values():
            x.close()

    ordered = [rows[a.name] for a in arms]
    seed_s = rows["seed loop"]["s_per_trial"]
    print()
    print(table(ordered))
    print(
        f"\nmedians over {args.repeats} interleaved rounds, [min–max] over them; speedup and % of peak per round (the seed "
        f"loop's repeat of that round; the matmul peak measured right before and after that repeat, same processes and "
        f"threads). Seed loop: {args.seed_steps} steps a repeat, extrapolated to {args.epochs} epochs; trainer arms: "
        f"~{args.trial_budget:g} trials' worth of steps a repeat, extrapolated; evaluation timed whole."
    )
    comps = comparisons(arms, rows)
    if comps:
        print("\nparetomoo's trainer against torch.func.vmap (the arm's s/trial over its baseline's, per round):")
        for c in comps:
            tr = c["time_ratio"]
            print(
                f"  {c['arm']:>14}: {fmt(c['s_per_trial'], 3)} s/trial vs {c['baseline']} {fmt(c['baseline_s_per_trial'], 3)}: "
                f"{tr['median']:.2f}× the time [{tr['min']:.2f}–{tr['max']:.2f}, quartiles {tr['q1']:.2f}–{tr['q3']:.2f}]; "
                f"ranges {'overlap' if c['ranges_overlap'] else 'do not overlap'}"
            )
    checks = {a.name: rows[a.name]["checks"] for a in arms if rows[a.name]["checks"]}
    if checks:
        print(
            "checked before timing, largest |difference| of the outputs (vmapped forward vs each model's own; "
            "label-unit mapping vs the trainer's model's): "
            + "; ".join(f"{n} {k.removesuffix('_max_abs_diff')} {d:.2g}" for n, c in checks.items() for k, d in c.items())
        )
    disturbed = {a.name: rows[a.name]["disturbed_rounds"] for a in arms if rows[a.name]["disturbed_rounds"]}
    if disturbed:
        print(
            f"repeats whose two peaks differed by more than {100 * (1 - DISTURBED):.0f}% (other work on the machine): "
            + ", ".join(f"{n} {v}" for n, v in disturbed.items())
        )

    if checked:
        best_s = spread([c["s_per_trial"] for c in checked])
        speed = spread([c["speedup"] for c in checked])
        achieved = spread([c["achieved_gflops"] for c in checked])
        peak = spread([c["peak_gflops"] for c in checked])
        pct = spread([c["percent_of_peak"] for c in checked])
        print(
            f"best arm {best['arm']} trained for real ({args.epochs} full epochs, {best['workers'] * best['population']} λ, "
            f"{len(checked)} rounds): {fmt(best_s, 3)} s/trial (extrapolated: {fmt(best['s_per_trial_spread'], 3)})"
        )
    else:
        best_s, speed = best["s_per_trial_spread"], best["speedup_spread"]
        achieved, peak, pct = best["achieved_gflops_spread"], best["peak_gflops_spread"], best["percent_of_peak_spread"]
    print(
        f"best: {best['arm']}, {fmt(best_s, 3)} s/trial: {fmt(speed, 1, '×')} the seed loop; "
        f"{flops_per_trial / best_s['median'] / 1e9:.0f} GFLOP/s = {fmt(pct, 0, '%')} of the {peak['median']:.0f} GFLOP/s "
        f"matmul peak (per round)"
    )
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {time.perf_counter() - started:.0f} s in all")

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
            "seed_steps_timed": args.seed_steps,  # per repeat
            "trial_budget": args.trial_budget,  # per repeat
            "repeats": args.repeats,
            "interleaved": True,
            "busy": args.busy,
            "retries": args.retries,
            "rounds_run": len(busy),
            "rounds_counted": counted,  # 0-based
            "rounds_others_cpu": busy,  # per round run: the mean share of the CPU other work took
            "compare_k": ck,
        },
        "seed_loop_s_per_trial": seed_s,
        "seed_loop_s_per_trial_spread": rows["seed loop"]["s_per_trial_spread"],
        "best_arm": best["arm"],
        # medians over the check rounds (trained for real) when --check ran, else over the arm's rounds (extrapolated)
        "best_s_per_trial": best_s["median"],
        "best_s_per_trial_spread": best_s,
        "best_s_per_trial_extrapolated": best["s_per_trial"],
        "best_s_per_trial_measured": best_s["median"] if checked else None,
        "best_k": best["population"],
        "best_workers": best["workers"],
        "speedup": speed["median"],  # per round: that round's seed loop over that round's best
        "speedup_spread": speed,
        "achieved_gflops": flops_per_trial / best_s["median"] / 1e9,
        "achieved_gflops_spread": achieved,
        "peak_gflops": peak["median"],  # the pairs measured around the same passes
        "peak_gflops_spread": peak,
        "percent_of_peak": pct["median"],  # per round: achieved over that round's pair
        "percent_of_peak_spread": pct,
        "check_rounds": checked,
        "comparisons": comps,
        "arms": ordered,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "trainer_throughput" + ("_cuda" if cuda else "")
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(ordered, out / f"{stem}.png", f"{result['machine']}; torch {result['torch']}; medians of {args.repeats} interleaved rounds")
    print(f"wrote {out / stem}.json and .png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
