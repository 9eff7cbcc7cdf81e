"""One contract over every architecture: population form, equivalence with training alone, learning, export."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import paretomoo
from paretomoo.cli import main
from paretomoo.data import load_data
from paretomoo.errors import UserError
from paretomoo.metrics import ndcg
from paretomoo.models import ModelShape, SharedBottom, build_model, flops_per_row
from paretomoo.models._base import _Init
from paretomoo.spec import ModelSpec, load_spec
from paretomoo.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DEMO = "studies/ecommerce.toml"


# Every architecture, small enough to train in about a second on 20k rows.
ARCHITECTURES = {
    "shared_bottom": ModelSpec(type="shared_bottom", embedding_dim=4, bottom=(32, 16), tower=(16,)),
    "mmoe": ModelSpec(type="mmoe", embedding_dim=4, experts=3, expert=(32,), tower=(16,)),
    "ple": ModelSpec(type="ple", embedding_dim=4, experts=2, task_experts=1, expert=(32,), tower=(16,)),
    "ple_2_levels": ModelSpec(type="ple", embedding_dim=4, experts=2, task_experts=1, levels=2, expert=(32,), tower=(16,)),
}
SHAPE = ModelShape(n_num=5, cardinalities=(7, 3, 11), n_tasks=3)


def _batch(n: int = 9) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    num = torch.randn(n, SHAPE.n_num, generator=gen)
    cat = torch.stack([torch.randint(0, c, (n,), generator=gen) for c in SHAPE.cardinalities], dim=1)
    return num, cat


@pytest.fixture(scope="module")
def synthetic():
    """20k synthetic rows with moderate task conflict; 2 epochs (the fits take about a second each)."""
    spec = load_spec(DEMO).replace(
        data={"rows": 20000, "conflict": 0.5}, training={"epochs": 2, "batch_size": 256, "lr": 0.01, "device": "cpu"}
    )
    return spec, load_data(spec.data)


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_population_form(name: str) -> None:
    mspec = ARCHITECTURES[name]
    model = build_model(SHAPE, mspec, [0, 1, 2])
    num, cat = _batch()
    out = model(num, cat)
    assert out.shape == (3, 9, SHAPE.n_tasks)
    for pname, p in model.named_parameters():
        assert p.shape[0] == 3, pname  # every parameter has the population axis first
    # member k is the model that its seed builds alone, and member_state carries it over
    alone = build_model(SHAPE, mspec, [1])
    torch.testing.assert_close(alone(num, cat)[0], out[1])
    fresh = build_model(SHAPE, mspec, [5])
    fresh.load_state_dict(model.member_state(1))
    torch.testing.assert_close(fresh(num, cat)[0], out[1])
    assert not torch.allclose(out[0], out[1])  # other seeds, other weights
    # the same seed gives the same weights
    again = build_model(SHAPE, mspec, [0, 1, 2])
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters(), strict=True))
    # flops grow with the width of the shared part
    wider = dataclasses.replace(mspec, bottom=(64, 16)) if mspec.type == "shared_bottom" else dataclasses.replace(mspec, expert=(64,))
    assert 0 < flops_per_row(SHAPE, mspec) < flops_per_row(SHAPE, wider)


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_a_template_on_the_meta_device_computes_what_the_model_computes(name: str) -> None:
    """A template (built under ``torch.device("meta")``, its weights supplied by ``functional_call``) has the model's
    parameters, name for name and shape for shape, and with the model's weights gives its scores."""
    mspec = ARCHITECTURES[name]
    model = build_model(SHAPE, mspec, [0, 1, 2])
    with torch.device("meta"):
        template = build_model(SHAPE, mspec, [0, 0, 0])
    assert [(n, p.shape) for n, p in template.named_parameters()] == [(n, p.shape) for n, p in model.named_parameters()]
    assert all(p.is_meta for p in template.parameters())
    template = template.to_empty(device="cpu")
    for (_, buf), (_, own) in zip(template.named_buffers(), model.named_buffers(), strict=True):
        buf.copy_(own)
    num, cat = _batch()
    weights = dict(model.named_parameters())
    torch.testing.assert_close(torch.func.functional_call(template, weights, (num, cat)), model(num, cat))


def test_shared_bottom_initial_weights_are_unchanged() -> None:
    """Stored studies retrain to their weights: the shared-bottom initialisation must not move."""
    model = build_model(ModelShape(12, (64, 256, 4, 60), 4), ModelSpec(bottom=(64, 4), tower=(16,)), [0, 3])
    sums = [float(sum(p.detach()[k].double().sum() for p in model.parameters())) for k in range(2)]
    assert sums == pytest.approx([-6.248386522591318, -24.617378706576346], abs=1e-9)
    assert float(model.bottom[0].weight[0, 0, 0].detach()) == pytest.approx(0.1407441794872284, abs=1e-9)


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_member_of_a_population_trains_as_it_would_alone(synthetic, name: str) -> None:
    spec, data = synthetic
    spec = spec.replace(model=ARCHITECTURES[name], training={"epochs": 1})
    trainer = Trainer(spec, _smaller(data, 6000), "cpu")
    lam = np.array([[0.7, 0.1, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25], [0.01, 0.01, 0.01, 0.97]])
    together = trainer.fit(lam)
    for k in range(3):
        alone = trainer.fit(lam[k : k + 1])[0]
        for task, metrics in alone.val.items():
            for metric, value in metrics.items():
                assert together[k].val[task][metric] == pytest.approx(value, abs=1e-4), (k, task, metric)


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_every_architecture_learns_every_task(synthetic, name: str) -> None:
    spec, data = synthetic
    spec = spec.replace(model=ARCHITECTURES[name])
    trainer = Trainer(spec, data, "cpu")
    result = trainer.fit(np.full((1, 4), 0.25))[0]
    assert result.failed is None
    val = result.val
    fraud_rate = float(trainer.val.y[:, 3].mean())  # PR-AUC at chance
    y, g = trainer.val.y[:, 2], trainer.val.groups[2]
    gen = torch.Generator().manual_seed(0)
    random_ndcg = float(np.mean([ndcg(torch.rand(len(y), generator=gen), y, g, 10) for _ in range(5)]))
    # margins over chance (AUC 0.5; PR-AUC = positive rate; NDCG of a random order), about half of what they reach
    assert val["click"]["auc"] > 0.72, val["click"]
    assert val["ad_click"]["auc"] > 0.75, val["ad_click"]
    assert val["search"]["ndcg@10"] > random_ndcg + 0.15, (val["search"], random_ndcg)
    assert val["fraud"]["pr_auc"] > 5 * fraud_rate and val["fraud"]["auc"] > 0.8, (val["fraud"], fraud_rate)


