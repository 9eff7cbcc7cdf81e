"""One λ-conditioned training against a 32-trial sweep: front quality, wall time, measuring cost, the gap at each end.

For each spec and each of ``--seeds`` seeds, interleaved, two real studies on the
same data, one CPU thread each, the same epochs per model:

* ``sweep``: ``--budget`` fixed-λ trials by the default optimizer (optuna-tpe, the best
  of benchmarks/front_quality.py), through the population trainer;
* ``conditioned``: ``optimizer = "conditioned"`` (its models trained, λ screened on the
  validation split, the screened front measured on test), then its 5 exact checks
  (the pick and each end); then the same models measured at the full Sobol design of
  ``FULL`` λ (validation), the yardstick of the screening;
* how many λ a training step draws, front quality only: weight mixing with one model
  at ``DRAWS`` λ a step, each measured at the full design (``--film``: per-row FiLM on
  the shared bottom too).

Reported (validation values, since the fronts are selected there): ``hv_ratio``, the
hypervolume of the conditioned points' front ÷ the sweep's, both normalised by the
ideal and nadir of the non-dominated set of every exactly trained model of the run
(each sweep and each check); ``screen_hv_ratio``, the screened front's hypervolume ÷
the full design's on the same models; ``time_ratio``, the wall time of training,
screening, measuring and storing every λ ÷ the sweep's (both without their common
start-up: loading the data, opening the study); ``measure_ratio``, screening and
measuring ÷ one fixed-λ training; at each objective's end, the conditioned point's
shortfall against its exact retraining beside that difference's seed noise (``Gap``).
Median and quartiles over the seeds. ``--demo`` adds ``demo_seconds_ratio``: the whole
``paretomoo run`` of the full-size demo, studies/ecommerce_conditioned.toml (its exact
checks included) ÷ studies/ecommerce.toml, wall time, interleaved, median of 3.

    python benchmarks/conditioned.py [--seeds 5] [--budget 32] [--demo]

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
DRAWS = (2, 4, 8)  # λ a training step draws, compared (one model each, measured at the full design)
FULL = 1024  # the full design: the centre, each task's end, then FULL Sobol points (what the screening is checked against)

ROOT = Path(__file__).resolve().parents[1]
SPECS = {"ecommerce": ("studies/ecommerce.toml", {"rows": 60000}), "census_income": ("studies/census_income.toml", {})}
DEMO = ("studies/ecommerce.toml", "studies/ecommerce_conditioned.toml")


def _values(spec: Any, records: list[Any], keep: Any) -> np.ndarray:
    rows = [r.values for r in records if r.state == "complete" and keep(r)]
    return np.array(rows, dtype=np.float64).reshape(-1, len(spec.tasks))


def sweep(path: str, data: dict[str, Any], seed: int, budget: int) -> dict[str, Any]:
    from paretomoo.spec import load_spec
    from paretomoo.study import execute, prepare

    spec = load_spec(path).replace(
        data=data,
        training={"device": "cpu", "workers": 1, "population": 8, "seed": seed},
        search={"seed": seed, "trials": budget, "batch": 8},
    )
    with tempfile.TemporaryDirectory(prefix="paretomoo-cond-") as tmp:
        t0 = time.perf_counter()
        store, trainer, layout = prepare(spec, storage=f"sqlite:///{tmp}/s.db")
        setup = time.perf_counter() - t0
        t0 = time.perf_counter()
        execute(store, trainer, layout)
        wall = time.perf_counter() - t0
        return {
            "wall_s": wall,
            "setup_s": setup,
            "values": _values(spec, store.records(), lambda r: True).tolist(),
            "directions": spec.directions,
        }


def _full_design(trainer: Any, store: Any, seed: int) -> tuple[list[list[float]], list[list[float]], float]:
    """The study's conditioned models measured at the full design (each task's own metric): the mean over the models
    per λ on validation and on test, and the seconds the validation half took (what the screening replaces)."""
    from paretomoo.conditioned import Mixture, evaluation_points, measure_mixture

    spec = trainer.spec
    blob = store.weights.load_conditioned()
    mix = Mixture(trainer.shape, spec.model, [int(s) for s in blob["seeds"]], trainer.device)
    mix.load(blob["anchors"])
    lam = store.space.to_lambda(evaluation_points(store.space, FULL, seed))
    t0 = time.perf_counter()
    val = measure_mixture(trainer, mix, lam, splits=("val",), primary_only=True)
    seconds = time.perf_counter() - t0
    test = measure_mixture(trainer, mix, lam, splits=("test",), primary_only=True)

    def mean(got: list[list[dict[str, Any]]], split: str) -> list[list[float]]:
        return [np.mean([[r[split][t.name][t.metric] for t in spec.tasks] for r in point], axis=0).tolist() for point in got]

    return mean(val, "val"), mean(test, "test"), seconds


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
        t0 = time.perf_counter()
        execute(store, trainer, layout)
        checks_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        trainer.fit(store.space.to_lambda(np.zeros((1, store.space.dim))))  # one fixed-λ training, alone: the yardstick
        one = time.perf_counter() - t0
        full, full_test, full_s = _full_design(trainer, store, seed)
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
        "checks_s": checks_s,
        "train_s": attrs["train_seconds"],
        "measure_s": attrs["measure_seconds"],
        "one_training_s": one,
        "full_measure_s": full_s,
        "points": attrs["points"],
        "measured_test": attrs["measured_test"],
        "rounds": len(attrs["rounds"]),
        "values": _values(spec, records, lambda r: r.conditioned is not None).tolist(),
        "full_values": full,
        "full_test": full_test,
        "test_values": [[r.test[t.name][t.metric] for t in spec.tasks] for r in records if r.conditioned is not None and r.measured_test],
        "test_values_val": [r.values for r in records if r.conditioned is not None and r.measured_test],
        "metrics": [t.metric for t in spec.tasks],
        "checks": _values(spec, records, lambda r: r.check_of is not None).tolist(),
        "ends": ends,
    }


def demo_seconds(rounds: int = 3) -> dict[str, Any]:
    """The whole ``paretomoo run`` of each full-size demo spec in a fresh folder, interleaved (the order alternates
    round by round): wall seconds per spec."""
    import subprocess
    import sys

    out: dict[str, list[float]] = {path: [] for path in DEMO}
    for k in range(rounds):
        for path in DEMO if k % 2 == 0 else DEMO[::-1]:
            with tempfile.TemporaryDirectory(prefix="paretomoo-demo-") as tmp:
                text = (ROOT / path).read_text()
                spec = Path(tmp) / Path(path).name
                spec.write_text(text)
                cmd = [str(Path(sys.executable).parent / "paretomoo"), "run", str(spec), "--quiet", "--storage", f"sqlite:///{tmp}/s.db"]
                t0 = time.perf_counter()
                subprocess.run(cmd, cwd=tmp, check=True, stdout=subprocess.DEVNULL)
                out[path].append(time.perf_counter() - t0)
    ratios = [c / s for s, c in zip(out[DEMO[0]], out[DEMO[1]], strict=True)]
    return {"seconds": out, "demo_seconds_ratio": float(np.median(ratios)), "spread": spread(ratios)}


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


def mixing_arm(trainer: Any, seed: int, samples: int) -> dict[str, Any]:
    """One model of weight mixing trained at ``samples`` λ a step, measured at the full design (validation, each
    task's own metric; no study: training and measuring)."""
    from paretomoo.conditioned import evaluation_points, measure_mixture, train_mixture
    from paretomoo.space import LambdaSpace

    spec = trainer.spec
    space = LambdaSpace(spec.task_names, spec.lam)
    lam = space.to_lambda(evaluation_points(space, FULL, seed))
    t0 = time.perf_counter()
    mix = train_mixture(trainer, space, [spec.training.seed + seed], ALPHA, seed, samples)
    train_s = time.perf_counter() - t0
    res = measure_mixture(trainer, mix, lam, splits=("val",), primary_only=True)
    values = [[r[0]["val"][t.name][t.metric] for t in spec.tasks] for r in res]
    return {"seconds": time.perf_counter() - t0, "train_s": train_s, "values": values}


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


ARMS = (*(f"draws_{d}" for d in DRAWS), "film")
LABELS = {
    **{f"draws_{d}": f"weight mixing, α = {ALPHA:g}, {d} λ a step" + (" (default)" if d == SAMPLES else "") for d in DRAWS},
    "film": "per-row FiLM, α = 0.3",
}


def summarise(runs: list[dict[str, Any]], facts: dict[str, Any], seeds: int, budget: int) -> dict[str, Any]:
    """A spec's result from its runs: per run the HV of each arm ÷ the sweep's, the time ratios and the ends, then
    their medians and spread. The fronts themselves (a thousand points a run and arm) are not kept."""
    from paretomoo.front import hypervolume, pareto_mask, reference_point, to_min

    directions = runs[0]["sweep"]["directions"]
    exact = np.vstack([np.array(r["sweep"]["values"]) for r in runs] + [np.array(r["conditioned"]["checks"]) for r in runs])
    F_ref = to_min(exact, directions)
    ideal, span = normaliser(F_ref[pareto_mask(F_ref)])

    def hv(values: list[list[float]]) -> float:
        return hv_ratio(to_min(np.array(values), directions), ideal, span, 1.0)

    def study_hv(values: list[list[float]], metrics: list[str]) -> float:
        """The hypervolume ``status`` prints: the study's reference point (the metrics' floors)."""
        V = np.array(values)
        return hypervolume(to_min(V, directions), reference_point(metrics, directions, V))

    def test_hv(val: list[list[float]], test: list[list[float]], metrics: list[str]) -> float:
        """The study's hypervolume of the test values of the validation front (selection on validation)."""
        on = pareto_mask(to_min(np.array(val), directions))
        return study_hv(np.array(test)[on].tolist(), metrics)

    kept = []
    for r in runs:
        c = r["conditioned"]
        hv_sweep = hv(r["sweep"]["values"])
        worst = max(c["ends"].values(), key=lambda e: e["gap"] - e["noise"])  # the end nearest to failing its bar
        kept.append(
            {
                "hv_ratio": hv(c["values"]) / hv_sweep,
                "screen_hv_ratio": study_hv(c["values"], c["metrics"]) / study_hv(c["full_values"], c["metrics"]),
                "screen_hv_ratio_test": test_hv(c["test_values_val"], c["test_values"], c["metrics"])
                / test_hv(c["full_values"], c["full_test"], c["metrics"]),
                "screen_hv_ratio_exact": hv(c["values"]) / hv(c["full_values"]),
                "draws_hv_ratio": {arm: hv(r[arm]["values"]) / hv_sweep for arm in ARMS if arm in r},
                "time_ratio": c["wall_s"] / r["sweep"]["wall_s"],
                "measure_ratio": c["measure_s"] / c["one_training_s"],  # screening and measuring ÷ one fixed-λ training
                "full_measure_ratio": c["full_measure_s"] / c["one_training_s"],
                "points": c["points"],
                "measured_test": c["measured_test"],
                "rounds": c["rounds"],
                "worst_end": worst,
                "ends": c["ends"],
                "seconds": {
                    "sweep": r["sweep"]["wall_s"],
                    "sweep_setup_s": r["sweep"]["setup_s"],
                    **{k: c[k] for k in ("wall_s", "setup_s", "checks_s", "train_s", "measure_s", "one_training_s", "full_measure_s")},
                    **{arm: r[arm]["seconds"] for arm in ARMS if arm in r},
                },
            }
        )
    column = {
        key: [k[key] for k in kept]
        for key in (
            "hv_ratio",
            "screen_hv_ratio",
            "screen_hv_ratio_test",
            "screen_hv_ratio_exact",
            "time_ratio",
            "measure_ratio",
            "full_measure_ratio",
            "points",
            "measured_test",
        )
    }
    column["max_end_gap"] = [k["worst_end"]["gap"] for k in kept]
    column["max_end_noise"] = [k["worst_end"]["noise"] for k in kept]
    return {
        "facts": facts,
        "seeds": seeds,
        "budget": budget,
        "samples": SAMPLES,
        **{key: float(np.median(xs)) for key, xs in column.items()},
        "spread": {key: spread(xs) for key, xs in column.items()},
        # HV ÷ the sweep's, one model per arm at the full design, per λ a training step draws
        "draws": {arm: spread([k["draws_hv_ratio"][arm] for k in kept]) for arm in ARMS if arm in kept[0]["draws_hv_ratio"]},
        "runs": kept,
    }


def print_result(name: str, res: dict[str, Any]) -> None:
    print(f"\n{name} ({res['seeds']} seeds, sweep of {res['budget']} by optuna-tpe), median [q25–q75]")
    print(f"{'measure':<44}{'median':>10}{'q25':>10}{'q75':>10}")
    for key, label in (
        ("hv_ratio", "HV conditioned ÷ sweep"),
        ("time_ratio", "wall time conditioned ÷ sweep"),
        ("measure_ratio", "screening + measuring ÷ one training"),
        ("full_measure_ratio", f"  (the full {FULL}-point design ÷ one training)"),
        ("screen_hv_ratio", f"HV screened ÷ full {FULL}-point design (val)"),
        ("screen_hv_ratio_test", "  the same on test (validation fronts)"),
        ("screen_hv_ratio_exact", "  the same, normalised as HV ÷ sweep"),
        ("points", "λ screened"),
        ("measured_test", "λ measured on test (the screened front)"),
        ("max_end_gap", "worst end gap (fraction)"),
        ("max_end_noise", "  its noise"),
    ):
        q = res["spread"][key]
        print(f"{label:<44}{q['median']:>10.3f}{q['q25']:>10.3f}{q['q75']:>10.3f}")
    print("λ a training step draws (one model, full design; HV ÷ sweep's, median [q25–q75]):")
    for arm, q in res["draws"].items():
        print(f"  {LABELS[arm]:<44} {q['median']:.3f} [{q['q25']:.3f}–{q['q75']:.3f}]")
    for k in sorted({k for r in res["runs"] for k in r["ends"]}):
        gs = [r["ends"][k]["gap"] for r in res["runs"] if k in r["ends"]]
        ns = [r["ends"][k]["noise"] for r in res["runs"] if k in r["ends"]]
        print(f"  end of {k}: gap {np.median(gs):+.3f} (noise ±{np.median(ns):.3f})")


def main() -> None:
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=int, default=32)
    ap.add_argument("--specs", default=",".join(SPECS))
    ap.add_argument("--draws", default=",".join(map(str, DRAWS)), help="λ a step compared (one model each; empty: none)")
    ap.add_argument("--film", action="store_true", help="also per-row FiLM on the shared bottom (shared-bottom specs)")
    ap.add_argument("--demo", action="store_true", help="also the full-size demo's two `paretomoo run`, 3 rounds")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/conditioned.json"))
    args = ap.parse_args()
    # other specs' results already in the file stay (one spec per run is fine); this run's facts are kept per spec
    previous = json.loads(Path(args.out).read_text()) if Path(args.out).is_file() else {}
    out: dict[str, Any] = {k: v for k, v in previous.items() if k in (*SPECS, "demo")}
    for name in [n for n in args.specs.split(",") if n]:
        path, data = SPECS[name]
        runs = []
        for seed in range(args.seeds):  # the arms interleaved, seed by seed
            run = {"sweep": sweep(str(ROOT / path), data, seed, args.budget), "conditioned": conditioned(str(ROOT / path), data, seed)}
            trainer = _trainer(str(ROOT / path), data)
            for draws in [int(d) for d in args.draws.split(",") if d]:
                run[f"draws_{draws}"] = mixing_arm(trainer, seed, draws)
            if args.film and trainer.spec.model.type == "shared_bottom":
                run["film"] = film_arm(trainer, seed)
            runs.append(run)
        out[name] = summarise(runs, run_facts(), args.seeds, args.budget)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")  # each spec's results as soon as they are in
        print_result(name, out[name])
    if args.demo:
        out["demo"] = {**demo_seconds(), "facts": run_facts()}
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
        q = out["demo"]["spread"]
        print(f"\nfull-size demo, whole `paretomoo run`: conditioned ÷ sweep {q['median']:.3f} [{q['q25']:.3f}–{q['q75']:.3f}]")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
