"""Parallel coordinates of the report: what to draw (:func:`parallel_data`), then the SVG and the data its brushing script reads.

Up to :data:`ALL_LINES_MAX` trials every line is drawn; beyond that the front's lines only, and a box on the page
draws the dominated ones too (a thousand grey lines hide the front). Lines get lighter as there are more of them, so
where they bunch up reads as density."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from paretomoo.report._common import esc, fmt, row_of

if TYPE_CHECKING:
    from paretomoo.report._data import ReportData


class ParallelData(NamedTuple):
    labels: list[str]  # one per axis: the λ of each task, then each objective
    kinds: list[str]  # "lambda" or "metric" per axis
    pos: np.ndarray  # [n, k] in [0, 1]; 1 at the top (for metrics: the better end)
    ticks: list[list[tuple[float, str]]]  # per axis: (position, label)
    front: np.ndarray  # [n] bool
    chosen: int | None  # row of the pick
    numbers: np.ndarray  # [n] trial numbers (each line's tooltip)
    dominated_shown: bool  # whether the dominated trials' lines are drawn when the page opens


# Up to this many trials, every line is drawn; beyond it, the front's lines only until asked.
ALL_LINES_MAX = 200


def _axis_scale(x: np.ndarray, flip: bool) -> tuple[np.ndarray, list[tuple[float, str]]]:
    """Positions in [0, 1] of one axis and its ticks. Weights spanning two decades or more go on a log scale;
    ``flip`` puts the smallest value at the top (a metric to minimise). Missing values sit at the bottom."""
    ok = np.isfinite(x)
    if not ok.any():
        return np.zeros(len(x)), []
    log = bool(np.all(x[ok] > 0) and x[ok].max() / x[ok].min() >= 100)
    y = np.log10(np.where(ok & (x > 0), x, 1.0)) if log else x
    lo, hi = float(y[ok].min()), float(y[ok].max())
    span = hi - lo
    p = (y - lo) / span if span > 0 else np.full(len(x), 0.5)
    p = 1 - p if flip else p
    p = np.where(ok, np.clip(p, 0, 1), 0.0)
    levels = [lo, (lo + hi) / 2, hi] if span > 0 else [lo]
    ticks = []
    for v in levels:
        t = (v - lo) / span if span > 0 else 0.5
        ticks.append((1 - t if flip else t, fmt(10**v if log else v)))
    return p, ticks


def parallel_data(d: ReportData, dominated: bool | None = None) -> ParallelData:
    """The parallel-coordinates plot: the λ axes, then the metric axes oriented so that better is up. ``dominated``:
    whether the dominated trials' lines show when the page opens (None: if there are at most :data:`ALL_LINES_MAX` trials)."""
    cols = [(f"λ {t}", "lambda", d.lam[:, k], False) for k, t in enumerate(d.tasks)]
    cols += [(n, "metric", d.values[:, k], x == "minimize") for k, (n, x) in enumerate(zip(d.names, d.directions, strict=True))]
    scaled = [_axis_scale(np.asarray(c, dtype=np.float64), flip) for _, _, c, flip in cols]
    pos = np.column_stack([p for p, _ in scaled]) if scaled else np.zeros((len(d.numbers), 0))
    shown = len(d.numbers) <= ALL_LINES_MAX if dominated is None else dominated
    front = d.on_front.astype(bool)
    return ParallelData(
        [c[0] for c in cols],
        [c[1] for c in cols],
        pos,
        [t for _, t in scaled],
        front,
        row_of(d, d.chosen),
        d.numbers,
        shown or bool(front.all()),
    )


# SVG geometry of the parallel-coordinates plot (pixels): axes spread over the page's width, at least
# PC_MIN_STEP apart (more axes than fit scroll sideways), never more than PC_MAX_STEP.
PC_TOP, PC_BOTTOM, PC_SIDE, PC_WIDTH, PC_MIN_STEP, PC_MAX_STEP = 60.0, 400.0, 70.0, 1050.0, 84.0, 220.0


def _pc_step(k: int) -> float:
    return min(PC_MAX_STEP, max(PC_MIN_STEP, (PC_WIDTH - 2 * PC_SIDE) / max(k - 1, 1)))


def _pc_x(p: ParallelData) -> list[float]:
    step = _pc_step(len(p.labels))
    return [PC_SIDE + a * step for a in range(len(p.labels))]


def _pc_y(t: float) -> float:
    return PC_BOTTOM - t * (PC_BOTTOM - PC_TOP)


