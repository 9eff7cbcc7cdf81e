"""Training λ-conditioned models, and measuring them at many λ.

Training draws λ ~ Dirichlet(α) over the free tasks, ``SAMPLES`` of them per
model and step (every ``END_EVERY``-th step the first of them a task's end, the
tasks in turn), at ``LR_SCALE`` times the study's learning rate, maps each into the study's λ space (its bounds, fixed weights
and ``max_ratio``: the draw's centred log-ratios are the logits, clipped to the
box) and minimises the mean over them of ``Σ_i λ_i f_i(θ(λ))``. Model r reads
the batches of its own training seed in the order a fixed-λ trial of that seed
reads them, and starts from the same seeded weights, for the same epochs: so a
conditioned model and a sweep of fixed-λ trials compare at equal epochs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from paretomoo import _batches
from paretomoo.conditioned._mixing import Mixed, Mixture
from paretomoo.data._tensors import TensorSplit
from paretomoo.errors import UserError
from paretomoo.space import LambdaSpace
from paretomoo.tasks import metrics_many
from paretomoo.trainer import EVAL_MEMBER_ROWS, Trainer, adamw

# λ drawn per model and step. Each draw is one mix of the anchors through the batch (the population axis), so a
# step costs about a population pass of that many λ. benchmarks/conditioned.py (demo at 60,000 rows, 5 seeds, one
# model at the full design, HV ÷ a 32-trial sweep's, median): 2 λ 0.82, 4 λ 1.59, 8 λ 1.62 at 1.7× the training of 4.
SAMPLES = 4
# The conditioned models' learning rate ÷ training.lr. An anchor's gradient is a different mix of the tasks' at every
# draw, so at the fixed-λ rate the anchors were still far from their ends after the sweep's epochs: on the demo at
# 60,000 rows (4 epochs, one model, HV of 261 λ ÷ a 32-trial random sweep's, one seed each) lr 0.003: 0.10, 0.01:
# 2.4, 0.02: 2.5, 0.03: 2.5.
LR_SCALE = 6.0
# Every END_EVERY-th step, each model's first draw is a task's end (where an exact model, trained on that task alone,
# is strongest); see docs/conditioned.md for the evidence.
END_EVERY = 2
# Measuring: CHUNK λ per set of mixed weights, run over a split's rows MEMBER_ROWS / (R·CHUNK) rows at a time (at least
# 256). A forward pass of many mixed models costs mostly per call at small row chunks: 512 λ over the demo's 6,000
# validation rows took 1.06 s in chunks of 16 λ × 1,024 rows, 1.67 s in 64 λ × 256 rows (the trainer's
# own chunks), 3.8 s in 256 λ × 256 (one CPU thread); 32 λ × 1,024 rows measured no faster in the benchmark. GPU: the
# trainer's budget.
CHUNK = 16
MEMBER_ROWS = {"cpu": 16384}


def sample_lambda(space: LambdaSpace, rng: np.random.Generator, n: int, alpha: float) -> np.ndarray:
    """``n`` λ ``[n, T]``: Dirichlet(α) over the free tasks, as logits (centred log-ratios) in the space's box."""
    z = rng.dirichlet(np.full(space.dim, alpha), n)
    log = np.log(np.maximum(z, np.finfo(np.float64).tiny))
    return space.to_lambda(log - log.mean(axis=1, keepdims=True))


