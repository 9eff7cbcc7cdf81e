"""The report's sortable tables: headers and cells of the front, conditioned checks, baseline and comparison tables
(:func:`front_rows`, :func:`check_rows`, :func:`baseline_rows`, :func:`compare_rows`), then their HTML."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from paretomoo.report._common import arrow, esc, fmt

if TYPE_CHECKING:
    from paretomoo.report._data import ReportData


class Cell(NamedTuple):
    text: str  # shown (escaped when drawn)
    key: float | None  # the number a column sorts by; None sorts by the text
    spread: str = ""  # shown smaller after the text: "± standard error"
    wrap: bool = False  # a list that may break over lines


class Head(NamedTuple):
    label: str
    group: str = ""  # neighbouring columns of one group share a heading above theirs (an objective's val and test)


def _metric_heads(d: ReportData, val: str) -> list[Head]:
    return [h for n, x in zip(d.names, d.directions, strict=True) for h in (Head(val, f"{n} {arrow(x)}"), Head("test", f"{n} {arrow(x)}"))]


def front_rows(d: ReportData) -> tuple[list[Head], list[list[Cell]], list[bool]]:
    """The front table: headers, one row per front point (trial order), and which row is the pick."""
    val = "val ± se" if np.any(d.se > 0) else "val"
    heads = [Head("trial"), *[Head(t, "λ") for t in d.tasks], *_metric_heads(d, val), Head("P(front)")]
    rows, picks = [], []
    for i in np.flatnonzero(d.on_front):
        row = [Cell(str(int(d.numbers[i])), float(d.numbers[i])), *[Cell(fmt(v), float(v)) for v in d.lam[i]]]
        for k in range(len(d.names)):
            v, se = float(d.values[i, k]), float(d.se[i, k])
            row += [Cell(fmt(v), v, f"± {fmt(se)}" if se > 0 else ""), Cell(fmt(d.test[i, k]), float(d.test[i, k]))]
        row.append(Cell(fmt(d.p_front[i]), float(d.p_front[i])))
        rows.append(row)
        picks.append(int(d.numbers[i]) == d.chosen)
    return heads, rows, picks


def baseline_rows(d: ReportData) -> tuple[list[Head], list[list[Cell]]]:
    heads = [Head("method"), Head("title"), *_metric_heads(d, "val"), Head("cost (× one λ)"), Head("dominated by front trials")]
    rows = []
    for b in d.baselines:
        row = [Cell(b.method, None), Cell(b.title, None)]
        for k in range(len(d.names)):
            row += [Cell(fmt(b.values[k]), float(b.values[k])), Cell(fmt(b.test[k]), float(b.test[k]))]
        cost = Cell(f"{fmt(b.cost)}×" if np.isfinite(b.cost) else "unknown", float(b.cost))
        by = Cell(", ".join(str(t) for t in b.dominated_by) if b.dominated_by else "not dominated", float(len(b.dominated_by)), wrap=True)
        rows.append([*row, cost, by])
    return heads, rows


def compare_rows(d: ReportData) -> tuple[list[Head], list[list[Cell]]]:
    """Each study's hypervolume and the share of every other study's front it dominates."""
    names = [s.name for s in d.studies]
    heads = [Head("study"), Head("hypervolume"), Head("front points"), *[Head(n, "dominates this share of the front of") for n in names]]
    rows = []
    for s in d.studies:
        shares = [s.share_dominated.get(n, float("nan")) if n != s.name else float("nan") for n in names]
        cells = [Cell(f"{fmt(100 * x)} %" if np.isfinite(x) else "—", float(x)) for x in shares]
        front = float(np.sum(s.on_front))
        rows.append([Cell(s.name, None), Cell(fmt(s.hv), float(s.hv)), Cell(str(int(front)), front), *cells])
    return heads, rows


def check_rows(d: ReportData) -> tuple[list[Head], list[list[Cell]]]:
    """The conditioned checks, one row per (exact retraining, objective): its trial, the conditioned trial it retrains,
    which point that is, the objective, the gap and its noise (percent of the exact value)."""
    heads = [Head("trial"), Head("retrains trial"), Head("point"), Head("objective"), Head("gap"), Head("noise (±)")]
    rows = []
    for c in d.checks:
        point = f"{c.end}'s end" if c.end else "front point"
        for k, name in enumerate(d.names):
            gap, noise = float(c.gap[k]), float(c.noise[k])
            rows.append(
                [
                    Cell(str(c.exact), float(c.exact)),
                    Cell(str(c.point), float(c.point)),
                    Cell(point, None),
                    Cell(name, None),
                    Cell(f"{100 * gap:+.1f} %" if np.isfinite(gap) else "—", gap),
                    Cell(f"{100 * noise:.1f} %" if np.isfinite(noise) else "—", noise),
                ]
            )
    return heads, rows


def _cell(c: Cell) -> str:
    if c.key is None:
        return f'<td class="text">{esc(c.text)}</td>'
    key = repr(c.key) if np.isfinite(c.key) else "-Infinity"
    spread = f' <span class="se">{esc(c.spread)}</span>' if c.spread else ""
    cls = ' class="list"' if c.wrap else ""
    return f'<td{cls} data-v="{key}">{esc(c.text)}{spread}</td>'


def _tr(row: list[Cell], pick: bool) -> str:
    cls = ' class="pick"' if pick else ""
    return f"<tr{cls}>{''.join(_cell(c) for c in row)}</tr>"


def _th(h: Head, col: int, text: bool, rowspan: int) -> str:
    span = f' rowspan="{rowspan}"' if rowspan > 1 else ""
    return f'<th scope="col"{span} class="{"text" if text else "num"}" data-col="{col}">{esc(h.label)}</th>'


def _thead(heads: list[Head], text: list[bool]) -> str:
    """One header row, or two where columns are grouped: a group's heading spans its columns; each column's th
    (the one a click sorts by) carries its column index."""
    if not any(h.group for h in heads):
        return "<tr>" + "".join(_th(h, c, t, 1) for c, (h, t) in enumerate(zip(heads, text, strict=True))) + "</tr>"
    top, below = [], []
    c = 0
    while c < len(heads):
        group = heads[c].group
        if not group:
            top.append(_th(heads[c], c, text[c], 2))
            c += 1
            continue
        span = next((k for k in range(c, len(heads)) if heads[k].group != group), len(heads)) - c
        top.append(f'<th scope="colgroup" colspan="{span}" class="group">{esc(group)}</th>')
        below += [_th(heads[k], k, text[k], 1) for k in range(c, c + span)]
        c += span
    return f"<tr>{''.join(top)}</tr><tr>{''.join(below)}</tr>"


def table(heads: list[Head], rows: list[list[Cell]], table_id: str, marked: list[bool] | None = None) -> str:
    """A sortable HTML table; ``marked`` rows (the pick) are highlighted."""
    text = [bool(rows) and all(r[c].key is None or r[c].wrap for r in rows) for c in range(len(heads))]  # left-aligned columns
    marks = marked if marked is not None else [False] * len(rows)
    body = "\n".join(_tr(row, mark) for row, mark in zip(rows, marks, strict=True))
    return (
        f'<div class="wide"><table id="{table_id}" class="sortable"><thead>{_thead(heads, text)}</thead>'
        f"<tbody>\n{body}\n</tbody></table></div>"
    )
