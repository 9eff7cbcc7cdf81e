"""Adaptive-weighting baselines on a user's own module: its shared parameters are those two tasks' losses reach."""

from __future__ import annotations

from pathlib import Path

from paretomoo.cli import main

MODULE = """
import torch
from torch import nn


class TwoHeads(nn.Module):
    def __init__(self, tasks):
        super().__init__()
        self.tasks = tasks
        self.bottom = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
        self.heads = nn.ModuleDict({t: nn.Linear(8, 1) for t in tasks})
        self.unused = nn.Linear(8, 1)  # reached by no task

    def forward(self, batch):
        h = self.bottom(batch["x"])
        return {t: self.heads[t](h) for t in self.tasks}


def build(tasks):
    return TwoHeads(tasks)


def load(rows=1500):
    g = torch.Generator().manual_seed(0)

    def part(n):
        x = torch.randn(n, 4, generator=g)
        return {"x": x, "a": (x[:, 0] > 0).float(), "b": (x[:, 1] > 0).float()}

    return {"train": part(rows), "val": part(rows // 3), "test": part(rows // 3)}
"""

SPEC = """
[study]
name = "heads"
storage = "sqlite:///{db}"
[data]
source = "python"
loader = "two_heads:load"
[[tasks]]
name = "a"
metric = "auc"
[[tasks]]
name = "b"
metric = "auc"
[model]
type = "module"
factory = "two_heads:build"
[training]
epochs = 1
batch_size = 256
"""


def test_a_baseline_on_a_module_splits_its_parameters_by_the_losses_that_reach_them(tmp_path: Path, capsys) -> None:
    (tmp_path / "two_heads.py").write_text(MODULE)
    spec = tmp_path / "study.toml"
    spec.write_text(SPEC.format(db=tmp_path / "s.db"))
    assert main(["baseline", str(spec), "--method", "uw"]) == 0
    out = capsys.readouterr().out
    shared = next(line for line in out.splitlines() if line.startswith("shared parameters"))
    # the bottom is reached by both tasks; each head by one; the unused layer by none
    assert shared.endswith("2 of 8: bottom.0.weight, bottom.0.bias"), shared
    assert "baseline uw (seed 0" in out and "failed" not in out
