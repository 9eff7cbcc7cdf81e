#!/usr/bin/env bash
# The GPU check, under 6 minutes on one H100:
#   1. the population contract on CUDA: a member of K = 4 matches its λ trained alone,
#      reruns are identical, and the K that "auto" picks from free memory;
#   2. benchmarks/trainer_throughput.py on CUDA with populations up to 256, and K = 4 with
#      the trainer and with torch.func.vmap; 3 interleaved rounds (5 on a CPU) to stay
#      within the time limit (writes benchmarks/results/trainer_throughput_cuda.json and .png);
#   3. (run before 2.) every adaptive-weighting baseline (paretomoo.baselines) trains on CUDA, with its time against ew's;
#   4. (run before 2.) successive halving on CUDA: going on from a checkpoint (1 -> 2 epochs) against one 2-epoch
#      training (bit for bit on a CPU; the largest difference is printed here).
#   6. (run before 2.) your own nn.Module (examples/shared_bottom) as a population of 8 on CUDA: s/trial through
#      torch.vmap and one member at a time, and what population = "auto" chooses.
# Arguments go to the benchmark, e.g. --populations 1,64,256 --no-check.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3

nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv,noheader || true

timeout 120 "$PY" - <<'EOF'
import time
import numpy as np
import torch
from paretomoo.data import load_data
from paretomoo.spec import load_spec
from paretomoo.study import default_population
from paretomoo.trainer import Trainer

spec = load_spec("studies/ecommerce.toml").replace(data={"rows": 20000}, training={"epochs": 1, "device": "cuda"})
trainer = Trainer(spec, load_data(spec.data), "cuda")
free, total = torch.cuda.mem_get_info()
per = trainer.member_bytes()
print(f"free {free / 2**30:.1f} of {total / 2**30:.1f} GiB; {per / 2**20:.1f} MiB per member (demo model) -> auto K = {default_population(trainer.device, per)}")
lam = np.random.default_rng(0).dirichlet(np.ones(4), size=4)
start = time.perf_counter()
population = trainer.fit(lam)
again = trainer.fit(lam)
weights = metrics = 0.0
for k in range(4):
    alone = trainer.fit(lam[k : k + 1])[0]
    weights = max(weights, max(float((population[k].state[n] - alone.state[n]).abs().max()) for n in alone.state))
    metrics = max(metrics, max(abs(population[k].val[t][m] - alone.val[t][m]) for t in alone.val for m in alone.val[t]))
same = all(torch.equal(a.state[n], b.state[n]) for a, b in zip(population, again) for n in a.state)
print(f"member vs alone: weights max|d| {weights:.2g}, metrics max|d| {metrics:.2g} (0 on a CPU); reruns identical: {same} ({time.perf_counter() - start:.1f} s)")
assert weights <= 1e-4 and metrics <= 1e-5 and same, "the population contract does not hold on this GPU"
EOF

# 3. every adaptive-weighting baseline trains on CUDA with finite metrics; its time against ew's.
timeout 90 "$PY" - <<'EOF'
import math
from paretomoo.baselines import METHODS, train_baseline
from paretomoo.data import load_data
from paretomoo.spec import load_spec
from paretomoo.trainer import Trainer

spec = load_spec("studies/ecommerce.toml").replace(data={"rows": 20000}, training={"epochs": 1, "device": "cuda"})
trainer = Trainer(spec, load_data(spec.data), "cuda")
trainer.warm_up()
times = {}
for m in METHODS:
    r = train_baseline(trainer, m)
    assert r.failed is None and all(math.isfinite(r.val[t.name][t.metric]) for t in spec.tasks), (m, r.failed)
    times[m] = r.seconds
print("baselines on CUDA (s, x ew):", ", ".join(f"{m} {s:.2f} ({s / times['ew']:.1f}x)" for m, s in times.items()))
EOF

# 4. a checkpoint goes on as one training would.
timeout 60 "$PY" - <<'EOF'
import numpy as np
from paretomoo.data import load_data
from paretomoo.spec import load_spec
from paretomoo.trainer import Trainer

