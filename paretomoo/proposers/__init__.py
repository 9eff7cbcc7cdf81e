"""Outer optimizers behind one ask/tell protocol (see ``Proposer``)."""

from __future__ import annotations

from paretomoo.proposers._base import Batch, Proposer
from paretomoo.proposers._grid import GridProposer
from paretomoo.proposers._optuna import OptunaNSGA2Proposer, OptunaTPEProposer
from paretomoo.proposers._pymoo import NSGA2Proposer
from paretomoo.proposers._random import RandomProposer

__all__ = ["Batch", "PROPOSERS", "Proposer", "make_proposer"]

PROPOSERS: dict[str, type[Proposer]] = {
    p.name: p for p in (NSGA2Proposer, OptunaNSGA2Proposer, OptunaTPEProposer, RandomProposer, GridProposer)
}


def make_proposer(name: str, *, dim: int, n_obj: int, zmax: float, batch: int, seed: int, n_history: int = 0) -> Proposer:
    """The proposer registered under ``name`` (one of ``PROPOSERS``)."""
    if name not in PROPOSERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(PROPOSERS)}")
    return PROPOSERS[name](dim, n_obj, zmax, batch, seed, n_history)
