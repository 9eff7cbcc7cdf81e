"""Does the default pick export a model a practitioner would accept? Each pick rule against the front it picks from.

    python benchmarks/pick_quality.py [--seeds 5] [--retrain 3] [--specs ecommerce,census_income]

For each spec and each of ``--seeds`` study seeds s, one real study (``run_study``,
a throw-away SQLite file, one training process, one thread) with ``search.seed =
training.seed = s`` and the spec's own budget and repeats (census-income at a
smaller budget, stated in the JSON and the table: the same for every rule), then
through the public API (``paretomoo.api.Study``):

* ``balanced`` (the default rule), ``knee``, and ``pseudo-weights`` with equal
  weights: ``Study.pick(method=...)``, each λ retrained under ``--retrain`` fresh
  seeds (the seeds after the trial's own, as ``export --noise`` does; one training
  pass for every rule's λ);
* ``ew``, the reference: the equal-weights baseline, ``Study.train_baselines(["ew"],
  seed=...)``, trained under the same fresh seeds.

Scored on the test split (the picks are made on validation):

    worst_task_lift = min over tasks of (test mean − chance) / (best test value on the front − chance)

the test mean over the fresh seeds, chance each metric's level in the metric
registry (``decide.chance_levels``: AUC 0.5, PR-AUC and NDCG 0), the front the
study's (validation) front and the best of its trials' stored test values. 1: the
pick keeps, on its worst task, all the lift over chance the front offers there; near
0: the pick leaves some task at chance. Median and quartiles over the study seeds.

Floors: the default rule's median ≥ 0.8 on the demo and ≥ 0.9 on census-income, and
≥ the knee's on both.

Writes ``benchmarks/results/pick_quality.json`` (keys
``specs.<spec>.rules.<rule>.worst_task_lift_median``, ``_q25``, ``_q75``,
``specs.<spec>.default_rule``, every run's picks) and prints the table.
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
from front_quality import spread

ROOT = Path(__file__).resolve().parents[1]
# spec file, what the benchmark changes in it (the same for every rule), its floor for the default rule's median
SPECS: dict[str, tuple[str, dict[str, Any], float]] = {
    "ecommerce": ("studies/ecommerce.toml", {}, 0.8),
    "census_income": ("studies/census_income.toml", {"search": {"trials": 16}}, 0.9),
}
RULES = ("balanced", "knee", "pseudo-weights")  # picked by Study.pick; "ew" is the reference beside them
LABELS = {
    "balanced": "balanced (default)",
    "knee": "knee",
    "pseudo-weights": "pseudo-weights, equal weights",
    "ew": "equal-weights baseline (reference)",
}


def run(path: str, changes: dict[str, Any], seed: int, retrain: int) -> dict[str, Any]:
    """One study under study seed ``seed``, each rule's pick and the ew baseline retrained under ``retrain`` fresh seeds."""
    from paretomoo.api import Study
    from paretomoo.decide import DEFAULT_METHOD, chance_levels
    from paretomoo.noise import seed_noise_many
    from paretomoo.spec import load_spec
    from paretomoo.study import run_study

    spec = load_spec(path)
    spec = spec.replace(
        training={"device": "cpu", "workers": 1, "seed": seed},
        search={**changes.get("search", {}), "seed": seed},
        **{k: v for k, v in changes.items() if k != "search"},
    )
    with tempfile.TemporaryDirectory(prefix="paretomoo-pick-") as tmp:
        url = f"sqlite:///{tmp}/s.db"
        t0 = time.perf_counter()
        study = Study(run_study(spec, storage=url))
        study_s = time.perf_counter() - t0
        s = study.summary
        names, directions = s.names, s.directions
        equal = {n: 1.0 for n in names}
        picks = {rule: study.pick(method=rule, weights=equal if rule == "pseudo-weights" else None) for rule in RULES}
        # every rule's λ, under the fresh seeds after its trial's own (export --noise's), in one training pass
        recs = {rule: p.record for rule, p in picks.items()}
        first = {rule: spec.training.seed + max(r.repeats, 1) for rule, r in recs.items()}
        lam = np.array([[r.lam[t] for t in spec.task_names] for r in recs.values()])
        t0 = time.perf_counter()
        noises = dict(zip(recs, seed_noise_many(spec, lam, retrain, "cpu", list(first.values())), strict=True))
        retrain_s = time.perf_counter() - t0
        # the reference: equal weights, stored as the study's baseline, under the same fresh seeds as the default's pick
        fresh = [first[DEFAULT_METHOD] + i for i in range(retrain)]
        ew = [study.train_baselines([], seed=f, device="cpu")[0] for f in fresh]
        test_ew = np.array([[b.test[t.name][t.metric] for t in spec.tasks] for b in ew])
        front_test = np.array([[r.test[t.name][t.metric] for t in spec.tasks] for r in s.front])
    chance = chance_levels([t.metric for t in spec.tasks], directions, s.values)
    sign = np.array([1.0 if d == "maximize" else -1.0 for d in directions])
    best = (sign * front_test).max(axis=0) * sign

    def scored(test: np.ndarray) -> dict[str, Any]:
        mean = test.mean(axis=0)
        lift = (mean - chance) / (best - chance)  # natural values: the same ratio for minimised metrics
        return {
            "test_mean": dict(zip(names, mean.tolist(), strict=True)),
            "lift": dict(zip(names, lift.tolist(), strict=True)),
            "worst_task_lift": float(lift.min()),
        }

    rules: dict[str, Any] = {}
    for rule, p in picks.items():
        rules[rule] = {
            "trial": p.trial,
            "lambda": p.record.lam,
            "val": dict(zip(names, p.record.values, strict=True)),
            "fresh_seeds": noises[rule].seeds,
            **scored(noises[rule].test),
        }
    rules["ew"] = {"lambda": {t: 1 / len(spec.tasks) for t in spec.task_names}, "fresh_seeds": fresh, **scored(test_ew)}
    return {
        "seed": seed,
        "front": len(s.front),
        "trials": len(s.complete),
        "repeats": spec.search.repeats,
        "verdict": s.verdict.text if s.verdict is not None else None,
        "chance": dict(zip(names, chance.tolist(), strict=True)),
        "best_test_on_front": dict(zip(names, best.tolist(), strict=True)),
        "seconds": {"study": study_s, "retrain": retrain_s},
        "rules": rules,
    }


