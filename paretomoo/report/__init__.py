"""One self-contained HTML report of a study, for people who never run the command line.

The page works offline: figures are inline base64 PNG (matplotlib) or hand-written
SVG, CSS and JavaScript are inline, and a Content-Security-Policy forbids the
browser from fetching anything. What to show arrives as a :class:`ReportData`
(``paretomoo.report._from_study`` fills it from a study); this package computes what to
draw from it (``parallel_data``, ``front_rows``), then draws it. This module holds the
checks, the page's sections and the page; the data classes (``_data``), the figures
(``_figures``, drawn as the PNG plots are, by ``paretomoo._drawing``), the parallel
coordinates (``_coordinates``), the tables (``_tables``) and the inline CSS and
script (``_assets``) live beside it.

Example::

    from paretomoo.report import write_report
    write_report(data, "reports/ecommerce.html")
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from paretomoo._drawing import FADED, error_bar_rows
from paretomoo._version import __version__
from paretomoo.report._assets import CSP, CSS, JS, NAV
from paretomoo.report._common import esc, row_of
from paretomoo.report._coordinates import ParallelData, parallel_data, parallel_svg
from paretomoo.report._data import Baseline, Check, ReportData, StudyFront
from paretomoo.report._figures import history_figure, png, scatter_figure, scatter_grid
from paretomoo.report._tables import Cell, Head, baseline_rows, check_rows, compare_rows, front_rows, table

__all__ = [
    "Baseline",
    "Cell",
    "Check",
    "Head",
    "ParallelData",
    "ReportData",
    "StudyFront",
    "baseline_rows",
    "check_rows",
    "compare_rows",
    "front_rows",
    "parallel_data",
    "render_report",
    "scatter_grid",
    "write_report",
]


DIRECTIONS = ("maximize", "minimize")


# ---------------------------------------------------------------- checks


def _check(d: ReportData) -> None:
    """Every array's shape against n trials, m objectives and T tasks; one error naming the first mismatch."""
    n, m, t = len(d.numbers), len(d.names), len(d.tasks)
    if n < 1:
        raise ValueError("a report needs at least one complete trial, got 0; run the study first (paretomoo run SPEC)")
    if len(d.directions) != m or any(x not in DIRECTIONS for x in d.directions):
        raise ValueError(f"directions must be one of {DIRECTIONS} per objective ({m}), got {d.directions}")
    shapes = {
        "lam": (d.lam, (n, t)),
        "values": (d.values, (n, m)),
        "test": (d.test, (n, m)),
        "se": (d.se, (n, m)),
        "p_front": (d.p_front, (n,)),
        "on_front": (d.on_front, (n,)),
        "hv_history": (d.hv_history, np.shape(d.hv_trials)),
        "hv_low": (d.hv_low, np.shape(d.hv_trials)),
        "hv_high": (d.hv_high, np.shape(d.hv_trials)),
    }
    shapes |= {f"baseline {b.method} values": (b.values, (m,)) for b in d.baselines}
    shapes |= {f"baseline {b.method} test": (b.test, (m,)) for b in d.baselines}
    shapes |= {f"study {s.name} values": (s.values, (len(s.on_front), m)) for s in d.studies}
    shapes |= {f"check of trial {c.exact} {k}": (getattr(c, k), (m,)) for c in d.checks for k in ("gap", "noise")}
    for name, (a, want) in shapes.items():
        if np.shape(a) != want:
            raise ValueError(f"{name} must have shape {want} (n trials, m objectives, T tasks), got {np.shape(a)}")
    if d.chosen is not None and d.chosen not in set(np.asarray(d.numbers).tolist()):
        raise ValueError(f"chosen trial {d.chosen} is not among the complete trials; pass one of them or None")


def _normalised(d: ReportData) -> ReportData:
    """The same data as numpy arrays of one dtype each (masks bool, trial numbers int, metrics float)."""

    def f(a: np.ndarray) -> np.ndarray:
        return np.asarray(a, dtype=np.float64)

    studies = [dataclasses.replace(s, values=f(s.values), on_front=np.asarray(s.on_front, dtype=bool)) for s in d.studies]
    baselines = [dataclasses.replace(b, values=f(b.values), test=f(b.test)) for b in d.baselines]
    checks = [dataclasses.replace(c, gap=f(c.gap), noise=f(c.noise)) for c in d.checks]
    return dataclasses.replace(
        d,
        numbers=np.asarray(d.numbers, dtype=np.int64),
        lam=f(d.lam),
        values=f(d.values),
        test=f(d.test),
        se=f(d.se),
        p_front=f(d.p_front),
        on_front=np.asarray(d.on_front, dtype=bool),
        hv_trials=np.asarray(d.hv_trials, dtype=np.int64),
        hv_history=f(d.hv_history),
        hv_low=f(d.hv_low),
        hv_high=f(d.hv_high),
        baselines=baselines,
        studies=studies,
        checks=checks,
    )


# ---------------------------------------------------------------- sections


def _section(sid: str, heading: str, body: str, note: str = "") -> str:
    lead = f'<p class="note">{esc(note)}</p>' if note else ""
    return f'<section id="{sid}">\n<h2>{esc(heading)}</h2>\n{lead}\n{body}\n</section>'


def _summary(d: ReportData) -> str:
    facts = list(d.facts)
    if not any(k == "objectives" for k, _ in facts):
        facts.insert(0, ("objectives", ", ".join(f"{n} ({x})" for n, x in zip(d.names, d.directions, strict=True))))
    rows = "\n".join(f'<tr><th scope="row">{esc(k)}</th><td>{esc(v)}</td></tr>' for k, v in facts)
    return _section("summary", "Summary", f'<table class="facts">\n{rows}\n</table>')