def _pc_lines(p: ParallelData, xs: list[float]) -> list[str]:
    order = sorted(range(len(p.numbers)), key=lambda i: (bool(p.front[i]), i == p.chosen))  # front and pick drawn on top
    out = []
    for i in order:
        pts = " ".join(f"{x:.1f},{_pc_y(t):.1f}" for x, t in zip(xs, p.pos[i], strict=True))
        cls = ("front" if p.front[i] else "dom") + (" pick" if i == p.chosen else "")
        out.append(f'<polyline class="{cls}" data-i="{i}" points="{pts}"><title>trial {int(p.numbers[i])}</title></polyline>')
    return out


def _pc_axes(p: ParallelData, xs: list[float]) -> list[str]:
    stagger = max((len(s) for s in p.labels), default=0) * 7.0 > _pc_step(len(p.labels)) - 8
    out = []
    for a, (x, label, kind, ticks) in enumerate(zip(xs, p.labels, p.kinds, p.ticks, strict=True)):
        ly = PC_TOP - 26 - (14 if stagger and a % 2 else 0)
        out.append(f'<line class="axis" x1="{x}" y1="{PC_TOP}" x2="{x}" y2="{PC_BOTTOM}"/>')
        out.append(f'<text class="label {kind}" x="{x}" y="{ly}">{esc(label)}</text>')
        out += [f'<text class="tick" x="{x - 6}" y="{_pc_y(t) + 4:.1f}">{esc(s)}</text>' for t, s in ticks]
        out.append(f'<rect class="pc-brush" data-k="{a}" x="{x - 7}" y="{PC_TOP}" width="14" height="0" visibility="hidden"/>')
        out.append(f'<rect class="pc-hit" data-k="{a}" x="{x - 14}" y="{PC_TOP - 6}" width="28" height="{PC_BOTTOM - PC_TOP + 12}"/>')
    return out


def _json_script(element_id: str, value: object) -> str:
    """JSON for the page's scripts; ``<``, ``>`` and ``&`` escaped so the text can never close the script element."""
    text = json.dumps(value, allow_nan=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def opacity(lines: int, full: float, at: int) -> float:
    """The stroke opacity of one of ``lines`` lines: ``full`` up to ``at`` of them, then falling as 1/√lines (to a tenth
    of ``full`` at least), so that a hundred overlapping lines still read as a band, and a bundle as denser."""
    return round(full * min(1.0, max(0.1, float(np.sqrt(at / max(lines, 1))))), 3)


def shown_text(p: ParallelData) -> str:
    """The line above the plot: how many trials it draws and, when the dominated ones are hidden, how many."""
    n, front = len(p.numbers), int(p.front.sum())
    drawn = n if p.dominated_shown else front
    hidden = "" if p.dominated_shown else f"; the {n - front} dominated trials are hidden"
    return f"{drawn} of {n} trials shown{hidden}"


def parallel_svg(p: ParallelData) -> str:
    """The plot as inline SVG, its controls (the box that draws the dominated lines, the brushing's reset), and the
    positions its script filters by (``pc-data``)."""
    xs = _pc_x(p)
    width = max(xs, default=PC_SIDE) + PC_SIDE
    n, front = len(p.numbers), int(p.front.sum())
    body = "\n".join([*_pc_lines(p, xs), *_pc_axes(p, xs)])
    cls = "pc" if p.dominated_shown else "pc front-only"
    style = f"--front-opacity: {opacity(front, 0.85, 40)}; --dom-opacity: {opacity(n - front, 0.45, 100)}"
    svg = (
        f'<svg id="pc" class="{cls}" style="{style}" width="{width:.0f}" height="{PC_BOTTOM + 24:.0f}" viewBox="0 0 {width:.0f} {PC_BOTTOM + 24:.0f}" '
        f'data-top="{PC_TOP}" data-bottom="{PC_BOTTOM}" data-front="{front}" '
        f'role="img" aria-label="parallel coordinates of λ and metrics, one line per trial">\n{body}\n</svg>'
    )
    checked = " checked" if p.dominated_shown else ""
    toggle = f'<label><input id="pc-all" type="checkbox"{checked}> draw the {n - front} dominated trials too</label> ' if n > front else ""
    controls = (
        f'<p class="controls"><span id="pc-count">{esc(shown_text(p))}</span> {toggle}'
        '<button id="pc-clear" type="button">clear all ranges</button></p>'
    )
    return controls + '<div class="wide">' + svg + "</div>" + _json_script("pc-data", np.round(p.pos, 4).tolist())
