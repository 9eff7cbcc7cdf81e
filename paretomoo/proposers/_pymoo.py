"""pymoo's NSGA-II through its ask/tell interface, configured for a few generations over the λ simplex."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.duplicate import DuplicateElimination, NoDuplicateElimination
from pymoo.core.mutation import Mutation
from pymoo.core.population import Population
from pymoo.core.problem import Problem
from pymoo.operators.crossover.sbx import SBX
from pymoo.operators.crossover.ux import UniformCrossover
from pymoo.operators.mutation.pm import PM
from pymoo.operators.sampling.rnd import FloatRandomSampling

from paretomoo.proposers._base import Proposer
from paretomoo.proposers._design import centred, from_directions, random_design, to_directions
from paretomoo.proposers._distinct import distances
from paretomoo.space import directions_to_logits


@dataclass(frozen=True)
class Operators:
    """How NSGA-II searches: its variables, operators, population and first generation.

    ``sbx_eta``/``sbx_prob``: SBX's distribution index and probability of a crossover; ``pm_eta``: polynomial
    mutation's distribution index (the smaller, the farther a child moves); ``population``: the points kept
    between generations and the size of the first, rounded up to whole batches (each later generation is one batch
    of offspring); ``first``: the first generation, ``"random"`` (the points ``random`` proposes first under the same
    seed, ``_design.random_design``) or ``"uniform"`` (pymoo's uniform draws over its variables: the box, or
    with ``simplex`` the directions ``u ∈ [0, 1]^d``); ``apart``: offspring
    within this (max |Δ centred logit|) of a point told, of the population or of each other are mated again (0:
    only exact duplicates are; None: the study's ``distinct`` tolerance); ``simplex``: NSGA-II's variables are directions ``u ∈ [0, 1]^d``, proposed as the logits of ``u / Σu``
    (``space.directions_to_logits``, random's map), instead of the logits themselves.
    """

    sbx_eta: float
    sbx_prob: float
    pm_eta: float
    population: int
    first: str
    apart: float | None
    simplex: bool = False
    crossover: str = "sbx"  # or "uniform": each variable from either parent (Optuna's NSGA-II), at probability sbx_prob
    mutation: str = "pm"  # or "reset": a variable redrawn uniformly over its range, each at probability 1/d (Optuna's)


# The configuration for the λ simplex (issue 21; benchmarks/front_quality.py, docs/optimizers.md). A study has a budget
# of a few dozen trainings in batches of 8, a handful of generations: NSGA-II must explore more than refine. pymoo's
# defaults (the nsga2-pymoo-defaults arm of the benchmark) scored below random at every budget and left 5 to 18 of
# 64 proposals for distinct to move.
TUNED = Operators(
    # Optuna's NSGA-II operators: each variable from either parent on 90 % of pairs (uniform crossover), then each
    # redrawn uniformly over [0, 1] at probability 1/d. With a population of 32 they scored above SBX and polynomial
    # mutation at 48 trainings in two runs (0.68 against 0.66, 0.59 against 0.56) and level at 64.
    crossover="uniform",
    mutation="reset",
    sbx_eta=5.0,  # used by crossover = "sbx" only
    sbx_prob=0.9,
    pm_eta=5.0,  # used by mutation = "pm" only: a median step of 0.56 logits (pymoo's eta 20: 0.20, the distinct tolerance)
    # 32 survivors, and a first generation of 32, as the population is counted in points, not batches: with four
    # objectives nearly every point is non-dominated (40 to 52 of 64 on the demo), crowding alone picks the parents,
    # and with 16 of them the offspring at 24 and 32 trainings scored 0.01 to 0.07 below as many of random's draws in
    # all of five runs; with 32 (pymoo's default is 100, Optuna's 50) NSGA-II proposes random's own first 32 points,
    # then breeds from them: level with random at 48 and 64 in two runs (+0.04 and −0.02, +0.03 and 0.00).
    population=32,
    # The first generation is random's own first points: a generation-0 sample is what random does, and its
    # draws scored best at 8 and 16 trainings. A maximin design (the most spread of 64 draws) scored 0.31 at 8
    # trainings against random's 0.40 in the same run: spreading points pushes them to the simplex's edges, where
    # one task is traded at large ratios and the front has little volume.
    first="random",
    # Search the directions random draws from, not the logits: λ depends on d − 1 numbers, the box has d, and a
    # uniform point of the box has a median max/min ratio of 70 between its tasks (41 % beyond 100) against 22
    # (11 %) on random's plane; offspring bred in the box drift to those extremes, where no task is traded well.
    simplex=True,
    # the study's search.distinct (after its cap; 0: exact duplicates only): NSGA-II breeds again instead of leaving
    # near-duplicates to distinct
    apart=None,
)


class _Reset(Mutation):
    """Each variable redrawn uniformly over its bounds at probability 1/d (Optuna's NSGA-II mutation)."""

    def _do(self, problem: Problem, X: np.ndarray, *args: Any, random_state: Any = None, **kwargs: Any) -> np.ndarray:
        X = np.array(X, dtype=np.float64)
        redraw = random_state.random(X.shape) < 1.0 / problem.n_var
        fresh = problem.xl + random_state.random(X.shape) * (problem.xu - problem.xl)
        return np.where(redraw, fresh, X)


class _Apart(DuplicateElimination):
    """pymoo's duplicate elimination on λ: rows within ``tol`` (max |Δ centred logit|) of each other, of ``other``
    or of any point told so far (``seen``, centred logits) are duplicates; ``to_x`` maps pymoo's variables to logits."""

    def __init__(self, tol: float, dim: int, to_x: Callable[[np.ndarray], np.ndarray]) -> None:
        super().__init__(func=lambda pop: centred(to_x(pop.get("X"))))
        self.tol = tol
        self.seen = np.zeros((0, dim))

    def _do(self, pop: Population, other: Population | None, is_duplicate: np.ndarray) -> np.ndarray:
        c = self.func(pop)
        if other is None:
            d = distances(c, c)
            d[np.triu_indices(len(c))] = np.inf  # a row is a duplicate of an earlier row, not of itself
            is_duplicate |= d.min(axis=1, initial=np.inf) <= self.tol
            is_duplicate |= distances(c, self.seen).min(axis=1, initial=np.inf) <= self.tol
        else:
            is_duplicate |= distances(c, self.func(other)).min(axis=1, initial=np.inf) <= self.tol
        return is_duplicate


class NSGA2Proposer(Proposer):
    """NSGA-II under ``Operators``: a first generation of ``population`` points rounded up to whole batches, then one
    generation of ``batch`` offspring per batch, as many survivors as the first generation. A generation is told to
    pymoo once all of it is told.

    Replay re-runs pymoo's own asks (so its random stream advances exactly as
    in the original run) but tells the stored points, so the state is right
    even when a stored batch differs from what pymoo would propose now.
    Failed trials get an objective vector worse than every finished one.
    """

    name = "nsga2"
    operators: ClassVar[Operators] = TUNED

    def __init__(self, dim: int, n_obj: int, zmax: float, batch: int, seed: int, n_history: int = 0, distinct: float = 0.15) -> None:
        super().__init__(dim, n_obj, zmax, batch, seed, n_history, distinct)
        ops = self.operators
        problem = Problem(n_var=dim, n_obj=n_obj, xl=0.0, xu=1.0) if ops.simplex else Problem(n_var=dim, n_obj=n_obj, xl=-zmax, xu=zmax)
        size = -(-ops.population // batch) * batch
        first: Any = self._to_vars(random_design(size, dim, zmax, seed)) if ops.first == "random" else FloatRandomSampling()
        apart = self.distinct if ops.apart is None else ops.apart
        # one free task has one λ: nothing to keep apart
        self._apart = _Apart(apart, dim, self._to_x) if apart > 0 and dim > 1 else None
        self.algorithm = NSGA2(
            pop_size=size,
            n_offsprings=batch,
            sampling=first,
            crossover=SBX(eta=ops.sbx_eta, prob=ops.sbx_prob) if ops.crossover == "sbx" else UniformCrossover(prob=ops.sbx_prob),
            mutation=PM(eta=ops.pm_eta) if ops.mutation == "pm" else _Reset(),
            eliminate_duplicates=self._apart if self._apart is not None else True,
        )
        # the first generation is sampled, not mated: it is kept whole (its own spread is what was chosen)
        self.algorithm.initialization.eliminate_duplicates = NoDuplicateElimination()
        self.algorithm.setup(problem, termination=("n_gen", 10**9), seed=seed, verbose=False)
        self._pending: np.ndarray | None = None  # the generation being asked, in logits
        self._gen_x: list[np.ndarray] = []  # what was told of it so far (a first generation spans batches)
        self._gen_f: list[np.ndarray] = []
        self._worst = np.ones(n_obj)
        self._told = 0  # points told so far (replayed or new): seeds the fill of a short generation

    def _to_x(self, v: np.ndarray) -> np.ndarray:
        """pymoo's variables ``[n, d]`` → logits: of the directions ``u / Σu``, or the logits themselves."""
        return from_directions(v, self.zmax) if self.operators.simplex else np.atleast_2d(np.asarray(v, dtype=np.float64))

    def _to_vars(self, x: np.ndarray) -> np.ndarray:
        """Logits ``[n, d]`` → pymoo's variables: the direction with the same λ, or the logits themselves."""
        return to_directions(self._clip(x), self.zmax) if self.operators.simplex else self._clip(x)

    def ask(self, n: int) -> np.ndarray:
        if self._pending is None:
            pop = self.algorithm.ask()
            self._pending = np.zeros((0, self.dim)) if pop is None else self._to_x(pop.get("X"))
            if len(self._pending) < self.batch:
                # mating found fewer new points than a batch (a small space nearly full): random's draws fill it
                rng = np.random.default_rng([self.seed, self._told, 2])
                fill = directions_to_logits(rng.dirichlet(np.ones(self.dim), size=self.batch - len(self._pending)), self.zmax)
                self._pending = np.vstack([self._pending, fill])
        start = sum(len(x) for x in self._gen_x)
        return self._clip(self._pending[start : start + n])

    def tell(self, x: np.ndarray, f: np.ndarray) -> None:
        x = self._clip(x)
        f = np.asarray(f, dtype=np.float64).reshape(len(x), self.n_obj)
        ok = np.asarray(np.isfinite(f).all(axis=1), dtype=bool)
        if ok.any():
            self._worst = np.maximum(self._worst, f[ok].max(axis=0))
        self._gen_x.append(x)
        self._gen_f.append(f)
        if self._apart is not None:
            self._apart.seen = np.vstack([self._apart.seen, centred(x)])
        self._told += len(x)
        if self._pending is not None and sum(len(x) for x in self._gen_x) < len(self._pending):
            return  # the rest of this generation comes in the next batch
        x, f = np.vstack(self._gen_x), np.vstack(self._gen_f)
        ok = np.asarray(np.isfinite(f).all(axis=1), dtype=bool)
        f = np.where(ok[:, None], f, self._worst + 1.0)  # failed trials: worse than every finished one
        pop = Population.new("X", self._to_vars(x))
        pop.set("F", f)
        self.algorithm.tell(infills=pop)
        self._pending, self._gen_x, self._gen_f = None, [], []
