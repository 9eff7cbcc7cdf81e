"""The data half of every figure, computed without drawing, the figures written from it, and the one style the PNG
plots and the HTML report share."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from paretomoo._drawing import CLOUD_FULL, DOMINATED, ERROR_BARS_MAX, ERRORBAR, FRONT, clock, cloud_style, error_bar_rows
from paretomoo.plots import PairsData, history_data, lambda_data, pairs_data, pairs_figure, write_plots
from paretomoo.spec import TaskSpec
from paretomoo.store import Record
from paretomoo.summary import Summary, summarize

TASKS = ["click", "fraud", "search"]


class _Spec:
    """The three things ``summarize`` reads of a spec."""

    tasks = (
        TaskSpec("click", "click", "bce", "auc", "maximize"),
        TaskSpec("fraud", "fraud", "bce", "pr_auc", "maximize"),
        TaskSpec("search", "relevance", "mse", "rmse", "minimize"),
    )
    objectives = [t.objective for t in tasks]
    directions = [t.direction for t in tasks]
    task_names = [t.name for t in tasks]


def record(number: int, values: list[float], lam: list[float], state: str = "complete") -> Record:
    return Record(number, state, dict(zip(TASKS, lam, strict=True)), values, {}, {}, 0, 1.0, None)


def summary() -> Summary:
    recs = [
        record(0, [0.80, 0.10, 1.0], [0.6, 0.2, 0.2]),  # front
        record(1, [0.70, 0.30, 1.2], [0.2, 0.7, 0.1]),  # front
        record(2, [0.60, 0.05, 1.5], [0.3, 0.3, 0.4]),  # dominated by 0
        record(3, [float("nan")] * 3, [0.1, 0.1, 0.8], state="failed"),
        record(4, [0.75, 0.20, 0.9], [0.4, 0.1, 0.5]),  # front (best search)
    ]
    return summarize(_Spec(), recs)  # type: ignore[arg-type]


def test_pairs_data_marks_the_front_and_the_pick() -> None:
    s = summary()
    d = pairs_data(s, chosen=4)
    assert d.names == ["click_auc", "fraud_pr_auc", "search_rmse"]
    assert d.pairs == [(0, 1), (0, 2), (1, 2)]
    assert d.values.shape == (4, 3)  # complete trials only, in trial order
    assert d.on_front.tolist() == [True, True, False, True]
    assert d.chosen == 3  # the row of trial 4
    assert pairs_data(s, chosen=3).chosen is None  # a failed trial is not drawn


def test_history_data_is_the_running_hypervolume() -> None:
    d = history_data(summary())
    assert d.trials.tolist() == [0, 1, 2, 4]
    assert np.all(np.diff(d.hypervolume) >= 0) and d.hypervolume[0] > 0
    assert d.hypervolume[2] == d.hypervolume[1]  # a dominated trial adds nothing
    assert d.hypervolume[-1] > d.hypervolume[2]


def test_lambda_data_lists_the_front_by_first_task_weight() -> None:
    d = lambda_data(summary(), TASKS)
    assert d.trials == [0, 4, 1]  # click weight 0.6, 0.4, 0.2
    np.testing.assert_allclose(d.lam, [[0.6, 0.2, 0.2], [0.4, 0.1, 0.5], [0.2, 0.7, 0.1]])


def test_write_plots_draws_three_figures(tmp_path: Path) -> None:
    paths = write_plots(summary(), TASKS, "toy", tmp_path, chosen=4)
    assert [p.name for p in paths] == ["front_pairs.png", "hypervolume.png", "front_lambda.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5_000


# ---------------------------------------------------------------- one style for the PNG plots and the report


def test_error_bars_go_where_few_points_are_drawn() -> None:
    rng = np.random.default_rng(0)
    few = 30
    se = np.full((few, 3), 0.01)
    on = np.arange(few) < 5
    bars = error_bar_rows(on, on.astype(float), se, chosen=0)
    assert bars.rows.all() and bars.which == "every trial"  # as many as ERROR_BARS_MAX or fewer: every trial
    n = 1034
    se = np.full((n, 3), 0.01)
    small_front = np.arange(n) < ERROR_BARS_MAX
    bars = error_bar_rows(small_front, rng.uniform(size=n), se, chosen=3)
    assert np.array_equal(bars.rows, small_front) and bars.which == "front points"
    big_front = np.arange(n) < 300
    likely = big_front & (np.arange(n) % 10 == 0)  # 30 of the 300 front points are likely on it
    bars = error_bar_rows(big_front, np.where(likely, 0.9, 0.2), se, chosen=3)
    assert np.array_equal(bars.rows, likely) and bars.which.startswith("front points with P(front)")
    bars = error_bar_rows(big_front, np.where(big_front, 0.9, 0.0), se, chosen=7)
    assert np.flatnonzero(bars.rows).tolist() == [7] and bars.which == "the pick only"
    assert not error_bar_rows(big_front, big_front.astype(float), np.zeros((n, 3)), chosen=7).rows.any()  # no noise measured


def test_a_thousand_dominated_trials_are_drawn_smaller_and_lighter() -> None:
    few, many = cloud_style(40, 8), cloud_style(1034, 172)
    assert few == cloud_style(CLOUD_FULL, 8)  # unchanged up to CLOUD_FULL trials
    assert many.size < few.size and many.alpha < few.alpha / 2 and many.front_size < few.front_size


def test_one_clock_format() -> None:
    assert [clock(x) for x in (0, 59.6, 252, 3725, 90061)] == ["0:00:00", "0:01:00", "0:04:12", "1:02:05", "25:01:01"]


def _collections(fig: Figure) -> dict[str, PathCollection]:
    """The labelled scatter layers of a figure's first panel."""
    layers = [c for c in fig.axes[0].collections if isinstance(c, PathCollection)]
    return {str(c.get_label()): c for c in layers if not str(c.get_label()).startswith("_")}


def test_the_png_and_the_report_draw_a_baseline_the_front_and_the_trials_alike() -> None:
    from paretomoo.report._figures import scatter_figure

    from .test_report import make_data

    d = make_data(n=30, m=2, baselines=2)
    pairs = PairsData(
        d.names,
        d.values,
        d.on_front,
        [(0, 1)],
        int(np.flatnonzero(d.numbers == d.chosen)[0]),
        d.se,
        d.p_front,
        tuple((b.method, b.values) for b in d.baselines),
    )
    png, html = _collections(pairs_figure(pairs, "toy")), _collections(scatter_figure(d))
    assert set(png) == set(html) >= {"trials", "front", "picked", "uw", "pcgrad"}
    for label in png:
        a, b = png[label], html[label]
        assert np.array_equal(a.get_paths()[0].vertices, b.get_paths()[0].vertices), f"{label}: the marker differs"
        assert np.array_equal(a.get_facecolor(), b.get_facecolor()) and np.array_equal(a.get_edgecolor(), b.get_edgecolor()), label
    assert np.allclose(np.asarray(png["trials"].get_facecolor())[0, :3], to_rgb(DOMINATED))
    assert np.allclose(np.asarray(png["front"].get_facecolor())[0, :3], to_rgb(FRONT))
    bars = [c for c in pairs_figure(pairs, "toy").axes[0].collections if isinstance(c, LineCollection)]
    assert bars and np.allclose(np.asarray(bars[0].get_color())[0, :3], to_rgb(ERRORBAR))
