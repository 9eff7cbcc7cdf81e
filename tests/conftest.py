from __future__ import annotations

from pathlib import Path

import pytest

TINY = """
[study]
name = "{name}"
storage = "sqlite:///{root}/{name}.db"
artifacts = "{root}/{name}.artifacts"

[data]
rows = {rows}
seed = 0
conflict = 0.8

[[tasks]]
name = "click"
label = "click"
loss = "bce"
metric = "auc"

[[tasks]]
name = "ad_click"
label = "ad_click"
loss = "bce"
metric = "auc"

[[tasks]]
name = "search"
label = "relevance"
loss = "mse"
metric = "ndcg@10"
group = "query"

[[tasks]]
name = "fraud"
label = "fraud"
loss = "bce"
metric = "pr_auc"
pos_weight = 5.0

[model]
embedding_dim = 4
bottom = [16, 8]
tower = [8]

[training]
epochs = {epochs}
batch_size = 512
lr = {lr}
seed = 0
device = "cpu"
population = {population}

[search]
optimizer = "{optimizer}"
trials = {trials}
batch = {batch}
seed = 0
{extra}
"""


def tiny_text(root: Path, **kw: object) -> str:
    values = dict(name="tiny", root=root, rows=6000, epochs=1, lr=0.01, population=4, optimizer="nsga2", trials=8, batch=4, extra="")
    values.update(kw)
    return TINY.format(**values)


@pytest.fixture
def write_spec(tmp_path: Path):
    """Write a small, fast study spec under tmp_path; keyword arguments override its values."""

    def make(filename: str = "tiny.toml", **kw: object) -> Path:
        p = tmp_path / filename
        p.write_text(tiny_text(tmp_path, **kw))
        return p

    return make
