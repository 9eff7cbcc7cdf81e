"""The row bootstrap: weighted kernels against their plain kernels, repeated rows and scikit-learn, and the weights' draw."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from paretomoo.metrics import (
    BOOTSTRAP,
    METRICS,
    Metric,
    bootstrap_metrics,
    bootstrap_weights,
    get_metric,
    ndcg,
    reported,
)

# every registry entry, as a spec names it (one written name@K with its cut-off)
ENTRIES = [get_metric(f"{m.name}@3") if m.at_k else m for m in METRICS.values()]


def example(m: Metric, rng: np.random.Generator, n: int, ties: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Scores (with many ties, or none), labels of the metric's kind (binary, real, graded 0-4) and, for a grouped metric, group ids."""
    scores = torch.tensor(rng.integers(0, 12, n).astype(np.float64) if ties else rng.normal(size=n))
    if m.labels == "binary":
        y = (rng.random(n) < 0.2).astype(np.float64)
    elif m.labels == "real":
        y = rng.normal(size=n)
    else:
        y = rng.integers(0, 5, n).astype(np.float64)
    group = torch.tensor(rng.integers(0, n // 8, n)) if m.grouped else None
    return scores, torch.tensor(y), group


def test_every_metric_in_the_registry_has_a_weighted_kernel() -> None:
    """The field is optional (without one, a metric is bootstrapped on repeated rows, a replicate at a time), but a
    registered metric needs one."""
    for m in METRICS.values():
        assert m.weighted is not None, f"{m.name} has no weighted kernel: give its registry entry one"


@pytest.mark.parametrize("ties", [True, False], ids=["ties", "no_ties"])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("m", ENTRIES, ids=lambda m: m.name)
def test_weights_of_one_give_the_plain_kernel(m: Metric, seed: int, ties: bool) -> None:
    rng = np.random.default_rng(seed)
    scores, y, group = example(m, rng, 400, ties)
    ones = torch.ones(3, 400, dtype=torch.float64)
    got = m.bootstrap(scores, y, ones, group)
    assert got.shape == (3,) and got.dtype == torch.float64
    assert got.tolist() == pytest.approx([m.compute(scores, y, group)] * 3, abs=1e-12)


@pytest.mark.parametrize("ties", [True, False], ids=["ties", "no_ties"])
@pytest.mark.parametrize("m", ENTRIES, ids=lambda m: m.name)
def test_float32_weights(m: Metric, ties: bool) -> None:
    """The bootstrap's float32 integer weights: counts are exact, weighted sums of real values float32-close."""
    rng = np.random.default_rng(7)
    scores, y, group = example(m, rng, 600, ties)
    w = bootstrap_weights(600, 16, seed=3, groups=group)
    exact = m.bootstrap(scores, y, w.to(torch.float64), group)
    if m.name in ("logloss", "rmse"):
        torch.testing.assert_close(m.bootstrap(scores, y, w, group), exact, rtol=1e-5, atol=0)
    else:
        torch.testing.assert_close(m.bootstrap(scores, y, w, group), exact, rtol=0, atol=1e-12)


@pytest.mark.parametrize("m", ENTRIES, ids=lambda m: m.name)
def test_weighted_kernels_do_not_depend_on_row_order(m: Metric) -> None:
    rng = np.random.default_rng(11)
    scores, y, group = example(m, rng, 500)
    w = bootstrap_weights(500, 8, seed=1, groups=group).to(torch.float64)
    perm = torch.tensor(rng.permutation(500))
    shuffled = m.bootstrap(scores[perm], y[perm], w[:, perm], None if group is None else group[perm])
    torch.testing.assert_close(shuffled, m.bootstrap(scores, y, w, group), rtol=0, atol=1e-12)


@pytest.mark.parametrize("ties", [True, False], ids=["ties", "no_ties"])
@pytest.mark.parametrize("seed", range(4))
def test_integer_weights_repeat_rows(seed: int, ties: bool) -> None:
    """Weight w_i counts row i w_i times: scikit-learn and numpy on the rows repeated agree with every replicate."""
    rng = np.random.default_rng(seed)
    n, b = 300, 5
    s = rng.integers(0, 10, n).astype(np.float64) if ties else rng.normal(size=n)
    y = (rng.random(n) < 0.25).astype(np.float64)
    pred = rng.normal(size=n)
    target = rng.normal(size=n)
    w = rng.integers(0, 4, (b, n))
    ts, ty, tw = torch.tensor(s), torch.tensor(y), torch.tensor(w, dtype=torch.float64)
    aucs = METRICS["auc"].bootstrap(ts, ty, tw)
    aps = METRICS["pr_auc"].bootstrap(ts, ty, tw)
    losses = METRICS["logloss"].bootstrap(torch.tensor(pred), ty, tw)
    rmses = METRICS["rmse"].bootstrap(torch.tensor(pred), torch.tensor(target), tw)
    for r in range(b):
        s_r, y_r = np.repeat(s, w[r]), np.repeat(y, w[r])
        assert float(aucs[r]) == pytest.approx(roc_auc_score(y_r, s_r), abs=1e-12)
        assert float(aps[r]) == pytest.approx(average_precision_score(y_r, s_r), abs=1e-12)
        p = 1 / (1 + np.exp(-np.repeat(pred, w[r])))
        assert float(losses[r]) == pytest.approx(-np.mean(y_r * np.log(p) + (1 - y_r) * np.log(1 - p)), rel=1e-9)
        assert float(rmses[r]) == pytest.approx(np.sqrt(np.mean((np.repeat(pred - target, w[r])) ** 2)), rel=1e-9)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [1, 3, 10])
def test_group_weights_repeat_groups(seed: int, k: int) -> None:
    """A group weighted c counts as c copies of the query: the mean NDCG over the groups repeated."""
    rng = np.random.default_rng(seed)
    n, b = 300, 4
    s = rng.integers(0, 6, n).astype(np.float64)
    rel = rng.integers(0, 5, n).astype(np.float64)
    g = rng.integers(100, 140, n)  # ids need not start at 0
    ids = np.unique(g)
    counts = rng.integers(0, 4, (b, len(ids)))
    w = counts[:, np.searchsorted(ids, g)]
    got = get_metric(f"ndcg@{k}").bootstrap(torch.tensor(s), torch.tensor(rel), torch.tensor(w, dtype=torch.float64), torch.tensor(g))
    for r in range(b):
        rows, copies = [], []
        for j, q in enumerate(ids):
            for _ in range(counts[r, j]):
                idx = np.flatnonzero(g == q)
                rows.append(idx)
                copies.append(np.full(len(idx), len(copies)))  # each copy its own query
        idx, cg = np.concatenate(rows), np.concatenate(copies)
        expected = ndcg(torch.tensor(s[idx]), torch.tensor(rel[idx]), torch.tensor(cg), k)
        assert float(got[r]) == pytest.approx(expected, abs=1e-12)


def test_degenerate_replicates_are_nan() -> None:
    s = torch.tensor([0.1, 0.4, 0.35, 0.8], dtype=torch.float64)
    y = torch.tensor([0.0, 0.0, 1.0, 1.0])
    w = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 2.0], [0.0] * 4, [1.0, 2.0, 1.0, 0.0]])
    auc, ap, loss = (METRICS[name].bootstrap(s, y, w) for name in ("auc", "pr_auc", "logloss"))
    assert math.isnan(auc[0]) and math.isnan(auc[1]) and math.isnan(auc[2]) and float(auc[3]) == pytest.approx(1 / 3)
    assert math.isnan(ap[0]) and float(ap[1]) == 1.0 and math.isnan(ap[2]) and float(ap[3]) == pytest.approx(1 / 3)
    assert math.isnan(loss[2]) and not math.isnan(loss[0])
    none = torch.zeros(4)
    assert torch.isnan(METRICS["auc"].bootstrap(s, none, w)).all() and torch.isnan(METRICS["pr_auc"].bootstrap(s, none, w)).all()
    at3 = get_metric("ndcg@3")
    g = torch.tensor([0, 0, 1, 1])
    rel = torch.tensor([2.0, 0.0, 0.0, 0.0])  # only group 0 has a relevant row
    got = at3.bootstrap(s, rel, torch.tensor([[1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 2.0, 2.0]]), g)
    assert float(got[0]) == pytest.approx(ndcg(s, rel, g, 3)) and math.isnan(got[1])


