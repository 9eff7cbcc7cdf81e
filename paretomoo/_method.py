"""What an optimizer adds to the core beyond proposing λ: hooks, each a no-op by default.

The core calls these for every study: ``study.execute`` (work before the loop),
``_planning.propose`` (the batch to enqueue), ``paretomoo run``'s banner,
``status`` and the report (lines, facts and checks of their own), and ``export``
(weights for a trial it never trained). An ordinary optimizer is an ask/tell
``Proposer`` and needs none of them; ``optimizer = "conditioned"`` (one training
before the loop, its points' exact checks as the proposals, weights mixed at a
point's λ) overrides them in ``paretomoo.conditioned._method``. ``METHODS`` is
the registry, loaded on first use, so the core never branches on a name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from paretomoo._lazy import import_target

if TYPE_CHECKING:
    from paretomoo._parallel import InProcess, ProcessPool
    from paretomoo.spec import StudySpec
    from paretomoo.store import Record, Store
    from paretomoo.trainer import Trainer

# optimizer name → its hooks (``module:Class``); optimizers not named here use ``Method``'s defaults
METHODS = {"conditioned": "paretomoo.conditioned._method:ConditionedMethod"}


class Method:
    """The hooks, in the order a study meets them; the defaults do nothing."""

    def prepare(self, store: Store, trainer: Trainer, executor: InProcess | ProcessPool) -> None:
        """Work before the loop, once per study, in every process that runs it (it must find its own work done);
        ``executor``: the processes the loop trains in, idle until then."""

    def needs_prepare(self, store: Store) -> bool:
        """Whether ``prepare`` has work left (then a study with its trials done still starts its processes)."""
        return False

    def propose(self, store: Store, spec: StudySpec, batch_id: int) -> tuple[np.ndarray, list[dict[str, int]]] | None:
        """Batch ``batch_id`` as logits ``[n, d]`` and each trial's extra attributes, or None: the proposer's batch."""
        return None

    def banner(self, spec: StudySpec, store: Store) -> str | None:
        """A line for ``paretomoo run`` to print before the work starts, or None."""
        return None

    def status_lines(self, spec: StudySpec, records: Sequence[Record], attrs: Mapping[str, Any]) -> list[str]:
        """Lines ``status`` prints after the hypervolume (``attrs``: the study's user attributes)."""
        return []

    def report_facts(self, spec: StudySpec, records: Sequence[Record], attrs: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Rows the report adds to its facts table."""
        return []

    def checks(self, spec: StudySpec, records: Sequence[Record]) -> list[Any]:
        """Exact retrainings of points the method measured without training them, as ``paretomoo.conditioned.Gap``."""
        return []

    def weights(self, store: Store, rec: Record) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The state and the extra entries of ``model.pt`` for a trial the method measured without training it, or
        None: the trial's own stored weights."""
        return None


def method_of(optimizer: str) -> Method:
    """The hooks of ``optimizer`` (a spec's ``search.optimizer``): what runs a study now."""
    target = METHODS.get(optimizer)
    return import_target(target)() if target is not None else Method()


def method_of_study(optimizer: str, attrs: Mapping[str, Any]) -> Method:
    """The hooks that read a stored study back (status, report, export): those of the method whose work it holds (a
    method's ``prepare`` leaves a study attribute under its own name), else ``optimizer``'s. A conditioned study
    resumed with another optimizer, or read through a spec file that names another, still exports its points."""
    return next((method_of(name) for name in METHODS if name in attrs), None) or method_of(optimizer)
