"""Measuring a trained population: scores of every row in chunks, every task's metrics, their bootstrap over rows,
and one :class:`MemberResult` per member."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from paretomoo._train_state import Checkpoint
from paretomoo.data._tensors import TensorSplit
from paretomoo.metrics import BOOTSTRAP, bootstrap_weights
from paretomoo.models import PopulationModel
from paretomoo.spec import StudySpec
from paretomoo.tasks import all_metrics, metric_replicates

# Evaluation runs through a split in chunks of rows × members ≈ EVAL_MEMBER_ROWS.
# CPU: 4096 member-rows keep a chunk's activations (~4 MB at a 256-wide layer)
# near the core's cache; chunks of 65536 rows took twice as long (K = 4, 2-core
# EPYC). GPU: 2^20 member-rows × a few hundred floats of activations stay within
# 1-2 GB whatever K is, and the chunks are large enough to fill the device.
EVAL_MEMBER_ROWS = {"cpu": 4096, "cuda": 1 << 20}
EVAL_ROWS = (256, 65536)  # fewest and most rows per chunk


@dataclass
class MemberResult:
    """What one λ produced. ``failed`` holds the reason when training diverged."""

    lam: np.ndarray
    val: dict[str, dict[str, float]]  # task -> metric -> value
    test: dict[str, dict[str, float]]
    state: dict[str, torch.Tensor] | None
    failed: str | None = None
    seconds: float = 0.0
    seed: int = 0  # the training seed: initial weights and batch order
    # the rows' sampling error of every metric (a bootstrap over rows, BOOTSTRAP replicates), and
    # the replicates of the primary validation metrics, as deviations [B, T] from val
    val_boot_se: dict[str, dict[str, float]] = field(default_factory=dict)
    test_boot_se: dict[str, dict[str, float]] = field(default_factory=dict)
    val_dev: np.ndarray | None = None
    # where training stopped short of training.epochs: what Trainer.fit(start=...) goes on from
    checkpoint: Checkpoint | None = None
    # how the members of its training pass ran ("native": a built-in model; "vmap" or "sequential": a user module) and
    # how many members the pass had
    population: str = "native"
    members: int = 0


class Evaluation:
    """The measuring half of :class:`paretomoo.trainer.Trainer`: what it reads of the trainer is declared here."""

    spec: StudySpec
    device: torch.device
    val: TensorSplit
    test: TensorSplit
    _weights: dict[str, torch.Tensor]  # bootstrap weights of "val" and "test"

    @torch.no_grad()
    def predict(self, model: PopulationModel, split: TensorSplit) -> torch.Tensor:
        """Scores ``[K, n, T]`` for every row of a split.

        Rows go through in chunks of ``EVAL_MEMBER_ROWS / K`` (see there).
        """
        budget = EVAL_MEMBER_ROWS.get(self.device.type, EVAL_MEMBER_ROWS["cuda"])
        chunk = min(max(budget // model.population, EVAL_ROWS[0]), EVAL_ROWS[1])
        model.eval()
        try:
            return torch.cat([model(split.rows(i, i + chunk)) for i in range(0, len(split), chunk)], dim=1)
        finally:
            model.train()

    def measure(self, model: PopulationModel, split: TensorSplit) -> list[dict[str, dict[str, float]]]:
        """Every task's metrics for every member: ``[k][task][metric]``."""
        return self._metrics(self.predict(model, split), split)

    def _bootstrap(self, scores: torch.Tensor, which: str) -> list[dict[str, dict[str, torch.Tensor]]]:
        """Every task's metrics under each of ``BOOTSTRAP`` resamples of the ``which`` ("val" or "test") rows, for
        every member: ``[k][task][metric] → [B]``.

        The resamples depend on the split only (drawn once per process, kept), so
        every trial of a study is resampled alike and differences between trials
        are paired. One resample serves every task (replicate b is the same rows for
        every objective, as a joint statement such as P(front) needs); where a task
        ranks within groups, whole groups are resampled.
        """
        split = self.val if which == "val" else self.test
        if which not in self._weights:
            groups = next(iter(split.groups.values()), None)
            seed = 0 if which == "val" else 1  # the two splits' resamples are independent
            self._weights[which] = bootstrap_weights(len(split), BOOTSTRAP, seed, groups, self.device)
        w = self._weights[which]
        out: list[dict[str, dict[str, torch.Tensor]]] = [{} for _ in range(scores.shape[0])]
        for i, t in enumerate(self.spec.tasks):
            for m in range(scores.shape[0]):
                out[m][t.name] = metric_replicates(t, scores[m, :, i], split.y[:, i], split.groups.get(i), w)
        return out

    def evaluate(self, model: PopulationModel, lam: np.ndarray, bad_epoch: list[int]) -> list[MemberResult]:
        """Measure every member of a trained ``model`` (``lam[K, T]``; ``bad_epoch[k]`` ≥ 0: member k diverged then)."""
        val_scores, test_scores = self.predict(model, self.val), self.predict(model, self.test)
        val, test = self._metrics(val_scores, self.val), self._metrics(test_scores, self.test)
        val_reps, test_reps = self._bootstrap(val_scores, "val"), self._bootstrap(test_scores, "test")
        results = []
        for k in range(lam.shape[0]):
            failed = None
            if bad_epoch[k] >= 0:
                failed = f"training loss became NaN/inf in epoch {bad_epoch[k]}"
            else:
                primary = [val[k][t.name][t.metric] for t in self.spec.tasks]
                if not all(math.isfinite(v) for v in primary):
                    failed = "a validation metric is NaN (non-finite predictions)"
            state = None if failed else model.member_state(k)
            dev = np.stack([val_reps[k][t.name][t.metric].cpu().numpy() - val[k][t.name][t.metric] for t in self.spec.tasks], axis=1)
            results.append(
                MemberResult(
                    lam=lam[k],
                    val=val[k],
                    test=test[k],
                    state=state,
                    failed=failed,
                    val_boot_se=_standard_errors(val_reps[k]),
                    test_boot_se=_standard_errors(test_reps[k]),
                    val_dev=dev,
                )
            )
        return results

    def _metrics(self, scores: torch.Tensor, split: TensorSplit) -> list[dict[str, dict[str, float]]]:
        return [
            {t.name: all_metrics(t, scores[m, :, i], split.y[:, i], split.groups.get(i)) for i, t in enumerate(self.spec.tasks)}
            for m in range(scores.shape[0])
        ]


def _standard_errors(reps: dict[str, dict[str, torch.Tensor]]) -> dict[str, dict[str, float]]:
    """The bootstrap standard error of every metric: the sd of its replicates (NaN ones, undefined resamples, left out)."""
    out: dict[str, dict[str, float]] = {}
    for task, metrics in reps.items():
        out[task] = {}
        for name, r in metrics.items():
            finite = r[torch.isfinite(r)]
            out[task][name] = float(finite.std()) if finite.numel() >= 2 else math.nan
    return out
