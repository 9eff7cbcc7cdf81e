"""What every report shows, computed once from the store's records: the front, its hypervolume, and how sure they are."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from paretomoo.front import from_min, hypervolume, hypervolume_history, pareto_mask, reference_point, to_min
from paretomoo.spec import StudySpec
from paretomoo.store import Record
from paretomoo.uncertainty import Evidence, Verdict, conflict_verdict, evidence, hypervolume_interval

# The share of replicates a difference must hold in to count as beyond noise, and the
# interval reported for the hypervolume (its 5 % and 95 % quantiles).
LEVEL = 0.9


@dataclass(frozen=True)
class Summary:
    """Complete trials (in trial order), their front and hypervolume, and the evidence behind them.

    ``values[n, m]`` are natural validation metrics of ``complete[i]`` (means over
    their seeds); ``on_front[n]`` marks the non-dominated ones; ``ref`` is the
    reference point in minimisation form (``paretomoo.front`` states the rule);
    ``hv_history[n]`` is the hypervolume after each complete trial. ``evidence``
    holds the replicates of every mean (seed and row noise, ``paretomoo.uncertainty``):
    ``p_front[n]``, ``se[n, m]``, ``hv_interval`` (the noise-free front's volume, a 90 %
    interval corrected for the optimism of noisy means: ``uncertainty.hypervolume_interval``)
    and the conflict ``verdict`` follow from it.
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
    evidence: Evidence | None
    hv_interval: tuple[float, float]
    verdict: Verdict | None
    hv_text: str = ""  # what a report prints after ``hv``: the interval, and why ``hv`` lies outside it when it does

    @property
    def front(self) -> list[Record]:
        return [r for r, f in zip(self.complete, self.on_front, strict=True) if f]

    @property
    def p_front(self) -> np.ndarray:
        return self.evidence.p_front if self.evidence is not None else np.zeros(0)

    @property
    def se(self) -> np.ndarray:
        return self.evidence.se if self.evidence is not None else np.zeros((0, len(self.names)))

    def counts(self) -> dict[str, int]:
        """Trials by state; a λ's later seeds (adaptive repeats) count as ``repeat``."""
        out: dict[str, int] = {}
        for r in self.records:
            key = "repeat" if r.repeat_of is not None and r.state == "complete" else r.state
            out[key] = out.get(key, 0) + 1
        return out

    def ref_natural(self) -> np.ndarray:
        return from_min(self.ref, self.directions)


def summarize(spec: StudySpec, records: list[Record], *, noise: bool = True) -> Summary:
    """The summary of a study's records; ``noise=False`` skips the evidence (replicates, P(front), verdict)."""
    complete = [r for r in records if r.state == "complete" and r.repeat_of is None]
    m = len(spec.tasks)
    values = np.array([r.values for r in complete], dtype=np.float64).reshape(-1, m)
    F = to_min(values, spec.directions)
    ref = reference_point([t.metric for t in spec.tasks], spec.directions, values)
    hist = hypervolume_history(F, ref) if len(F) else np.zeros(0)
    hv = float(hist[-1]) if len(hist) else 0.0
    ev = verdict = None
    interval = (hv, hv)
    hv_text = ""
    ok = np.isfinite(values).all(axis=1)
    if noise and ok.all() and len(complete):
        seeds = [np.asarray(r.seed_values or [r.values], dtype=np.float64) for r in complete]
        ev = evidence(values, seeds, _row_dev(complete), spec.directions)
        band = hypervolume_interval(ev, ref, q=((1 - LEVEL) / 2, (1 + LEVEL) / 2))
        interval = (band.low, band.high)
        hv_text = band.text(LEVEL)
        lam = np.array([[r.lam.get(t, np.nan) for t in spec.task_names] for r in complete])
        verdict = conflict_verdict(ev, spec.objectives, [f"trial {r.number}" for r in complete], lam, LEVEL)
    return Summary(
        names=spec.objectives,
        directions=spec.directions,
        records=records,
        complete=complete,
        values=values,
        on_front=pareto_mask(F) if len(F) else np.zeros(0, dtype=bool),
        ref=ref,
        hv=hv,
        hv_history=hist,
        evidence=ev,
        hv_interval=interval,
        verdict=verdict,
        hv_text=hv_text,
    )


def _row_dev(complete: list[Record]) -> np.ndarray | None:
    """``[n, B, m]`` when every trial carries its rows' bootstrap deviations (the same B), else None."""
    devs = [r.row_dev for r in complete]
    if any(d is None for d in devs) or len({d.shape for d in devs if d is not None}) != 1:
        return None
    return np.stack([d for d in devs if d is not None])


def front_hypervolume(spec: StudySpec, records: list[Record]) -> float:
    """Hypervolume of the complete trials, without the history (cheap)."""
    complete = [r for r in records if r.state == "complete" and r.repeat_of is None]
    if not complete:
        return 0.0
    values = np.array([r.values for r in complete], dtype=np.float64)
    F = to_min(values, spec.directions)
    ref = reference_point([t.metric for t in spec.tasks], spec.directions, values)
    return hypervolume(F[pareto_mask(F)], ref)
