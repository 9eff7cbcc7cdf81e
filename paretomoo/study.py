"""The one loop: propose a batch of λ, train it, store it, until the budget is spent."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch

from paretomoo._method import method_of
from paretomoo._parallel import InProcess, ProcessPool, physical_cores
from paretomoo.data import data_root, load_data
from paretomoo.errors import UserError
from paretomoo.proposers import loads
from paretomoo.spec import StudySpec
from paretomoo.store import Store
from paretomoo.trainer import Trainer, resolve_device
from paretomoo.worker import Progress, WorkerOptions, WorkerStats, work


@dataclass(frozen=True)
class Layout:
    """How a study trains: ``workers`` processes with ``threads`` torch threads each, ``population`` λ per pass of each."""

    workers: int
    population: int
    threads: int


# λ per training pass of one CPU process. Measured with benchmarks/trainer_throughput.py
# on a 2-core AMD EPYC (shared bottom 256-128, towers 64, 160k rows, 2 epochs; seconds
# per trial, two runs on 2026-11-28):
#   2 single-thread processes × K = 2, 4, 8:       1.19-1.22, 1.10-1.13, 1.11-1.20
#   1 process with 2 threads × K = 4, 8, 16, 32:   1.23-1.26, 1.18-1.26, 1.26-1.30, 1.28-1.34
#   seed loop (DataLoader of dict rows, nn.Module per λ): 11.3-12.0
# and on a 2-core Intel Xeon (plain autograd pass; medians of 5 interleaved rounds, 2026-11-30):
#   2 single-thread processes × K = 2, 4, 8:       1.74, 1.75, 1.97
#   1 process with 2 threads × K = 4, 8, 16, 32:   1.89, 1.97, 1.94, 2.80
# Larger K spills a step's activations ([K, batch, width] floats) out of the core's
# cache, and K = 1 costs a population of two (see Trainer.fit). On the demo study (a
# small model, where per-step overhead weighs more) 2 processes × 4 take 23-27 s and
# 1 process × 4 with 2 threads 32 s.
CPU_POPULATION = 4
# On a GPU: the largest population the benchmark tries (benchmarks/gpu_check.sh),
# and the share of the free memory that populations may plan on (the rest is
# headroom for the allocator's fragmentation, evaluation and other processes).
CUDA_MAX_POPULATION = 256
CUDA_MEMORY_SHARE = 0.5


def default_population(device: torch.device, member_bytes: int | None = None) -> int:
    """λ per training pass when the spec says "auto".

    On CPU a small population is fastest (``CPU_POPULATION``). A GPU is kept
    busy only by large ones: the largest power of two up to
    ``CUDA_MAX_POPULATION`` whose members (``member_bytes`` each, see
    ``Trainer.member_bytes``) fit in ``CUDA_MEMORY_SHARE`` of the free memory;
    64 when ``member_bytes`` is not given. An estimate that is too small is
    caught when training runs out of memory: K is halved and the pass retried.
    """
    if device.type != "cuda":
        return CPU_POPULATION
    if member_bytes is None:
        return 64
    free, _ = torch.cuda.mem_get_info(device)
    fits = int(CUDA_MEMORY_SHARE * free) // max(member_bytes, 1)
    if fits < 1:
        return 1
    return min(CUDA_MAX_POPULATION, 1 << (fits.bit_length() - 1))  # the largest power of two ≤ fits


def default_workers(device: torch.device) -> int:
    """Training processes when the spec says "auto": one per physical core on a CPU, one per GPU.

    On 2 cores, two single-thread processes of K = 4 train 1.1× as many λ
    per minute as one process with two threads on a 256-128 model, and 1.2-1.4× on
    the demo's small one (see ``CPU_POPULATION``).
    """
    return physical_cores() if device.type == "cpu" else 1


def choose_layout(spec: StudySpec, device: torch.device, member_bytes: Callable[[], int] | None = None) -> Layout:
    """The spec's ``training.workers`` and ``training.population``, "auto" resolved for a device.

    "auto" workers are never more than one proposal batch keeps busy (its λ
    under each first seed, over ``population``): a pass trains at most one batch.
    ``member_bytes`` (``Trainer.member_bytes``) is called only for an "auto"
    population on a GPU; a CPU layout needs no data.
    """
    auto_on_gpu = device.type == "cuda" and not spec.training.population
    per_member = member_bytes() if auto_on_gpu and member_bytes is not None else None
    population = spec.training.population or default_population(device, per_member)
    members = min(spec.search.batch, spec.search.trials) * len(spec.search.first_seeds(spec.training.seed))  # of a batch
    # a batch under R seeds is R members a λ: it keeps as many workers busy as its members do
    workers = spec.training.workers or min(default_workers(device), -(-max(spec.search.batch, members) // population))
    if device.type == "cpu" and not spec.training.population:
        # the members of one batch (its λ under each first seed) shared evenly, so no pass trains a remainder alone:
        # a conditioned study's 5 checks under 2 seeds are 2 passes of 5, not 4 + 4 + 2 (on a CPU a pass of up to
        # 2 × CPU_POPULATION costs about as much per member, see CPU_POPULATION)
        even = -(-members // workers)
        population = even if even <= 2 * CPU_POPULATION else population
    return Layout(workers=workers, population=population, threads=max(1, physical_cores() // workers))


def prepare(
    spec: StudySpec, *, storage: str | None = None, device: str | None = None, heartbeat: int = 10
) -> tuple[Store, Trainer, Layout]:
    """Load the data, open (or create) the study and choose how to train."""
    store, trainer = open_for_training(spec, storage=storage, device=device, heartbeat=heartbeat)
    layout = choose_layout(spec, trainer.device, trainer.member_bytes)
    # The optimizer's module (pymoo, Optuna) loads here, with the rest of the start-up,
    # rather than in the first proposal under the study lock.
    loads(spec.search.optimizer)
    return store, trainer, layout


def open_for_training(
    spec: StudySpec, *, storage: str | None = None, device: str | None = None, heartbeat: int | None = None
) -> tuple[Store, Trainer]:
    """Load the data onto the device, then open (or create) the study and record the model's shape."""
    # Data and model first: a bad data file, task or model must not leave an empty study behind.
    data = load_data(spec.data)
    trainer = Trainer(spec, data, device or spec.training.device)
    trainer.check_model()
    about = {"fingerprint": data.fingerprint(), "root": data_root(spec.data)}
    store = Store.create_or_resume(spec, storage, heartbeat=heartbeat, data=about)
    if "model_shape" not in store.study.user_attrs:
        store.study.set_user_attr("model_shape", trainer.shape.to_dict())
    if spec.model.type == "module":
        # how a module's members run is chosen once per study (timed, for "auto"): the two modes differ in the last
        # bits, which training amplifies, so every later run, worker and process of the study runs them alike
        kept = store.study.user_attrs.get("population_mode")
        if kept is None:
            kept = list(trainer.population_mode[2])  # check_model's pair
            store.study.set_user_attr("population_mode", kept)
            trainer.keep_mode(*kept)
        elif spec.model.population not in ("auto", kept[0]):
            raise UserError(
                f"study {spec.name!r} runs its members with population = {kept[0]!r} (chosen when it was created); "
                f'set [model] population = "{kept[0]}" or "auto", or give the study a new name'
            )
        else:
            trainer.keep_mode(kept[0], f"as the study's first run chose: {kept[1]}")
    return store, trainer


