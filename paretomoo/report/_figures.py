"""The report's matplotlib figures: the hypervolume history and the scatter matrix, each an inline base64 PNG.
Their colours, markers and the drawing of one panel come from ``paretomoo._drawing``, as the PNG plots' do."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from paretomoo._drawing import STUDY_COLOURS, cycled, draw_hypervolume, draw_pair, mpl_text
from paretomoo.report._common import arrow, esc, row_of

if TYPE_CHECKING:
    from paretomoo.report._data import ReportData

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
    draw_hypervolume(fig.subplots(), d.hv_trials, d.hv_history, d.hv_low, d.hv_high)
    fig.tight_layout()
    return fig


def scatter_grid(m: int) -> list[tuple[int, int]]:
    """The pairs (x objective, y objective) of a lower-triangle scatter matrix, row by row: panel (r, c) plots c against r + 1."""
    return [(c, r + 1) for r in range(m - 1) for c in range(r + 1)]


def _draw_studies(ax: Axes, d: ReportData, i: int, j: int) -> None:
    for s, colour in zip(d.studies, cycled(STUDY_COLOURS, len(d.studies)), strict=True):
        f = s.on_front.astype(bool)
        ax.scatter(s.values[~f, i], s.values[~f, j], s=8, c=colour, alpha=0.2, zorder=2)
        ax.scatter(
            s.values[f, i], s.values[f, j], s=28, c=colour, edgecolors="k", linewidths=0.4, label=f"{mpl_text(s.name)} front", zorder=3
        )


def scatter_figure(d: ReportData) -> Figure:
    """Every pair of objectives (:func:`scatter_grid`): trials, front(s), the pick and the baselines."""
    m = len(d.names)
    k = m - 1
    cell = min(3.6, 12.0 / k)
    fig = Figure(figsize=(max(cell * k, 6.0), max(cell * k, 4.2)) if k > 1 else (7.0, 4.4), layout="constrained")
    axes = fig.subplots(k, k, squeeze=False, sharex="col", sharey="row")
    labels = [mpl_text(f"{n} {arrow(x)}") for n, x in zip(d.names, d.directions, strict=True)]
    baselines = [(b.method, b.values) for b in d.baselines]
    chosen = row_of(d, d.chosen)
    for i, j in scatter_grid(m):
        ax = axes[j - 1, i]
        draw_pair(ax, i, j, d.values, d.on_front, d.p_front, d.se, chosen, baselines, front=not d.studies)
        _draw_studies(ax, d, i, j)
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
