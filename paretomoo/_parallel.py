"""Where a batch of λ is trained: in this process, or in worker processes that each hold the data.

The study loop hands an executor ``lam[N, T]`` with ``N ≤ workers × k`` rows and
gets one :class:`~paretomoo.trainer.MemberResult` per row back, in row order.
:class:`InProcess` trains populations of ``k`` one after the other;
:class:`ProcessPool` cuts the rows into ``workers`` equal consecutive
populations (``lam[0:k]``, ``lam[k:2k]``, ... when ``N = workers × k``) and
trains them in its processes at once. A layout changes the wall time, not the
results: each member is a pure function of spec and λ (up to float rounding
in batched kernels when population sizes differ; see ``trainer``).

Why processes on a CPU: a population step is a chain of small matrix products
and memory-bound element-wise kernels, launched one by one from Python; one
single-thread process per core runs that chain on each core independently,
where one process with a thread per core splits every small kernel between
the cores and waits for both. Measured on 2 cores: 1.1× the trials per
minute on a 256-128 model, 1.2-1.4× on the demo's small one (see
``study.CPU_POPULATION``).

An executor is used as a context manager: leaving the block (normally, on an
exception or on Ctrl-C) stops its processes.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import signal
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.reduction import ForkingPickler
from types import TracebackType
from typing import Any

import numpy as np
import torch

from paretomoo.errors import UserError
from paretomoo.spec import StudySpec
from paretomoo.trainer import Checkpoint, MemberResult, SharedData, Trainer, is_out_of_memory

__all__ = ["InProcess", "ProcessPool", "WorkerError", "is_out_of_memory", "physical_cores"]


class WorkerError(RuntimeError):
    """A worker process failed (its traceback is in the message) or died."""


def physical_cores(sysfs: str = "/sys/devices/system/cpu") -> int:
    """Physical cores this process may run on (hyper-threads of one core count once)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
    cores = set()
    for cpu in cpus:
        base = f"{sysfs}/cpu{cpu}/topology"
        try:
            with open(f"{base}/physical_package_id") as a, open(f"{base}/core_id") as b:
                cores.add((a.read().strip(), b.read().strip()))
        except OSError:
            cores.add(("cpu", str(cpu)))
    return max(1, len(cores))


def _seeds_for(spec: StudySpec, lam: np.ndarray, seeds: Sequence[int] | None) -> list[int]:
    """One training seed per row: ``seeds``, or the spec's for every row."""
    if seeds is None:
        return [spec.training.seed] * len(lam)
    if len(seeds) != len(lam):
        raise ValueError(f"seeds must give one seed per row ({len(lam)}), got {len(seeds)}")
    return [int(s) for s in seeds]


def _part(start: Sequence[Checkpoint] | None, first: int, n: int) -> list[Checkpoint] | None:
    return None if start is None else list(start[first : first + n])


def _populations(lam: np.ndarray, size: int) -> list[np.ndarray]:
    """Consecutive populations of ``size`` rows (the last may be smaller)."""
    return [lam[i : i + size] for i in range(0, len(lam), size)]


