"""A metric from the user's own code as a registry entry: how it is called, bootstrapped, measured at many score
vectors, and what it may return."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from paretomoo.metrics import METRICS, bootstrap_metrics, bootstrap_weights, get_metric, user_metric


def sk_auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """A user's metric as a user writes it: numpy and scikit-learn on the tensors it is given."""
    y = labels.cpu().numpy()
    return float(roc_auc_score(y, scores.cpu().numpy())) if 0 < y.sum() < len(y) else math.nan


def sk_gauc(scores: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor) -> float:
    s, y, g = scores.numpy(), labels.numpy(), groups.numpy()
    num = den = 0.0
    for q in np.unique(g):
        idx = g == q
        if 0 < y[idx].sum() < idx.sum():
            num += idx.sum() * roc_auc_score(y[idx], s[idx])
            den += idx.sum()
    return num / den if den else math.nan


def data(seed: int, n: int = 200) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    s = torch.tensor(rng.integers(0, 8, n).astype(np.float64))
    y = torch.tensor((rng.random(n) < 0.3).astype(np.float64))
    g = torch.tensor(rng.integers(0, 20, n) * 3 + 1)
    return s, y, g


def test_a_user_metric_is_an_entry_calling_the_function() -> None:
    seen: list[tuple[tuple[int, ...], tuple[int, ...], dict[str, object]]] = []

    def spy(scores: torch.Tensor, labels: torch.Tensor, **kw: object) -> float:
        seen.append((tuple(scores.shape), tuple(labels.shape), kw))
        return 0.25

    plain = user_metric("shop.metrics:spy", "minimize", spy, grouped=False)
    assert (plain.name, plain.direction, plain.labels, plain.floor, plain.needs) == ("shop.metrics:spy", "minimize", "any", None, "rows")
    assert plain.weighted is None and plain.many is None and not plain.grouped and plain.reads("bce") and plain.reads("mse")
    s, y, g = data(0, 10)
    assert plain.compute(s, y) == 0.25 and seen[-1] == ((10,), (10,), {})
    grouped = user_metric("shop.metrics:spy", "maximize", spy, grouped=True)
    assert grouped.compute(s, y, g) == 0.25
    assert seen[-1][2].keys() == {"groups"} and torch.equal(seen[-1][2]["groups"], g)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pass group ids"):
        grouped.compute(s, y)
    assert get_metric("shop.metrics:spy") is None and "shop.metrics:spy" not in METRICS  # the registry is not touched


def test_the_function_gets_detached_tensors() -> None:
    m = user_metric("m:sk_auc", "maximize", sk_auc, grouped=False)
    s, y, _ = data(1)
    s = s.clone().requires_grad_(True)  # .numpy() fails on a tensor that requires grad
    assert m.compute(s, y) == pytest.approx(roc_auc_score(y.numpy(), s.detach().numpy()))


@pytest.mark.parametrize("seed", range(3))
def test_a_user_metric_bootstraps_on_repeated_rows_as_the_registry_kernels_do(seed: int) -> None:
    s, y, g = data(seed)
    w = bootstrap_weights(len(s), 10, seed=seed)
    mine = user_metric("m:sk_auc", "maximize", sk_auc, grouped=False)
    torch.testing.assert_close(mine.bootstrap(s, y, w), METRICS["auc"].bootstrap(s, y, w), rtol=0, atol=1e-12)
    wg = bootstrap_weights(len(s), 10, seed=seed, groups=g)
    mine_g = user_metric("m:sk_gauc", "maximize", sk_gauc, grouped=True)
    got = bootstrap_metrics([mine_g, METRICS["gauc"]], s, y, wg, g)  # copies of a group are distinct groups
    torch.testing.assert_close(got["m:sk_gauc"], got["gauc"], rtol=0, atol=1e-12)


def test_compute_many_loops_over_the_score_vectors() -> None:
    s, y, g = data(4)
    scores = torch.stack([s, -s, s * 0])
    m = user_metric("m:sk_gauc", "maximize", sk_gauc, grouped=True)
    many = m.compute_many(scores, y, g)
    assert many.dtype == torch.float64
    assert many.tolist() == pytest.approx([sk_gauc(v, y, g) for v in scores], abs=1e-15)
    assert many[2].item() == 0.5


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.5, 0.5), (np.float32(0.25), 0.25), (torch.tensor(0.75), 0.75), (torch.tensor([2.0]), 2.0), (3, 3.0)],
)
def test_numbers_of_any_kind_are_floats(value: object, expected: float) -> None:
    m = user_metric("m:f", "maximize", lambda s, y: value, grouped=False)
    out = m.compute(torch.zeros(3), torch.zeros(3))
    assert type(out) is float and out == expected


def test_nan_means_undefined() -> None:
    m = user_metric("m:f", "maximize", lambda s, y: float("nan"), grouped=False)
    assert math.isnan(m.compute(torch.zeros(3), torch.zeros(3)))


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (None, "returned NoneType None, not a number"),
        ("0.5", "returned str '0.5', not a number"),
        (torch.ones(3), r"returned Tensor of shape \(3,\), not a number"),
        (np.ones(2), r"returned ndarray of shape \(2,\), not a number"),
        ({"auc": 0.5}, "returned dict .*, not a number"),
        (math.inf, "returned inf; return a finite float"),
        (torch.tensor(-math.inf), "returned -inf; return a finite float"),
    ],
)
def test_a_return_that_is_not_a_number_is_one_line_naming_the_function(value: object, says: str) -> None:
    m = user_metric("shop.metrics:revenue", "maximize", lambda s, y: value, grouped=False)
    with pytest.raises(ValueError, match=f"^metric shop.metrics:revenue: {says}") as err:
        m.compute(torch.zeros(3), torch.zeros(3))
    assert "\n" not in str(err.value)


def test_direction_and_function_are_checked() -> None:
    with pytest.raises(ValueError, match="metric m:f: direction must be 'maximize' or 'minimize', got 'up'"):
        user_metric("m:f", "up", sk_auc, grouped=False)
    with pytest.raises(ValueError, match="metric m:f: int is not a function"):
        user_metric("m:f", "maximize", 3, grouped=False)  # type: ignore[arg-type]
