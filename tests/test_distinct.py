"""No training wasted on a λ already tried (``paretomoo.proposers._distinct``)."""

from __future__ import annotations

import numpy as np
import pytest

from paretomoo.proposers._distinct import clr, distances, distinct
from paretomoo.space import LambdaSpace
from paretomoo.spec import LambdaSpec

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SPACE = LambdaSpace(["a", "b", "c", "d"], LambdaSpec())


def free(z: np.ndarray) -> np.ndarray:
    return SPACE.to_lambda(z)


def test_distance_is_on_lambda_not_on_logits() -> None:
    z = np.array([[0.1, 0.2, -0.3, 1.0]])
    # a shift of every logit is the same λ: distance 0
    assert distances(clr(free(z)), clr(free(z + 2.0))).item() == pytest.approx(0.0, abs=1e-12)
    # one log-ratio moved by 0.5 is a distance of 0.5 less the mean shift: max |Δ clr| = 0.5 * (1 - 1/4)
    moved = z.copy()
    moved[0, 0] += 0.5
    assert distances(clr(free(z)), clr(free(moved))).item() == pytest.approx(0.375)


def test_near_duplicates_are_moved_to_the_nearest_free_point() -> None:
    rng = np.random.default_rng(0)
    seen = rng.uniform(-2.5, 2.5, (10, 4))
    x = np.vstack([seen[3] + 0.01, rng.uniform(-2.5, 2.5, (1, 4)), seen[3] + 0.9])  # copies of a stored λ (the second: shifted logits)
    x = np.vstack([x, x[1] + 0.02])  # and a copy within the batch
    out, n = distinct(x, seen, free, 0.15, SPACE.zmax, (0, 1))
    assert n == 3
    assert np.array_equal(out[1], x[1])  # a new λ is kept as proposed
    # a duplicate moves as little as it takes: just past the tolerance, not to a far corner of the box
    moved = distances(clr(free(out[[0, 2, 3]])), clr(free(x[[0, 2, 3]]))).diagonal()
    assert np.all(moved < 0.5), moved
    d = distances(clr(free(out)), clr(free(np.vstack([seen, out]))))
    for i in range(len(out)):
        others = np.delete(d[i], len(seen) + i)
        assert others.min() > 0.15, (i, others.min())
    # deterministic in its seed, and a no-op when off
    again, _ = distinct(x, seen, free, 0.15, SPACE.zmax, (0, 1))
    assert np.array_equal(out, again)
    assert np.array_equal(distinct(x, seen, free, 0.0, SPACE.zmax, (0, 1))[0], x)


@pytest.mark.parametrize("optimizer", ["nsga2", "optuna-nsga2", "optuna-tpe"])
def test_the_demo_budget_trains_no_near_duplicate(write_spec, optimizer: str) -> None:
    from paretomoo.spec import load_spec

    from ._closed_form import run_loop

    def closest_pair(extra: str) -> tuple[float, int]:
        name = f"d{len(extra)}"
        trials = 48 if optimizer == "nsga2" else 32  # pymoo's NSGA-II breeds after its first generation of 32
        spec = load_spec(
            write_spec(f"{name}.toml", name=name, optimizer=optimizer, trials=trials, batch=8, rows=2000, epochs=1, extra=extra)
        )
        recs = run_loop(spec).records()  # the proposals are the subject: closed-form metrics (tests/_closed_form.py)
        lam = np.array([[r.lam[t] for t in spec.task_names] for r in recs])
        d = distances(clr(lam), clr(lam))
        np.fill_diagonal(d, np.inf)
        return float(d.min()), int((d < 0.15).sum() // 2)

    off, pairs_off = closest_pair("distinct = 0")
    on, pairs_on = closest_pair("")
    assert pairs_on == 0 and on > 0.15, (on, pairs_on)
    if optimizer == "optuna-nsga2":  # Optuna's NSGA-II offspring do repeat their parents: the check has something to remove
        assert pairs_off > 0, (off, pairs_off)
    if optimizer == "nsga2":  # with distinct = 0 NSGA-II's own check is off too (it breeds apart by the study's tolerance)
        assert pairs_off > 0, (off, pairs_off)


def test_the_tolerance_is_capped_where_the_box_fits_few_distinct_points() -> None:
    from paretomoo.proposers._distinct import tolerance

    zmax = SPACE.zmax  # max_ratio 1000: ±3.45
    assert tolerance(0.15, 4, 32, zmax) == 0.15  # the demo: the cap (1.1) is far above
    assert tolerance(0.15, 2, 48, zmax) == pytest.approx(zmax / 48)  # two tasks: 48 λ on one coordinate
    assert tolerance(0.15, 2, 16, zmax) == 0.15
    assert tolerance(0.15, 1, 48, zmax) == 0.15 and tolerance(0.0, 2, 48, zmax) == 0.0
    # 48 λ spread evenly over the two-task box are all farther apart than the cap: a search that finds them
    # is never pushed off them
    x = np.linspace(-zmax, zmax, 48)[:, None] * np.array([[1.0, -1.0]]) / 2
    lam = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    d = distances(clr(lam), clr(lam))
    np.fill_diagonal(d, np.inf)
    assert d.min() > tolerance(0.15, 2, 48, zmax)
