"""The many-vector metric kernels equal their plain kernels row by row, ties and edge cases included."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from paretomoo.metrics import METRICS, get_metric
from paretomoo.spec import TaskSpec
from paretomoo.tasks import all_metrics, metrics_many


def _scores(rng: np.random.Generator, rows: int, n: int, levels: int | None) -> torch.Tensor:
    """Scores with many ties (``levels`` distinct values) or none, negative zeros and both signs."""
    if levels is None:
        s = rng.standard_normal((rows, n))
    else:
        s = rng.integers(-levels // 2, levels // 2 + 1, (rows, n)) / 4.0
    s = torch.tensor(s, dtype=torch.float32)
    s[0, : n // 10] = -0.0  # −0.0 ties with +0.0
    return s


@pytest.mark.parametrize("levels", [None, 3, 40])
@pytest.mark.parametrize("name", ["auc", "pr_auc", "logloss"])
def test_binary_kernels_equal_the_plain_kernel_per_row(name: str, levels: int | None) -> None:
    rng = np.random.default_rng(0)
    scores = _scores(rng, 7, 501, levels)
    y = torch.tensor(rng.random(501) < 0.2, dtype=torch.float32)
    m = METRICS[name]
    many = m.compute_many(scores, y)
    assert many.shape == (7,)
    for i in range(7):
        assert many[i].item() == pytest.approx(m.compute(scores[i], y), rel=1e-12, abs=1e-12)


def test_rmse_equals_the_plain_kernel_per_row() -> None:
    rng = np.random.default_rng(1)
    scores = _scores(rng, 5, 300, None) * 1000.0  # units in the thousands
    y = torch.tensor(rng.standard_normal(300) * 1000.0, dtype=torch.float32)
    many = METRICS["rmse"].compute_many(scores, y)
    for i in range(5):
        assert many[i].item() == pytest.approx(METRICS["rmse"].compute(scores[i], y), rel=1e-12)


@pytest.mark.parametrize("levels", [None, 2, 9])
@pytest.mark.parametrize("k", [1, 3, 10])
def test_ndcg_equals_the_plain_kernel_per_row(levels: int | None, k: int) -> None:
    rng = np.random.default_rng(2)
    n = 400
    scores = _scores(rng, 6, n, levels)
    group = torch.tensor(rng.integers(0, 37, n) * 1000 + 5)  # ids neither dense nor from 0
    rel = torch.tensor(rng.integers(0, 5, n), dtype=torch.float32)
    rel[group == 5] = 0.0  # a group without a relevant row is left out
    m = get_metric(f"ndcg@{k}")
    assert m is not None
    many = m.compute_many(scores, rel, group)
    for i in range(6):
        assert many[i].item() == pytest.approx(m.compute(scores[i], rel, group), rel=1e-12, abs=1e-12)


def test_ndcg_with_real_valued_gains_and_many_groups() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    scores = _scores(rng, 3, n, 5)
    group = torch.tensor(rng.integers(0, 1500, n))
    rel = torch.tensor(rng.random(n) * 3, dtype=torch.float32)  # every gain distinct
    m = get_metric("ndcg@5")
    assert m is not None
    many = m.compute_many(scores, rel, group)
    for i in range(3):
        assert many[i].item() == pytest.approx(m.compute(scores[i], rel, group), rel=1e-12)


def test_undefined_metrics_are_nan_for_every_row() -> None:
    scores = torch.randn(4, 50)
    ones = torch.ones(50)
    assert all(math.isnan(v) for v in METRICS["auc"].compute_many(scores, ones).tolist())
    assert all(math.isnan(v) for v in METRICS["pr_auc"].compute_many(scores, torch.zeros(50)).tolist())
    m = get_metric("ndcg@10")
    assert m is not None
    assert all(math.isnan(v) for v in m.compute_many(scores, torch.zeros(50), torch.arange(50) % 5).tolist())


def test_task_metrics_of_many_rows_equal_all_metrics_with_a_where_filter() -> None:
    rng = np.random.default_rng(4)
    n = 600
    task = TaskSpec(name="s", label="r", loss="mse", metric="ndcg@10", direction="maximize", group="q", where="x > 0")
    y = torch.tensor(rng.integers(0, 4, n), dtype=torch.float32)
    y[rng.random(n) < 0.3] = math.nan  # rows the where filter drops
    group = torch.tensor(rng.integers(0, 40, n))
    scores = _scores(rng, 4, n, 30)
    many = metrics_many(task, scores, y, group)
    for i in range(4):
        plain = all_metrics(task, scores[i], y, group)
        assert many[i].keys() == plain.keys()
        for key in plain:
            assert many[i][key] == pytest.approx(plain[key], rel=1e-12)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_rows_are_sorted_alike_on_any_number_of_threads(threads: int) -> None:
    """On more than one torch thread the rows are sorted in parts, side by side; the suite's test processes run on one
    thread each, so the parts are set here."""
    from paretomoo._many import _sort_rows

    keys = torch.tensor(np.random.default_rng(0).integers(-(2**40), 2**40, (7, 1001)), dtype=torch.int64)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        got = _sort_rows(keys)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(got, torch.sort(keys, dim=1).values)
