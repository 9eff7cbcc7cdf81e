"""Does the searched front beat the field's adaptive-weighting methods, and what does each method cost?

    python benchmarks/baselines.py             # about 10 minutes on 2 cores

1. Runs the demo study (studies/ecommerce.toml, its 32 trials, device cpu) into a
   throw-away SQLite file.
2. Trains every method of ``paretomoo.baselines.METHODS`` under ``--seeds`` (3)
   training seeds (the study's seed and the next ones), the same data, model,
   epochs and batch order as the trials, and stores them as the study's baselines.
   Each round is one seed: the methods in a shuffled order, then one fixed-λ pass
   of ``--population`` (4) λ as a study trains them; on one thread.
3. Reports, per method:
   * cost: its training time ÷ ``ew``'s in the same round (``ew`` is one fixed-λ
     training, λ = 1/T, through the same loop), median and quartiles over rounds;
     and ÷ one λ of the round's population pass (what a trial of the study costs);
   * dominance: in how many seeds some front point dominates it on the validation
     means (how the front is chosen), and in how many of those the dominating point
     also dominates it on the held-out test metrics; how many front points it
     dominates; and how much it would add to the front's hypervolume (validation,
     the study's reference point), as a share of that hypervolume.

Writes ``benchmarks/results/baselines.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bootstrap_cost import run_facts, spread

from paretomoo.api import Study
from paretomoo.baselines import METHODS, train_baseline
from paretomoo.front import hypervolume, to_min
from paretomoo.spec import load_spec
from paretomoo.study import run_study

ROOT = Path(__file__).resolve().parents[1]


def dominators(F: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Rows of ``F`` (minimisation) that dominate ``f``."""
    return np.flatnonzero(np.all(F <= f, axis=1) & np.any(F < f, axis=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", default=str(ROOT / "studies" / "ecommerce.toml"))
    parser.add_argument("--seeds", type=int, default=3, help="rounds: one training seed each")
    parser.add_argument("--population", type=int, default=4, help="λ of the fixed-λ pass timed in each round")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "baselines.json"))
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="paretomoo-baselines-"))
    spec = load_spec(args.spec).replace(training={"device": "cpu"})
    t0 = time.perf_counter()
    store = run_study(spec, storage=f"sqlite:///{tmp}/study.db")
    study_s = time.perf_counter() - t0
    study = Study(store)
    s = study.summary
    print(f"study: {len(s.complete)} trials in {study_s:.0f} s, front {len(s.front)} points")

    torch.set_num_threads(1)
    from paretomoo.data import load_data
    from paretomoo.trainer import Trainer

    trainer = Trainer(spec, load_data(spec.data), "cpu")
    trainer.warm_up()
    trainer.fit(np.full((2, len(spec.tasks)), 1 / len(spec.tasks)))  # first-pass allocations
    rng = np.random.default_rng(0)
    order = random.Random(0)
    rounds = []
    for r in range(args.seeds):
        seed = spec.training.seed + r
        methods = list(METHODS)
        order.shuffle(methods)
        row: dict[str, dict[str, object]] = {}
        for m in methods:
            res = train_baseline(trainer, m, seed)
            store.baselines.add_result(m, res, "cpu")
            row[m] = {"seconds": res.seconds, "failed": res.failed}
            print(f"  seed {seed} {m:9s} {res.seconds:6.1f} s" + (f"  failed: {res.failed}" if res.failed else ""), flush=True)
        lam = rng.dirichlet(np.ones(len(spec.tasks)), args.population)
        t = time.perf_counter()
        trainer.fit(lam, seeds=seed)
        per_trial = (time.perf_counter() - t) / args.population
        rounds.append({"seed": seed, "methods": row, "trial_s": per_trial})
        print(f"  seed {seed} one λ of a population pass of {args.population}: {per_trial:.1f} s", flush=True)

    study.refresh()
    F = to_min(s.values, s.directions)
    front = np.flatnonzero(s.on_front)
    test = np.array([[r.test.get(t.name, {}).get(t.metric, np.nan) for t in spec.tasks] for r in s.complete])
    Ft = to_min(test, s.directions)
    per_method = {}
    for m in METHODS:
        recs = [b for b in study.baselines() if b.method == m and b.state == "complete"]
        ratio_ew = [rd["methods"][m]["seconds"] / rd["methods"]["ew"]["seconds"] for rd in rounds]
        ratio_trial = [rd["methods"][m]["seconds"] / rd["trial_s"] for rd in rounds]
        val_dom, test_dom, beats, gain = 0, 0, [], []
        for b in recs:
            f = to_min(np.asarray(b.values), s.directions)[0]
            by = front[dominators(F[front], f)]
            if len(by):
                val_dom += 1
                if len(dominators(Ft[by], to_min(np.asarray(b.test_values), s.directions)[0])):
                    test_dom += 1
            beats.append(sum(1 for i in front if np.all(f <= F[i]) and np.any(f < F[i])))
            gain.append((hypervolume(np.vstack([F[front], f]), s.ref) - s.hv) / s.hv)
        per_method[m] = {
            "title": METHODS[m].title,
            "cost_vs_ew": spread(ratio_ew),
            "cost_vs_trial": spread(ratio_trial),
            "seconds": spread([rd["methods"][m]["seconds"] for rd in rounds]),
            "trained": len(recs),
            "dominated_on_val": val_dom,
            "also_dominated_on_test": test_dom,
            "front_points_it_dominates": spread(beats),
            "hv_gain_if_added": spread(gain),
            "val_mean": dict(zip(s.names, np.mean([b.values for b in recs], axis=0).tolist(), strict=True)) if recs else {},
            "test_mean": dict(zip(s.names, np.mean([b.test_values for b in recs], axis=0).tolist(), strict=True)) if recs else {},
        }

    print(
        f"\n{'method':9s} {'cost ÷ ew':>18s} {'÷ a trial':>18s}  front dominates it (val; of those also on test)"
        "  front points it dominates  HV gain if added"
    )
    for m, v in per_method.items():
        ce, ct = v["cost_vs_ew"], v["cost_vs_trial"]
        print(
            f"{m:9s} {ce['median']:6.2f} [{ce['q1']:.2f}–{ce['q3']:.2f}] {ct['median']:6.2f} [{ct['q1']:.2f}–{ct['q3']:.2f}]  "
            f"{v['dominated_on_val']}/{v['trained']} seeds ({v['also_dominated_on_test']} on test)"
            f"  {v['front_points_it_dominates']['median']:.0f} [{v['front_points_it_dominates']['min']:.0f}–"
            f"{v['front_points_it_dominates']['max']:.0f}]  {100 * v['hv_gain_if_added']['median']:+.1f} % "
            f"[{100 * v['hv_gain_if_added']['min']:+.1f}, {100 * v['hv_gain_if_added']['max']:+.1f}]"
        )

    result = {
        **run_facts(),
        "setup": {
            "spec": os.path.relpath(args.spec, ROOT),
            "study_trials": len(s.complete),
            "study_seconds": study_s,
            "front_points": len(s.front),
            "seeds": args.seeds,
            "population": args.population,
            "threads": 1,
        },
        "methods": per_method,
        "rounds": rounds,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
