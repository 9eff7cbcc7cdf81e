"""The built-in synthetic e-commerce data: four tasks that share structure and conflict.

Each row is one impression with 12 numeric features and four categorical ids
(user segment, item category, device, query). Every id has a hidden latent
vector; together with the numeric features they form the row's hidden state Z.

Task signals come from small random "teacher" networks over Z::

    s_t = cos(θ) · g_shared(Z) + sin(θ) · g_t(Z),      θ = conflict · π/2

``conflict`` is the knob: at 0 all four tasks follow the same signal (one model
serves all of them); at 1 each follows its own independent nonlinear function,
so a shared model with a narrow bottom must split its capacity between them
and λ decides who gets it. The demo uses 0.9.

Labels:
  * click       binary, ~5 % positive   (recommendation)
  * ad_click    binary, ~3 % positive   (ads)
  * relevance   graded 0–4 within a query (search; ranked per ``query``)
  * fraud       binary, ~1 % positive   (risk control)

Everything is drawn from one ``numpy.random.default_rng(seed)``: the same seed
gives the same bytes. 200k rows take well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from paretomoo.data._dataset import Dataset, Split
from paretomoo.data._source import Source
from paretomoo.errors import UserError

if TYPE_CHECKING:
    from paretomoo.spec import DataSpec
    from paretomoo.spec._table import Table

NUM_FEATURES = 12
LATENT = 4
TEACHER_WIDTH = 16
# (label, positive rate, signal strength): strengths are set so that a Bayes-
# optimal model reaches AUC ≈ 0.8–0.9; fraud gets a stronger signal so that its
# 1 % positives remain learnable.
BINARY = (("click", 0.05, 2.0), ("ad_click", 0.03, 2.0), ("fraud", 0.01, 4.0))
# Share of rows at relevance 0, 1, 2, 3, 4.
GRADES = (0.45, 0.25, 0.15, 0.10, 0.05)


def cardinalities(rows: int) -> dict[str, int]:
    return {"user_segment": 64, "item_category": 256, "device": 4, "query": max(10, rows // 100)}


def make_synthetic(rows: int, seed: int, conflict: float, split: tuple[float, float, float]) -> Dataset:
    """Generate the data set and split it into train, validation and test rows."""
    rng = np.random.default_rng(seed)
    cards = cardinalities(rows)

    num = rng.standard_normal((rows, NUM_FEATURES)).astype(np.float32)
    cat = np.empty((rows, len(cards)), dtype=np.int64)
    hidden = [num]
    for j, card in enumerate(cards.values()):
        # Long-tailed popularity, as ids in logs are.
        p = (np.arange(card) + 1.0) ** -0.7
        cat[:, j] = rng.choice(card, size=rows, p=p / p.sum())
        table = rng.standard_normal((card, LATENT)).astype(np.float32)
        hidden.append(table[cat[:, j]])
    z = np.concatenate(hidden, axis=1)

    def teacher() -> np.ndarray:
        w1 = rng.standard_normal((z.shape[1], TEACHER_WIDTH)).astype(np.float32) * (2.0 / np.sqrt(z.shape[1]))
        v = rng.standard_normal(TEACHER_WIDTH).astype(np.float32)
        g = np.tanh(z @ w1) @ v
        return (g - g.mean()) / g.std()

    theta = conflict * np.pi / 2
    shared = teacher()
    names = [b[0] for b in BINARY[:2]] + ["relevance", "fraud"]
    signal = {name: np.cos(theta) * shared + np.sin(theta) * teacher() for name in names}

    labels: dict[str, np.ndarray] = {}
    for name, rate, strength in BINARY:
        logit = strength * signal[name]
        prob = _sigmoid(logit + _bias_for_rate(logit, rate))
        labels[name] = (rng.random(rows) < prob).astype(np.float32)
    noisy = signal["relevance"] + 0.5 * rng.standard_normal(rows)
    cuts = np.quantile(noisy, np.cumsum(GRADES)[:-1])
    labels["relevance"] = np.searchsorted(cuts, noisy).astype(np.float32)

    order = rng.permutation(rows)
    n_train = int(round(split[0] * rows))
    n_val = int(round(split[1] * rows))
    parts = (order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :])
    query = list(cards).index("query")

    def take(idx: np.ndarray, name: str) -> Split:
        idx = np.sort(idx)
        return Split(
            num=num[idx],
            cat=cat[idx],
            labels={k: v[idx] for k, v in labels.items()},
            keys={"query": cat[idx, query]},
            name=name,
        )

    return Dataset(
        num_names=tuple(f"x{i}" for i in range(NUM_FEATURES)),
        cat_names=tuple(cards),
        cardinalities=tuple(cards.values()),
        train=take(parts[0], "train"),
        val=take(parts[1], "val"),
        test=take(parts[2], "test"),
    )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _bias_for_rate(logit: np.ndarray, rate: float) -> float:
    """Intercept b with mean(sigmoid(logit + b)) = rate, by bisection."""
    lo, hi = -30.0, 30.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if _sigmoid(logit + mid).mean() > rate:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


# -- the source entry ----------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticData:
    """``[data]`` keys of ``source = "synthetic"``."""

    rows: int = 200_000
    conflict: float = 0.8  # 0: tasks aligned; 1: each task follows its own signal


def _parse(t: Table, data: DataSpec) -> SyntheticData:
    rows = t.positive("rows", int, SyntheticData.rows, "rows = 200000")
    if rows < 1000:
        raise UserError(f"spec key 'data.rows' must be >= 1000 so that every split holds positives of the rare tasks, got {rows}")
    conflict = t.get("conflict", float, SyntheticData.conflict, "conflict = 0.8")
    if not 0.0 <= conflict <= 1.0:
        raise UserError(f"spec key 'data.conflict' must be within [0, 1], got {conflict}; 0 = tasks aligned, 1 = tasks independent")
    return SyntheticData(rows=rows, conflict=conflict)


def _load(data: DataSpec, data_dir: str | Path | None = None) -> Dataset:
    return make_synthetic(data.options.rows, data.seed, data.options.conflict, data.split)


SOURCE = Source("synthetic", "the built-in e-commerce generator (click, ad_click, relevance by query, fraud)", SyntheticData, _parse, _load)
