"""Training a study's adaptive-weighting baselines (``paretomoo.baselines``) and storing them beside its λ trials."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from paretomoo.errors import UserError

if TYPE_CHECKING:
    from paretomoo.spec import StudySpec
    from paretomoo.store import BaselineRecord


def train_baselines(
    spec: StudySpec | str | os.PathLike[str],
    methods: Sequence[str],
    *,
    storage: str | None = None,
    seed: int | None = None,
    device: str | None = None,
    on_result: Callable[[BaselineRecord], None] | None = None,
    on_split: Callable[[list[str], int], None] | None = None,
) -> list[BaselineRecord]:
    """Train and store the baselines ``methods`` of the study a spec declares (created if new); see ``Study.train_baselines``.

    ``on_split(names, total)``: for a study of your own module, called once before training with the parameters a
    method treats as shared (those two or more tasks' losses reach) and the number of parameter tensors.
    """
    from paretomoo.baselines import METHODS, train_baseline
    from paretomoo.baselines._base import shared_names
    from paretomoo.spec import load_spec

    spec = spec if not isinstance(spec, str | os.PathLike) else load_spec(os.fspath(spec))
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise UserError(f"unknown baseline method {unknown[0]!r}; use one of {', '.join(METHODS)}")
    for m in methods:
        METHODS[m].check()  # a missing optional package is refused before any training
    from paretomoo.study import open_for_training

    store, trainer = open_for_training(spec, storage=storage, device=device)
    trainer.warm_up()  # a process's first optimizer pays a one-off import: not the first method's cost
    s = spec.training.seed if seed is None else seed
    split = shared_names(trainer, s) if on_split is not None else None
    if split is not None and on_split is not None:
        on_split(*split)
    wanted = ["ew", *[m for m in dict.fromkeys(methods) if m != "ew"]]
    stored = {r.method: r for r in store.baselines.records() if r.seed == s and r.state == "complete"}
    out = []
    for m in wanted:
        rec = stored.get(m)
        if rec is None:
            rec = store.baselines.add_result(m, train_baseline(trainer, m, s), str(trainer.device))
        out.append(rec)
        if on_result is not None:
            on_result(rec)
    return out
