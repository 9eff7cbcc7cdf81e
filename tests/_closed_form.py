"""An executor whose "training" is a closed-form function of λ, the seed and the epochs, for tests of the study loop's
own logic (proposals, the queue, resume, repeats, halving, several workers): what they check does not depend on how
a model learns, and they run in a fraction of a second instead of training hundreds of models.

The metrics trade off (task i's score grows with λ_i, and Σλ = 1), differ a little by seed and grow with the
epochs trained, so fronts, repeats and rungs behave as they do on real models. Real training is tested where
training is the subject (test_trainer, test_population, test_halving's checkpoints, the CLI studies).
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Sequence

import numpy as np
import torch

from paretomoo.spec import StudySpec
from paretomoo.store import Store
from paretomoo.trainer import Checkpoint, MemberResult
from paretomoo.worker import WorkerOptions, work

ROWS = 200  # bootstrap replicates of the validation metrics, as the trainer stores them ([B, T] deviations)
ROW_SE = 0.005  # the rows' sampling error of every metric


class ClosedForm:
    """Stands in for ``InProcess``/``ProcessPool``: ``fit(lam[N, T], k, seeds, start, epochs)`` → N ``MemberResult``.

    ``calls`` lists every (λ row rounded to 12 digits, seed, epochs) fitted, in order. ``delay`` seconds are slept
    per call, so that workers in threads interleave as processes would.
    """

    workers = 1

    def __init__(self, spec: StudySpec, delay: float = 0.0) -> None:
        self.spec = spec
        self.delay = delay
        self.calls: list[tuple[tuple[float, ...], int, int]] = []

    def fit(
        self,
        lam: np.ndarray,
        k: int,
        seeds: Sequence[int] | None = None,
        start: Sequence[Checkpoint] | None = None,
        epochs: int | None = None,
    ) -> list[MemberResult]:
        total = self.spec.training.epochs
        target = total if epochs is None else epochs
        seeds = [self.spec.training.seed] * len(lam) if seeds is None else list(seeds)
        assert len(seeds) == len(lam) and (start is None or len(start) == len(lam))
        for c in start or ():
            assert c["epochs"] < target, "a checkpoint goes on to a later epoch"
        if self.delay:
            time.sleep(self.delay)
        out = []
        for i, row in enumerate(np.asarray(lam, dtype=float)):
            self.calls.append((tuple(np.round(row, 12)), seeds[i], target))
            val, test, dev = self.metrics(row, seeds[i], target)
            se = {t.name: {t.metric: ROW_SE} for t in self.spec.tasks}
            state = {"lam": torch.tensor(row), "seed": torch.tensor(seeds[i])}
            out.append(
                MemberResult(
                    lam=row,
                    val=val,
                    test=test,
                    state=state,
                    seed=seeds[i],
                    seconds=0.001,
                    val_boot_se=se,
                    test_boot_se=se,
                    val_dev=dev,
                    checkpoint={"epochs": target, **state} if target < total else None,
                )
            )
        return out

    def metrics(self, lam: np.ndarray, seed: int, epochs: int) -> tuple[dict, dict, np.ndarray]:
        """Validation and test metrics ``{task: {metric: value}}`` of one λ, and the rows' deviations ``[ROWS, T]``."""
        progress = epochs / self.spec.training.epochs
        val: dict[str, dict[str, float]] = {}
        test: dict[str, dict[str, float]] = {}
        for i, t in enumerate(self.spec.tasks):
            score = progress * (np.sqrt(lam[i]) + 0.01 * np.sin(3.0 * seed + 5.0 * i + 7.0 * lam[i]))
            sign = 1.0 if t.direction == "maximize" else -1.0
            val[t.name] = {t.metric: float(0.5 + sign * 0.4 * score)}
            test[t.name] = {t.metric: float(0.5 + sign * 0.38 * score)}
        key = [seed, *np.round(lam * 1e9).astype(np.int64).tolist()]
        dev = np.random.default_rng([abs(v) for v in key]).normal(0.0, ROW_SE, (ROWS, len(self.spec.tasks)))
        return val, test, dev

    def close(self) -> None:
        pass

    def __enter__(self) -> ClosedForm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


OPTIONS = WorkerOptions(heartbeat=1.0, poll=0.02)


def run_loop(spec: StudySpec, storage: str | None = None, executor: ClosedForm | None = None) -> Store:
    """Run (or resume) the study's worker loop in this process on closed-form metrics until its budget is spent."""
    store = Store.create_or_resume(spec, storage)
    work(store, executor or ClosedForm(spec), spec.training.population or 4, "cpu", OPTIONS)
    return store


def run_workers(spec: StudySpec, storage: str, n: int = 2, delay: float = 0.01) -> list[ClosedForm]:
    """``n`` workers on one study at once (threads, each with its own connection to the storage), as ``n``
    ``paretomoo worker`` processes would share it; returns their executors (what each fitted)."""
    Store.create_or_resume(spec, storage)
    executors = [ClosedForm(spec, delay) for _ in range(n)]

    def one(ex: ClosedForm) -> None:
        store = Store.create_or_resume(spec, storage)
        work(store, ex, spec.training.population or 4, "cpu", OPTIONS)
        store.storage.engine.dispose()

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        for f in [pool.submit(one, ex) for ex in executors]:
            f.result()
    return executors
