"""Reading a spec's ``[lambda]`` table: the largest weight ratio, bounds and fixed weights, and whether they leave a simplex to search."""

from __future__ import annotations

from paretomoo.errors import UserError
from paretomoo.spec._sections import LambdaSpec
from paretomoo.spec._table import Table, show


def parse_lambda(t: Table, names: list[str]) -> LambdaSpec:
    max_ratio = t.positive("max_ratio", float, LambdaSpec.max_ratio, "max_ratio = 1000")
    if max_ratio < 100:
        raise UserError(f"spec key 'lambda.max_ratio' must be >= 100 so that every proposer reaches 1:100 trade-offs, got {max_ratio}")
    raw_bounds = t.get("bounds", dict, {}, "bounds = { fraud = [0.01, 0.5] }")
    raw_fixed = t.get("fixed", dict, {}, "fixed = { ad_click = 0.25 }")
    t.done()

    def check_task(key: str, task: str) -> None:
        if task not in names:
            raise UserError(f"spec key 'lambda.{key}.{task}': no task is named {task!r}; use one of {', '.join(names)}")

    bounds = []
    for task, value in raw_bounds.items():
        check_task("bounds", task)
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            or not 0 <= value[0] <= value[1] <= 1
        ):
            raise UserError(f"spec key 'lambda.bounds.{task}': expected [lower, upper] with 0 <= lower <= upper <= 1, got {show(value)}")
        bounds.append((task, float(value[0]), float(value[1])))
    fixed = []
    for task, value in raw_fixed.items():
        check_task("fixed", task)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
            raise UserError(f"spec key 'lambda.fixed.{task}': expected a weight in [0, 1], got {show(value)}")
        if task in raw_bounds:
            raise UserError(f"spec key 'lambda.fixed.{task}': the task also has bounds; keep either a fixed value or bounds")
        fixed.append((task, float(value)))
    spec = LambdaSpec(max_ratio=max_ratio, bounds=tuple(bounds), fixed=tuple(fixed))
    _check_feasible(spec, names)
    return spec


def _check_feasible(spec: LambdaSpec, names: list[str]) -> None:
    fixed = dict(spec.fixed)
    free = [n for n in names if n not in fixed]
    mass = 1.0 - sum(fixed.values())
    if not free:
        raise UserError("spec key 'lambda.fixed': every task is fixed, so there is nothing to search; leave at least two tasks free")
    if len(free) < 2:
        raise UserError(f"spec key 'lambda.fixed': only {free[0]!r} is free, so its weight is forced; leave at least two tasks free")
    if mass < -1e-9:
        raise UserError(f"spec key 'lambda.fixed': fixed weights sum to {1 - mass:.4g} > 1; λ lives on the simplex, so lower them")
    bounds = {n: (lo, hi) for n, lo, hi in spec.bounds}
    lo_sum = sum(bounds.get(n, (0.0, 1.0))[0] for n in free)
    hi_sum = sum(bounds.get(n, (0.0, 1.0))[1] for n in free)
    if lo_sum > mass + 1e-9:
        raise UserError(
            f"spec key 'lambda.bounds': lower bounds sum to {lo_sum:.4g} but only {mass:.4g} of the weight is free; lower them so that they sum to at most {mass:.4g}"
        )
    if hi_sum < mass - 1e-9:
        raise UserError(
            f"spec key 'lambda.bounds': upper bounds sum to {hi_sum:.4g} but the free weights must sum to {mass:.4g}; raise them"
        )