def _history(d: ReportData) -> str:
    fig = history_figure(d)
    band = " The band is the interval over replicates of the means (seed and row noise)." if np.any(d.hv_high > d.hv_low) else ""
    note = f"Hypervolume of the validation front after each complete trial.{band}"
    return _section("history", "Hypervolume history", png(fig, "hypervolume after each trial"), note)


def _scatter(d: ReportData) -> str:
    if len(d.names) < 2:
        return _section("scatter", "Objectives, pair by pair", "<p>One objective: there is no pair to plot.</p>")
    bars = error_bar_rows(d.on_front, d.p_front, d.se, row_of(d, d.chosen))
    shown = f" Error bars, on {bars.which} ({int(bars.rows.sum())} of {len(d.numbers)} trials): one standard error each way."
    shown = shown if bars.rows.any() and not d.studies else ""
    listed = " The front table lists every front point's standard errors." if shown and not bars.rows[d.on_front].all() else ""
    who = "each study's front in its own colour" if d.studies else f"front points bold (faint where P(front) < {FADED:g})"
    note = (
        f"Validation metrics of every trial (grey), {who}; the pick is ringed and each baseline is a labelled hollow marker.{shown}{listed}"
    )
    return _section("scatter", "Objectives, pair by pair", png(scatter_figure(d), "scatter matrix of every pair of objectives"), note)


def _parallel_section(d: ReportData) -> str:
    p = parallel_data(d)
    hidden = "" if p.dominated_shown else " With this many trials only the front's lines are drawn until you tick the box."
    note = (
        "One line per trial: its λ, then its validation metrics (each metric axis runs from worst at the bottom to best at the top); "
        f"red lines are on the front.{hidden} Drag along an axis to keep only the lines in that range; click an axis to clear its range."
    )
    return _section("parallel", "λ and metrics, trial by trial", parallel_svg(p), note)


def _front(d: ReportData) -> str:
    heads, rows, picks = front_rows(d)
    spread = "mean ± standard error" if np.any(d.se > 0) else "mean (noise not measured)"
    note = f"Validation {spread} and the held-out test metric of each front point; click a header to sort. The pick is highlighted."
    return _section("front", f"The front ({len(rows)} of {len(d.numbers)} trials)", table(heads, rows, "front-table", picks), note)


def _pick(d: ReportData) -> str:
    head = f"<p><strong>Picked trial {d.chosen}</strong></p>" if d.chosen is not None else "<p>No trial was picked.</p>"
    lines = "".join(f"<li>{esc(x)}</li>" for x in d.pick_lines)
    return _section("pick", "The pick", head + (f"<ul>{lines}</ul>" if lines else ""))


def _checks(d: ReportData) -> str:
    heads, rows = check_rows(d)
    note = (
        "Each exact retraining of a conditioned point, objective by objective: the gap is how far the conditioned value falls "
        "short of the retrained one, as a share of it (> 0: the conditioned model scores worse), on validation; the noise is that "
        "difference's standard error (the seeds and, for trained trials, the rows). Click a header to sort."
    )
    return _section("checks", "Conditioned points, checked", table(heads, rows, "check-table"), note)


def _baselines(d: ReportData) -> str:
    if not d.baselines:
        body = (
            "<p>No baselines were trained. Train one with <code>paretomoo baseline SPEC --method uw</code> "
            "and build the report again to see how the front compares.</p>"
        )
        return _section("baselines", "Baselines", body)
    heads, rows = baseline_rows(d)
    lines = "".join(f"<li>{esc(x)}</li>" for x in d.baseline_lines)
    body = (f"<ul>{lines}</ul>" if lines else "") + table(heads, rows, "baseline-table")
    note = "Single-model multi-task methods trained once each; cost is their training time over one fixed-λ training's."
    return _section("baselines", "Baselines", body, note)


def _compare(d: ReportData) -> str:
    heads, rows = compare_rows(d)
    note = "Hypervolumes against one common reference point; each share is of the other study's front points that this study's front dominates."
    return _section("compare", "Studies compared", table(heads, rows, "compare-table"), note)


# ---------------------------------------------------------------- the page


def render_report(d: ReportData) -> str:
    """The report of one study (or a comparison, when ``d.studies`` has entries) as one HTML page.

    Args:
        d: what to show; the shapes are checked first (n complete trials ≥ 1, m objectives, T tasks).

    Returns:
        The page's text: every figure, style and script inline, nothing fetched.
    """
    _check(d)
    d = _normalised(d)
    sections = [_summary(d), _history(d), _scatter(d), _parallel_section(d), _front(d), _pick(d)]
    sections += [_checks(d)] if d.checks else []
    sections += [_baselines(d)] + ([_compare(d)] if d.studies else [])
    present = {"compare": bool(d.studies), "checks": bool(d.checks)}
    nav = " ".join(f'<a href="#{sid}">{esc(label)}</a>' for sid, label in NAV if present.get(sid, True))
    kind = "comparison of " + ", ".join(s.name for s in d.studies) if d.studies else "Pareto front over the loss weights λ"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{esc(d.title)} · paretomoo report</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            "<main>",
            f"<header><h1>{esc(d.title)}</h1><p>{esc(kind)}</p></header>",
            f"<nav>{nav}</nav>",
            *sections,
            f"<footer>Written by paretomoo {esc(__version__)}. Validation metrics choose; test metrics are held out.</footer>",
            "</main>",
            f"<script>{JS}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )


def write_report(d: ReportData, path: str | Path) -> Path:
    """Write :func:`render_report` of ``d`` to ``path`` (its folder is created); return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(d), encoding="utf-8")
    return out
