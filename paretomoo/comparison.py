"""Several studies' fronts side by side: a common reference point, each one's hypervolume, and who dominates whom.

Studies compare only when they measure the same objectives in the same
directions (e.g. one spec searched by two optimizers, or a sweep against a
λ-conditioned model). The reference point follows ``paretomoo.front``'s rule
over the union of their complete trials, so every hypervolume is measured
against the same point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from paretomoo.errors import UserError
from paretomoo.front import dominates, from_min, hypervolume, pareto_mask, reference_point, to_min

if TYPE_CHECKING:
    from paretomoo._view import StudyView


@dataclass(frozen=True)
class Comparison:
    """``dominated[a, b]``: the share of study b's front points that some front point of study a dominates;
    ``best[j]``: the study whose front holds the best value of objective j."""

    studies: list[str]
    objectives: list[str]
    directions: list[str]
    values: list[np.ndarray]  # per study: [n, m] natural validation metrics of its complete trials
    on_front: list[np.ndarray]  # per study: [n]
    ref: np.ndarray  # common reference point, natural form
    hv: list[float]
    dominated: np.ndarray  # [S, S]
    best: list[int]
    same_data: bool  # every study was trained on data with one fingerprint

    def lines(self) -> list[str]:
        """The comparison in words: hypervolumes, mutual dominance, best per objective."""
        ref = ", ".join(f"{n}={v:.4g}" for n, v in zip(self.objectives, self.ref, strict=True))
        out = [f"hypervolume against a common reference ({ref}):"]
        w = max(len(s) for s in self.studies)
        for s, hv, front in zip(self.studies, self.hv, self.on_front, strict=True):
            out.append(f"  {s.ljust(w)}  {hv:.4g}  ({int(front.sum())} front points)")
        for a, sa in enumerate(self.studies):
            for b, sb in enumerate(self.studies):
                if a != b:
                    out.append(f"  {sa} dominates {self.dominated[a, b]:.0%} of {sb}'s front")
        out.append("  best per objective: " + ", ".join(f"{o} {self.studies[i]}" for o, i in zip(self.objectives, self.best, strict=True)))
        if not self.same_data:
            out.append("  note: the studies were trained on different data (their fingerprints differ), so their fronts may not compare")
        return out


def compare(studies: Sequence[StudyView]) -> Comparison:
    """Compare the fronts of ``studies`` (at least two, each with a complete trial)."""
    if len(studies) < 2:
        raise UserError("compare needs at least two studies; pass two or more spec files or study names")
    first = studies[0]
    for st in studies[1:]:
        if st.spec.objectives != first.spec.objectives or st.spec.directions != first.spec.directions:
            raise UserError(
                f"studies {first.name!r} and {st.name!r} measure different objectives ({', '.join(first.spec.objectives)} vs "
                f"{', '.join(st.spec.objectives)}); compare studies of the same tasks and metrics"
            )
    for st in studies:
        if not st.summary.complete:
            raise UserError(f"study {st.name!r} has no complete trial yet; run it first (paretomoo run SPEC)")
    names = _unique([st.name for st in studies])
    directions = list(first.spec.directions)
    values = [st.summary.values for st in studies]
    union = np.vstack(values)
    ref_min = reference_point([t.metric for t in first.spec.tasks], directions, union)
    fronts = [to_min(v, directions)[pareto_mask(to_min(v, directions))] for v in values]
    hv = [hypervolume(F, ref_min) for F in fronts]
    dominated = np.zeros((len(studies), len(studies)))
    for a, Fa in enumerate(fronts):
        for b, Fb in enumerate(fronts):
            if a != b and len(Fb):
                dominated[a, b] = float(np.mean([dominates(Fa, f).any() for f in Fb]))
    best = [int(np.argmin([F[:, j].min() for F in fronts])) for j in range(len(directions))]
    prints = [st.store.study.user_attrs.get("data_fingerprint") for st in studies]
    same_data = all(p == prints[0] for p in prints)
    ref = from_min(ref_min, directions)
    on_front = [st.summary.on_front for st in studies]
    return Comparison(names, list(first.spec.objectives), directions, values, on_front, ref, hv, dominated, best, same_data)


def _unique(names: list[str]) -> list[str]:
    """Study names, numbered where two are alike (the same study from two storages)."""
    return [n if names.count(n) == 1 else f"{n} ({i + 1})" for i, n in enumerate(names)]
