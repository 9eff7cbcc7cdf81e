"""The one home of how fronts look: the colours, markers and time format, and the drawing the PNG figures
(``paretomoo.plots``) and the HTML report's figures (``paretomoo.report._figures``) share.

What to draw is decided first and tested without a figure (:func:`error_bar_rows`, :func:`cloud_style`);
:func:`draw_pair` and :func:`draw_hypervolume` then draw on a matplotlib ``Axes`` someone else laid out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:  # matplotlib is imported by whoever draws, so clock() stays cheap for the terminal
    from matplotlib.axes import Axes

# The front in red, dominated trials in one grey (the report's CSS uses these two as well), error bars dark.
FRONT = "#d62728"
DOMINATED = "#b0b0b0"
ERRORBAR = "#3a3a3a"
HISTORY = "#1f77b4"  # the hypervolume history and its band
# One colour per study in a comparison (no red or grey: those mean front / dominated).
STUDY_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
# Baselines are told apart by shape (and a text label), drawn hollow so they never clash with a colour.
BASELINE_MARKERS = ("^", "s", "D", "P", "X", "v", "*", "<", ">", "h")
BASELINE_EDGE = "#222222"
# A point on the front in fewer than half of the replicates is drawn faint.
FADED = 0.5
# Error bars on at most this many points: more of them cover the panels (a thousand conditioned points did).
ERROR_BARS_MAX = 40
# Up to this many trials the dominated cloud is drawn as before; beyond it, smaller and lighter.
CLOUD_FULL = 200


def clock(seconds: float) -> str:
    """A duration as ``H:MM:SS`` (``0:04:12``), the one clock format of figures, report and terminal."""
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def mpl_text(text: str) -> str:
    """A label matplotlib prints as written (a ``$`` would start mathtext)."""
    return text.replace("$", r"\$")


def cycled(items: Sequence[str], n: int) -> list[str]:
    """``n`` entries of ``items``, starting over when they run out."""
    return [items[k % len(items)] for k in range(n)]


class ErrorBars(NamedTuple):
    rows: np.ndarray  # [n] bool: the trials drawn with error bars
    which: str  # those trials, in words for a figure's note: "every trial", "front points", ...


def error_bar_rows(on_front: np.ndarray, p_front: np.ndarray, se: np.ndarray, chosen: int | None) -> ErrorBars:
    """Which trials get error bars, at most :data:`ERROR_BARS_MAX` unless the pick alone remains: every trial when
    there are that few, else the front, else the front points with P(front) ≥ :data:`FADED`, else the pick.
    ``on_front``, ``p_front`` are ``[n]``, ``se`` is ``[n, m]`` (no bars where every standard error is 0), ``chosen``
    a row or None."""
    n = len(on_front)
    front = np.asarray(on_front, dtype=bool)
    measured = np.any(np.asarray(se) > 0, axis=1) if n else np.zeros(0, dtype=bool)
    if not measured.any():
        return ErrorBars(np.zeros(n, dtype=bool), "no trial (noise not measured)")
    likely = front & (np.asarray(p_front) >= FADED)
    for rows, which in (
        (np.ones(n, dtype=bool), "every trial"),
        (front, "front points"),
        (likely, f"front points with P(front) ≥ {FADED:g}"),
    ):
        if rows.sum() <= ERROR_BARS_MAX:
            return ErrorBars(rows & measured, which)
    pick = np.zeros(n, dtype=bool)
    if chosen is not None:
        pick[chosen] = True
    return ErrorBars(pick & measured, "the pick only")


class CloudStyle(NamedTuple):
    size: float  # marker area (points²) of a dominated trial
    alpha: float
    front_size: float  # marker area of a front point


def cloud_style(n: int, n_front: int) -> CloudStyle:
    """Markers of ``n`` trials of which ``n_front`` on the front: as they always were up to :data:`CLOUD_FULL`
    trials, then smaller and lighter, so a thousand dominated trials read as a cloud and the front stays on top."""
    if n <= CLOUD_FULL:
        size, alpha = 12.0, 0.6
    else:
        size, alpha = 6.0, max(0.15, 0.6 * float(np.sqrt(CLOUD_FULL / n)))
    return CloudStyle(size, alpha, 26.0 if n_front <= 2 * ERROR_BARS_MAX else 14.0)


def draw_pair(
    ax: Axes,
    i: int,
    j: int,
    values: np.ndarray,
    on_front: np.ndarray,
    p_front: np.ndarray,
    se: np.ndarray,
    chosen: int | None,
    baselines: Sequence[tuple[str, np.ndarray]] = (),
    *,
    front: bool = True,
) -> None:
    """Objective ``i`` (x) against ``j`` (y): the trials (``values [n, m]``; dominated ones grey), the front red
    (bold, faint where ``p_front`` < :data:`FADED`) with the error bars of :func:`error_bar_rows`, the pick
    (row ``chosen``) ringed, each baseline ``(label, values [m])`` a hollow labelled marker. ``front=False`` (a
    comparison, whose studies draw their own fronts) draws every trial grey and no error bars."""
    on = np.asarray(on_front, dtype=bool) if front else np.zeros(len(values), dtype=bool)
    style = cloud_style(len(values), int(on.sum()))
    x, y = values[:, i], values[:, j]
    if (~on).any():
        ax.scatter(x[~on], y[~on], s=style.size, c=DOMINATED, alpha=style.alpha, linewidths=0, label="trials", zorder=2)
    if front:
        bars = error_bar_rows(on, p_front, se, chosen).rows
        if bars.any():
            ax.errorbar(
                x[bars], y[bars], xerr=se[bars, i], yerr=se[bars, j], fmt="none", ecolor=ERRORBAR, elinewidth=0.7, alpha=0.7, zorder=2.5
            )
        likely = np.asarray(p_front) >= FADED
        faint, bold = on & ~likely, on & likely
        if faint.any():
            ax.scatter(x[faint], y[faint], s=style.front_size, c=FRONT, alpha=0.3, label=f"front, P(front) < {FADED:g}", zorder=3)
        if bold.any():
            edge = 0.4 if style.front_size >= 26 else 0.25  # a small point's edge would turn it black
            ax.scatter(x[bold], y[bold], s=style.front_size, c=FRONT, edgecolors="k", linewidths=edge, label="front", zorder=3)
    if chosen is not None:
        ax.scatter(x[chosen], y[chosen], s=160, facecolors="none", edgecolors="k", linewidths=1.6, label="picked", zorder=4)
    for (label, v), marker in zip(baselines, cycled(BASELINE_MARKERS, len(baselines)), strict=True):
        text = mpl_text(label)
        ax.scatter(v[i], v[j], s=70, marker=marker, facecolors="white", edgecolors=BASELINE_EDGE, linewidths=1.3, label=text, zorder=5)
        ax.annotate(text, (v[i], v[j]), xytext=(5, 4), textcoords="offset points", fontsize=7, zorder=5)
    ax.grid(alpha=0.3)


def draw_hypervolume(ax: Axes, trials: np.ndarray, hypervolume: np.ndarray, low: np.ndarray, high: np.ndarray) -> None:
    """The hypervolume ``[h]`` after each trial (``trials [h]``), and its interval over replicates ``low``..``high``
    (each ``[h]``) where it is wider than a line."""
    if np.any(high > low):
        ax.fill_between(trials, low, high, step="post", color=HISTORY, alpha=0.2, label="interval over replicates")
        ax.legend(fontsize=8, loc="lower right")
    ax.step(trials, hypervolume, where="post", color=HISTORY)
    ax.plot(trials, hypervolume, "o", ms=2.5, color=HISTORY)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(trials) and trials.min() == trials.max():  # one trial: a window around it, not matplotlib's ±0.05
        ax.set_xlim(trials.min() - 1, trials.max() + 1)
    ax.set_xlabel("trial")
    ax.set_ylabel("hypervolume (validation)")
    ax.grid(alpha=0.3)
