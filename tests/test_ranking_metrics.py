"""GAUC and recall@K against reference computations, and every way the registry evaluates them (weighted, many,
rows repeated), plus the generic bootstrap of a metric without a weighted kernel."""

from __future__ import annotations

import dataclasses
import itertools
import math
import tomllib

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from paretomoo.errors import UserError
from paretomoo.metrics import METRICS, Metric, bootstrap_weights, gauc, get_metric, recall
from paretomoo.spec import TaskSpec, parse_spec
from paretomoo.tasks import all_metrics


def sklearn_gauc(s: np.ndarray, y: np.ndarray, g: np.ndarray) -> float:
    """scikit-learn's AUC within each group holding both classes, averaged weighted by the group's rows."""
    num = den = 0.0
    for q in np.unique(g):
        idx = np.flatnonzero(g == q)
        if len(np.unique(y[idx])) < 2:
            continue
        num += len(idx) * roc_auc_score(y[idx], s[idx])
        den += len(idx)
    return num / den if den else math.nan


def enumerated_recall(s: np.ndarray, rel: np.ndarray, g: np.ndarray, k: int) -> float:
    """Mean recall@k over groups with a relevant row, each group's value averaged over every order of its rows that
    ranks them by score descending (every order of each tie, equally likely)."""
    out = []
    for q in np.unique(g):
        idx = np.flatnonzero(g == q)
        relevant = int((rel[idx] > 0).sum())
        if relevant == 0:
            continue
        values = [
            (rel[list(p[:k])] > 0).sum() / relevant
            for p in itertools.permutations(idx)
            if all(s[a] >= s[b] for a, b in itertools.pairwise(p))
        ]
        out.append(float(np.mean(values)))
    return float(np.mean(out)) if out else math.nan


