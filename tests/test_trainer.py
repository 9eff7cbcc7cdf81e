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


WATCH = """
[study]
name = "watch"
storage = "sqlite:///{root}/watch.db"

[data]
source = "tabular"
train = "watch.csv"
numeric = ["x1", "x2", "x3"]

[data.labels]
click = "click == 1"
watch_ms = "watch_ms"

[[tasks]]
name = "click"
metric = "auc"

[[tasks]]
name = "watch"
label = "watch_ms"
loss = "mse"
metric = "rmse"

[model]
embedding_dim = 2
bottom = [16, 2]
tower = [8]

[training]
epochs = 3
batch_size = 256
lr = 0.01
device = "cpu"

[search]
optimizer = "random"
trials = 2
batch = 2
"""


@pytest.fixture
def watch_time(tmp_path):
    """A click task and watch time in milliseconds (mean 40 000, sd about 9 500), driven by different features."""
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 6000
    x = rng.normal(size=(n, 3))
    click = (x[:, 0] + 0.5 * rng.normal(size=n) > 1).astype(int)
    watch = 40_000 + 9_000 * x[:, 1] + 3_000 * rng.normal(size=n)
    pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2], "click": click, "watch_ms": watch}).to_csv(
        tmp_path / "watch.csv", index=False
    )
    spec = tmp_path / "watch.toml"
    spec.write_text(WATCH.format(root=tmp_path))
    return load_spec(spec)


def test_a_label_in_the_thousands_trains_on_the_scale_of_the_others(watch_time, one_torch_thread) -> None:
    """Standardised for the loss, reported in milliseconds: λ trades click against watch time.

    On raw milliseconds the squared error (about 1e8) drowned the click loss at every λ within
    max_ratio: click AUC 0.50 and RMSE 41 052 ms at each of these five λ.
    """
    trainer = Trainer(watch_time, load_data(watch_time.data), "cpu")
    watch = trainer.train.y[:, 1].double()
    assert trainer.shape.label_shift == (0.0, pytest.approx(float(watch.mean())))
    assert trainer.shape.label_scale == (1.0, pytest.approx(float(watch.std(unbiased=False))))
    sd = trainer.shape.label_scale[1]
    lam = np.array([[0.999, 0.001], [0.9, 0.1], [0.5, 0.5], [0.1, 0.9], [0.001, 0.999]])
    results = trainer.fit(lam)
    click = np.array([r.val["click"]["auc"] for r in results])
    rmse = np.array([r.val["watch"]["rmse"] for r in results])
    # each end learns its own task; RMSE is in milliseconds (the label's sd is about 9 500 ms)
    assert click[0] > 0.9 and 2_000 < rmse[-1] < 0.55 * sd
    # moving weight from click to watch time trades one for the other: a front, not one point
    assert click[0] - click[-1] > 0.2 and rmse[0] - rmse[-1] > 2_000
    assert np.all(np.diff(click) <= 0.01) and np.all(np.diff(rmse) <= 100)
    # and some λ serves both
    assert click[1] > 0.9 and rmse[1] < 0.65 * sd


def test_the_label_scale_is_stored_with_the_study_and_the_export(watch_time, tmp_path, one_torch_thread) -> None:
    from paretomoo.export import export_trial, load_model
    from paretomoo.study import run_study

    store = run_study(watch_time)
    shape = store.study.user_attrs["model_shape"]
    assert shape["label_shift"][1] == pytest.approx(40_000, rel=0.02) and shape["label_scale"][1] == pytest.approx(9_500, rel=0.05)
    out = export_trial(store, 0, tmp_path / "exp")
    model = load_model(out)
    data = load_data(watch_time.data)
    with torch.no_grad():
        pred = model(torch.as_tensor(data.val.num), torch.as_tensor(data.val.cat))[0, :, 1]
    assert float(pred.mean()) == pytest.approx(40_000, rel=0.05)  # predictions come back in milliseconds
