"""The ask/tell contract every proposer follows."""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Batch:
    """One batch of proposals as stored: logits ``x[n, d]`` and minimisation
    objectives ``f[n, m]`` (a NaN row for a failed trial)."""

    x: np.ndarray
    f: np.ndarray


class Proposer(abc.ABC):
    """Proposes logits ``x ∈ [-zmax, zmax]^d`` (see ``paretomoo.space``).

    Call order: ``ask(n)`` then ``tell(x, f)`` with the same number of rows, and
    repeat. ``tell`` takes ``x`` as the truth: it may differ from what ``ask``
    returned (a batch replayed from the store, a trial re-run after a crash).
    ``f[n, m]`` is in minimisation form; a failed trial is a row of NaN.

    A proposer is rebuilt from the store before every batch: construct it with
    ``(dim, n_obj, zmax, batch, seed, n_history, distinct)`` and ``replay`` the stored
    batches, in order. Its next ``ask`` must then depend only on the seed and
    that history, so that an interrupted study proposes exactly what an
    uninterrupted one would have.
    """

    name: str = ""

    def __init__(self, dim: int, n_obj: int, zmax: float, batch: int, seed: int, n_history: int = 0, distinct: float = 0.15) -> None:
        if dim < 1 or n_obj < 1:
            raise ValueError(f"dim and n_obj must be >= 1, got {dim} and {n_obj}")
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.dim = dim
        self.n_obj = n_obj
        self.zmax = zmax
        self.batch = batch
        self.seed = seed
        self.n_history = n_history
        # the study's near-duplicate tolerance (``[search] distinct`` after its cap, ``_distinct.tolerance``; 0: off),
        # which the study applies to every batch; a proposer may keep its own proposals apart by it (NSGA-II does)
        self.distinct = distinct

    @abc.abstractmethod
    def ask(self, n: int) -> np.ndarray:
        """Up to ``n`` new points ``[n', d]`` (n' ≤ n) inside the box."""

    @abc.abstractmethod
    def tell(self, x: np.ndarray, f: np.ndarray) -> None:
        """Results for the points of the last ``ask``: ``x[n', d]``, ``f[n', m]``."""

    def replay(self, batches: list[Batch]) -> None:
        """Bring the proposer to the state it had after these batches."""
        for b in batches:
            self.ask(len(b.x))
            self.tell(b.x, b.f)

    def _clip(self, x: np.ndarray) -> np.ndarray:
        return np.clip(np.asarray(x, dtype=np.float64).reshape(-1, self.dim), -self.zmax, self.zmax)
