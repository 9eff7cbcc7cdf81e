"""The built-in generator: the same bytes for the same arguments, its two kinds of signal, and what each promises."""

from __future__ import annotations

import numpy as np
import pytest

from paretomoo.data import make_synthetic
from paretomoo.data._synthetic import KINDS, SIGNALS, _id_signals, _ids, cardinalities
from paretomoo.errors import UserError
from paretomoo.spec import load_spec

SPLIT = (0.8, 0.1, 0.1)


def test_teachers_give_the_bytes_they_always_gave() -> None:
    # the default signal is what every synthetic study stored so far was trained on: a resumed study checks its
    # data's fingerprint, so these bytes must not move (the hash of the generator before "ids" was added)
    assert make_synthetic(3000, 0, 0.8, SPLIT).fingerprint()["head_sha256"] == "59d7676877e03aa3"
    assert make_synthetic(3000, 0, 0.8, SPLIT, "teachers").fingerprint() == make_synthetic(3000, 0, 0.8, SPLIT).fingerprint()


@pytest.mark.parametrize("signal", list(KINDS))
def test_same_arguments_same_bytes_and_the_stated_label_rates(signal: str) -> None:
    a, b = make_synthetic(20000, 3, 0.5, SPLIT, signal), make_synthetic(20000, 3, 0.5, SPLIT, signal)
    assert a.fingerprint() == b.fingerprint()
    assert all(np.array_equal(a.train.labels[k], b.train.labels[k]) for k in a.train.labels)
    assert a.fingerprint() != make_synthetic(20000, 4, 0.5, SPLIT, signal).fingerprint()
    labels = {k: np.concatenate([a.split(s).labels[k] for s in ("train", "val", "test")]) for k in SIGNALS}
    for name, rate in (("click", 0.05), ("ad_click", 0.03), ("fraud", 0.01)):
        assert abs(labels[name].mean() - rate) < 0.25 * rate, (name, labels[name].mean())
    shares = np.bincount(labels["relevance"].astype(int), minlength=5) / len(labels["relevance"])
    np.testing.assert_allclose(shares, (0.45, 0.25, 0.15, 0.10, 0.05), atol=0.01)


@pytest.mark.parametrize("conflict", [0.0, 0.5, 1.0])
def test_id_signals_part_by_the_conflict_angle(conflict: float) -> None:
    """Any two tasks' signals correlate by cos²θ (θ = conflict · π/2), in the features' part and the ids' alike."""
    rng = np.random.default_rng(0)
    rows = 100_000
    num = rng.standard_normal((rows, 12)).astype(np.float32)
    cat, tables = _ids(rng, rows, cardinalities(rows), len(SIGNALS) + 1)
    signals = _id_signals(rng, num, cat, tables, conflict * np.pi / 2)
    assert list(signals) == list(SIGNALS)
    corr = np.corrcoef(np.stack(list(signals.values())))
    expected = np.cos(conflict * np.pi / 2) ** 2
    off = corr[~np.eye(len(SIGNALS), dtype=bool)]
    if conflict == 0.0:
        np.testing.assert_allclose(off, 1.0, atol=1e-6)  # one signal for all
    # the ids' effects correlate as their directions do only up to the sample of ids drawn (4 devices, 64 segments):
    # within 0.17 of cos²θ over six data seeds, so 0.5 and 1 are told apart
    assert np.abs(off - expected).max() < 0.2, (off, expected)
    assert all(abs(s.std() - 1) < 1e-6 for s in signals.values())


def test_with_one_number_per_id_the_trade_off_follows_lambda_not_the_seed() -> None:
    """The demo's promise: each task wins where λ favours it, by more than the seeds move it."""
    from paretomoo.data import load_data
    from paretomoo.trainer import Trainer

    spec = load_spec("studies/ecommerce.toml")
    assert spec.data.options.signal == "ids" and spec.model.embedding_dim == 1
    spec = spec.replace(data={"rows": 30000}, training={"epochs": 3, "device": "cpu"})
    trainer = Trainer(spec, load_data(spec.data), "cpu")
    favour = {"click": [0.9, 0.04, 0.02, 0.04], "ad_click": [0.04, 0.9, 0.02, 0.04]}
    seeds = [0, 1]
    lam = np.array([w for w in favour.values() for _ in seeds])
    res = trainer.fit(lam, seeds=seeds * len(favour))
    auc = {task: np.array([[r.val[task]["auc"] for r in res[i * 2 : i * 2 + 2]] for i in range(2)]) for task in favour}  # [favoured, seed]
    for i, task in enumerate(favour):
        own, other = auc[task][i], auc[task][1 - i]
        assert own.min() - other.max() > 0.03, (task, own, other)  # every seed of one beats every seed of the other
        assert (own - other).min() > 2 * max(np.ptp(own), np.ptp(other)), (task, own, other)  # by more than the seeds move either


def test_an_unknown_signal_is_a_one_line_error(tmp_path) -> None:
    text = open("studies/ecommerce.toml", encoding="utf-8").read().replace('signal = "ids"', 'signal = "teacher"')
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match=r"spec key 'data.signal': unknown value 'teacher'; choose one of teachers, ids"):
        load_spec(path)
    with pytest.raises(ValueError, match="signal must be one of"):
        make_synthetic(1000, 0, 0.5, SPLIT, "teacher")
