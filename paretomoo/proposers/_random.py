"""Random baseline: Dirichlet(1) directions, i.e. uniform over the simplex."""

from __future__ import annotations

import numpy as np

from paretomoo.proposers._base import Proposer
from paretomoo.proposers._design import random_design


class RandomProposer(Proposer):
    """Uniform draws over the simplex of free tasks, mapped to the logit box.

    The k-th draw of a study comes from ``default_rng([seed, k])``, so the
    sequence is the same however the study was interrupted.
    """

    name = "random"

    def ask(self, n: int) -> np.ndarray:
        return random_design(n, self.dim, self.zmax, self.seed, start=self.n_history)

    def tell(self, x: np.ndarray, f: np.ndarray) -> None:
        self.n_history += len(x)

    def replay(self, batches: list) -> None:
        # Draws depend on the count only; the constructor's n_history holds it.
        pass
