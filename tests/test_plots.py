"""The data half of every figure, computed without drawing, and the figures written from it."""

from __future__ import annotations

import numpy as np

from paretomoo.plots import history_data, lambda_data, pairs_data, write_plots
from paretomoo.spec import TaskSpec
from paretomoo.store import Record
from paretomoo.summary import summarize

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


def summary():
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


def test_write_plots_draws_three_figures(tmp_path) -> None:
    paths = write_plots(summary(), TASKS, "toy", tmp_path, chosen=4)
    assert [p.name for p in paths] == ["front_pairs.png", "hypervolume.png", "front_lambda.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5_000
