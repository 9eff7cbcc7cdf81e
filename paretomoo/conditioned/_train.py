"""Training λ-conditioned models, and measuring them at many λ.

Training draws ``SAMPLES`` λ per model and step: a task's end (the tasks in
turn, counted ``END_WEIGHT`` times) and λ ~ Dirichlet(α) over the free tasks for
the rest, maps each into the study's λ space (its bounds, fixed weights and
``max_ratio``: the draw's centred log-ratios are the logits, clipped to the
box) and minimises the weighted mean over them of ``Σ_i λ_i f_i(θ(λ))``, at
``lr_scale(steps)`` times the study's learning rate. Model r reads
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
# model at the full design, HV ÷ a 32-trial sweep's, median): 2 λ 0.96, 4 λ 1.19, 8 λ 1.46 at 1.7× the training of 4,
# which would put the conditioned phase at 0.45 of the sweep's wall time instead of 0.31.
SAMPLES = 4
# Each step's first draw per model is a task's end (where an exact model, trained on that task alone, is strongest),
# its loss counted END_WEIGHT times. Full-size demo (200,000 rows, 3 pairs of models, ends against 4 exact seeds): a
# task's end every second step at weight 1: click +1.8 %, ad-click +3.4 %, fraud +8.8 % short of the exact end; every
# step at weight 2: +1.2 %, +2.2 %, +6.4 %, the front within the pairs' spread (docs/conditioned.md).
END_WEIGHT = 2.0
# The conditioned models' learning rate ÷ training.lr, for a training of ``steps`` steps: LR_SCALE · √(LR_STEPS /
# steps), between 1 and LR_SCALE. An anchor's gradient is a different mix of the tasks' at every draw, so at the
# fixed-λ rate the anchors were still far from their ends after the sweep's epochs (demo at 60,000 rows, 188 steps:
# HV 0.10 of a sweep's at 1×, 2.4-2.5 at 3-10×); and the best constant rate of noisy steps falls as 1/√steps (the
# SGD bound), which the demo bears out: best at 6× with 188 steps, at 3× with 625 (200,000 rows), where 6× with
# the ends every step left fraud 23 % short of its exact end (docs/conditioned.md).
LR_SCALE = 6.0
LR_STEPS = 188


def lr_scale(steps: int) -> float:
    """The conditioned models' learning rate ÷ ``training.lr`` for ``steps`` optimiser steps."""
    return float(np.clip(LR_SCALE * np.sqrt(LR_STEPS / max(steps, 1)), 1.0, LR_SCALE))


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
    r, m, t = len(seeds), samples, len(spec.tasks)
    steps = cfg.epochs * -(-len(trainer.train) // cfg.batch_size)
    opt = adamw(list(mix.anchors.parameters()), cfg.lr * lr_scale(steps), cfg.weight_decay)
    rngs = [np.random.default_rng([int(seed), int(s)]) for s in seeds]  # model r's draws its own: trained alone or beside others, the same
    mix.anchors.train()
    bad = torch.zeros((), dtype=torch.bool, device=trainer.device)
    # model r's M mixes read model r's rows, in the order a fixed-λ trial of its seed reads them
    ends = space.to_lambda(space.ends())  # [d, T]: each free task's end
    weight = torch.ones(r, m, device=trainer.device)
    if m > 1:
        weight[:, 0] = END_WEIGHT
    weight = (weight / weight[0].sum()).reshape(r * m)  # each model's draws: a weighted mean
    step = 0
    for epoch, batches in _batches.epochs(trainer.train, [s for s in seeds for _ in range(m)], cfg.batch_size, 0, cfg.epochs):
        for batch, y, stacked in batches:
            draws = np.stack([sample_lambda(space, g, m, alpha) for g in rngs])  # [R, M, T]
            if m > 1:  # each model's first draw a task's end, the tasks in turn
                draws[:, 0] = ends[step % len(ends)]
            step += 1
            lam = torch.as_tensor(draws.reshape(r * m, t), dtype=torch.float32, device=trainer.device)
            per = (lam * trainer.losses(mix(lam.view(r, m, t), batch, stacked), y)).sum(dim=1)  # [R·M]
            bad |= ~torch.isfinite(per).all()
            opt.zero_grad(set_to_none=True)
            (per * weight).sum().backward()
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
