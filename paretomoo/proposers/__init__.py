"""Outer optimizers behind one ask/tell protocol (see ``Proposer``).

``PROPOSERS`` is the registry: one entry per ``[search] optimizer`` name,
naming the class that implements it; a class loads (with Optuna or pymoo) on
first use, so reading a spec or printing ``--help`` loads neither. A new
optimizer is a module with a ``Proposer`` subclass, listed here.
"""

from __future__ import annotations

from dataclasses import dataclass

from paretomoo._lazy import import_target
from paretomoo.proposers._base import Batch, Proposer

__all__ = ["AUTO", "CONDITIONED", "OPTIMIZER_NAMES", "PROPOSERS", "Batch", "Proposer", "ProposerEntry", "label", "make_proposer", "resolve"]


@dataclass(frozen=True)
class ProposerEntry:
    """One optimizer: its name, its class (``module:Class``), and the smallest batch it works with.

    ``min_batch`` is 2 for population-based optimizers, whose batch is a
    generation's offspring (Optuna's NSGA-II: its whole population).
    """

    name: str
    target: str
    help: str
    min_batch: int = 1

    def load(self) -> type[Proposer]:
        cls: type[Proposer] = import_target(self.target)
        return cls


PROPOSERS: dict[str, ProposerEntry] = {
    e.name: e
    for e in (
        ProposerEntry("nsga2", "paretomoo.proposers._pymoo:NSGA2Proposer", "pymoo's NSGA-II over λ directions", min_batch=2),
        ProposerEntry("optuna-nsga2", "paretomoo.proposers._optuna:OptunaNSGA2Proposer", "Optuna's NSGA-II sampler", min_batch=2),
        ProposerEntry("optuna-tpe", "paretomoo.proposers._optuna:OptunaTPEProposer", "Optuna's multi-objective TPE (constant liar)"),
        ProposerEntry("optuna-gp", "paretomoo.proposers._optuna:OptunaGPProposer", "Optuna's Gaussian process, batch expected hypervolume"),
        ProposerEntry("random", "paretomoo.proposers._random:RandomProposer", "uniform over the simplex (Dirichlet(1))"),
        ProposerEntry("grid", "paretomoo.proposers._grid:GridProposer", "Das-Dennis directions, coarse to fine"),
    )
}


# ``optimizer = "auto"`` (the default): the optimizer benchmarks/front_quality.py found best for small budgets;
# docs/optimizers.md ("Which optimizer") gives the figures.
AUTO = "optuna-tpe"
# ``optimizer = "conditioned"``: no proposer; one λ-conditioned training, then the points of its front retrained
# exactly (paretomoo.conditioned)
CONDITIONED = "conditioned"
OPTIMIZER_NAMES = ["auto", *PROPOSERS, CONDITIONED]  # what a spec and --optimizer accept


def resolve(name: str) -> str:
    """The registered optimizer a spec's name stands for (``auto`` → ``AUTO``)."""
    return AUTO if name == "auto" else name


def loads(name: str) -> None:
    """Load the optimizer's module now (pymoo, Optuna), with the rest of a worker's start-up."""
    if name != CONDITIONED:
        PROPOSERS[resolve(name)].load()


def label(name: str) -> str:
    """A spec's optimizer as shown to people: ``auto (optuna-tpe)`` for ``auto``."""
    return f"auto ({AUTO})" if name == "auto" else name


def make_proposer(
    name: str, *, dim: int, n_obj: int, zmax: float, batch: int, seed: int, n_history: int = 0, distinct: float = 0.15
) -> Proposer:
    """The proposer registered under ``name`` (one of ``PROPOSERS``, or ``auto``); ``distinct``: the study's
    near-duplicate tolerance (``Proposer.distinct``)."""
    name = resolve(name)
    if name not in PROPOSERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZER_NAMES)}")
    return PROPOSERS[name].load()(dim, n_obj, zmax, batch, seed, n_history, distinct)
