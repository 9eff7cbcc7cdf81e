"""Synthetic impressions with a behaviour sequence: each row carries the user's last clicked items.

Every item (ids ``1..items``; 0 pads a history) belongs to one of ``TOPICS``
topics and has a unit vector near its topic's centre, a hidden quality and a
price. Every user has two or three interests (topics); their past clicks are
drawn from those interests (and a few at random), most recent first. A row is
one impression: a user, a candidate item (from the user's interests half the
time, from the whole catalogue otherwise), the user's last ``length`` clicks
(``length`` from 1 to ``history``: the same user seen at different times), and
four dense features (log price, a noisy view of the quality, the slot the item
was shown in, a feature of no use).

The labels depend on the history through the candidate's match with it,
``match = max_j cos(item, history_j)`` over the valid entries: the largest
similarity with any past click, not with their average (a user with two
interests matches a candidate of either), which is what target attention over
the history (DIN) can compute and pooling cannot.

* ``click``       binary, ~12 % positive: mostly the match, then the quality and the slot;
* ``cart``        binary, ~4 % positive (on every row): the quality and a low price more than the match;
* ``conversion``  binary, ~25 % of clicks, measured on clicked rows only: NaN where ``click == 0``.

Everything is drawn from one ``numpy.random.default_rng(seed)``: the same
arguments give the same tensors. 100k rows take about a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

TOPICS = 24
DIM = 8  # item vectors
DENSE = ("log_price", "quality", "slot", "noise")  # the columns of "dense"
# label logit = weights · (match, quality, -price, -slot) + a bias for the positive rate; match and
# quality are standardised over the rows, so the weights compare
CLICK = ((3.0, 0.8, 0.0, 0.4), 0.12)
CART = ((1.0, 1.5, 1.5, 0.0), 0.04)
CONVERSION = ((0.8, 1.5, 1.5, 0.0), 0.25)


def make_sequences(
    rows: int,
    seed: int = 0,
    history: int = 20,
    users: int | None = None,
    items: int = 1000,
    split: tuple[float, float, float] = (0.8, 0.1, 0.1),
) -> dict[str, dict[str, torch.Tensor]]:
    """Impressions with each user's click history, split into ``{"train", "val", "test"}``.

    Each split maps names to tensors over its rows ``n``:
    ``user`` int64 ``[n]`` (ids ``0..users-1``), ``item`` int64 ``[n]`` (the
    candidate, ``1..items``), ``history`` int64 ``[n, history]`` (the last
    clicked items, most recent first, 0 past ``length``), ``length`` int64
    ``[n]`` (1 to ``history``), ``dense`` float32 ``[n, 4]`` (``DENSE``), and the
    labels ``click``, ``cart``, ``conversion`` float32 ``[n]`` (``conversion``
    NaN where ``click == 0``).

    Args:
        rows: impressions in all.
        seed: draws everything.
        history: the longest history (its padded width).
        users: distinct users (default ``rows // 20``: about 20 impressions each).
        items: the catalogue size.
        split: shares of train, validation and test rows.
    """
    import torch

    if rows < 100:
        raise ValueError(f"rows must be >= 100, got {rows}")
    if history < 1 or items < TOPICS:
        raise ValueError(f"history must be >= 1 and items >= {TOPICS}, got {history} and {items}")
    rng = np.random.default_rng(seed)
    users = max(10, rows // 20) if users is None else users

    # the catalogue: a topic, a unit vector near the topic's centre, a quality and a price per item (row 0: padding)
    topic = rng.integers(0, TOPICS, size=items + 1)
    topic[1 : TOPICS + 1] = np.arange(TOPICS)  # every topic has an item
    centres = rng.standard_normal((TOPICS, DIM))
    vec = centres[topic] + 0.5 * rng.standard_normal((items + 1, DIM))
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    quality = rng.standard_normal(items + 1)
    log_price = rng.normal(3.0, 0.8, size=items + 1)
    # items of each topic, concatenated: topic t's are members[start[t] : start[t] + count[t]]
    members = np.argsort(topic[1:], kind="stable") + 1
    count = np.bincount(topic[1:], minlength=TOPICS)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])

    def from_topic(t: np.ndarray) -> np.ndarray:
        return members[start[t] + (rng.random(t.shape) * count[t]).astype(np.int64)]

    # users: two or three interests; their last `history` clicks, most recent first (a tenth at random)
    n_interests = rng.integers(2, 4, size=users)
    interests = np.argsort(rng.random((users, TOPICS)), axis=1)[:, :3]  # three distinct topics, the first n_interests used

    def interest_of(u: np.ndarray) -> np.ndarray:
        return np.take_along_axis(interests[u], (rng.random(u.shape) * n_interests[u]).astype(np.int64)[..., None], -1)[..., 0]

    past = from_topic(interest_of(np.repeat(np.arange(users)[:, None], history, axis=1)))
    noise = rng.random((users, history)) < 0.1
    past[noise] = rng.integers(1, items + 1, size=int(noise.sum()))

    # impressions
    user = rng.integers(0, users, size=rows)
    length = rng.integers(1, history + 1, size=rows)
    own = rng.random(rows) < 0.5
    item = np.where(own, from_topic(interest_of(user)), rng.integers(1, items + 1, size=rows))
    hist = past[user]
    valid = np.arange(history)[None, :] < length[:, None]
    hist = np.where(valid, hist, 0)
    sim = np.einsum("nd,nld->nl", vec[item], vec[hist])
    match = np.where(valid, sim, -np.inf).max(axis=1)
    slot = rng.integers(0, 10, size=rows).astype(np.float64)

    def z(x: np.ndarray) -> np.ndarray:
        return (x - x.mean()) / x.std()

    parts = np.stack([z(match), z(quality[item]), -z(log_price[item]), -z(slot)], axis=1)

    def draw(weights: tuple[float, ...], rate: float, where: np.ndarray | None = None) -> np.ndarray:
        logit = parts @ np.asarray(weights)
        ref = logit if where is None else logit[where]
        bias = _bias_for_rate(ref, rate)
        return (rng.random(rows) < 1.0 / (1.0 + np.exp(-(logit + bias)))).astype(np.float32)

    click = draw(*CLICK)
    cart = draw(*CART)
    conversion = np.where(click > 0, draw(*CONVERSION, where=click > 0), np.nan).astype(np.float32)
    dense = np.stack([log_price[item], quality[item] + 0.5 * rng.standard_normal(rows), slot, rng.standard_normal(rows)], axis=1)

    columns: dict[str, np.ndarray] = {
        "user": user,
        "item": item.astype(np.int64),
        "history": hist.astype(np.int64),
        "length": length.astype(np.int64),
        "dense": dense.astype(np.float32),
        "click": click,
        "cart": cart,
        "conversion": conversion,
    }
    order = rng.permutation(rows)
    n_train, n_val = int(round(split[0] * rows)), int(round(split[1] * rows))
    bounds = {"train": order[:n_train], "val": order[n_train : n_train + n_val], "test": order[n_train + n_val :]}
    return {name: {k: torch.from_numpy(np.ascontiguousarray(v[np.sort(idx)])) for k, v in columns.items()} for name, idx in bounds.items()}


def _bias_for_rate(logit: np.ndarray, rate: float) -> float:
    """The shift of ``logit`` that makes the mean of ``sigmoid(logit + shift)`` equal ``rate`` (bisection)."""
    lo, hi = -30.0, 30.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if np.mean(1.0 / (1.0 + np.exp(-(logit + mid)))) < rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2