def grouped_data(rng: np.random.Generator, n: int, groups: int, levels: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores with many ties (``levels`` distinct values) or none, 0/1 labels, group ids neither dense nor from 0."""
    s = rng.integers(0, levels, n).astype(np.float64) if levels else rng.normal(size=n)
    y = (rng.random(n) < 0.3).astype(np.float64)
    g = rng.integers(0, groups, n) * 7 + 100
    return s, y, g


# -- GAUC ---------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [None, 3, 8])
@pytest.mark.parametrize("seed", range(3))
def test_gauc_matches_scikit_learn_per_group(seed: int, levels: int | None) -> None:
    rng = np.random.default_rng(seed)
    s, y, g = grouped_data(rng, 600, 40, levels)
    y[g == 100] = 0.0  # a group with one class is left out
    y[g == 107] = 1.0
    assert gauc(torch.tensor(s), torch.tensor(y), torch.tensor(g)) == pytest.approx(sklearn_gauc(s, y, g), abs=1e-12)


def test_gauc_closed_form_one_class_groups_and_undefined() -> None:
    s = torch.tensor([0.1, 0.5, 0.5, 0.9, 0.3, 0.2, 0.2, 0.7, 0.4])
    y = torch.tensor([0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0])
    q = torch.tensor([1, 1, 1, 1, 2, 2, 2, 3, 3])  # group 3 holds positives only
    # group 1: 3.5 of 4 pairs (a tie counts half); group 2: 2 of 2; weights 4 and 3 rows
    assert gauc(s, y, q) == pytest.approx((4 * 0.875 + 3 * 1.0) / 7)
    assert math.isnan(gauc(s, torch.zeros(9), q))
    assert math.isnan(gauc(s, torch.tensor([1.0, 0.0] * 4 + [1.0]), torch.arange(9)))  # one row per group


def test_gauc_does_not_depend_on_row_order_or_group_ids() -> None:
    rng = np.random.default_rng(4)
    s, y, g = grouped_data(rng, 500, 30, 5)
    ts, ty, tg = torch.tensor(s), torch.tensor(y), torch.tensor(g)
    perm = torch.tensor(rng.permutation(500))
    assert gauc(ts[perm], ty[perm], tg[perm]) == gauc(ts, ty, tg)
    assert gauc(ts, ty, 1000 - 3 * tg) == pytest.approx(gauc(ts, ty, tg), abs=1e-15)


def test_gauc_is_in_the_registry_and_read_by_specs(write_spec) -> None:
    m = get_metric("gauc")
    assert m is METRICS["gauc"] and m.grouped and not m.at_k and m.k is None
    assert (m.direction, m.labels, m.floor, m.needs) == ("maximize", "binary", 0.5, "both classes")
    base = write_spec().read_text()
    text = base.replace(
        'name = "click"\nlabel = "click"\nloss = "bce"\nmetric = "auc"',
        'name = "click"\nlabel = "click"\nloss = "bce"\nmetric = "gauc"\ngroup = "query"',
    )
    assert text != base
    click = parse_spec(tomllib.loads(text)).tasks[0]
    assert (click.metric, click.direction, click.group) == ("gauc", "maximize", "query")
    with pytest.raises(UserError, match="'tasks\\[0\\].group' is missing: metric 'gauc' ranks rows within groups"):
        parse_spec(tomllib.loads(text.replace('metric = "gauc"\ngroup = "query"', 'metric = "gauc"')))


def test_a_gauc_task_reports_it_beside_the_binary_metrics() -> None:
    task = TaskSpec(name="c", label="c", loss="bce", metric="gauc", direction="maximize", group="q")
    s = torch.tensor([0.1, 0.5, 0.5, 0.9, 0.3, 0.2, 0.2])
    y = torch.tensor([0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    q = torch.tensor([1, 1, 1, 1, 2, 2, 2])
    out = all_metrics(task, s, y, q)
    assert set(out) == {"auc", "pr_auc", "logloss", "gauc"} and out["gauc"] == pytest.approx(6.5 / 7)


# -- recall@K -----------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3, 7])
@pytest.mark.parametrize("seed", range(3))
def test_recall_equals_the_mean_over_every_order_of_the_ties(seed: int, k: int) -> None:
    """Exact enumeration on groups of up to 6 rows with heavy ties (graded labels: relevant means > 0)."""
    rng = np.random.default_rng(seed)
    n = 40
    s = rng.integers(0, 3, n).astype(np.float64)
    rel = rng.integers(0, 3, n).astype(np.float64) * (rng.random(n) < 0.5)
    g = np.sort(rng.integers(0, 8, n))
    g = np.concatenate([np.repeat(q, min(6, int((g == q).sum()))) for q in np.unique(g)])  # at most 6 rows a group
    s, rel = s[: len(g)], rel[: len(g)]
    got = recall(torch.tensor(s), torch.tensor(rel), torch.tensor(g), k)
    assert got == pytest.approx(enumerated_recall(s, rel, g, k), abs=1e-12)


@pytest.mark.parametrize("k", [1, 5, 20])
def test_recall_without_ties_is_the_share_of_relevant_rows_in_the_top_k(k: int) -> None:
    rng = np.random.default_rng(9)
    s, y, g = grouped_data(rng, 800, 30, None)
    shares = []
    for q in np.unique(g):
        idx = np.flatnonzero(g == q)
        if y[idx].sum() > 0:
            top = idx[np.argsort(-s[idx])[:k]]
            shares.append(y[top].sum() / y[idx].sum())
    assert recall(torch.tensor(s), torch.tensor(y), torch.tensor(g), k) == pytest.approx(np.mean(shares), abs=1e-12)


def test_recall_closed_form_and_undefined() -> None:
    s = torch.tensor([0.9, 0.5, 0.5, 0.5, 0.1, 0.3])
    rel = torch.tensor([0.0, 1.0, 0.0, 1.0, 1.0, 0.0])
    q = torch.tensor([0, 0, 0, 0, 0, 1])  # group 1 has no relevant row: left out
    # top 2: the 0.9 row, and one place shared by the three rows at 0.5, two of them relevant: 2/3 of a hit of 3
    assert recall(s, rel, q, 2) == pytest.approx((2 / 3) / 3)
    assert recall(s, rel, q, 4) == pytest.approx(2 / 3)
    assert recall(s, rel, q, 50) == 1.0
    assert math.isnan(recall(s, torch.zeros(6), q, 3))
    m = get_metric("recall@20")
    assert m is not None and m.k == 20 and m.at_k and m.name == "recall@20" and m.floor == 0.0 and m.labels == "any"


def test_recall_does_not_depend_on_row_order() -> None:
    rng = np.random.default_rng(5)
    s, y, g = grouped_data(rng, 500, 20, 4)
    ts, ty, tg = torch.tensor(s), torch.tensor(y), torch.tensor(g)
    perm = torch.tensor(rng.permutation(500))
    assert recall(ts[perm], ty[perm], tg[perm], 5) == pytest.approx(recall(ts, ty, tg, 5), abs=1e-15)


# -- weighted, many and repeated rows --------------------------------------------------

GROUPED = ["gauc", "recall@1", "recall@5"]


def _metric(name: str) -> Metric:
    m = get_metric(name)
    assert m is not None
    return m


@pytest.mark.parametrize("name", GROUPED)
@pytest.mark.parametrize("seed", range(3))
def test_group_weights_repeat_groups(name: str, seed: int) -> None:
    """A group weighted c counts as c copies of it (distinct groups): the plain kernel on the groups repeated."""
    m = _metric(name)
    rng = np.random.default_rng(seed)
    n, b = 300, 4
    s, y, g = grouped_data(rng, n, 30, 6)
    ids = np.unique(g)
    counts = rng.integers(0, 4, (b, len(ids)))
    w = counts[:, np.searchsorted(ids, g)]
    got = m.bootstrap(torch.tensor(s), torch.tensor(y), torch.tensor(w, dtype=torch.float32), torch.tensor(g))
    for r in range(b):
        rows, copies = [], []
        for j, q in enumerate(ids):
            for _ in range(counts[r, j]):
                idx = np.flatnonzero(g == q)
                rows.append(idx)
                copies.append(np.full(len(idx), len(copies)))
        idx, cg = np.concatenate(rows), np.concatenate(copies)
        assert float(got[r]) == pytest.approx(m.compute(torch.tensor(s[idx]), torch.tensor(y[idx]), torch.tensor(cg)), abs=1e-12)


@pytest.mark.parametrize("name", GROUPED)
def test_weighted_kernels_refuse_weights_that_differ_within_a_group(name: str) -> None:
    s, y = torch.zeros(10), torch.tensor([0.0, 1.0] * 5)
    with pytest.raises(ValueError, match="constant within a group"):
        _metric(name).bootstrap(s, y, bootstrap_weights(10, 8), torch.tensor([0] * 5 + [1] * 5))


@pytest.mark.parametrize("levels", [None, 2, 9])
@pytest.mark.parametrize("name", GROUPED)
def test_many_equals_the_plain_kernel_per_row(name: str, levels: int | None) -> None:
    m = _metric(name)
    rng = np.random.default_rng(2)
    n = 400
    s = torch.tensor(rng.integers(0, levels, (6, n)) / 4.0 if levels else rng.normal(size=(6, n)), dtype=torch.float32)
    s[0, :40] = -0.0  # −0.0 ties with +0.0
    s[0, 40:80] = 0.0
    _, y, g = grouped_data(rng, n, 37, None)
    y[g == 100] = 0.0  # a group with one class
    ty, tg = torch.tensor(y, dtype=torch.float32), torch.tensor(g)
    many = m.compute_many(s, ty, tg)
    assert many.shape == (6,) and many.dtype == torch.float64
    for i in range(6):
        assert many[i].item() == pytest.approx(m.compute(s[i], ty, tg), rel=1e-12, abs=1e-12)
    assert torch.isnan(m.compute_many(s, torch.zeros(n), tg)).all()


@pytest.mark.parametrize("name", ["auc", "pr_auc", "logloss", "ndcg@10", "gauc", "recall@5"])
def test_rows_repeated_equal_the_weighted_kernel(name: str) -> None:
    """The generic bootstrap (a metric without a weighted kernel: the plain kernel on rows repeated by their
    weights, copies of a group made distinct groups) equals the vectorised weighted kernel on Poisson weights."""
    m = _metric(name)
    rng = np.random.default_rng(3)
    n = 240
    s, y, g = grouped_data(rng, n, 25, 7)
    ts, ty = torch.tensor(s), torch.tensor(y if name != "ndcg@10" else rng.integers(0, 4, n).astype(np.float64))
    tg = torch.tensor(g) if m.grouped else None
    w = bootstrap_weights(n, 12, seed=1, groups=tg).to(torch.float64)  # logloss's weighted sums exact, not float32
    fallback = dataclasses.replace(m, weighted=None)
    torch.testing.assert_close(fallback.bootstrap(ts, ty, w, tg), m.bootstrap(ts, ty, w, tg), rtol=1e-12, atol=1e-12)


def test_rows_repeated_leave_an_empty_replicate_undefined_and_say_what_they_need() -> None:
    m = dataclasses.replace(_metric("gauc"), weighted=None)
    s = torch.tensor([0.1, 0.5, 0.2, 0.3])
    y = torch.tensor([0.0, 1.0, 1.0, 0.0])
    q = torch.tensor([7, 7, 9, 9])  # AUC 1 in group 7, 0 in group 9
    got = m.bootstrap(s, y, torch.tensor([[0.0, 0.0, 0.0, 0.0], [2.0, 2.0, 0.0, 0.0], [1.0, 1.0, 3.0, 3.0]]), q)
    assert math.isnan(got[0]) and got[1:].tolist() == [1.0, 0.25]
    with pytest.raises(ValueError, match="gauc's weights must be constant within a group"):
        m.bootstrap(s, y, torch.tensor([[1.0, 2.0, 1.0, 1.0]]), q)
    with pytest.raises(ValueError, match="'gauc' has no weighted kernel: .* must be integers >= 0"):
        m.bootstrap(s, y, torch.tensor([[1.5, 1.5, 1.0, 1.0]]), q)
    with pytest.raises(ValueError, match="pass group ids"):
        m.bootstrap(s, y, torch.ones(1, 4))
