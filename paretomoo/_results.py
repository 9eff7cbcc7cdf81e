"""What the public API hands back: one trade-off picked from the front (:class:`Pick`) and an export folder (:class:`Exported`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from paretomoo._onnx import OnnxFiles
    from paretomoo.confirm import Confirmation
    from paretomoo.noise import Noise
    from paretomoo.store import Record


@dataclass(frozen=True)
class Pick:
    """One trade-off chosen from the front, and how firm the choice is under noise.

    ``within`` are the trials within noise of it on every objective, ``stability``
    the share of replicates of the trials' means whose own pick is it or one of
    those (None where the study holds no noise estimate), ``verdict`` the conflict
    verdict, ``seed_noise`` the retrainings asked for with ``noise=N`` and
    ``confirmation`` whether they land within the trial's interval
    (``paretomoo.confirm``), ``order`` the trial numbers in the rule's order (the
    pick first), ``method`` the rule.
    """

    trial: int
    record: Record
    reason: str
    within: list[int]
    stability: float | None
    replicates: int
    noise_covered: str
    verdict: str | None
    seed_noise: Noise | None = None
    confirmation: Confirmation | None = None
    order: tuple[int, ...] = ()
    method: str = ""

    def lines(self) -> list[str]:
        """The firmness of the pick, in the words the command line prints."""
        if self.stability is None:
            return []
        shown = ", ".join(f"trial {n}" for n in self.within[:WITHIN_SHOWN]) or "none"
        more = len(self.within) - WITHIN_SHOWN
        within = shown + (f" and {more} more (Pick.within lists them all)" if more > 0 else "")
        out = [
            f"  within noise of trial {self.trial} on every objective: {within}",
            f"  stability {self.stability:.2f}: {round(self.stability * self.replicates)} of {self.replicates} replicates of the "
            f"means ({self.noise_covered}) pick trial {self.trial} or a trial within noise of it",
        ]
        return out + ([self.verdict] if self.verdict else [])


WITHIN_SHOWN = 20  # trials named in the "within noise" line; a conditioned study may have a thousand


@dataclass(frozen=True)
class Exported:
    """An export folder, the pick it holds, and how well it re-measured (``verified``: max |Δ|, None if not checked);
    ``fluke``: the pick's failed confirmation when a confirmed candidate was exported in its place."""

    path: Path
    pick: Pick
    verified: float | None
    fluke: Confirmation | None = None
    onnx: OnnxFiles | None = None  # format="onnx": the graphs written, and onnxruntime's max |Δ| from torch