@pytest.mark.parametrize("tower", [(16,), (16, 8)])
def test_fused_towers_are_the_separate_towers_of_the_same_seed(tower: tuple[int, ...]) -> None:
    """The towers are stored fused across tasks; drawn in the same order from the same seed, each task's score is
    what its own tower computes, and its weights are that tower's."""
    spec = ModelSpec(embedding_dim=4, bottom=(32, 16), tower=tower)
    init = _Init([3])  # the draw order: embeddings, bottom, then tower by tower
    embeddings = init.embeddings(SHAPE.cardinalities, spec.embedding_dim)
    bottom = init.mlp([SharedBottom.input_dim(SHAPE, spec), *spec.bottom], final_relu=True)
    towers = [init.mlp([spec.bottom[-1], *tower, 1], final_relu=False) for _ in range(SHAPE.n_tasks)]
    model = build_model(SHAPE, spec, [3])
    assert all(torch.equal(a, b) for a, b in zip(model.embeddings, embeddings, strict=True))
    num, cat = _batch()
    h = bottom(model.inputs(num, cat))
    out = model(num, cat)
    for t, separate in enumerate(towers):
        torch.testing.assert_close(out[..., t], separate(h)[..., 0])


def test_weights_of_another_layout_are_a_one_line_error(tmp_path) -> None:
    """An export whose weights do not fit this version's model is refused with the fix, not a traceback."""
    spec = ModelSpec(embedding_dim=4, bottom=(32, 16), tower=(16,))
    model = build_model(SHAPE, spec, [0])
    state = {k.replace("towers.first", "towers.0.0"): v for k, v in model.member_state(0).items()}
    torch.save({"shape": SHAPE.to_dict(), "model": dataclasses.asdict(spec), "state": state}, tmp_path / "model.pt")
    with pytest.raises(UserError, match="do not fit this version's shared_bottom model.*export the trial again"):
        paretomoo.load_model(tmp_path)


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_export_format_reloads_every_architecture(tmp_path, name: str) -> None:
    mspec = ARCHITECTURES[name]
    model = build_model(SHAPE, mspec, [0, 1])
    # what export_trial writes: the shape, the model spec and one member's weights
    torch.save({"shape": SHAPE.to_dict(), "model": dataclasses.asdict(mspec), "state": model.member_state(1)}, tmp_path / "model.pt")
    loaded = paretomoo.load_model(tmp_path)
    num, cat = _batch()
    torch.testing.assert_close(loaded(num, cat)[0], model(num, cat)[1])


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ('type = "mmoe"\nbottom = [16]', "model.bottom"),
        ('type = "mmoe"\ntask_experts = 2', "model.task_experts"),
        ('type = "shared_bottom"\nexperts = 4', "model.experts"),
        ('type = "ple"\nexperts = 0', "model.experts"),
        ('type = "ple"\nlevels = "two"', "model.levels"),
        ('type = "ple"\nexpert = []', "model.expert"),
        ('type = "moe"', "model.type"),
    ],
)
def test_bad_model_keys_are_one_line_errors(write_spec, tmp_path, capsys, model: str, key: str) -> None:
    good = write_spec()
    text = good.read_text().replace("[model]\nembedding_dim = 4\nbottom = [16, 8]\ntower = [8]", f"[model]\n{model}")
    assert model in text
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    assert main(["run", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and key in err, err
    assert not (tmp_path / "tiny.db").exists()


def test_run_prints_the_parameter_count_of_every_type(write_spec, capsys) -> None:
    path = write_spec(trials=2, batch=2, population=2)
    text = path.read_text().replace("bottom = [16, 8]", 'type = "ple"\nexperts = 2\nexpert = [8]')
    path.write_text(text)
    assert main(["run", str(path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "ple with" in out and "parameters" in out and "2 complete" in out


def _smaller(data, rows: int):  # type: ignore[no-untyped-def]
    """The first ``rows`` training rows of a data set (validation and test kept)."""
    train = data.train
    cut = dataclasses.replace(
        train,
        num=train.num[:rows],
        cat=train.cat[:rows],
        labels={k: v[:rows] for k, v in train.labels.items()},
        keys={k: v[:rows] for k, v in train.keys.items()},
    )
    return dataclasses.replace(data, train=cut)