spec = load_spec("studies/ecommerce.toml").replace(data={"rows": 20000}, training={"epochs": 2, "device": "cuda"})
trainer = Trainer(spec, load_data(spec.data), "cuda")
lam = np.random.default_rng(0).dirichlet(np.ones(4), size=4)
whole = trainer.fit(lam)
part = trainer.fit(lam, epochs=1)
rest = trainer.fit(lam, start=[r.checkpoint for r in part])
d = max(float((a.state[n] - b.state[n]).abs().max()) for a, b in zip(whole, rest) for n in a.state)
print(f"halving checkpoint on CUDA: weights max|d| vs one training {d:.2g} (0 on a CPU)")
assert d <= 1e-4, "going on from a checkpoint does not reproduce one training on this GPU"
EOF

# 5. a conditioned model trains, is measured at 1,029 λ and screened as a study screens on CUDA (metrics sorted there),
#    against one training.
timeout 120 "$PY" - <<'EOF'
import time
from paretomoo.conditioned import evaluation_points, measure_mixture, train_mixture
from paretomoo.data import load_data
from paretomoo.space import LambdaSpace
from paretomoo.spec import load_spec
from paretomoo.trainer import Trainer

spec = load_spec("studies/ecommerce.toml").replace(training={"device": "cuda"})
trainer = Trainer(spec, load_data(spec.data), "cuda")
trainer.warm_up()
space = LambdaSpace(spec.task_names, spec.lam)
lam = space.to_lambda(evaluation_points(space, 1024, 0))
t0 = time.perf_counter(); trainer.fit(lam[:1]); one = time.perf_counter() - t0
t0 = time.perf_counter(); mix = train_mixture(trainer, space, [0], spec.search.alpha, 0); train = time.perf_counter() - t0
t0 = time.perf_counter(); res = measure_mixture(trainer, mix, lam); measure = time.perf_counter() - t0
assert all(r[0]["failed"] is None for r in res)
from paretomoo._parallel import InProcess
from paretomoo.conditioned._parts import Parts
from paretomoo.conditioned._study import _screen_and_measure
parts = Parts(InProcess(trainer), [0])
parts.load(mix.state())
t0 = time.perf_counter(); found, got = _screen_and_measure(spec, parts, space, 1024, 0); screen = time.perf_counter() - t0
assert len(got) == len(found.x) and all("test" in got[i][0] for i in found.front(spec.directions))
print(f"conditioned on CUDA: one fixed-λ training {one:.2f} s, conditioned training {train:.2f} s, "
      f"measuring {len(lam)} λ {measure:.2f} s ({measure / one:.2f}x one training), "
      f"screening {len(found.x)} λ and the front on test {screen:.2f} s ({screen / one:.2f}x; {found.stopped})")
EOF

# 6. a plain nn.Module as a population on CUDA: vmap against one member at a time (benchmarks/own_model.py on a CPU).
timeout 120 "$PY" - <<'EOF'
import time
import numpy as np
import torch
from paretomoo.data import load_data
from paretomoo.spec import load_spec
from paretomoo.trainer import Trainer

spec = load_spec("examples/shared_bottom/study.toml").replace(data={"rows": 100000}, training={"epochs": 1, "device": "cuda"})
data = load_data(spec.data)
lam = np.random.default_rng(0).dirichlet(np.ones(4), size=8)
s = {}
for mode in ("vmap", "sequential"):
    trainer = Trainer(spec.replace(model={"population": mode}), data, "cuda")
    trainer.fit(lam)  # warm-up
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        trainer.fit(lam)
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) / len(lam))
    s[mode] = float(np.median(times))
auto = Trainer(spec, data, "cuda")
auto.new_population([0] * len(lam))
mode, why = auto.population_mode[len(lam)]
print(f"own module on CUDA, K = 8: vmap {s['vmap']:.3f} s/trial, one at a time {s['sequential']:.3f} ({s['sequential'] / s['vmap']:.1f}x); auto: {mode} ({why})")
EOF

timeout 280 "$PY" benchmarks/trainer_throughput.py --device cuda --populations 1,16,64,256 --seed-steps 20 --repeats 3 "$@"
