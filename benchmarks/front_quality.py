"""Which optimizer finds the front with the fewest trainings?

    python benchmarks/front_quality.py                       # the demo at 60k rows, 3 epochs: about 35 minutes on 2 cores
    python benchmarks/front_quality.py --spec studies/census_income.toml --seeds 3 --budget 48

Every optimizer of ``paretomoo.proposers.PROPOSERS`` searches λ under ``--seeds``
search seeds, ``--budget`` trainings each, in batches of the spec's
``search.batch``, exactly as a study proposes (``make_proposer`` rebuilt from the
history before every batch, near-duplicates replaced, ``search.distinct``), each
batch trained as one population pass of ``Trainer.fit`` under the training seed.
The anytime curve of a run is read at ``--budgets`` (its first B trainings). An
arm ``"optimizer:tchebycheff"`` trains with that ``search.scalarization``; an arm of
``VARIANTS`` is a configuration kept to compare against (``nsga2-pymoo-defaults``:
pymoo's NSGA-II as pymoo configures it, our ``nsga2`` until 2026-12).
``replaced per seed`` counts the proposals ``distinct`` had to move.

* **Reference front:** the non-dominated set of everything the benchmark trained,
  plus a dense sweep (the first ``--sweep`` points of the coarse-to-fine Das-Dennis
  grid over the simplex, centre and corners first).
* **Hypervolume ratio:** objectives normalised per objective to the reference
  front's ideal (0) and nadir (1); the reference point is the nadir, so the ratio
  measures the front, not its distance from chance; HV(run's front) ÷ HV(reference).
  IGD+ (pymoo) on the same normalisation, lower is better.
* **Noise floor:** the reference front's λ retrained under the next training seed,
  scored as a run: what a perfect search would score once seed noise is counted.

Writes ``benchmarks/results/front_quality.json`` (merging specs, and optimizers of a spec, already there: a
row names the run that measured it, and HV ratios compare within one run only)
and ``benchmarks/results/front_quality_<spec>.png`` (beside ``--out``, named after it: HV ratio against trainings,
median and quartiles per optimizer), and prints the table.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from bootstrap_cost import run_facts

ROOT = Path(__file__).resolve().parents[1]


def _spec(path: str, rows: int | None, epochs: int | None) -> Any:
    from paretomoo.spec import load_spec

    spec = load_spec(path)
    changes: dict[str, dict[str, object]] = {"training": {"device": "cpu"}}
    if rows is not None and spec.data.source == "synthetic":
        changes["data"] = {"rows": rows}
    if epochs is not None:
        changes["training"]["epochs"] = epochs
    return spec.replace(**changes)


_DATA: Any = None


def _trainer(spec: Any) -> Any:
    """A trainer for ``spec`` (the data loaded once per worker process)."""
    global _DATA
    import torch

    from paretomoo.data import load_data
    from paretomoo.trainer import Trainer

    if _DATA is None:
        torch.set_num_threads(1)
        _DATA = load_data(spec.data)
    return Trainer(spec, _DATA, "cpu")


def _pymoo_defaults() -> Any:
    """pymoo's NSGA-II as pymoo configures it, the ``nsga2`` of 2026-11-30: population = batch, uniform first
    generation over the box, SBX eta 15, PM eta 20, exact duplicates only."""
    from paretomoo.proposers._pymoo import NSGA2Proposer, Operators

    class PymooDefaults(NSGA2Proposer):
        operators = Operators(sbx_eta=15.0, sbx_prob=0.9, pm_eta=20.0, population=1, first="uniform", apart=0.0)

    return PymooDefaults


def _optuna_logits() -> Any:
    """Optuna's NSGA-II over the logits themselves, the ``optuna-nsga2`` of 2026-11-30."""
    from paretomoo.proposers._optuna import OptunaNSGA2Proposer

    class OptunaLogits(OptunaNSGA2Proposer):
        directions = False

    return OptunaLogits


def _nsga2_with(**changes: Any) -> Any:
    """pymoo's NSGA-II as configured, with ``changes`` to its ``Operators``."""
    from dataclasses import replace

    from paretomoo.proposers._pymoo import NSGA2Proposer

    class Changed(NSGA2Proposer):
        operators = replace(NSGA2Proposer.operators, **changes)

    return lambda: Changed


