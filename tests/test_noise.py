"""Seed noise: retraining one λ under other seeds, and how the spread is reported."""

from __future__ import annotations

import numpy as np
import pytest

from paretomoo.data import load_data
from paretomoo.errors import UserError
from paretomoo.noise import Noise, seed_noise
from paretomoo.spec import load_spec
from paretomoo.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_torch_thread")
LAM = np.array([0.4, 0.3, 0.2, 0.1])


def test_seed_noise_retrains_under_other_seeds(write_spec) -> None:
    spec = load_spec(write_spec(rows=6000, epochs=1))
    noise = seed_noise(spec, LAM, 3, "cpu")
    assert noise.seeds == [1, 2, 3]  # never the study's own seed (0)
    assert noise.val.shape == noise.test.shape == (3, 4)
    # each row is that seed's model, as the trainer gives it
    trainer = Trainer(spec, load_data(spec.data), "cpu")
    again = trainer.fit(LAM[None, :], seeds=2)[0]
    assert noise.val[1].tolist() == [again.val[t.name][t.metric] for t in spec.tasks]
    assert noise.test[1].tolist() == [again.test[t.name][t.metric] for t in spec.tasks]
    assert (noise.val.std(axis=0) > 0).any()  # other seeds, other models
    assert seed_noise(spec, LAM, 3, "cpu").val.tolist() == noise.val.tolist()  # and reproducible


def test_noise_report_and_dict() -> None:
    noise = Noise(seeds=[1, 2], val=np.array([[0.70, 0.20], [0.74, 0.30]]), test=np.array([[0.60, 0.1], [0.64, 0.1]]))
    text = noise.describe(["click_auc", "fraud_pr_auc"])
    assert "seed noise over 2 retrainings (seeds 1, 2; mean ± sd)" in text
    assert "click_auc=0.7200±0.0283" in text and "fraud_pr_auc=0.2500±0.0707" in text
    d = noise.to_dict(["click_auc", "fraud_pr_auc"])
    assert d["seeds"] == [1, 2]
    assert d["val"]["click_auc"] == pytest.approx({"mean": 0.72, "sd": 0.02 * np.sqrt(2)})
    assert d["test"]["fraud_pr_auc"] == {"mean": pytest.approx(0.1), "sd": 0.0}


def test_fewer_than_two_seeds_is_refused(write_spec) -> None:
    with pytest.raises(UserError, match="at least 2 seeds"):
        seed_noise(load_spec(write_spec()), LAM, 1)
