"""One λ-conditioned training against a 32-trial sweep: front quality, wall time, and the gap at each end.

For each spec and each of ``--seeds`` seeds, interleaved, two real studies on the
same data, one CPU thread each, the same epochs per model:

* ``sweep``: ``--budget`` fixed-λ trials by the default optimizer (optuna-tpe, the best
  of benchmarks/front_quality.py), through the population trainer;
* ``conditioned``: ``optimizer = "conditioned"`` (one conditioned model, ``points`` λ
  measured by forward passes), then its 5 exact checks (knee and each end);
* the conditioning compared, front quality only: weight mixing trained at α = 0.3,
  and per-row FiLM on the shared bottom (shared-bottom specs).

Reported (validation values, since the fronts are selected there): the
hypervolume of the conditioned points' front ÷ the sweep's, both normalised by
the ideal and nadir of the non-dominated set of every exactly trained model of
the run (each sweep and each check); the wall time of training plus measuring
and storing every λ ÷ the sweep's wall time; at each objective's end, the
conditioned point's shortfall against its exact retraining beside that
difference's seed noise (``Gap``). Median and quartiles over the seeds.

    python benchmarks/conditioned.py [--seeds 3] [--budget 32]

Writes ``benchmarks/results/conditioned.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from bootstrap_cost import run_facts
from front_quality import hv_ratio, normaliser, spread

from paretomoo.conditioned._train import SAMPLES
from paretomoo.spec import SearchSpec

ALPHA = SearchSpec.alpha  # the default conditioned study's
# the conditioning compared beside the default study (front quality): weight mixing at other (α, λ per step)
MIXING = [(a, d) for a, d in ((0.3, 8), (1.0, 8), (0.3, 16), (1.0, 16)) if (a, d) != (ALPHA, SAMPLES)]

ROOT = Path(__file__).resolve().parents[1]
SPECS = {"ecommerce": ("studies/ecommerce.toml", {"rows": 60000}), "census_income": ("studies/census_income.toml", {})}


def _values(spec: Any, records: list[Any], keep: Any) -> np.ndarray:
    rows = [r.values for r in records if r.state == "complete" and keep(r)]
    return np.array(rows, dtype=np.float64).reshape(-1, len(spec.tasks))


def sweep(path: str, data: dict[str, Any], seed: int, budget: int) -> dict[str, Any]:
    from paretomoo.spec import load_spec
    from paretomoo.study import run_study

    spec = load_spec(path).replace(
        data=data,
        training={"device": "cpu", "workers": 1, "population": 8, "seed": seed},
        search={"seed": seed, "trials": budget, "batch": 8},
    )
    with tempfile.TemporaryDirectory(prefix="paretomoo-cond-") as tmp:
        t0 = time.perf_counter()
        store = run_study(spec, storage=f"sqlite:///{tmp}/s.db")
        wall = time.perf_counter() - t0
        return {"wall_s": wall, "values": _values(spec, store.records(), lambda r: True).tolist(), "directions": spec.directions}


def conditioned(path: str, data: dict[str, Any], seed: int) -> dict[str, Any]:
    from paretomoo.conditioned import gaps, run_conditioned
    from paretomoo.spec import load_spec
    from paretomoo.study import execute, prepare

    spec = load_spec(path).replace(
        data=data,
        training={"device": "cpu", "workers": 1, "population": 8, "seed": seed},
        search={"seed": seed, "optimizer": "conditioned", "trials": 5},
    )
    with tempfile.TemporaryDirectory(prefix="paretomoo-cond-") as tmp:
        t0 = time.perf_counter()
        store, trainer, layout = prepare(spec, storage=f"sqlite:///{tmp}/c.db")
        setup = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_conditioned(store, trainer)
        wall = time.perf_counter() - t0
        execute(store, trainer, layout)
        t0 = time.perf_counter()
        trainer.fit(store.space.to_lambda(np.zeros((1, store.space.dim))))  # one fixed-λ training, alone: the yardstick
        one = time.perf_counter() - t0
        records = store.records()
        attrs = store.study.user_attrs["conditioned"]
        found = gaps(records, spec.objectives, spec.directions, spec.tasks)
    ends = {}
    for g in found:
        if g.end is not None:
            j = spec.objectives.index(g.end)
            ends[g.end] = {"gap": g.gap[j], "noise": g.noise[j]}
    return {
        "wall_s": wall,
        "setup_s": setup,
        "train_s": attrs["train_seconds"],
        "measure_s": attrs["measure_seconds"],
        "one_training_s": one,
        "points": attrs["points"],
        "values": _values(spec, records, lambda r: r.conditioned is not None).tolist(),
        "checks": _values(spec, records, lambda r: r.check_of is not None).tolist(),
        "ends": ends,
    }


# -- the conditioning compared: weight mixing at another α, and FiLM on the shared bottom -------------------------

FILM_LR = 10.0  # the FiLM network's learning rate ÷ the model's (per-row FiLM only moved with its own, higher rate)
FILM_ALPHA = 0.3


def _trainer(path: str, data: dict[str, Any]) -> Any:
    from paretomoo.data import load_data
    from paretomoo.spec import load_spec
    from paretomoo.trainer import Trainer

    spec = load_spec(path).replace(data=data, training={"device": "cpu"})  # training seed 0 + the benchmark's seed (arms)
    trainer = Trainer(spec, load_data(spec.data), "cpu")
    trainer.warm_up()
    return trainer


def mixing_arm(trainer: Any, seed: int, alpha: float, samples: int) -> dict[str, Any]:
    """Weight mixing trained at another Dirichlet α or λ per step, measured at the study's points (no study: training
    and measuring)."""
    from paretomoo.conditioned import evaluation_points, measure_mixture, train_mixture
    from paretomoo.space import LambdaSpace

    spec = trainer.spec
    space = LambdaSpace(spec.task_names, spec.lam)
    lam = space.to_lambda(evaluation_points(space, spec.search.points, seed))
    t0 = time.perf_counter()
    mix = train_mixture(trainer, space, [spec.training.seed + seed], alpha, seed, samples)
    res = measure_mixture(trainer, mix, lam)
    values = [[r[0]["val"][t.name][t.metric] for t in spec.tasks] for r in res]
    return {"seconds": time.perf_counter() - t0, "values": values}


def film_arm(trainer: Any, seed: int) -> dict[str, Any]:
    """Per-row FiLM on the shared bottom's output: ``h · (1 + γ(λ)) + β(λ)``, γ and β from a small network of log λ
    at FILM_LR × the learning rate; each row draws its own λ ~ Dirichlet(FILM_ALPHA) and its loss is Σ λ_i ℓ_i of that
    row. Shared-bottom models only."""
    import torch
    from torch import nn

    from paretomoo.conditioned import evaluation_points, sample_lambda
    from paretomoo.models import build_model
    from paretomoo.models._shared_bottom import _linears
    from paretomoo.space import LambdaSpace
    from paretomoo.tasks import metrics_many, task_loss
    from paretomoo.trainer import adamw

    spec, cfg = trainer.spec, trainer.spec.training
    space = LambdaSpace(spec.task_names, spec.lam)
    t = len(spec.tasks)
    torch.manual_seed(seed)
    base = build_model(trainer.shape, spec.model, [cfg.seed + seed])
    width = spec.model.bottom[-1]
    film = nn.Sequential(nn.Linear(t, 32), nn.ReLU(), nn.Linear(32, 2 * width))
    nn.init.zeros_(film[2].weight)
    nn.init.zeros_(film[2].bias)

    def forward(num: torch.Tensor, cat: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        h = base.inputs(num, cat)
        for layer in _linears(base.bottom):
            h = torch.relu(torch.baddbmm(layer.bias, h, layer.weight))
        gamma, beta = film(torch.log(lam)).chunk(2, dim=-1)
        h = h * (1 + gamma) + beta
        for w, b in base.towers.layers():
            h = torch.relu(torch.baddbmm(b, h, w))
        return base.outputs(base.towers.scores(h))[0]  # [B, T]

    opt = adamw(list(base.parameters()), cfg.lr, cfg.weight_decay)
    opt.add_param_group({"params": list(film.parameters()), "lr": cfg.lr * FILM_LR, "weight_decay": cfg.weight_decay})
    gen = torch.Generator().manual_seed(cfg.seed + seed)
    rng = np.random.default_rng(seed)
    data, n = trainer.train, len(trainer.train)
    t0 = time.perf_counter()
    for _ in range(cfg.epochs):
        perm = torch.randperm(n, generator=gen)
        for begin in range(0, n, cfg.batch_size):
            idx = perm[begin : begin + cfg.batch_size]
            num, cat, y = data.num[idx], data.cat[idx], data.y[idx]
            lam = torch.as_tensor(sample_lambda(space, rng, len(idx), FILM_ALPHA), dtype=torch.float32)
            pred = forward(num, cat, lam)
            per_row = torch.stack(
                [
                    task_loss(task, pred[:, i : i + 1], y[:, i : i + 1], trainer.pos_weight[i], trainer.loss_scale[i])
                    for i, task in enumerate(spec.tasks)
                ],
                dim=1,
            )  # [B, T]
            loss = (lam * per_row).sum(dim=1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    points = space.to_lambda(evaluation_points(space, spec.search.points, seed))
    values = []
    with torch.no_grad():
        split = trainer.val
        for first in range(0, len(points), 64):
            part = torch.as_tensor(points[first : first + 64], dtype=torch.float32)
            scores = torch.stack([forward(split.num, split.cat, lam.expand(len(split), -1)) for lam in part])  # [c, n, T]
            per_task = [metrics_many(task, scores[..., i], split.y[:, i], split.groups.get(i)) for i, task in enumerate(spec.tasks)]
            values += [[per_task[i][j][task.metric] for i, task in enumerate(spec.tasks)] for j in range(len(part))]
    return {"seconds": time.perf_counter() - t0, "values": values}


ARMS = ("conditioned", *(f"mixing_{a:g}_{d}" for a, d in MIXING), "film")
LABELS = {
    "conditioned": f"weight mixing, α = {ALPHA:g}, {SAMPLES} λ a step (default)",
    **{f"mixing_{a:g}_{d}": f"weight mixing, α = {a:g}, {d} λ a step" for a, d in MIXING},
    "film": "per-row FiLM, α = 0.3",
}


def summarise(runs: list[dict[str, Any]], facts: dict[str, Any], seeds: int, budget: int) -> dict[str, Any]:
    """A spec's result from its runs: per run the HV of each arm ÷ the sweep's, the time ratios and the ends, then
    their medians and spread. The fronts themselves (a thousand points a run and arm) are not kept."""
    from paretomoo.front import pareto_mask, to_min

    directions = runs[0]["sweep"]["directions"]
    exact = np.vstack([np.array(r["sweep"]["values"]) for r in runs] + [np.array(r["conditioned"]["checks"]) for r in runs])
    F_ref = to_min(exact, directions)
    ideal, span = normaliser(F_ref[pareto_mask(F_ref)])

    def hv(values: list[list[float]]) -> float:
        return hv_ratio(to_min(np.array(values), directions), ideal, span, 1.0)

    kept = []
    for r in runs:
        c = r["conditioned"]
        hv_sweep = hv(r["sweep"]["values"])
        worst = max(c["ends"].values(), key=lambda e: e["gap"] - e["noise"])  # the end nearest to failing its bar
        kept.append(
            {
                "hv_ratio": {arm: hv(r[arm]["values"]) / hv_sweep for arm in ARMS if arm in r},
                "time_ratio": c["wall_s"] / r["sweep"]["wall_s"],
                "measure_ratio": c["measure_s"] / c["one_training_s"],  # measuring every λ ÷ one fixed-λ training
                "worst_end": worst,
                "ends": c["ends"],
                "seconds": {
                    "sweep": r["sweep"]["wall_s"],
                    **{k: c[k] for k in ("wall_s", "setup_s", "train_s", "measure_s", "one_training_s")},
                    **{arm: r[arm]["seconds"] for arm in ARMS[1:] if arm in r},
                },
            }
        )
    column = {
        "hv_ratio": [k["hv_ratio"]["conditioned"] for k in kept],
        "time_ratio": [k["time_ratio"] for k in kept],
        "measure_ratio": [k["measure_ratio"] for k in kept],
        "max_end_gap": [k["worst_end"]["gap"] for k in kept],
        "max_end_noise": [k["worst_end"]["noise"] for k in kept],
    }
    return {
        "facts": facts,
        "seeds": seeds,
        "budget": budget,
        **{key: float(np.median(xs)) for key, xs in column.items()},
        "spread": {key: spread(xs) for key, xs in column.items()},
        # HV ÷ the sweep's, per way of conditioning
        "conditioning": {arm: spread([k["hv_ratio"][arm] for k in kept]) for arm in ARMS if arm in kept[0]["hv_ratio"]},
        "runs": kept,
    }


def print_result(name: str, res: dict[str, Any]) -> None:
    print(f"\n{name} ({res['seeds']} seeds, sweep of {res['budget']} by optuna-tpe), median [q25–q75]")
    print(f"{'measure':<34}{'median':>10}{'q25':>10}{'q75':>10}")
    for key, label in (
        ("measure_ratio", "measuring every λ ÷ one training"),
        ("hv_ratio", "HV conditioned ÷ sweep"),
        ("time_ratio", "wall time conditioned ÷ sweep"),
        ("max_end_gap", "worst end gap (fraction)"),
        ("max_end_noise", "  its noise"),
    ):
        q = res["spread"][key]
        print(f"{label:<34}{q['median']:>10.3f}{q['q25']:>10.3f}{q['q75']:>10.3f}")
    print("conditioning compared (HV ÷ sweep's, median [q25–q75]):")
    for arm, q in res["conditioning"].items():
        print(f"  {LABELS[arm]:<44} {q['median']:.3f} [{q['q25']:.3f}–{q['q75']:.3f}]")
    for k in sorted({k for r in res["runs"] for k in r["ends"]}):
        gs = [r["ends"][k]["gap"] for r in res["runs"] if k in r["ends"]]
        ns = [r["ends"][k]["noise"] for r in res["runs"] if k in r["ends"]]
        print(f"  end of {k}: gap {np.median(gs):+.3f} (noise ±{np.median(ns):.3f})")


def main() -> None:
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budget", type=int, default=32)
    ap.add_argument("--specs", default=",".join(SPECS))
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/conditioned.json"))
    args = ap.parse_args()
    # other specs' results already in the file stay (one spec per run is fine); this run's facts are kept per spec
    previous = json.loads(Path(args.out).read_text()) if Path(args.out).is_file() else {}
    out: dict[str, Any] = {k: v for k, v in previous.items() if k in SPECS}
    for name in args.specs.split(","):
        path, data = SPECS[name]
        runs = []
        for seed in range(args.seeds):  # the two arms interleaved, seed by seed
            run = {"sweep": sweep(str(ROOT / path), data, seed, args.budget), "conditioned": conditioned(str(ROOT / path), data, seed)}
            trainer = _trainer(str(ROOT / path), data)
            for alpha, draws in MIXING:
                run[f"mixing_{alpha:g}_{draws}"] = mixing_arm(trainer, seed, alpha, draws)
            if trainer.spec.model.type == "shared_bottom":
                run["film"] = film_arm(trainer, seed)
            runs.append(run)
        out[name] = summarise(runs, run_facts(), args.seeds, args.budget)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")  # each spec's results as soon as they are in
        print_result(name, out[name])
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
