"""Front figures. Each plot is computed first (a NamedTuple, tested without a
figure), then drawn by a thin matplotlib function; colours, markers and the drawing of
one panel come from ``paretomoo._drawing``, as the HTML report's do."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure

from paretomoo._drawing import draw_hypervolume, draw_pair
from paretomoo.front import hypervolume_history
from paretomoo.summary import LEVEL, Summary
from paretomoo.uncertainty import hypervolume_band


class PairsData(NamedTuple):
    names: list[str]
    values: np.ndarray  # [n, m] natural validation metrics (means over seeds)
    on_front: np.ndarray  # [n]
    pairs: list[tuple[int, int]]
    chosen: int | None  # row index of the picked trial
    se: np.ndarray  # [n, m] standard errors (0 where no noise was measured): the error bars
    p_front: np.ndarray  # [n] P(on the front); points below paretomoo._drawing.FADED are drawn faint
    baselines: tuple[tuple[str, np.ndarray], ...] = ()  # (method, natural validation metrics [m]): labelled markers


class HistoryData(NamedTuple):
    trials: np.ndarray  # trial numbers of complete trials, in order
    hypervolume: np.ndarray
    low: np.ndarray  # [n] the interval of the hypervolume over replicates (equal to it where no noise was measured)
    high: np.ndarray


# Replicates behind the hypervolume history's interval (each needs one hypervolume per trial).
HISTORY_REPLICATES = 50


class LambdaData(NamedTuple):
    tasks: list[str]
    trials: list[int]  # front trials, sorted by their first-task weight
    lam: np.ndarray  # [n_front, k]


def pairs_data(s: Summary, chosen: int | None = None, baselines: Sequence[tuple[str, np.ndarray]] = ()) -> PairsData:
    m = len(s.names)
    row = next((i for i, r in enumerate(s.complete) if r.number == chosen), None)
    n = len(s.complete)
    se = s.se if s.evidence is not None else np.zeros((n, m))
    p_front = s.p_front if s.evidence is not None else s.on_front.astype(np.float64)
    pairs = list(itertools.combinations(range(m), 2))
    return PairsData(s.names, s.values, s.on_front, pairs, row, se, p_front, tuple((name, np.asarray(v)) for name, v in baselines))


def history_data(s: Summary) -> HistoryData:
    """The hypervolume after each complete trial, and its interval over replicates of the means."""
    trials = np.array([r.number for r in s.complete])
    if s.evidence is None or not len(trials):
        return HistoryData(trials, s.hv_history, s.hv_history.copy(), s.hv_history.copy())
    reps = s.evidence.minimised()[:HISTORY_REPLICATES]
    curves = np.array([hypervolume_history(f, s.ref) for f in reps])  # [B', n]
    _, low, high = hypervolume_band(s.hv_history, curves, ((1 - LEVEL) / 2, (1 + LEVEL) / 2))
    return HistoryData(trials, s.hv_history, low, high)


def lambda_data(s: Summary, tasks: list[str]) -> LambdaData:
    front = sorted(s.front, key=lambda r: -r.lam.get(tasks[0], 0.0))
    lam = np.array([[r.lam[t] for t in tasks] for r in front]).reshape(-1, len(tasks))
    return LambdaData(tasks, [r.number for r in front], lam)


def pairs_figure(d: PairsData, title: str) -> Figure:
    """Every pair of objectives, three panels a row, drawn as the report draws its panels (``paretomoo._drawing``)."""
    n = len(d.pairs)
    cols = min(3, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(4.2 * cols, 3.6 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, (i, j) in zip(axes.flat, d.pairs, strict=False):
        draw_pair(ax, i, j, d.values, d.on_front, d.p_front, d.se, d.chosen, d.baselines)
        ax.set_xlabel(f"{d.names[i]} (val)")
        ax.set_ylabel(f"{d.names[j]} (val)")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def draw_pairs(d: PairsData, path: Path, title: str) -> None:
    pairs_figure(d, title).savefig(path, dpi=110)


def draw_history(d: HistoryData, path: Path, title: str) -> None:
    fig = Figure(figsize=(6, 3.6))
    ax = fig.subplots()
    draw_hypervolume(ax, d.trials, d.hypervolume, d.low, d.high)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def draw_lambda(d: LambdaData, path: Path, title: str) -> None:
    n = max(len(d.trials), 1)
    fig = Figure(figsize=(1.6 + 1.1 * len(d.tasks), 1.0 + 0.32 * n))
    ax = fig.subplots()
    if len(d.trials):
        # log10 colours: weights span orders of magnitude
        im = ax.imshow(np.log10(np.maximum(d.lam, 1e-6)), aspect="auto", cmap="viridis", vmin=-3, vmax=0)
        for (r, c), v in np.ndenumerate(d.lam):
            ax.text(c, r, f"{v:.3g}", ha="center", va="center", fontsize=7, color="w" if v < 0.1 else "k")
        fig.colorbar(im, ax=ax, label="log10 λ")
    ax.set_xticks(range(len(d.tasks)), d.tasks)
    ax.set_yticks(range(len(d.trials)), [f"trial {t}" for t in d.trials])
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_plots(
    s: Summary,
    tasks: list[str],
    study: str,
    out_dir: str | Path,
    chosen: int | None = None,
    baselines: Sequence[tuple[str, np.ndarray]] = (),
) -> list[Path]:
    """Write the three front figures of a study (``baselines``: (method, validation metrics) drawn as labelled points); return
    their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "front_pairs.png", out / "hypervolume.png", out / "front_lambda.png"]
    draw_pairs(pairs_data(s, chosen, baselines), paths[0], f"{study}: {len(s.front)} of {len(s.complete)} trials on the front")
    draw_history(history_data(s), paths[1], f"{study}: hypervolume {s.hv:.4g}{s.hv_text}")
    draw_lambda(lambda_data(s, tasks), paths[2], f"{study}: λ of the front")
    return paths