# Arms that are no registered optimizer: a configuration kept to compare against (a factory of its Proposer class).
VARIANTS = {
    "nsga2-pymoo-defaults": _pymoo_defaults,
    "optuna-nsga2-logits": _optuna_logits,
    # the nsga2 of 2026-12-06 before its population of 32: SBX eta 5, PM eta 5, a population of 16, apart by 0.15
    "nsga2-sbx-pm-16": _nsga2_with(population=16, crossover="sbx", mutation="pm", apart=0.15),
    "nsga2-sbx-pm-32": _nsga2_with(crossover="sbx", mutation="pm"),
    "nsga2-optuna-operators-16": _nsga2_with(population=16),
    "nsga2-optuna-operators-8": _nsga2_with(population=8),
    "nsga2-uniform-first-32": _nsga2_with(first="uniform"),
    "nsga2-sbx-pm-8": _nsga2_with(population=8, crossover="sbx", mutation="pm"),
}


def make_arm_proposer(optimizer: str, **kwargs: Any) -> Any:
    """``make_proposer`` for a registered optimizer, or the proposer of a ``VARIANTS`` arm."""
    from paretomoo.proposers import make_proposer

    return VARIANTS[optimizer]()(**kwargs) if optimizer in VARIANTS else make_proposer(optimizer, **kwargs)


def arm_spec(spec: Any, arm: str) -> tuple[str, Any]:
    """``"optimizer"`` or ``"optimizer:scalarization"`` → (optimizer, spec with that scalarization)."""
    optimizer, _, scalarization = arm.partition(":")
    return optimizer, spec.replace(search={"scalarization": scalarization or "weighted_sum"})


def _values(spec: Any, results: list[Any]) -> np.ndarray:
    return np.array([[r.val[t.name][t.metric] if r.failed is None else np.nan for t in spec.tasks] for r in results])


