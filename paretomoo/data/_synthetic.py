"""The built-in synthetic e-commerce data: four tasks that share structure and conflict.

Each row is one impression with 12 numeric features and four categorical ids
(user segment, item category, device, query); every id has a hidden vector.
Each task follows a signal s_t over them, and ``conflict`` sets how far the
tasks' signals part::

    s_t = cos(θ) · shared + sin(θ) · own_t,      θ = conflict · π/2

At 0 all four tasks follow one signal (one model serves all of them); at 1 each
follows its own. ``signal`` says what the signals are made of:

* ``"teachers"`` (the default): small random "teacher" networks over the
  features and the ids' hidden vectors, one shared and one per task. A shared
  model with a narrow bottom must split its capacity between the tasks, but
  which task gets which unit depends on the training seed as much as on λ
  (through a 4-unit bottom, ad-click AUC 0.58 under one seed, 0.83 under another).
* ``"ids"`` (the demo's): a linear score of the numeric features (30 % of the
  variance) plus, for every id, the id's effect on the task (70 %): its hidden
  vector projected on the task's direction, ``cos(θ) · d_shared + sin(θ) · d_t``.
  Each task ranks every user segment, item category and query its own way, so a
  model that embeds an id in fewer numbers than the tasks have distinct effects
  must choose whose effects its embeddings keep: with ``embedding_dim = 1`` every
  pair of tasks competes, and a wide bottom learns the rest at any λ. The choice
  follows λ rather than the seed (one number per id is a linear summary of the
  effects, with no units to win or lose). On the demo three seeds of a λ land
  within 0.02 AUC of each other, mostly within 0.005; a task that λ all but
  ignores (1000:1) moves by up to 0.07 but stays above AUC 0.70; where the ids'
  numbers tip between search's effects and fraud's, fraud PR-AUC moves by up to
  ±0.08, never to chance.

Labels:
  * click       binary, ~5 % positive   (recommendation)
  * ad_click    binary, ~3 % positive   (ads)
  * relevance   graded 0–4 within a query (search; ranked per ``query``)
  * fraud       binary, ~1 % positive   (risk control)

Everything is drawn from one ``numpy.random.default_rng(seed)``: the same
arguments give the same bytes. 200k rows take about a second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from paretomoo.data._dataset import Dataset, Split
from paretomoo.data._source import Source
from paretomoo.errors import UserError

if TYPE_CHECKING:
    from paretomoo.spec._sections import DataSpec
    from paretomoo.spec._table import Table

NUM_FEATURES = 12
LATENT = 4  # an id's hidden vector under "teachers"
TEACHER_WIDTH = 16
# (label, positive rate, signal strength): strengths are set so that a Bayes-
# optimal model reaches AUC ≈ 0.8–0.9; fraud gets a stronger signal so that its
# 1 % positives remain learnable.
BINARY = (("click", 0.05, 2.0), ("ad_click", 0.03, 2.0), ("fraud", 0.01, 4.0))
# The signals' names, in the order they are drawn.
SIGNALS = ("click", "ad_click", "relevance", "fraud")
# Share of rows at relevance 0, 1, 2, 3, 4.
GRADES = (0.45, 0.25, 0.15, 0.10, 0.05)
# "ids": the share of a signal's variance that comes from the ids' effects (the rest from the numeric features)
ID_SHARE = 0.7
KINDS = {
    "teachers": "random teacher networks over the features and the ids' hidden vectors",
    "ids": "a linear score of the features plus each id's own effect on each task",
}


def cardinalities(rows: int) -> dict[str, int]:
    return {"user_segment": 64, "item_category": 256, "device": 4, "query": max(10, rows // 100)}


def make_synthetic(rows: int, seed: int, conflict: float, split: tuple[float, float, float], signal: str = "teachers") -> Dataset:
    """Generate the data set and split it into train, validation and test rows.

    ``signal`` is one of ``KINDS``: what the tasks' signals are made of (see the module's docstring).
    """
    if signal not in KINDS:
        raise ValueError(f"signal must be one of {', '.join(KINDS)}, got {signal!r}")
    rng = np.random.default_rng(seed)
    cards = cardinalities(rows)
    theta = conflict * np.pi / 2
    num = rng.standard_normal((rows, NUM_FEATURES)).astype(np.float32)
    cat, tables = _ids(rng, rows, cards, LATENT if signal == "teachers" else len(SIGNALS) + 1)
    if signal == "teachers":
        signals = _teacher_signals(rng, num, cat, tables, theta)
    else:
        signals = _id_signals(rng, num, cat, tables, theta)
    labels = _labels(rng, signals)

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


def _ids(rng: np.random.Generator, rows: int, cards: dict[str, int], latent: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Every row's ids ``cat[rows, c]`` (long-tailed popularity, as ids in logs are) and each id's hidden vectors ``[card, latent]``."""
    cat = np.empty((rows, len(cards)), dtype=np.int64)
    tables = []
    for j, card in enumerate(cards.values()):
        p = (np.arange(card) + 1.0) ** -0.7
        cat[:, j] = rng.choice(card, size=rows, p=p / p.sum())
        tables.append(rng.standard_normal((card, latent)).astype(np.float32))
    return cat, tables


