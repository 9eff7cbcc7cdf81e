"""The hand-written MLP pass computes what autograd computes, and reuses its buffers safely."""

from __future__ import annotations

import pytest
import torch

from paretomoo._chain import dense_chain
from paretomoo.models import ModelShape, build_model
from paretomoo.spec import ModelSpec

SHAPE = ModelShape(n_num=12, cardinalities=(64, 256, 4, 60), n_tasks=4)


def _batch(rows: int = 50, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    num = torch.randn(rows, SHAPE.n_num, generator=gen)
    cat = torch.stack([torch.randint(0, c, (rows,), generator=gen) for c in SHAPE.cardinalities], dim=1)
    return num, cat


def _inputs(model, num: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
    parts = [num.unsqueeze(0).expand(model.population, -1, -1)]
    parts.extend(table.index_select(1, cat[:, j]) for j, table in enumerate(model.embeddings))
    return torch.cat(parts, dim=-1)


def _reference(model, num: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
    """The same model in plain autograd ops."""
    h = _inputs(model, num, cat)
    for w, b in [(layer.weight, layer.bias) for layer in model.bottom] + model.towers.layers():
        h = torch.relu(torch.baddbmm(b, h, w))
    k, rows, t = h.shape[0], h.shape[1], model.towers.head_weight.shape[1]
    return (h.view(k, rows, t, -1) * model.towers.head_weight.unsqueeze(1)).sum(-1) + model.towers.head_bias


@pytest.mark.parametrize("tower", [(16,), (16, 8), (8, 6, 5)])
def test_forward_and_gradients_match_autograd(tower: tuple[int, ...]) -> None:
    model = build_model(SHAPE, ModelSpec(bottom=(32, 8), tower=tower), [0, 3, 5])
    num, cat = _batch()
    out, ref = model(num, cat), _reference(model, num, cat)
    torch.testing.assert_close(out, ref)
    grad = torch.randn_like(out)
    params = list(model.parameters())
    for (name, _), a, b in zip(
        model.named_parameters(), torch.autograd.grad(out, params, grad), torch.autograd.grad(ref, params, grad), strict=True
    ):
        torch.testing.assert_close(a, b, msg=name)
    assert all(p.grad is None for p in params)


def test_same_weights_and_function_as_separate_towers() -> None:
    """Task t's score is its own tower's: its slice of the fused first layer, its middle layer, its head."""
    spec = ModelSpec(bottom=(32, 8), tower=(16, 8))
    model = build_model(SHAPE, spec, [0, 3])
    num, cat = _batch()
    h = _inputs(model, num, cat)
    for layer in model.bottom:
        h = torch.relu(torch.baddbmm(layer.bias, h, layer.weight))
    out = model(num, cat)
    for t in range(SHAPE.n_tasks):
        w1 = model.towers.first.weight[:, :, 16 * t : 16 * (t + 1)]
        b1 = model.towers.first.bias[:, :, 16 * t : 16 * (t + 1)]
        z = torch.relu(torch.baddbmm(b1, h, w1))
        z = torch.relu(torch.baddbmm(model.towers.middle[0].bias[:, t], z, model.towers.middle[0].weight[:, t]))
        score = z @ model.towers.head_weight[:, t].unsqueeze(-1) + model.towers.head_bias[:, :, t : t + 1]
        torch.testing.assert_close(out[..., t : t + 1], score)


def test_buffers_are_reused_and_outputs_are_not_overwritten() -> None:
    model = build_model(SHAPE, ModelSpec(bottom=(32, 8), tower=(16,)), [0, 1])
    first = model(*_batch(seed=0))
    kept = first.detach().clone()
    buffers = {k: v.data_ptr() for k, v in model.workspace.items()}
    assert buffers  # training-mode passes keep their buffers
    second = model(*_batch(seed=1))
    assert torch.equal(first.detach(), kept)  # the second pass wrote into the buffers, not into the first output
    assert {k: v.data_ptr() for k, v in model.workspace.items()} == buffers
    second.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_evaluation_and_eval_mode_keep_no_buffers() -> None:
    model = build_model(SHAPE, ModelSpec(bottom=(32, 8), tower=(16,)), [0, 1])
    with torch.no_grad():
        a = model(*_batch(rows=300))
    assert model.workspace == {}
    torch.testing.assert_close(a, _reference(model, *_batch(rows=300)).detach())
    model.eval()  # as load_model returns it: scoring with autograd on keeps no buffers either
    model(*_batch(rows=300))
    assert model.workspace == {}
    model.train()
    model(*_batch(rows=300))
    assert model.workspace


def test_an_exported_model_scores_from_several_threads_at_once() -> None:
    from concurrent.futures import ThreadPoolExecutor

    model = build_model(SHAPE, ModelSpec(bottom=(32, 8), tower=(16,)), [0]).eval()
    batches = [_batch(rows=2000, seed=s) for s in range(8)]
    expected = [model(*b).detach() for b in batches]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda b: model(*b).detach(), batches * 4))
    for i, out in enumerate(got):
        assert torch.equal(out, expected[i % 8])


def test_inputs_that_need_no_gradient_get_none() -> None:
    x = torch.randn(2, 5, 3)
    w = torch.randn(2, 3, 8, requires_grad=True)
    b = torch.zeros(2, 1, 8, requires_grad=True)
    hw = torch.randn(2, 2, 4, requires_grad=True)
    hb = torch.zeros(2, 1, 2, requires_grad=True)
    out = dense_chain(x, [(w, b)], (hw, hb), {})
    out.sum().backward()
    assert x.grad is None and w.grad is not None and hw.grad is not None
    with pytest.raises(ValueError, match="hidden layer"):
        dense_chain(x, [], (hw, hb), {})