def test_bootstrap_se_of_auc_is_close_to_the_analytic_one() -> None:
    """The bootstrap SE of AUC against Hanley-McNeil's and DeLong's, within 15 %.

    Exponential scores (3000 negatives at scale 1, 1000 positives at scale 3, AUC 0.75):
    the model Hanley and McNeil's formula is exact for, so it agrees with DeLong's
    nonparametric one. The Monte-Carlo error of 200 replicates is about 5 % of the SE.
    """
    rng = np.random.default_rng(0)
    n_neg, n_pos = 3000, 1000
    s = np.concatenate([rng.exponential(1.0, n_neg), rng.exponential(3.0, n_pos)])
    y = np.concatenate([np.zeros(n_neg), np.ones(n_pos)])
    a = roc_auc_score(y, s)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    hanley = math.sqrt((a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (n_pos * n_neg))
    pos, neg = s[y == 1], s[y == 0]
    wins = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])  # placement values
    delong = math.sqrt(wins.mean(1).var(ddof=1) / n_pos + wins.mean(0).var(ddof=1) / n_neg)
    reps = METRICS["auc"].bootstrap(torch.tensor(s), torch.tensor(y), bootstrap_weights(len(s)))
    assert reps.shape == (BOOTSTRAP,)
    se = float(reps.std())
    assert se == pytest.approx(hanley, rel=0.15) and se == pytest.approx(delong, rel=0.15)
    assert float(reps.mean()) == pytest.approx(a, abs=0.2 * se)