def train_mixture(trainer: Trainer, space: LambdaSpace, seeds: Sequence[int], alpha: float, seed: int, samples: int = SAMPLES) -> Mixture:
    """R = len(seeds) conditioned models trained together for ``training.epochs`` epochs, ``samples`` λ per model
    and step (model r's from a generator seeded by ``seed`` and its training seed, so a model trained alone is the
    one trained beside others); a one-line error if the loss diverges."""
    spec, cfg = trainer.spec, trainer.spec.training
    mix = Mixture(trainer.shape, spec.model, seeds, trainer.device)
    if mix.updates_buffers():
        raise UserError(
            'optimizer = "conditioned" mixes weights, and this model keeps statistics that training updates (BatchNorm\'s '
            "running mean and variance), which a mix of weights does not carry; use another optimizer, or LayerNorm in place of BatchNorm"
        )
    opt = adamw(list(mix.anchors.parameters()), cfg.lr * LR_SCALE, cfg.weight_decay)
    r, m, t = len(seeds), samples, len(spec.tasks)
    rngs = [np.random.default_rng([int(seed), int(s)]) for s in seeds]  # model r's draws its own: trained alone or beside others, the same
    mix.anchors.train()
    bad = torch.zeros((), dtype=torch.bool, device=trainer.device)
    # model r's M mixes read model r's rows, in the order a fixed-λ trial of its seed reads them
    ends = space.to_lambda(np.where(np.eye(space.dim, dtype=bool), space.zmax, -space.zmax))  # [d, T]: each free task's end
    step = 0
    for epoch, batches in _batches.epochs(trainer.train, [s for s in seeds for _ in range(m)], cfg.batch_size, 0, cfg.epochs):
        for batch, y, stacked in batches:
            draws = np.stack([sample_lambda(space, g, m, alpha) for g in rngs])  # [R, M, T]
            if m > 1 and step % END_EVERY == 0:  # then each model's first draw is a task's end, the tasks in turn
                draws[:, 0] = ends[(step // END_EVERY) % len(ends)]
            step += 1
            lam = torch.as_tensor(draws.reshape(r * m, t), dtype=torch.float32, device=trainer.device)
            per = (lam * trainer.losses(mix(lam.view(r, m, t), batch, stacked), y)).sum(dim=1)  # [R·M]
            bad |= ~torch.isfinite(per).all()
            opt.zero_grad(set_to_none=True)
            (per.sum() / m).backward()
            opt.step()
        if bool(bad):  # one sync per epoch
            raise UserError(f"the conditioned training's loss became NaN/inf in epoch {epoch + 1}; lower training.lr or raise search.alpha")
    return mix


def _predict(model: Mixed, split: TensorSplit) -> torch.Tensor:
    """Scores ``[R·c, n, T]`` of the mixed models for every row of a split."""
    device = split.y.device.type
    rows = max(256, MEMBER_ROWS.get(device, EVAL_MEMBER_ROWS["cuda"]) // model.population)
    model.mixture.anchors.eval()
    return torch.cat([model(split.rows(i, i + rows)) for i in range(0, len(split), rows)], dim=1)


def measure_mixture(
    trainer: Trainer,
    mix: Mixture,
    lam: np.ndarray,
    chunk: int = CHUNK,
    splits: Sequence[str] = ("val", "test"),
    primary_only: bool = False,
) -> list[list[dict[str, Any]]]:
    """Every task's metrics on the ``splits`` rows at each λ of ``lam[N, T]``, for each of the R models: ``[N][R]``
    of ``{"val", "test", "failed"}`` (a split not measured is absent), CHUNK λ per forward pass, every metric of a
    chunk at once (``tasks.metrics_many``); each task's own metric alone with ``primary_only``. A λ whose
    validation metric is NaN failed."""
    spec = trainer.spec
    out: list[list[dict[str, Any]]] = []
    r = mix.models
    rows = {"val": trainer.val, "test": trainer.test}
    with torch.no_grad():
        for first in range(0, len(lam), chunk):
            part = torch.as_tensor(lam[first : first + chunk], dtype=torch.float32, device=trainer.device)
            c = len(part)
            model = Mixed(mix, part.unsqueeze(0).expand(r, -1, -1).contiguous())
            by_split = {}
            for name in splits:
                split = rows[name]
                scores = _predict(model, split)  # [R·c, n, T]
                per_task = [
                    metrics_many(task, scores[..., i], split.y[:, i], split.groups.get(i), primary_only)
                    for i, task in enumerate(spec.tasks)
                ]
                by_split[name] = [{task.name: per_task[i][j] for i, task in enumerate(spec.tasks)} for j in range(r * c)]
            for j in range(c):
                row = []
                for k in range(r):
                    got = {name: by_split[name][k * c + j] for name in splits}
                    finite = "val" not in got or all(np.isfinite(got["val"][task.name][task.metric]) for task in spec.tasks)
                    row.append({**got, "failed": None if finite else "a validation metric is NaN (non-finite predictions)"})
                out.append(row)
    return out