def execute(
    store: Store,
    trainer: Trainer,
    layout: Layout,
    options: WorkerOptions | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    executor: ProcessPool | None = None,
) -> WorkerStats:
    """Work on the study (``paretomoo.worker.work``) with ``layout``'s processes until the budget is spent.

    ``executor``: processes already started for ``layout`` (see ``run_study``);
    the caller closes them.
    """
    method = method_of(store.spec.search.optimizer)
    if store.n_finished() >= store.spec.search.trials and not method.needs_prepare(store):  # no processes to start
        return WorkerStats()
    with contextlib.nullcontext(executor) if executor is not None else _executor(store.spec, trainer, layout) as ex:
        method.prepare(store, trainer, ex)  # work before the loop (a conditioned study's one training, in these processes)
        if store.n_finished() >= store.spec.search.trials:
            return WorkerStats()
        return work(store, ex, layout.population, str(trainer.device), options or WorkerOptions(), on_progress)


def run_study(
    spec: StudySpec,
    *,
    storage: str | None = None,
    device: str | None = None,
    on_start: Callable[[Store, Trainer, Layout], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> Store:
    """Run (or resume) the study a spec declares until ``search.trials`` trials have finished.

    Finished trials are never repeated; trials left RUNNING by a process that
    died are queued again first. Proposals are rebuilt from the store before
    every batch (see ``Proposer``), so stopping and resuming changes nothing.

    Each pass pops up to ``workers × population`` waiting trials and trains
    them in ``workers`` processes at once (``training.workers``; one process
    trains in this one). If a device runs out of memory the population is
    halved and the pass retried. If training fails or is interrupted, the
    popped trials go back to the queue and the worker processes are stopped.
    Other processes may work on the same study at the same time
    (``paretomoo worker``): they share it through the store.
    """
    with contextlib.ExitStack() as stack:
        pool = _start_cpu_workers(spec, device)
        if pool is not None:
            stack.enter_context(pool)  # stopped on the way out, without waiting for a pass if on an error
        store, trainer, layout = prepare(spec, storage=storage, device=device)
        if pool is not None and pool.workers == layout.workers:
            pool.share(trainer.shared(), trainer.kept_mode)  # one copy of the data on this host: the workers read this process's tensors
        if on_start is not None:
            on_start(store, trainer, layout)
        execute(
            store, trainer, layout, on_progress=on_progress, executor=pool if pool is not None and pool.workers == layout.workers else None
        )
    return store


def _start_cpu_workers(spec: StudySpec, device: str | None) -> ProcessPool | None:
    """The worker processes of a CPU layout, started before this process loads the data and opens the store.

    A worker takes 2-3 s to start (import torch, warm up); they start while this
    process loads the data, which it then shares with them (``ProcessPool.share``).
    A GPU layout depends on the data (``Trainer.member_bytes``), so it starts later.
    """
    dev = resolve_device(device or spec.training.device)
    if dev.type != "cpu":
        return None
    layout = choose_layout(spec, dev)
    if layout.workers == 1:
        return None
    return ProcessPool(spec, str(dev), layout.workers, layout.threads, wait=False)


def _executor(spec: StudySpec, trainer: Trainer, layout: Layout) -> InProcess | ProcessPool:
    if layout.workers == 1:
        return InProcess(trainer)
    pool = ProcessPool(spec, str(trainer.device), layout.workers, layout.threads, wait=False)
    pool.share(trainer.shared(), trainer.kept_mode)
    return pool
