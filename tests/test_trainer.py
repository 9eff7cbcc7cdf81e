"""The inner trainer learns every task, and λ moves the metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from paretomoo.data import load_data
from paretomoo.metrics import ndcg
from paretomoo.spec import load_spec
from paretomoo.trainer import Trainer

DEMO = "studies/ecommerce.toml"


@pytest.fixture(scope="module")
def demo_runs():
    """The demo's data, model and training budget: uniform λ and each near-one-hot λ."""
    spec = load_spec(DEMO).replace(training={"device": "cpu"})
    trainer = Trainer(spec, load_data(spec.data), "cpu")
    k = len(spec.tasks)
    near_one_hot = np.eye(k) * (1 - 1e-3 * k) + 1e-3  # ratio ~1000:1, as the search can reach
    lam = np.vstack([np.full(k, 1.0 / k), near_one_hot])
    return spec, trainer, trainer.fit(lam)


def test_every_task_learns_well_above_chance(demo_runs) -> None:
    spec, trainer, results = demo_runs
    uniform = results[0].val
    focused = {t.name: results[1 + i].val[t.name] for i, t in enumerate(spec.tasks)}
    fraud_rate = float(trainer.val.y[:, 3].mean())  # chance level of PR-AUC
    y, g = trainer.val.y[:, 2], trainer.val.groups[2]
    rng = torch.Generator().manual_seed(0)
    random_ndcg = float(np.mean([ndcg(torch.rand(len(y), generator=rng), y, g, 10) for _ in range(5)]))
    # each task, given the weight, learns well
    assert focused["click"]["auc"] > 0.80
    assert focused["ad_click"]["auc"] > 0.80
    assert focused["search"]["ndcg@10"] > random_ndcg + 0.15
    assert focused["fraud"]["pr_auc"] > 15 * fraud_rate and focused["fraud"]["auc"] > 0.85
    # and the uniform compromise is above chance on all four at once
    assert uniform["click"]["auc"] > 0.65 and uniform["ad_click"]["auc"] > 0.65
    assert uniform["search"]["ndcg@10"] > random_ndcg + 0.15
    assert uniform["fraud"]["pr_auc"] > 15 * fraud_rate


def test_lambda_moves_every_task_visibly(demo_runs) -> None:
    spec, _, results = demo_runs
    names = [t.name for t in spec.tasks]
    metric = {t.name: t.metric for t in spec.tasks}
    for i, name in enumerate(names):
        own = results[1 + i].val[name][metric[name]]
        others = [results[1 + j].val[name][metric[name]] for j in range(len(names)) if j != i]
        uniform = results[0].val[name][metric[name]]
        # Focusing on another task costs this one; focusing on it is at least
        # as good as the uniform compromise (up to noise).
        assert own - max(others) > 0.02, (name, own, others)
        assert uniform - min(others) > 0.02, (name, uniform, others)


def test_fit_is_deterministic_and_diverged_members_fail_alone() -> None:
    spec = load_spec(DEMO).replace(data={"rows": 5000}, training={"epochs": 1, "device": "cpu"}, model={"bottom": (16, 8)})
    trainer = Trainer(spec, load_data(spec.data), "cpu")
    lam = np.array([[0.25, 0.25, 0.25, 0.25], [np.inf, 0.0, 0.0, 0.0], [0.7, 0.1, 0.1, 0.1]])
    a = trainer.fit(lam)
    b = trainer.fit(lam)
    assert a[1].failed is not None and "NaN/inf" in a[1].failed and a[1].state is None
    assert a[0].failed is None and a[2].failed is None
    for x, y in zip(a, b, strict=True):
        if x.state is not None:
            assert all(torch.equal(x.state[n], y.state[n]) for n in x.state)
    # the diverged member did not disturb the others: same as training them alone
    alone = trainer.fit(lam[[0, 2]])
    for x, y in zip((a[0], a[2]), alone, strict=True):
        for n in x.state:
            torch.testing.assert_close(x.state[n], y.state[n], atol=1e-5, rtol=1e-4)
