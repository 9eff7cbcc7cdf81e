"""Seed noise: how much a trial's metrics move when only the training seed changes.

Every trial of a study trains from the same seed (common random numbers), so
differences along the front come from λ. Before trusting a difference between
two points, compare it with this noise: ``paretomoo pick STUDY --noise 3``
retrains the chosen λ under three other seeds (new initial weights and batch
order) and reports mean ± standard deviation on validation and test data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from paretomoo.data import load_data
from paretomoo.spec import StudySpec
from paretomoo.trainer import Trainer


@dataclass(frozen=True)
class Noise:
    seeds: list[int]
    val: np.ndarray  # [n_seeds, m] primary metrics, spec order
    test: np.ndarray

    def describe(self, names: list[str]) -> str:
        def row(a: np.ndarray) -> str:
            return "  ".join(f"{n}={m:.4f}±{s:.4f}" for n, m, s in zip(names, a.mean(0), a.std(0, ddof=1), strict=True))

        return (
            f"  seed noise over {len(self.seeds)} retrainings (seeds {', '.join(map(str, self.seeds))}; mean ± sd):\n"
            f"    validation {row(self.val)}\n    test       {row(self.test)}"
        )

    def to_dict(self, names: list[str]) -> dict[str, object]:
        return {
            "seeds": self.seeds,
            "val": {
                n: {"mean": float(m), "sd": float(s)} for n, m, s in zip(names, self.val.mean(0), self.val.std(0, ddof=1), strict=True)
            },
            "test": {
                n: {"mean": float(m), "sd": float(s)} for n, m, s in zip(names, self.test.mean(0), self.test.std(0, ddof=1), strict=True)
            },
        }


def seed_noise(spec: StudySpec, lam: np.ndarray, n_seeds: int, device: str = "auto", first_seed: int | None = None) -> Noise:
    """Retrain ``lam[T]`` under ``n_seeds`` (≥ 2) seeds other than the study's: ``first_seed`` on (default: the
    seed after the study's; pass the one after a trial's repeats so that none is trained twice)."""
    first = spec.training.seed + 1 if first_seed is None else first_seed
    return seed_noise_many(spec, np.asarray(lam, dtype=np.float64)[None, :], n_seeds, device, [first])[0]


def seed_noise_many(spec: StudySpec, lam: np.ndarray, n_seeds: int, device: str, first_seeds: list[int]) -> list[Noise]:
    """``seed_noise`` of every row of ``lam[L, T]`` in one training pass: row l under ``first_seeds[l]`` on.

    Each member's result does not depend on the others (``Trainer.fit``), so this equals L calls of ``seed_noise``.
    """
    if n_seeds < 2:
        from paretomoo.errors import UserError

        raise UserError(f"--noise needs at least 2 seeds to estimate a spread, got {n_seeds}")
    trainer = Trainer(spec, load_data(spec.data), device)
    seeds = [[first + i for i in range(n_seeds)] for first in first_seeds]
    # every seed of every λ a member of one pass: each with its own initial weights and batch order
    results = trainer.fit(np.repeat(np.asarray(lam, dtype=np.float64), n_seeds, axis=0), seeds=[s for row in seeds for s in row])
    val = np.array([[r.val[t.name][t.metric] for t in spec.tasks] for r in results]).reshape(len(seeds), n_seeds, -1)
    test = np.array([[r.test[t.name][t.metric] for t in spec.tasks] for r in results]).reshape(len(seeds), n_seeds, -1)
    return [Noise(row, v, t) for row, v, t in zip(seeds, val, test, strict=True)]
