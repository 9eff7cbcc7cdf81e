"""A published recommender library's multi-task model, unchanged: torch-rechub's MMoE (BatchNorm, Dropout, a dict of
named features in, sigmoid probabilities out) through the ten-line factory of examples/rechub_mmoe."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from paretomoo.errors import UserError

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "rechub_mmoe"


@pytest.fixture(scope="module")
def rechub_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from paretomoo.spec import load_spec
    from paretomoo.study import run_study

    folder = tmp_path_factory.mktemp("rechub")
    shutil.copy(EXAMPLE / "model.py", folder / "model.py")
    text = (EXAMPLE / "study.toml").read_text().replace("rows = 20000", "rows = 3000").replace("epochs = 2", "epochs = 1")
    text = text.replace('"sqlite:///runs/rechub-mmoe.db"', f'"sqlite:///{folder}/study.db"').replace("trials = 8", "trials = 4")
    (folder / "study.toml").write_text(text)
    run_study(load_spec(folder / "study.toml"))
    return folder / "study.toml"


def test_rechub_mmoe_trains_exports_and_loads_as_its_own_class(rechub_study: Path, tmp_path: Path) -> None:
    from torch_rechub.models.multi_task import MMOE

    import paretomoo

    study = paretomoo.open_study(rechub_study)
    records = [r for r in study.store.records() if r.state == "complete"]
    assert len(records) == 4
    assert all(math.isfinite(v) for r in records for v in r.values)
    assert {r.run["population"] for r in records} <= {"vmap", "sequential"} and all(r.run["members"] >= 2 for r in records)
    exported = study.export(tmp_path / "export")
    assert exported.verified is not None and exported.verified < 1e-5  # its stored validation metrics, re-measured
    model = paretomoo.load_model(exported.path)
    assert type(model) is MMOE and not model.training


def test_rechub_features_built_once_share_their_tables_one_line(tmp_path: Path) -> None:
    from paretomoo.models import ModelShape
    from paretomoo.models._module import build_members
    from paretomoo.spec import ModelSpec

    # a factory that builds rechub's Feature objects once: each caches its embedding table, so every model would share it
    (tmp_path / "cached.py").write_text(
        "from torch_rechub.basic.features import SparseFeature\n"
        "from torch_rechub.models.multi_task import MMOE\n"
        "FEATURES = [SparseFeature('item', 50, embed_dim=4)]\n"
        "def build(tasks):\n"
        "    return MMOE(FEATURES, ['classification'] * len(tasks), 2, {'dims': [8]}, [{'dims': [4]}] * len(tasks))\n"
    )
    spec = ModelSpec(type="module", factory="cached:build", base=str(tmp_path))
    shape = ModelShape(n_num=0, cardinalities=(), n_tasks=2, tasks=("a", "b"))
    with pytest.raises(UserError, match=r"share 'embedding\.embed_dict\.item\.weight'.*do not cache a module") as err:
        build_members(spec, shape, [0, 1])
    assert "\n" not in str(err.value)
