"""pymoo's NSGA-II through its ask/tell interface."""

from __future__ import annotations

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.population import Population
from pymoo.core.problem import Problem

from paretomoo.proposers._base import Proposer


class NSGA2Proposer(Proposer):
    """One generation per batch (``batch`` = population size).

    Replay re-runs pymoo's own asks (so its random stream advances exactly as
    in the original run) but tells the stored points, so the state is right
    even when a stored batch differs from what pymoo would propose now.
    Failed trials get an objective vector worse than every finished one.
    """

    name = "nsga2"

    def __init__(self, dim: int, n_obj: int, zmax: float, batch: int, seed: int, n_history: int = 0) -> None:
        super().__init__(dim, n_obj, zmax, batch, seed, n_history)
        problem = Problem(n_var=dim, n_obj=n_obj, xl=-zmax, xu=zmax)
        self.algorithm = NSGA2(pop_size=batch)
        self.algorithm.setup(problem, termination=("n_gen", 10**9), seed=seed, verbose=False)
        self._pending: Population | None = None
        self._worst = np.ones(n_obj)

    def ask(self, n: int) -> np.ndarray:
        if self._pending is None:
            self._pending = self.algorithm.ask()
        return self._clip(self._pending.get("X")[:n])

    def tell(self, x: np.ndarray, f: np.ndarray) -> None:
        x = self._clip(x)
        f = np.asarray(f, dtype=np.float64).reshape(len(x), self.n_obj)
        ok = np.asarray(np.isfinite(f).all(axis=1), dtype=bool)
        if ok.any():
            self._worst = np.maximum(self._worst, f[ok].max(axis=0))
        f = np.where(ok[:, None], f, self._worst + 1.0)
        pop = Population.new("X", x)
        pop.set("F", f)
        self.algorithm.tell(infills=pop)
        self._pending = None