def _teacher_signals(
    rng: np.random.Generator, num: np.ndarray, cat: np.ndarray, tables: list[np.ndarray], theta: float
) -> dict[str, np.ndarray]:
    """``signal = "teachers"``: each task's signal ``[rows]`` from a shared and an own random tanh network over Z = (features, ids' vectors)."""
    z = np.concatenate([num] + [table[cat[:, j]] for j, table in enumerate(tables)], axis=1)

    def teacher() -> np.ndarray:
        w1 = rng.standard_normal((z.shape[1], TEACHER_WIDTH)).astype(np.float32) * (2.0 / np.sqrt(z.shape[1]))
        v = rng.standard_normal(TEACHER_WIDTH).astype(np.float32)
        g = np.tanh(z @ w1) @ v
        return (g - g.mean()) / g.std()

    shared = teacher()
    return {name: np.cos(theta) * shared + np.sin(theta) * teacher() for name in SIGNALS}


def _id_signals(
    rng: np.random.Generator, num: np.ndarray, cat: np.ndarray, tables: list[np.ndarray], theta: float
) -> dict[str, np.ndarray]:
    """``signal = "ids"``: each task's signal ``[rows]``, a linear score of the features plus the ids' effects on the task.

    A part's task directions are ``cos θ · d_0 + sin θ · d_(1+t)`` over orthonormal ``d`` (one
    set for the features, one per id), so any two tasks' parts correlate by cos²θ.
    """
    t = len(SIGNALS)

    def directions(dim: int) -> np.ndarray:
        q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
        return np.cos(theta) * q[:, :1] + np.sin(theta) * q[:, 1 : t + 1]  # [dim, T]

    features = num.astype(np.float64) @ directions(num.shape[1])  # [rows, T]
    effects = sum(((table @ directions(table.shape[1])).astype(np.float64))[cat[:, j]] for j, table in enumerate(tables))  # [rows, T]
    score = np.sqrt(1 - ID_SHARE) * _standard(features) + np.sqrt(ID_SHARE) * _standard(effects)
    return {name: score[:, i] / score[:, i].std() for i, name in enumerate(SIGNALS)}


def _standard(x: np.ndarray) -> np.ndarray:
    """Columns of ``x[rows, T]`` at mean 0, sd 1."""
    return (x - x.mean(axis=0)) / x.std(axis=0)


def _labels(rng: np.random.Generator, signal: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Binary labels at their positive rates, and relevance graded 0–4 from a noisy view of its signal."""
    labels: dict[str, np.ndarray] = {}
    for name, rate, strength in BINARY:
        logit = strength * signal[name]
        prob = _sigmoid(logit + _bias_for_rate(logit, rate))
        labels[name] = (rng.random(len(logit)) < prob).astype(np.float32)
    noisy = signal["relevance"] + 0.5 * rng.standard_normal(len(signal["relevance"]))
    cuts = np.quantile(noisy, np.cumsum(GRADES)[:-1])
    labels["relevance"] = np.searchsorted(cuts, noisy).astype(np.float32)
    return labels


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
    # what the signals are made of (KINDS); in the result hash only when set, so older studies keep theirs
    signal: str = field(default="teachers", metadata={"hash": "if_set"})


def _parse(t: Table, data: DataSpec) -> SyntheticData:
    rows = t.positive("rows", int, SyntheticData.rows, "rows = 200000")
    if rows < 1000:
        raise UserError(f"spec key 'data.rows' must be >= 1000 so that every split holds positives of the rare tasks, got {rows}")
    conflict = t.get("conflict", float, SyntheticData.conflict, "conflict = 0.8")
    if not 0.0 <= conflict <= 1.0:
        raise UserError(f"spec key 'data.conflict' must be within [0, 1], got {conflict}; 0 = tasks aligned, 1 = tasks independent")
    signal = t.choice("signal", list(KINDS), SyntheticData.signal)
    return SyntheticData(rows=rows, conflict=conflict, signal=signal)


def _load(data: DataSpec, data_dir: str | Path | None = None) -> Dataset:
    o = data.options
    return make_synthetic(o.rows, data.seed, o.conflict, data.split, o.signal)


SOURCE = Source("synthetic", "the built-in e-commerce generator (click, ad_click, relevance by query, fraud)", SyntheticData, _parse, _load)
