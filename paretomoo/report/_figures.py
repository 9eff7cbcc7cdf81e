"""The report's matplotlib figures: the hypervolume history and the scatter matrix, each an inline base64 PNG."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from paretomoo.plots import FADED
from paretomoo.report._common import arrow, esc, mpl_text, row_of

if TYPE_CHECKING:
    from paretomoo.report import ReportData

# Colours shared with paretomoo.plots: the front in red, dominated trials in grey.
FRONT = "#d62728"
DOMINATED = "#b0b0b0"
# One colour per study in a comparison (no red or grey: those mean front / dominated).
STUDY_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
# Baselines are told apart by shape (and a text label), drawn hollow so they never clash with a study's colour.
BASELINE_MARKERS = ["^", "s", "D", "P", "X", "v", "*", "<", ">", "h"]
DPI = 100


def png(fig: Figure, alt: str) -> str:
    """``fig`` as an ``<img>`` element holding its PNG inline (base64), described by ``alt``."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img class="figure" alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def history_figure(d: ReportData) -> Figure:
    """The validation hypervolume after each complete trial, with its interval over replicates where there is one."""
    fig = Figure(figsize=(7.5, 3.4))
    ax = fig.subplots()
    x = d.hv_trials
    if np.any(d.hv_high > d.hv_low):
        ax.fill_between(x, d.hv_low, d.hv_high, step="post", color="#1f77b4", alpha=0.2, label="interval over replicates")
        ax.legend(fontsize=8, loc="lower right")
    ax.step(x, d.hv_history, where="post", color="#1f77b4")
    ax.plot(x, d.hv_history, "o", ms=2.5, color="#1f77b4")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(x) and x.min() == x.max():  # one trial: a window around it, not matplotlib's ±0.05
        ax.set_xlim(x.min() - 1, x.max() + 1)
    ax.set_xlabel("trial")
    ax.set_ylabel("hypervolume (validation)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def scatter_grid(m: int) -> list[tuple[int, int]]:
    """The pairs (x objective, y objective) of a lower-triangle scatter matrix, row by row: panel (r, c) plots c against r + 1."""
    return [(c, r + 1) for r in range(m - 1) for c in range(r + 1)]


def _draw_trials(ax: Axes, d: ReportData, i: int, j: int) -> None:
    """Every trial faint (error bars of one standard error), and in a single-study report the front bold."""
    v = d.values
    if np.any(d.se > 0):
        ax.errorbar(v[:, i], v[:, j], xerr=d.se[:, i], yerr=d.se[:, j], fmt="none", ecolor="#999999", elinewidth=0.6, alpha=0.5)
    if d.studies or not d.on_front.all():
        ax.scatter(v[:, i], v[:, j], s=10, c=DOMINATED, alpha=0.6, label="trials", zorder=2)
    if d.studies:
        return
    likely = d.p_front >= FADED
    faint, bold = d.on_front & ~likely, d.on_front & likely
    if faint.any():
        ax.scatter(v[faint, i], v[faint, j], s=26, c=FRONT, alpha=0.3, label=f"front, P(front) < {FADED:g}", zorder=3)
    if bold.any():
        ax.scatter(v[bold, i], v[bold, j], s=26, c=FRONT, edgecolors="k", linewidths=0.4, label="front", zorder=3)


def _draw_studies(ax: Axes, d: ReportData, i: int, j: int) -> None:
    for s, colour in zip(d.studies, STUDY_COLOURS * (1 + len(d.studies) // len(STUDY_COLOURS)), strict=False):
        f = s.on_front.astype(bool)
        ax.scatter(s.values[~f, i], s.values[~f, j], s=8, c=colour, alpha=0.2, zorder=2)
        ax.scatter(
            s.values[f, i], s.values[f, j], s=28, c=colour, edgecolors="k", linewidths=0.4, label=f"{mpl_text(s.name)} front", zorder=3
        )


def _draw_marks(ax: Axes, d: ReportData, i: int, j: int) -> None:
    """The pick (a ring) and every baseline (a hollow marker of its own shape, labelled)."""
    row = row_of(d, d.chosen)
    if row is not None:
        ax.scatter(d.values[row, i], d.values[row, j], s=160, facecolors="none", edgecolors="k", linewidths=1.6, label="picked", zorder=4)
    for b, marker in zip(d.baselines, BASELINE_MARKERS * (1 + len(d.baselines) // len(BASELINE_MARKERS)), strict=False):
        ax.scatter(
            b.values[i],
            b.values[j],
            s=70,
            marker=marker,
            facecolors="white",
            edgecolors="#222222",
            linewidths=1.3,
            label=mpl_text(b.method),
            zorder=5,
        )
        ax.annotate(mpl_text(b.method), (b.values[i], b.values[j]), xytext=(5, 4), textcoords="offset points", fontsize=7, zorder=5)


def scatter_figure(d: ReportData) -> Figure:
    """Every pair of objectives (:func:`scatter_grid`): trials, front(s), the pick and the baselines."""
    m = len(d.names)
    k = m - 1
    cell = min(3.6, 12.0 / k)
    fig = Figure(figsize=(max(cell * k, 6.0), max(cell * k, 4.2)) if k > 1 else (7.0, 4.4), layout="constrained")
    axes = fig.subplots(k, k, squeeze=False, sharex="col", sharey="row")
    labels = [mpl_text(f"{n} {arrow(x)}") for n, x in zip(d.names, d.directions, strict=True)]
    for i, j in scatter_grid(m):
        ax = axes[j - 1, i]
        _draw_trials(ax, d, i, j)
        _draw_studies(ax, d, i, j)
        _draw_marks(ax, d, i, j)
        ax.grid(alpha=0.3)
        if j == m - 1:
            ax.set_xlabel(labels[i])
        if i == 0:
            ax.set_ylabel(labels[j])
    for r in range(k):
        for c in range(r + 1, k):
            axes[r, c].axis("off")
    handles, names = axes[0, 0].get_legend_handles_labels()
    if k > 1:  # the empty upper-right panel holds the legend
        axes[0, k - 1].legend(handles, names, loc="upper right", fontsize=8, frameon=False)
    else:  # one pair: the legend beside it
        fig.legend(handles, names, loc="outside right upper", fontsize=8, frameon=False)
    return fig
