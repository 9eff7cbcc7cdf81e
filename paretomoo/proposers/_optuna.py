"""Optuna's multi-objective samplers (NSGA-II, TPE) through ``study.ask``/``tell``."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.trial import TrialState

from paretomoo.proposers._base import Batch, Proposer
from paretomoo.proposers._design import from_directions, to_directions

optuna.logging.set_verbosity(optuna.logging.WARNING)


class OptunaProposer(Proposer):
    """Runs an Optuna sampler in an in-memory study rebuilt from the store.

    Replay enqueues each stored point and tells its result, so the sampler sees
    the whole history (NSGA-II its generations, TPE its observations) without
    sampling it again. The sampler's seed mixes the study seed with the history
    length: a resumed study proposes what an uninterrupted one would have.
    Asking n points before telling any lets TPE's constant liar spread them.
    """

    def __init__(self, dim: int, n_obj: int, zmax: float, batch: int, seed: int, n_history: int = 0, distinct: float = 0.15) -> None:
        super().__init__(dim, n_obj, zmax, batch, seed, n_history, distinct)
        sampler_seed = int(np.random.SeedSequence([seed, n_history]).generate_state(1)[0] >> 1)
        self.study = optuna.create_study(directions=["minimize"] * n_obj, sampler=self._sampler(sampler_seed))
        self.dists: dict[str, BaseDistribution] = {f"x{i}": FloatDistribution(-zmax, zmax) for i in range(dim)}
        self._pending: list[optuna.Trial] = []

    def _sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        raise NotImplementedError

    def _point(self, trial: optuna.Trial) -> list[float]:
        return [trial.params[f"x{i}"] for i in range(self.dim)]

    def ask(self, n: int) -> np.ndarray:
        self._pending = [self.study.ask(self.dists) for _ in range(n)]
        return self._clip(np.array([self._point(t) for t in self._pending]))

    def tell(self, x: np.ndarray, f: np.ndarray) -> None:
        x = self._clip(x)
        f = np.asarray(f, dtype=np.float64).reshape(len(x), self.n_obj)
        for i, trial in enumerate(self._pending):
            if not np.allclose(self._point(trial), x[i]):
                # Told a point other than the one asked: record the truth.
                self.study.tell(trial, state=TrialState.FAIL)
                self._add(x[i], f[i])
            elif np.isfinite(f[i]).all():
                self.study.tell(trial, f[i].tolist())
            else:
                self.study.tell(trial, state=TrialState.FAIL)
        self._pending = []

    def _params(self, x: np.ndarray) -> dict[str, float]:
        """The trial parameters of logits ``x[d]`` (the inverse of ``_point``)."""
        return {f"x{i}": float(v) for i, v in enumerate(x)}

    def _add(self, x: np.ndarray, f: np.ndarray) -> None:
        self.study.enqueue_trial(self._params(x))
        trial = self.study.ask(self.dists)
        sampler = self.study.sampler
        if isinstance(sampler, optuna.samplers.BaseGASampler):
            # Fixed params skip sampling, which is where a GA sampler files a
            # trial under its generation; file it here instead.
            sampler.get_trial_generation(self.study, self.study.get_trials(deepcopy=False)[trial.number])
        if np.isfinite(f).all():
            self.study.tell(trial, f.tolist())
        else:
            self.study.tell(trial, state=TrialState.FAIL)

    def replay(self, batches: list[Batch]) -> None:
        for b in batches:
            for x, f in zip(self._clip(b.x), b.f, strict=True):
                self._add(x, np.asarray(f, dtype=np.float64))


class OptunaNSGA2Proposer(OptunaProposer):
    """Optuna's NSGA-II (population = batch, its default crossover and mutation) over directions ``u ∈ [0, 1]^d``,
    proposed as the logits of ``u / Σu`` (``_design.from_directions``, random's map), as pymoo's ``nsga2``: over the
    logits themselves its first generation and its mutations (a logit redrawn uniformly over the box) land at
    extreme trade-offs, where the front has little volume (docs/optimizers.md, "NSGA-II on the λ simplex")."""

    name = "optuna-nsga2"
    directions: ClassVar[bool] = True

    def __init__(self, dim: int, n_obj: int, zmax: float, batch: int, seed: int, n_history: int = 0, distinct: float = 0.15) -> None:
        super().__init__(dim, n_obj, zmax, batch, seed, n_history, distinct)
        if self.directions:
            self.dists = {f"x{i}": FloatDistribution(0.0, 1.0) for i in range(dim)}

    def _sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.NSGAIISampler(population_size=self.batch, seed=seed)

    def _point(self, trial: optuna.Trial) -> list[float]:
        if not self.directions:
            return super()._point(trial)
        return [float(v) for v in from_directions(np.array(super()._point(trial)), self.zmax)[0]]

    def _params(self, x: np.ndarray) -> dict[str, float]:
        if not self.directions:
            return super()._params(x)
        return super()._params(to_directions(x, self.zmax)[0])


class OptunaTPEProposer(OptunaProposer):
    name = "optuna-tpe"

    def _sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)


class OptunaGPProposer(OptunaProposer):
    """Optuna's Gaussian-process sampler: one GP per objective, log expected hypervolume improvement.

    The first batch is random (``n_startup_trials`` = the batch). A batch is
    asked before any of it is told, so each later point of a batch sees the
    earlier ones as running trials, which Optuna's GP sampler conditions on
    (a q-batch acquisition over the running points): the points of a batch
    spread instead of repeating the one best point.
    """

    name = "optuna-gp"

    def _sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=self.batch, warn_independent_sampling=False)