class InProcess:
    """Trains the populations one after the other on this process's trainer."""

    workers = 1

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer

    def fit(
        self,
        lam: np.ndarray,
        k: int,
        seeds: Sequence[int] | None = None,
        start: Sequence[Checkpoint] | None = None,
        epochs: int | None = None,
    ) -> list[MemberResult]:
        """``lam[N, T]`` (row i under ``seeds[i]``, from ``start[i]``) with ``N ≤ k`` → N results (more rows are trained
        k at a time); ``start`` and ``epochs`` as in ``Trainer.fit``."""
        seeds = _seeds_for(self.trainer.spec, lam, seeds)
        return [
            r
            for i, pop in enumerate(_populations(lam, k))
            for r in self.trainer.fit(pop, seeds[i * k : i * k + len(pop)], _part(start, i * k, len(pop)), epochs)
        ]

    def call(self, fn: Callable[..., Any], args: Sequence[tuple[Any, ...]]) -> list[Any]:
        """``fn(trainer, *a)`` for each ``a`` of ``args``, one after the other (``ProcessPool.call`` runs them at once)."""
        return [fn(self.trainer, *a) for a in args]

    def close(self) -> None:
        pass

    def __enter__(self) -> InProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ProcessPool:
    """``workers`` spawned processes, each with ``threads`` torch threads and its own trainer.

    Each process builds its trainer once, when it starts, from the data this
    process shares with it (``share``: the tensors in shared memory, one copy of
    the data per host) or, if none is shared, from the spec; then it fits what
    it is sent: the only traffic is λ in and metrics and weights out.
    ``fit`` gives worker i the i-th of ``workers`` equal populations (at most
    ``k`` rows each), so it takes at most ``workers × k`` rows.
    """

    def __init__(self, spec: StudySpec, device: str, workers: int, threads: int = 1, wait: bool = True) -> None:
        """Start the processes; with ``wait`` return once every one holds its data.

        ``wait=False`` returns at once, so the caller can do its own start-up
        meanwhile; the first ``fit`` (or ``ready``) waits and raises a worker's
        start-up error.
        """
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.spec = spec
        ctx = mp.get_context("spawn")  # fork would copy torch's thread pools and locks
        self._procs: list[Any] = []
        self._conns: list[Connection] = []
        try:
            for i in range(workers):
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_serve, args=(child, spec, device, threads), name=f"paretomoo-trainer-{i}", daemon=True)
                with _sigint_ignored():  # inherited from the start: Ctrl-C is this process's to handle
                    proc.start()
                child.close()
                self._procs.append(proc)
                self._conns.append(parent)
            self._starting = list(range(workers))
            self._data_sent = False
            if wait:
                self.ready()
        except BaseException:
            self.close(wait=False)
            raise

    def share(self, data: SharedData | None, kept_mode: tuple[str, str] | None = None) -> None:
        """Give every worker the data to build its trainer from: a CPU trainer's ``shared()`` splits (sent as
        handles to the same shared memory, not copied), or None: each worker loads the data from the spec; and the
        study's mode for a user module's members (``Trainer.keep_mode``). Only the first call counts (``ready``
        makes one with None)."""
        if self._data_sent:
            return
        self._data_sent = True
        for i in self._starting:
            try:
                # torch's reductions: a shared tensor travels as a handle to its memory, which one process takes up:
                # pickled anew for each worker
                self._conns[i].send_bytes(ForkingPickler.dumps(("data", data, kept_mode)))
            except OSError:
                raise WorkerError(f"trainer process {self._procs[i].name} is gone (exit code {self._procs[i].exitcode})") from None

    def ready(self) -> None:
        """Wait until every worker holds its data; raise the first start-up error."""
        self.share(None)
        while self._starting:
            self._receive(self._starting[0])
            self._starting.pop(0)

    def fit(
        self,
        lam: np.ndarray,
        k: int,
        seeds: Sequence[int] | None = None,
        start: Sequence[Checkpoint] | None = None,
        epochs: int | None = None,
    ) -> list[MemberResult]:
        """``lam[N, T]`` (row i under ``seeds[i]``, from ``start[i]``) with ``N ≤ workers × k`` → N results, in row order.

        Every worker's reply is awaited before an error is raised, so the pool
        stays usable after a worker's exception (e.g. out of memory).
        """
        if len(lam) > self.workers * k:
            raise ValueError(f"{len(lam)} λ do not fit {self.workers} workers × populations of {k}")
        self.ready()
        size = -(-len(lam) // self.workers)
        pops = _populations(np.asarray(lam, dtype=np.float64), size)
        seeds = _seeds_for(self.spec, lam, seeds)
        for i, pop in enumerate(pops):
            try:
                self._conns[i].send_bytes(
                    pickle.dumps(("fit", (pop, seeds[i * size : i * size + len(pop)], _part(start, i * size, len(pop)), epochs)))
                )
            except OSError:
                raise WorkerError(f"trainer process {self._procs[i].name} is gone (exit code {self._procs[i].exitcode})") from None
        return [r for reply in self._replies(len(pops)) for r in reply]

    def call(self, fn: Callable[..., Any], args: Sequence[tuple[Any, ...]]) -> list[Any]:
        """``fn(trainer, *args[i])`` in worker i with that worker's trainer, all at once (at most ``workers``): the
        replies in order. ``fn`` is a module-level function (sent by name); what it keeps in its module's globals
        stays in that worker for the next call."""
        if len(args) > self.workers:
            raise ValueError(f"{len(args)} calls do not fit {self.workers} workers")
        self.ready()
        for i, a in enumerate(args):
            try:
                self._conns[i].send_bytes(pickle.dumps(("call", (fn, a))))
            except OSError:
                raise WorkerError(f"trainer process {self._procs[i].name} is gone (exit code {self._procs[i].exitcode})") from None
        return self._replies(len(args))

    def _replies(self, n: int) -> list[Any]:
        """The replies of workers 0..n-1; every one is awaited before an error is raised."""
        replies: list[Any] = []
        errors: list[BaseException] = []
        for i in range(n):
            try:
                replies.append(self._receive(i))
            except (WorkerError, UserError, torch.cuda.OutOfMemoryError) as exc:  # the others' replies are read first
                errors.append(exc)
        if errors:
            raise next((e for e in errors if is_out_of_memory(e)), errors[0])
        return replies

    def _receive(self, i: int) -> Any:
        conn, proc = self._conns[i], self._procs[i]
        wait([conn, proc.sentinel])
        try:
            status, payload = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            proc.join(timeout=1)
            raise WorkerError(f"trainer process {proc.name} stopped (exit code {proc.exitcode})") from None
        if status == "oom":
            raise torch.cuda.OutOfMemoryError(payload)
        if status == "user":
            raise UserError(payload)
        if status == "error":
            raise WorkerError(f"in trainer process {proc.name}:\n{payload}")
        return payload

    def close(self, wait: bool = True) -> None:
        """Stop the workers: ask them to exit (``wait``), else (or if they linger) terminate them.

        A worker still starting has nothing to finish: it is terminated at once.
        """
        starting = set(getattr(self, "_starting", ()))
        asked = [wait and i not in starting for i in range(len(self._procs))]
        for conn, ask in zip(self._conns, asked, strict=False):
            try:
                if ask:
                    conn.send_bytes(b"")
                conn.close()
            except OSError:
                pass
        for proc, ask in zip(self._procs, asked, strict=False):
            proc.join(timeout=2 if ask else 0)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()
        self._conns, self._procs = [], []

    @property
    def processes(self) -> list[Any]:
        return list(self._procs)

    def __enter__(self) -> ProcessPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        # On an error the workers may be in the middle of a fit: do not wait for it.
        self.close(wait=kind is None)


def _serve(conn: Connection, spec: StudySpec, device: str, threads: int) -> None:
    """A worker process: build the trainer once, then fit each population it is sent (or run each call).

    Every request gets one reply: ``("ok", value)``, ``("oom", message)``, ``("user", message)`` (a
    ``UserError``: raised again as one in the parent) or ``("error", traceback)``. An empty request, or a closed
    pipe, ends the process.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops us
    _die_with_parent()
    torch.set_num_threads(threads)
    from paretomoo.data import load_data

    try:
        _, shared, kept_mode = pickle.loads(conn.recv_bytes())  # ("data", SharedData | None, mode): see ProcessPool.share
        trainer = Trainer(spec, shared if shared is not None else load_data(spec.data), device)
        if kept_mode is not None:
            trainer.keep_mode(*kept_mode)
        trainer.warm_up()
    except Exception as exc:
        _send(conn, _failure(exc))
        return
    _send(conn, ("ok", None))
    while True:
        try:
            request = conn.recv_bytes()
        except (EOFError, OSError):  # the parent is gone
            request = b""
        if not request:
            # Nothing to flush (every result was sent): skip the interpreter's
            # tear-down, which takes seconds with torch loaded.
            os._exit(0)
        try:
            kind, payload = pickle.loads(request)
            if kind == "call":
                fn, args = payload
                reply: tuple[str, Any] = ("ok", fn(trainer, *args))
            else:
                lam, seeds, start, epochs = payload
                reply = ("ok", trainer.fit(lam, seeds, start, epochs))
        except Exception as exc:
            reply = _failure(exc)
        _send(conn, reply)
        if trainer.device.type == "cuda":
            torch.cuda.empty_cache()


def _failure(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, UserError):  # the user's to fix: the same one line as in this process
        return ("user", str(exc))
    return ("oom", str(exc)) if is_out_of_memory(exc) else ("error", traceback.format_exc())


def _send(conn: Connection, message: tuple[str, Any]) -> None:
    try:
        conn.send_bytes(pickle.dumps(message))
    except OSError:  # the parent is gone
        os._exit(0)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while the block runs (main thread only; elsewhere signals are not ours to change)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _die_with_parent() -> None:
    """Linux: have the kernel stop this process when its parent dies (e.g. by SIGKILL), so none is left behind."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # elsewhere a dead parent shows as EOF on the pipe, which ends the loop
