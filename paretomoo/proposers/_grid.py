"""Grid baseline: Das-Dennis directions, coarse to fine."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pymoo.util.ref_dirs import get_reference_directions

from paretomoo.proposers._base import Proposer
from paretomoo.space import directions_to_logits


@lru_cache(maxsize=8)
def grid_sequence(dim: int, n: int) -> np.ndarray:
    """The first ``n`` points of the coarse-to-fine Das-Dennis sequence on the simplex.

    The centre (uniform λ) comes first, then the corners (partitions p = 1),
    then the points that each finer grid p = 2, 3, … adds. Within a level the
    points come in greedy max-min order, so any prefix is evenly spread and a
    larger budget only appends points.
    """
    out = [np.full(dim, 1.0 / dim)]
    p = 1
    while len(out) < n:
        level = get_reference_directions("das-dennis", dim, n_partitions=p) if dim > 1 else np.ones((1, 1))
        seen = np.array(out)
        new = [d for d in level if np.abs(seen - d).sum(axis=1).min() > 1e-9]
        while new and len(out) < n:
            seen = np.array(out)
            dist = np.array([np.abs(seen - d).sum(axis=1).min() for d in new])
            out.append(new.pop(int(np.argmax(dist))))
        p += 1
        if p > 64:  # a 1-D "simplex" has one point; stop rather than loop
            break
    return np.array(out[:n])


class GridProposer(Proposer):
    name = "grid"

    def ask(self, n: int) -> np.ndarray:
        d = grid_sequence(self.dim, self.n_history + n)[self.n_history :]
        return directions_to_logits(d, self.zmax)

    def tell(self, x: np.ndarray, f: np.ndarray) -> None:
        self.n_history += len(x)

    def replay(self, batches: list) -> None:
        pass
