"""What a report shows, as plain data (:class:`ReportData`, with its baselines, exact checks and compared studies):
filled by ``_from_study`` from a study, checked and drawn by the rest of the package."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class StudyFront:  # one study's points, for overlays (compare)
    name: str
    values: np.ndarray  # [n, m] natural validation metrics
    on_front: np.ndarray  # [n] bool
    hv: float  # hypervolume against the report's common reference point
    share_dominated: dict[str, float]  # other study name -> share of that study's front points this one dominates


@dataclass(frozen=True)
class Baseline:
    method: str  # e.g. "uw"
    title: str  # e.g. "Uncertainty weighting (Kendall et al., 2018)"
    values: np.ndarray  # [m] natural validation metrics
    test: np.ndarray  # [m] natural test metrics
    cost: float  # its training time ÷ one fixed-λ training's (NaN if unknown)
    dominated_by: list[int]  # trial numbers of front points that dominate it (empty: the front does not dominate it)


@dataclass(frozen=True)
class Check:  # an exact retraining of a conditioned point (paretomoo.conditioned.gaps)
    exact: int  # the retrained trial's number
    point: int  # the conditioned trial it retrains
    end: str | None  # the objective whose end the point is; None for the pick and other front points
    gap: np.ndarray  # [m] the conditioned value's shortfall as a fraction of the exact one (> 0: conditioned worse)
    noise: np.ndarray  # [m] the noise of that difference, as the same fraction


@dataclass(frozen=True)
class ReportData:
    title: str  # e.g. "ecommerce"
    facts: list[tuple[str, str]]  # summary rows: ("data", "synthetic, 60,000 rows…"), ("model", …), ("hypervolume", …)
    names: list[str]  # objective names, e.g. "click_auc"
    directions: list[str]  # "maximize" / "minimize" per objective
    tasks: list[str]  # task names (λ columns)
    numbers: np.ndarray  # [n] trial numbers of complete trials
    lam: np.ndarray  # [n, T] λ
    values: np.ndarray  # [n, m] natural validation metrics (means over seeds)
    test: np.ndarray  # [n, m] natural test metrics
    se: np.ndarray  # [n, m] standard errors of values (zeros where noise was not measured)
    p_front: np.ndarray  # [n] probability of being on the front (equal to on_front where noise was not measured)
    on_front: np.ndarray  # [n] bool
    hv_trials: np.ndarray  # [h] trial numbers, hv_history[h] after each
    hv_history: np.ndarray
    hv_low: np.ndarray  # [h] interval of the history (equal to it where no noise)
    hv_high: np.ndarray
    chosen: int | None  # trial number of the pick
    pick_lines: list[str]  # the pick's reason, its stability, the conflict verdict (plain text lines)
    baselines: list[Baseline]
    baseline_lines: list[str]  # e.g. "the front dominates uw, pcgrad; not ew"
    studies: list[StudyFront]  # empty for a single-study report; ≥ 2 for a comparison
    checks: list[Check] = field(default_factory=list)  # a conditioned study's exact retrainings (empty otherwise)