def search(job: tuple[str, int, Any, int]) -> dict[str, Any]:
    """One run: ``optimizer`` under search seed ``seed`` for ``budget`` trainings, as a study proposes."""
    from paretomoo.front import to_min
    from paretomoo.proposers import Batch
    from paretomoo.proposers._distinct import distinct, tolerance
    from paretomoo.space import LambdaSpace

    arm, seed, spec, budget = job
    optimizer, spec = arm_spec(spec, arm)
    trainer = _trainer(spec)
    space = LambdaSpace(spec.task_names, spec.lam)
    free = [spec.task_names.index(t) for t in space.free]
    batch = spec.search.batch
    history: list[Batch] = []
    lam_all, values_all = [], []
    ask_s = train_s = 0.0
    replaced = 0
    for b in range(-(-budget // batch)):
        t = time.perf_counter()
        n_hist = sum(len(h.x) for h in history)
        tol = tolerance(spec.search.distinct, len(free), budget, space.zmax)
        p = make_arm_proposer(
            optimizer, dim=space.dim, n_obj=len(spec.tasks), zmax=space.zmax, batch=batch, seed=seed, n_history=n_hist, distinct=tol
        )
        p.replay(history)
        x = p.ask(min(batch, budget - n_hist))
        seen = np.vstack([h.x for h in history]) if history else np.zeros((0, space.dim))
        x, k = distinct(x, seen, lambda z: space.to_lambda(z)[:, free], tol, space.zmax, (seed, b))
        replaced += k
        ask_s += time.perf_counter() - t
        lam = space.to_lambda(x)
        t = time.perf_counter()
        v = _values(spec, trainer.fit(lam))
        train_s += time.perf_counter() - t
        history.append(Batch(x, to_min(v, spec.directions)))
        lam_all.append(lam)
        values_all.append(v)
    return {
        "optimizer": arm,
        "seed": seed,
        "lam": np.vstack(lam_all).tolist(),
        "values": np.vstack(values_all).tolist(),
        "ask_s": ask_s,
        "train_s": train_s,
        "replaced": replaced,
    }


def train_lambdas(job: tuple[np.ndarray, Any, int]) -> list[list[float]]:
    lam, spec, seed = job
    return _values(spec, _trainer(spec).fit(lam, seeds=seed)).tolist()


def normaliser(F_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ideal, nadir = F_ref.min(axis=0), F_ref.max(axis=0)
    return ideal, np.where(nadir > ideal, nadir - ideal, 1.0)


def hv_ratio(F: np.ndarray, ideal: np.ndarray, span: np.ndarray, hv_ref: float) -> float:
    from paretomoo.front import hypervolume

    ok = np.isfinite(F).all(axis=1)
    return hypervolume((F[ok] - ideal) / span, np.ones(F.shape[1])) / hv_ref if ok.any() else 0.0


def igd_plus(F: np.ndarray, Z: np.ndarray) -> float:
    from pymoo.indicators.igd_plus import IGDPlus

    ok = np.isfinite(F).all(axis=1)
    return float(IGDPlus(Z)(F[ok])) if ok.any() else float("inf")


def spread(xs: list[float]) -> dict[str, float]:
    q1, med, q3 = np.percentile(xs, [25, 50, 75])
    return {"median": float(med), "q25": float(q1), "q75": float(q3), "min": float(min(xs)), "max": float(max(xs))}


def main() -> None:
    from paretomoo.front import hypervolume, pareto_mask, to_min
    from paretomoo.proposers import PROPOSERS
    from paretomoo.proposers._grid import grid_sequence
    from paretomoo.space import LambdaSpace, directions_to_logits

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", default=str(ROOT / "studies" / "ecommerce.toml"))
    parser.add_argument("--rows", type=int, default=60000, help="rows of a synthetic spec (default 60000)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=64)
    parser.add_argument("--budgets", default="8,16,24,32,48,64")
    parser.add_argument(
        "--optimizers", default=",".join(PROPOSERS), help='arms: optimizer names, or "optimizer:tchebycheff" for that scalarization'
    )
    parser.add_argument("--sweep", type=int, default=120, help="grid points of the dense sweep")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "front_quality.json"))
    args = parser.parse_args()

    spec = _spec(args.spec, args.rows, args.epochs)
    name = Path(args.spec).stem
    budgets = [b for b in map(int, args.budgets.split(",")) if b <= args.budget]
    optimizers = args.optimizers.split(",")
    space = LambdaSpace(spec.task_names, spec.lam)
    start = time.perf_counter()
    jobs = [(o, s, spec, args.budget) for s in range(args.seeds) for o in optimizers]
    # the slowest proposer first, so the pool does not end on it alone
    jobs.sort(key=lambda j: not j[0].startswith("optuna-gp"))
    with mp.get_context("spawn").Pool(args.workers) as pool:
        runs = []
        for r in pool.imap_unordered(search, jobs):
            runs.append(r)
            print(
                f"  {r['optimizer']:13s} seed {r['seed']}: ask {r['ask_s']:6.1f} s, train {r['train_s']:6.1f} s, {r['replaced']} replaced",
                flush=True,
            )
        sweep_x = directions_to_logits(grid_sequence(space.dim, args.sweep), space.zmax)
        sweep_lam = space.to_lambda(sweep_x)
        chunks = np.array_split(sweep_lam, max(1, len(sweep_lam) // 8))
        sweep_v = np.vstack([np.array(v) for v in pool.map(train_lambdas, [(c, spec, spec.training.seed) for c in chunks])])
        everything_lam = np.vstack([np.array(r["lam"]) for r in runs] + [sweep_lam])
        everything_v = np.vstack([np.array(r["values"]) for r in runs] + [sweep_v])
        F_all = to_min(everything_v, spec.directions)
        front = pareto_mask(F_all)
        F_ref = F_all[front]
        # noise floor: the reference front's λ under the next training seed
        ref_lam = everything_lam[front]
        chunks = np.array_split(ref_lam, max(1, len(ref_lam) // 8))
        noise_v = np.vstack([np.array(v) for v in pool.map(train_lambdas, [(c, spec, spec.training.seed + 1) for c in chunks])])
    ideal, span = normaliser(F_ref)
    Z = (F_ref - ideal) / span
    hv_ref = hypervolume(Z, np.ones(Z.shape[1]))
    F_noise = to_min(noise_v, spec.directions)
    noise_ratio = hv_ratio(F_noise, ideal, span, hv_ref)
    print(
        f"reference front: {int(front.sum())} of {len(F_all)} points; noise floor (front λ retrained, seed +1): HV ratio {noise_ratio:.3f}"
    )

    run_id = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    table: dict[str, Any] = {}
    for o in optimizers:
        mine = sorted((r for r in runs if r["optimizer"] == o), key=lambda r: r["seed"])
        hv = {b: [hv_ratio(to_min(np.array(r["values"])[:b], spec.directions), ideal, span, hv_ref) for r in mine] for b in budgets}
        igd = {b: [igd_plus((to_min(np.array(r["values"])[:b], spec.directions) - ideal) / span, Z) for r in mine] for b in budgets}
        table[o] = {
            "budgets": budgets,
            "seeds": len(mine),
            "hv_ratio_median": [spread(hv[b])["median"] for b in budgets],
            "hv_ratio_q25": [spread(hv[b])["q25"] for b in budgets],
            "hv_ratio_q75": [spread(hv[b])["q75"] for b in budgets],
            "hv_ratio_min": [spread(hv[b])["min"] for b in budgets],
            "hv_ratio_max": [spread(hv[b])["max"] for b in budgets],
            "igd_plus_median": [spread(igd[b])["median"] for b in budgets],
            "ask_seconds_median": float(np.median([r["ask_s"] for r in mine])),
            "train_seconds_median": float(np.median([r["train_s"] for r in mine])),
            "replaced_median": float(np.median([r["replaced"] for r in mine])),
            "replaced_per_seed": [int(r["replaced"]) for r in mine],
            "run": run_id,
        }

    print(f"\nHV ratio, median [q25–q75] over {args.seeds} search seeds (spec {name}, {getattr(spec.data.options, 'rows', '')} rows)")
    print(f"{'optimizer':20s} " + " ".join(f"{b:>17d}" for b in budgets) + "   ask s  train s  replaced per seed")
    for o, v in table.items():
        cells = " ".join(
            f"{m:.2f} [{a:.2f}–{c:.2f}]" for m, a, c in zip(v["hv_ratio_median"], v["hv_ratio_q25"], v["hv_ratio_q75"], strict=True)
        )
        print(f"{o:20s} {cells}   {v['ask_seconds_median']:5.0f}  {v['train_seconds_median']:6.0f}  {v['replaced_per_seed']}")

    out = Path(args.out)
    # the plot and the raw runs beside the JSON, named after it and the spec (front_quality_ecommerce.png by default)
    _plot(table, name, noise_ratio, out.with_name(f"{out.stem}_{name}.png"))
    raw = {"runs": runs, "sweep": {"lam": sweep_lam.tolist(), "values": sweep_v.tolist()}, "noise": noise_v.tolist()}
    out.with_name(f"{out.stem}_{name}_runs.json").write_text(json.dumps(raw) + "\n")
    result: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    setup = {
        "spec": os.path.relpath(args.spec, ROOT),
        "rows": getattr(spec.data.options, "rows", None),
        "epochs": spec.training.epochs,
        "batch": spec.search.batch,
        "budget": args.budget,
        "distinct": spec.search.distinct,
        "sweep": args.sweep,
        "reference_points": int(front.sum()),
        "trained": int(len(F_all)),
        "seconds": time.perf_counter() - start,
    }
    specs = result.setdefault("specs", {})
    specs[name] = merge(specs.get(name, {}), run_id, setup, noise_ratio, table)
    from paretomoo.proposers import AUTO

    result["default_optimizer"] = AUTO
    result.update(run_facts())
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out} ({time.perf_counter() - start:.0f} s)")


def merge(previous: dict[str, Any], run_id: str, setup: dict[str, Any], noise: float, table: dict[str, Any]) -> dict[str, Any]:
    """One spec's results with this run's optimizers replaced and the others' kept, each row naming its ``run``.

    HV ratios are relative to the reference front of the run that measured them: compare rows of one run only.
    ``runs`` holds each run's setup and noise floor; ``setup`` and ``noise_floor_hv_ratio`` are the latest run's.
    """
    runs = dict(previous.get("runs", {}))
    rows = dict(previous.get("optimizers", {}))
    runs[run_id] = {"setup": setup, "noise_floor_hv_ratio": noise, "optimizers": list(table)}
    rows.update(table)
    used = {v.get("run") for v in rows.values()}
    return {
        "setup": setup,
        "noise_floor_hv_ratio": noise,
        "runs": {k: v for k, v in runs.items() if k in used},
        "optimizers": rows,
    }


def _plot(table: dict[str, Any], name: str, noise: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for o, v in table.items():
        (line,) = ax.plot(v["budgets"], v["hv_ratio_median"], marker="o", label=o)
        ax.fill_between(v["budgets"], v["hv_ratio_q25"], v["hv_ratio_q75"], color=line.get_color(), alpha=0.15)
    ax.axhline(noise, color="k", ls="--", lw=1, label="noise floor (front retrained, another seed)")
    ax.set_xlabel("trainings")
    ax.set_ylabel("hypervolume ÷ reference front's")
    ax.set_title(f"{name}: front quality by budget (median, quartiles over search seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
