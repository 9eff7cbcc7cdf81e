"""What every report shows, computed once from the store's records."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from paretomoo.front import hypervolume, hypervolume_history, pareto_mask, reference_point, to_min
from paretomoo.spec import StudySpec
from paretomoo.store import Record


@dataclass(frozen=True)
class Summary:
    """Complete trials (in trial order), their front and hypervolume.

    ``values[n, m]`` are natural validation metrics of ``complete[i]``;
    ``on_front[n]`` marks the non-dominated ones; ``ref`` is the reference point
    in minimisation form (``paretomoo.front`` states the rule); ``hv_history[n]``
    is the hypervolume after each complete trial.
    """

    names: list[str]
    directions: list[str]
    records: list[Record]
    complete: list[Record]
    values: np.ndarray
    on_front: np.ndarray
    ref: np.ndarray
    hv: float
    hv_history: np.ndarray

    @property
    def front(self) -> list[Record]:
        return [r for r, f in zip(self.complete, self.on_front, strict=True) if f]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.records:
            out[r.state] = out.get(r.state, 0) + 1
        return out

    def ref_natural(self) -> np.ndarray:
        return self.ref * np.array([1.0 if d == "minimize" else -1.0 for d in self.directions])


def summarize(spec: StudySpec, records: list[Record]) -> Summary:
    complete = [r for r in records if r.state == "complete"]
    m = len(spec.tasks)
    values = np.array([r.values for r in complete], dtype=np.float64).reshape(-1, m)
    F = to_min(values, spec.directions)
    ref = reference_point([t.metric for t in spec.tasks], spec.directions, values)
    hist = hypervolume_history(F, ref) if len(F) else np.zeros(0)
    return Summary(
        names=spec.objectives,
        directions=spec.directions,
        records=records,
        complete=complete,
        values=values,
        on_front=pareto_mask(F) if len(F) else np.zeros(0, dtype=bool),
        ref=ref,
        hv=float(hist[-1]) if len(hist) else 0.0,
        hv_history=hist,
    )


def front_hypervolume(spec: StudySpec, records: list[Record]) -> float:
    """Hypervolume of the complete trials, without the history (cheap)."""
    complete = [r for r in records if r.state == "complete"]
    if not complete:
        return 0.0
    values = np.array([r.values for r in complete], dtype=np.float64)
    F = to_min(values, spec.directions)
    ref = reference_point([t.metric for t in spec.tasks], spec.directions, values)
    return hypervolume(F[pareto_mask(F)], ref)
