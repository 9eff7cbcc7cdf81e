"""Small helpers the report's figures, parallel coordinates and tables share: numbers, HTML escaping, labels."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from paretomoo.report._data import ReportData


def fmt(x: float) -> str:
    """4 significant digits; a dash where there is no number."""
    return f"{x:.4g}" if np.isfinite(x) else "—"


def esc(text: object) -> str:
    """``text`` safe inside HTML, in an element or a quoted attribute."""
    return html.escape(str(text))


def row_of(d: ReportData, trial: int | None) -> int | None:
    """The row of trial number ``trial`` in ``d``; None where there is no such trial (or no trial is given)."""
    rows = np.flatnonzero(d.numbers == trial) if trial is not None else np.zeros(0, dtype=int)
    return int(rows[0]) if len(rows) else None


def arrow(direction: str) -> str:
    """↑ beside a metric to maximise, ↓ beside one to minimise."""
    return "↑" if direction == "maximize" else "↓"