def test_weights_are_poisson_counts_reproducible_by_seed() -> None:
    w = bootstrap_weights(5000, 40, seed=1)
    assert w.shape == (40, 5000) and w.dtype == torch.float32 and w.T.is_contiguous()
    assert torch.equal(w, w.round()) and float(w.min()) == 0.0
    assert float(w.mean()) == pytest.approx(1.0, abs=0.01) and float(w.var()) == pytest.approx(1.0, abs=0.02)
    assert torch.equal(w, bootstrap_weights(5000, 40, seed=1))
    assert not torch.equal(w, bootstrap_weights(5000, 40, seed=2))
    assert torch.equal(w[:7], bootstrap_weights(5000, 7, seed=1))  # more replicates extend the same ones
    assert bootstrap_weights(10).shape == (BOOTSTRAP, 10)


def test_group_weights_are_constant_within_a_group() -> None:
    rng = np.random.default_rng(0)
    g = torch.tensor(rng.integers(0, 50, 2000)) * 7 + 3  # arbitrary ids, in no order
    w = bootstrap_weights(2000, 30, seed=5, groups=g)
    assert w.shape == (30, 2000) and w.T.is_contiguous()
    for q in torch.unique(g):
        rows = w[:, g == q]
        assert torch.equal(rows, rows[:, :1].expand_as(rows))
    per_group = torch.stack([w[:, g == q][:, 0] for q in torch.unique(g)])
    assert float(per_group.mean()) == pytest.approx(1.0, abs=0.1) and len(torch.unique(per_group)) > 3
    assert torch.equal(w, bootstrap_weights(2000, 30, seed=5, groups=g))
    assert not torch.equal(w, bootstrap_weights(2000, 30, seed=6, groups=g))


def test_bootstrap_metrics_shares_work_without_changing_results() -> None:
    rng = np.random.default_rng(3)
    n = 1000
    s = torch.tensor(rng.normal(size=n))
    y = torch.tensor((rng.random(n) < 0.1).astype(np.float64))
    q = torch.tensor(rng.integers(0, 100, n))
    w = bootstrap_weights(n, 20, groups=q)
    together = bootstrap_metrics(reported("bce", None), s, y, w)
    assert list(together) == ["auc", "pr_auc", "logloss"]
    for name, reps in together.items():
        assert torch.equal(reps, METRICS[name].bootstrap(s, y, w))
    at10 = get_metric("ndcg@10")
    assert torch.equal(bootstrap_metrics([at10], s, y, w, q)["ndcg@10"], at10.bootstrap(s, y, w, q))


def test_bootstrap_errors_say_the_rule() -> None:
    s, y = torch.zeros(10), torch.zeros(10)
    with pytest.raises(ValueError, match=r"weights must be \[B, n\] with n = 10"):
        METRICS["auc"].bootstrap(s, y, torch.ones(3, 9))
    with pytest.raises(ValueError, match="pass group ids"):
        get_metric("ndcg@10").bootstrap(s, y, torch.ones(3, 10))
    with pytest.raises(ValueError, match="constant within a group"):
        get_metric("ndcg@10").bootstrap(s, y, bootstrap_weights(10, 8), torch.tensor([0] * 5 + [1] * 5))
    with pytest.raises(
        ValueError, match="no weighted kernel: it is bootstrapped on rows repeated by their weights, which must be integers"
    ):
        Metric("brier", "minimize", "binary", None, "rows", lambda s, y: 0.0).bootstrap(s, y, torch.full((3, 10), 0.5))
    with pytest.raises(ValueError, match="replicates must be >= 1, got 0"):
        bootstrap_weights(10, 0)
    with pytest.raises(ValueError, match=r"groups must hold one id per row, \[10\]"):
        bootstrap_weights(10, groups=torch.zeros(9, dtype=torch.long))


def test_ndcg_orders_groups_without_the_radix_sort(monkeypatch: pytest.MonkeyPatch) -> None:
    """More groups than 16 bits hold: the stable torch sort orders them, to the same result."""
    from paretomoo import _weighted

    rng = np.random.default_rng(5)
    m = get_metric("ndcg@5")
    scores, y, group = example(m, rng, 400)
    w = bootstrap_weights(400, 6, groups=group)
    radix = m.bootstrap(scores, y, w, group)
    monkeypatch.setattr(_weighted, "_RADIX_GROUPS", 0)
    torch.testing.assert_close(m.bootstrap(scores, y, w, group), radix, rtol=0, atol=1e-12)
