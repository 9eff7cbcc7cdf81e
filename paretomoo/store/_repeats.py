"""A trial's seeds: which it trains under, what each gave, and their mean and standard error.

A trial (one λ) lists the seeds it trains under in its ``seeds`` attribute;
what each seed gave is kept in ``by_seed`` ({seed: {"val", "test", "failed",
"seconds"}}) as soon as that seed's training ends, so that a study killed
between the seeds of a λ trains only the missing ones on resume. When every
seed is in, the trial is finished with the mean over seeds (``val``, ``test``,
the values Optuna sees) and each metric's standard error (``val_se``,
``test_se``): the seed spread over √R where R ≥ 2, and the sampling error of
the validation rows (``val_boot_se``, a bootstrap over rows, the same for all
seeds of the λ up to noise) beside it.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from paretomoo.trainer import MemberResult

Metrics = dict[str, dict[str, float]]  # task -> metric -> value


def seed_result(r: MemberResult) -> dict[str, Any]:
    """What one seed of a trial gave, as ``by_seed`` stores it."""
    out: dict[str, Any] = {
        "val": r.val,
        "test": r.test,
        "failed": r.failed,
        "seconds": round(r.seconds, 4),
        "val_boot_se": r.val_boot_se,
        "test_boot_se": r.test_boot_se,
        "population": r.population,  # how the members of its training pass ran, and how many there were
        "members": r.members,
    }
    if r.val_dev is not None and r.failed is None:
        out["val_dev"] = encode_deviations(r.val_dev)
    return out


def target_seeds(attrs: Mapping[str, Any], default: Sequence[int]) -> list[int]:
    """The seeds a trial trains under (those it was enqueued with; ``default`` for trials of earlier versions)."""
    return [int(s) for s in attrs.get("seeds", default)]


def done_seeds(attrs: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    """What each seed of the trial gave so far."""
    return {int(s): v for s, v in attrs.get("by_seed", {}).items()}


@dataclass(frozen=True)
class Aggregate:
    """The mean over a trial's seeds, each metric's standard error, and why the trial failed (None if it did not)."""

    val: Metrics
    test: Metrics
    val_se: Metrics
    test_se: Metrics
    failed: str | None
    seconds: float


def aggregate(by_seed: Mapping[int, Mapping[str, Any]]) -> Aggregate:
    """Combine the per-seed results of one trial (``by_seed[seed]`` holds ``val``, ``test``, ``failed``, ``seconds``
    and, where measured, ``val_boot_se`` / ``test_boot_se``, the bootstrap standard errors over rows)."""
    seeds = sorted(by_seed)
    failed = [f"seed {s}: {by_seed[s]['failed']}" for s in seeds if by_seed[s].get("failed")]
    seconds = float(sum(by_seed[s].get("seconds", 0.0) for s in seeds))
    if failed:
        return Aggregate({}, {}, {}, {}, "; ".join(failed), seconds)
    out: dict[str, tuple[Metrics, Metrics]] = {}
    for split in ("val", "test"):
        if split not in by_seed[seeds[0]]:  # a conditioned λ off the screened front: validation only
            out[split] = ({}, {})
            continue
        per = [by_seed[s][split] for s in seeds]
        boot = [by_seed[s].get(f"{split}_boot_se", {}) for s in seeds]
        mean: Metrics = {}
        se: Metrics = {}
        for task, metrics in per[0].items():
            mean[task], se[task] = {}, {}
            for metric in metrics:
                values = [p[task][metric] for p in per]
                mean[task][metric] = _mean(values)
                se[task][metric] = standard_error(values, [b.get(task, {}).get(metric, math.nan) for b in boot])
        out[split] = (mean, se)
    return Aggregate(out["val"][0], out["test"][0], out["val"][1], out["test"][1], None, seconds)


def standard_error(values: Sequence[float], boot_se: Sequence[float]) -> float:
    """The standard error of a mean over seeds: the seed spread over √R (R ≥ 2; 0 with one seed, where it is
    not measured) and the rows' sampling error, which all seeds share (the mean of their bootstrap errors)."""
    finite = [v for v in values if math.isfinite(v)]
    seed_var = 0.0
    if len(finite) >= 2:
        m = sum(finite) / len(finite)
        seed_var = sum((v - m) ** 2 for v in finite) / (len(finite) - 1) / len(finite)
    boots = [b for b in boot_se if math.isfinite(b)]
    row_var = (sum(boots) / len(boots)) ** 2 if boots else 0.0
    return math.sqrt(seed_var + row_var) if finite else math.nan


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if len(finite) == len(values) else math.nan


def encode_deviations(dev: np.ndarray) -> dict[str, Any]:
    """``[B, m]`` bootstrap deviations as a compact JSON value (float16, base64: about 2 kB for 200 × 4).

    Deviations are small (a few thousandths of an AUC), so float16's 3 significant
    digits keep them to about 1e-5.
    """
    dev = np.asarray(dev, dtype=np.float16)
    return {"shape": list(dev.shape), "f16": base64.b64encode(dev.tobytes()).decode("ascii")}


def decode_deviations(value: Mapping[str, Any]) -> np.ndarray:
    """The inverse of ``encode_deviations``, as float64; an undefined replicate (NaN) counts as no deviation."""
    dev = np.frombuffer(base64.b64decode(value["f16"]), dtype=np.float16).reshape(value["shape"]).astype(np.float64)
    return np.nan_to_num(dev, nan=0.0)


def row_deviations(by_seed: Mapping[int, Mapping[str, Any]]) -> np.ndarray | None:
    """``[B, m]``: the bootstrap deviations of the mean over seeds (the mean of each seed's), or None if a seed has none."""
    devs = [by_seed[s].get("val_dev") for s in sorted(by_seed)]
    if not devs or any(d is None for d in devs):
        return None
    return np.mean([decode_deviations(d) for d in devs if d is not None], axis=0)