def summarise(name: str, runs: list[dict[str, Any]], changes: dict[str, Any], floor: float, retrain: int) -> dict[str, Any]:
    from paretomoo.decide import DEFAULT_METHOD

    rules = {}
    for rule in (*RULES, "ew"):
        q = spread([r["rules"][rule]["worst_task_lift"] for r in runs])
        rules[rule] = {
            "worst_task_lift_median": q["median"],
            "worst_task_lift_q25": q["q25"],
            "worst_task_lift_q75": q["q75"],
            "worst_task_lift_min": q["min"],
            "worst_task_lift_max": q["max"],
        }
    default = rules[DEFAULT_METHOD]["worst_task_lift_median"]
    return {
        "spec": SPECS[name][0],
        "changes": changes,  # what the benchmark ran differently from the spec file, for every rule alike
        "seeds": len(runs),
        "retrain_seeds": retrain,
        "default_rule": DEFAULT_METHOD,
        "floor": floor,
        "floor_met": bool(default >= floor and default >= rules["knee"]["worst_task_lift_median"]),
        "rules": rules,
        "runs": runs,
    }


def print_result(name: str, res: dict[str, Any]) -> None:
    runs = res["runs"]
    budget = f"{runs[0]['trials']} trials, repeats {runs[0]['repeats']}"
    changed = f"; changed from the spec: {json.dumps(res['changes'])}" if res["changes"] else ""
    print(f"\n{name} ({res['seeds']} study seeds, {budget}{changed}; each pick retrained under {res['retrain_seeds']} fresh seeds)")
    print(f"worst_task_lift on test, median [q25–q75] (min–max); floor for {res['default_rule']}: median ≥ {res['floor']} and ≥ knee's")
    for rule, q in res["rules"].items():
        print(
            f"  {LABELS[rule]:<38} {q['worst_task_lift_median']:.3f} [{q['worst_task_lift_q25']:.3f}–{q['worst_task_lift_q75']:.3f}]"
            f" ({q['worst_task_lift_min']:.3f}–{q['worst_task_lift_max']:.3f})"
        )
    print(f"  floor {'met' if res['floor_met'] else 'NOT met'}")


def main() -> None:
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--retrain", type=int, default=3, help="fresh seeds each pick is retrained under (default 3)")
    ap.add_argument("--specs", default=",".join(SPECS))
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/pick_quality.json"))
    args = ap.parse_args()
    previous = json.loads(Path(args.out).read_text()) if Path(args.out).is_file() else {}
    out: dict[str, Any] = {"facts": run_facts(), "specs": previous.get("specs", {})}
    for name in args.specs.split(","):
        path, changes, floor = SPECS[name]
        runs = [run(str(ROOT / path), changes, seed, args.retrain) for seed in range(args.seeds)]
        out["specs"][name] = summarise(name, runs, changes, floor, args.retrain)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")  # each spec's result as soon as it is in
        print_result(name, out["specs"][name])
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
