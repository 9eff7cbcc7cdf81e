"""The field's adaptive-weighting multi-task methods, trained on the terms of the study's fixed-λ trials.

``METHODS`` is the registry: one entry per method name, naming the class that
implements it (``module:Class``, a :class:`~paretomoo.baselines._base.Method`);
classes load (with torch, and TorchJD where needed) on first use, so listing
the methods loads neither. ``train_baseline(trainer, name)`` trains one model
under a method with the trainer's data, model, optimizer, epochs and batches,
and measures it as a trial (``_loop``). A new method is a module with a
``Method`` subclass, listed here; the loop never asks which method it runs.

Example::

    trainer = Trainer(spec, load_data(spec.data))
    r = train_baseline(trainer, "uw")
    r.val, r.lam  # validation metrics; UW's mean task weights over the last epoch
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from paretomoo._lazy import import_target
from paretomoo.errors import UserError

if TYPE_CHECKING:
    from paretomoo.baselines._base import GramianMethod, Method
    from paretomoo.trainer import MemberResult, Trainer

__all__ = ["METHODS", "GramianMethod", "Method", "MethodEntry", "train_baseline"]


@dataclass(frozen=True)
class MethodEntry:
    """One method: its name, title, paper, kind, the optional package it needs (or None), and its class (``module:Class``)."""

    name: str
    title: str
    reference: str
    kind: Literal["loss weighting", "gradient aggregation"]
    needs: str | None
    target: str

    def load(self) -> type[Method]:
        """The implementing class; ``UserError`` naming the install command when ``needs`` is missing."""
        try:
            cls: type[Method] = import_target(self.target)
        except ImportError as exc:
            raise self._missing() from exc
        return cls

    def make(self) -> Method:
        """A fresh instance (one per training); ``UserError`` when an optional package it needs is missing."""
        cls = self.load()
        try:
            return cls()
        except ImportError as exc:  # e.g. UPGrad's quadprog projector, checked when it is built
            raise self._missing() from exc

    def check(self) -> None:
        """Raise ``UserError`` now if the method cannot run here (an optional package is missing)."""
        self.make()

    def _missing(self) -> UserError:
        return UserError(f"method {self.name!r} needs {self.needs}: pip install 'paretomoo[baselines]'")


METHODS: dict[str, MethodEntry] = {
    e.name: e
    for e in (
        MethodEntry("ew", "Equal weighting", "λ = 1/T", "loss weighting", None, "paretomoo.baselines._ew:EqualWeighting"),
        MethodEntry(
            "uw",
            "Uncertainty weighting",
            "Kendall et al., CVPR 2018",
            "loss weighting",
            None,
            "paretomoo.baselines._uw:UncertaintyWeighting",
        ),
        MethodEntry("gradnorm", "GradNorm", "Chen et al., ICML 2018", "loss weighting", None, "paretomoo.baselines._gradnorm:GradNorm"),
        MethodEntry("pcgrad", "PCGrad", "Yu et al., NeurIPS 2020", "gradient aggregation", "torchjd", "paretomoo.baselines._jd:PCGrad"),
        MethodEntry("mgda", "MGDA", "Sener and Koltun, NeurIPS 2018", "gradient aggregation", "torchjd", "paretomoo.baselines._jd:MGDA"),
        MethodEntry("famo", "FAMO", "Liu et al., NeurIPS 2023", "loss weighting", None, "paretomoo.baselines._famo:FAMO"),
        MethodEntry("nashmtl", "Nash-MTL", "Navon et al., ICML 2022", "gradient aggregation", None, "paretomoo.baselines._nashmtl:NashMTL"),
        MethodEntry("upgrad", "UPGrad", "Quinton and Rey, 2024", "gradient aggregation", "torchjd", "paretomoo.baselines._jd:UPGrad"),
    )
}


def train_baseline(trainer: Trainer, method: str, seed: int | None = None) -> MemberResult:
    """Train one model under ``method`` (a key of ``METHODS``) and measure it as a fixed-λ trial is measured.

    Args:
        trainer: holds the study's data; its spec gives the model, lr, weight
            decay, epochs and batch size.
        method: one of ``METHODS``.
        seed: the training seed (initial weights and batch order); default
            ``trainer.spec.training.seed``.

    Returns:
        The result of one population member: validation and test metrics with
        their bootstrap standard errors, the weights, ``lam`` = the method's
        mean task weights over the last epoch (on the simplex), ``seconds`` =
        the training's wall time (evaluation left out), and ``failed`` set if a loss became NaN/inf.

    Raises:
        UserError: an unknown method, or one whose optional package is missing.
    """
    if method not in METHODS:
        raise UserError(f"unknown baseline method {method!r}; use one of {', '.join(METHODS)}")
    impl = METHODS[method].make()
    from paretomoo.baselines._loop import train

    return train(trainer, impl, trainer.spec.training.seed if seed is None else seed)


def __getattr__(name: str) -> Any:
    if name in ("Method", "GramianMethod"):
        return getattr(importlib.import_module("paretomoo.baselines._base"), name)
    raise AttributeError(f"module 'paretomoo.baselines' has no attribute {name!r}")
