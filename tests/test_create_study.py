"""paretomoo.create_study: a study of your own model and loader from a notebook, reopened by other processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import paretomoo
from paretomoo.errors import UserError

CODE = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, tasks, hidden):
        super().__init__()
        self.tasks = tasks
        self.bottom = nn.Sequential(nn.Linear(3, hidden), nn.ReLU())
        self.heads = nn.Linear(hidden, len(tasks))

    def forward(self, batch):
        return self.heads(self.bottom(batch["x"]))


def build(tasks, hidden=8):
    return Net(tasks, hidden)


def load(rows=1200):
    g = torch.Generator().manual_seed(1)

    def part(n):
        x = torch.randn(n, 3, generator=g)
        return {"x": x, "a": (x[:, 0] > 0).float(), "b": (x[:, 1] + x[:, 0] > 0).float()}

    return {"train": part(rows), "val": part(rows // 2), "test": part(rows // 2)}


def per_row(scores, labels):
    return torch.nn.functional.binary_cross_entropy_with_logits(scores, labels, reduction="none")
"""


@pytest.fixture
def user_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "nb_model.py").write_text(CODE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    import nb_model

    yield nb_model
    sys.modules.pop("nb_model", None)


def test_create_study_stores_import_paths_that_another_process_reopens(user_code, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'nb.db'}"
    study = paretomoo.create_study(
        "nb",
        model=user_code.build,
        data=user_code.load,
        tasks=[{"name": "a", "metric": "auc"}, {"name": "b", "metric": "auc", "loss": user_code.per_row}],
        storage=storage,
        model_options={"hidden": 8},
        training={"epochs": 1, "batch_size": 256},
        search={"trials": 4, "batch": 4},
    )
    assert len(study.front()) >= 1 and study.store.n_finished() == 4
    text = study.store.study.user_attrs["spec_text"]
    assert 'factory = "nb_model:build"' in text and 'loader = "nb_model:load"' in text and 'loss = "nb_model:per_row"' in text
    # another process, started elsewhere, reopens it by name: the spec's folder is stored with it
    out = subprocess.run(
        [sys.executable, "-m", "paretomoo.cli", "status", "nb", "--storage", storage], capture_output=True, text=True, cwd="/"
    )
    assert out.returncode == 0, out.stderr
    assert "study nb: 4 complete" in out.stdout


def test_a_lambda_or_a_function_without_a_file_is_one_line(user_code, tmp_path: Path) -> None:
    tasks = [{"name": "a", "metric": "auc"}, {"name": "b", "metric": "auc"}]
    with pytest.raises(UserError, match="lambda or a nested function, which workers and status could not import") as err:
        paretomoo.create_study("x", model=lambda tasks: None, data=user_code.load, tasks=tasks, storage=f"sqlite:///{tmp_path / 'x.db'}")
    assert "\n" not in str(err.value)
    scope: dict = {"__name__": "__main__"}
    exec("def load():\n    return {}\n", scope)  # as a notebook cell defines it: in __main__, with no file
    with pytest.raises(UserError, match=r"defined in __main__ \(a notebook or an interactive session\)"):
        paretomoo.create_study("x", model=user_code.build, data=scope["load"], tasks=tasks, storage=f"sqlite:///{tmp_path / 'x.db'}")
    assert not (tmp_path / "x.db").exists()  # nothing stored
