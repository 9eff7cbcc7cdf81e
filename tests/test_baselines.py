"""Adaptive-weighting baselines: every method trains on the trials' terms; each weighting meets its closed form."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch
from torch import nn

from paretomoo.baselines import METHODS, train_baseline
from paretomoo.baselines._base import GramianMethod, Method, split_parameters, task_gradients
from paretomoo.baselines._famo import FAMO
from paretomoo.baselines._gradnorm import GradNorm
from paretomoo.baselines._loop import train
from paretomoo.baselines._nashmtl import nash_weights
from paretomoo.baselines._uw import UncertaintyWeighting
from paretomoo.data import load_data
from paretomoo.errors import UserError
from paretomoo.models import ModelShape, build_model
from paretomoo.spec import ModelSpec, load_spec
from paretomoo.trainer import MemberResult, Trainer

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def trainer(tmp_path_factory) -> Trainer:
    """The tests' tiny four-task spec (conftest.TINY, 6000 rows), two epochs: a training takes a fraction of a second."""
    from tests.conftest import tiny_text

    root = tmp_path_factory.mktemp("baselines")
    (root / "tiny.toml").write_text(tiny_text(root, epochs=2))
    spec = load_spec(root / "tiny.toml")
    return Trainer(spec, load_data(spec.data), "cpu")


def _primary(r: MemberResult, trainer: Trainer, split: str) -> list[float]:
    values = r.val if split == "val" else r.test
    return [values[t.name][t.metric] for t in trainer.spec.tasks]


# -- every method, through the loop -----------------------------------------------


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_trains_and_is_measured_as_a_trial(trainer, name, one_torch_thread) -> None:
    r = train_baseline(trainer, name, seed=3)
    assert r.failed is None, r.failed
    assert all(math.isfinite(v) for v in _primary(r, trainer, "val") + _primary(r, trainer, "test"))
    assert all(math.isfinite(v) for t in trainer.spec.tasks for v in r.val_boot_se[t.name].values())
    assert r.val_dev is not None and r.val_dev.shape[1] == len(trainer.spec.tasks)
    assert r.state is not None and all(p.shape[0] == 1 for p in r.state.values())
    assert r.lam.shape == (4,) and np.all(r.lam >= 0) and r.lam.sum() == pytest.approx(1.0)
    assert r.seed == 3 and r.seconds > 0
    # the seed draws the initial weights: the state is not the initial one
    init = trainer.new_model(1, 3).member_state(0)
    assert any(not torch.equal(init[k], r.state[k]) for k in init)


def test_equal_weighting_is_the_fixed_lambda_trial(trainer, one_torch_thread) -> None:
    """``ew`` is ``Trainer``'s own loop at λ = 1/T, bit for bit, when both train one member.

    ``Trainer.fit`` trains a lone λ as a population of two (a batched product over
    one matrix may take another kernel than over several), the baseline loop one
    model: where the kernels differ, the last bits differ and training amplifies
    them (up to 7e-3 in a metric after the demo's 6 epochs). The trainer's
    one-member path (``_fit`` with one row, what ``fit`` falls back to) has the
    same kernels: identical weights and metrics.
    """
    lam = np.full((1, 4), 0.25)
    r = train_baseline(trainer, "ew")
    one = trainer._fit(lam, [trainer.spec.training.seed])[0]
    assert r.state is not None and one.state is not None
    assert all(torch.equal(r.state[k], one.state[k]) for k in one.state)
    assert r.val == one.val and r.test == one.test and r.val_boot_se == one.val_boot_se
    np.testing.assert_array_equal(r.lam, lam[0])
    pair = trainer.fit(lam)[0]
    np.testing.assert_allclose(_primary(r, trainer, "val"), _primary(pair, trainer, "val"), atol=5e-3)


def test_a_diverging_training_fails_without_raising(trainer, one_torch_thread) -> None:
    class Poison(Method):
        """Equal weights whose gradients become NaN at the third step."""

        steps = 0

        def backward(self, losses: torch.Tensor, shared: list[nn.Parameter], specific: list[nn.Parameter]) -> torch.Tensor:
            losses.mean().backward()
            self.steps += 1
            if self.steps == 3:
                for p in shared:
                    p.grad = torch.full_like(p, math.nan)
            return torch.full((4,), 0.25)

    r = train(trainer, Poison(), 0)
    assert r.failed is not None and "NaN/inf in epoch 1" in r.failed
    assert r.state is None
    np.testing.assert_allclose(r.lam, 0.25)  # the weights of the steps it took


# -- shared and task-specific parameters ------------------------------------------

ARCHITECTURES = {
    "shared_bottom": ModelSpec(type="shared_bottom", embedding_dim=4, bottom=(16, 8), tower=(8, 6)),
    "mmoe": ModelSpec(type="mmoe", embedding_dim=4, experts=3, expert=(8,), tower=(6,)),
    "ple": ModelSpec(type="ple", embedding_dim=4, experts=2, task_experts=1, expert=(8,), tower=(6,)),
    "ple_2_levels": ModelSpec(type="ple", embedding_dim=4, experts=2, task_experts=1, levels=2, expert=(8,), tower=(6,)),
    "ple_3_levels": ModelSpec(type="ple", embedding_dim=4, experts=2, task_experts=1, levels=3, expert=(8,), tower=(6,)),
}
SHAPE = ModelShape(n_num=5, cardinalities=(7, 11), n_tasks=3)


def _model_and_losses(name: str) -> tuple[nn.Module, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    num = torch.randn(64, SHAPE.n_num, generator=gen)
    cat = torch.stack([torch.randint(0, c, (64,), generator=gen) for c in SHAPE.cardinalities], dim=1)
    y = (torch.rand(64, SHAPE.n_tasks, generator=gen) < 0.3).float()
    model = build_model(SHAPE, ARCHITECTURES[name], [0])
    pred = model(num, cat)[0]  # [B, T]
    return model, nn.functional.binary_cross_entropy_with_logits(pred, y, reduction="none").mean(dim=0)


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_task_specific_parameters_are_those_each_task_reaches_alone(name: str) -> None:
    """A tensor is task-specific exactly when the tasks' gradients on it have disjoint supports (each its own slice)."""
    model, losses = _model_and_losses(name)
    names = [n for n, _ in model.named_parameters()]
    _, specific = split_parameters(model)
    chosen = {id(p) for p in specific}
    grads = task_gradients(losses, list(model.parameters()))
    for pname, p, g in zip(names, model.parameters(), grads, strict=True):
        support = [g[i] != 0 for i in range(SHAPE.n_tasks)]
        overlap = any(bool((support[i] & support[j]).any()) for i in range(SHAPE.n_tasks) for j in range(i))
        if id(p) in chosen:
            assert not overlap, f"{pname}: one task's gradient reaches another task's slice"
            assert all(bool(s.any()) for s in support), f"{pname}: some task does not reach it"
        else:
            assert overlap, f"{pname}: no two tasks share it, yet it is counted shared"
    assert specific, "every architecture has towers"


@pytest.mark.parametrize("name", ["shared_bottom", "ple_2_levels"])
def test_gradient_aggregation_follows_mtl_backward(name: str) -> None:
    """Shared parameters get ``Jᵀw``; each task-specific slice its own task's plain gradient."""
    w = torch.tensor([0.5, 2.0, 3.0])

    class Fixed(GramianMethod):
        def weights(self, gramian: torch.Tensor) -> torch.Tensor:
            return w.double()

    model, losses = _model_and_losses(name)
    shared, specific = split_parameters(model)
    expect_shared = torch.autograd.grad((w * losses).sum(), shared, retain_graph=True)
    expect_specific = torch.autograd.grad(losses.sum(), specific, retain_graph=True)
    used = Fixed().backward(losses, shared, specific)
    torch.testing.assert_close(used, w)
    for p, e in zip([*shared, *specific], [*expect_shared, *expect_specific], strict=True):
        assert p.grad is not None
        torch.testing.assert_close(p.grad, e)


def test_an_overflowing_gradient_is_not_handed_to_the_weighting() -> None:
    class Refuses(GramianMethod):
        def weights(self, gramian: torch.Tensor) -> torch.Tensor:
            raise AssertionError("called with a non-finite Gramian")

    theta = nn.Parameter(torch.tensor([0.0, 1.0]))
    losses = torch.sqrt(theta)  # finite losses, an infinite gradient at 0
    w = Refuses().backward(losses, [theta], [])
    assert torch.all(torch.isnan(w)) and theta.grad is not None and torch.all(torch.isnan(theta.grad))


# -- the weightings in closed form ------------------------------------------------


def _gram(*rows: tuple[float, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    j = torch.tensor(rows, dtype=torch.float64)
    return j, j @ j.T


def _weights(name: str, gramian: torch.Tensor) -> torch.Tensor:
    method = METHODS[name].make()
    method.setup(gramian.shape[0], CPU, 0)
    assert isinstance(method, GramianMethod)
    return method.weights(gramian).double()


def test_mgda_is_the_min_norm_point_of_the_gradients_hull() -> None:
    _, g = _gram((1.0, 0.0), (0.0, 1.0))
    torch.testing.assert_close(_weights("mgda", g), torch.tensor([0.5, 0.5], dtype=torch.float64))
    # g1 = (1, 0), g2 = k (1, 1): min over t of |(1-t) g1 + t g2|² at t = (1-k) / ((1-k)² + k²), inside [0, 1] for 1/2 < k < 1
    k = 0.75
    t = (1 - k) / ((1 - k) ** 2 + k**2)
    _, g = _gram((1.0, 0.0), (k, k))
    torch.testing.assert_close(_weights("mgda", g), torch.tensor([1 - t, t], dtype=torch.float64), atol=5e-3, rtol=0)
    # k = 2: g1 · g2 ≥ |g1|², so g1 itself is the min-norm point
    _, g = _gram((1.0, 0.0), (2.0, 2.0))
    torch.testing.assert_close(_weights("mgda", g), torch.tensor([1.0, 0.0], dtype=torch.float64))


def test_pcgrad_removes_the_conflicting_components() -> None:
    j, g = _gram((1.0, 0.0), (-1.0, 2.0))
    g1, g2 = j
    assert g1 @ g2 < 0
    p1 = g1 - (g1 @ g2) / (g2 @ g2) * g2
    p2 = g2 - (g2 @ g1) / (g1 @ g1) * g1
    update = _weights("pcgrad", g) @ j
    torch.testing.assert_close(update, p1 + p2)
    assert float(p1 @ g2) == pytest.approx(0.0, abs=1e-12) and float(p2 @ g1) == pytest.approx(0.0, abs=1e-12)
    # gradients that do not conflict are summed unchanged
    j, g = _gram((1.0, 0.0), (1.0, 2.0))
    torch.testing.assert_close(_weights("pcgrad", g), torch.tensor([1.0, 1.0], dtype=torch.float64))


def test_pcgrad_order_comes_from_its_own_seeded_generator() -> None:
    """Three conflicting gradients: the projection order matters; it follows the seed, not the global generator."""
    _, g = _gram((1.0, 0.0, 0.0), (-0.6, 1.0, 0.0), (-0.3, -0.8, 1.0))
    before = torch.get_rng_state()
    a = [_weights("pcgrad", g) for _ in range(2)]
    assert torch.equal(torch.get_rng_state(), before)
    torch.testing.assert_close(a[0], a[1])


def test_upgrad_averages_the_projections_onto_the_dual_cone() -> None:
    # two gradients: each projected onto the other's half-space, as PCGrad, then averaged
    j, g = _gram((1.0, 0.0), (-1.0, 2.0))
    update = _weights("upgrad", g) @ j
    torch.testing.assert_close(update, torch.tensor([0.8 + 0.0, 0.4 + 2.0], dtype=torch.float64) / 2, atol=1e-3, rtol=0)
    # three: the update conflicts with none of them (TorchJD regularises G by 1e-4, hence the tolerance)
    j, g = _gram((1.0, 0.0, 0.0), (-1.0, 2.0, 0.0), (0.5, -1.5, 1.0))
    update = _weights("upgrad", g) @ j
    assert torch.all(j @ update >= -1e-3 * update.norm()) and update.norm() > 0.5


def test_nash_weights_solve_the_bargaining_equation() -> None:
    rng = np.random.default_rng(0)
    for t, p in [(2, 5), (3, 10), (4, 50), (6, 8)]:
        j = rng.normal(size=(t, p)) * rng.uniform(0.01, 100, size=(t, 1))  # gradients of very different sizes
        g = j @ j.T
        a = nash_weights(g)
        assert np.all(a > 0)
        np.testing.assert_allclose(g @ a, 1 / a, rtol=1e-8)
    # a rank-deficient Gramian (three gradients in a plane) still has the solution
    j = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    a = nash_weights(j @ j.T)
    np.testing.assert_allclose(j @ j.T @ a, 1 / a, rtol=1e-6)
    # two equal gradients g: α₁ = α₂ = 1 / (√2 |g|)
    j = np.array([[3.0, 4.0], [3.0, 4.0]])
    np.testing.assert_allclose(nash_weights(j @ j.T), np.full(2, 1 / (math.sqrt(2) * 5)), rtol=1e-8)
    # orthogonal gradients: α_i = 1 / |g_i|, so every task's update J^T α has unit length along its gradient
    np.testing.assert_allclose(nash_weights(np.diag([4.0, 0.25])), [0.5, 2.0], rtol=1e-8)
    # a task with a zero gradient has no finite α and no effect on the update: α = 0, the others solved alone
    np.testing.assert_allclose(nash_weights(np.diag([4.0, 0.0, 0.25])), [0.5, 0.0, 2.0], rtol=1e-8)


def test_nash_weights_of_opposite_gradients_give_no_update() -> None:
    j = np.array([[1.0, 2.0], [-1.0, -2.0]])
    a = nash_weights(j @ j.T)
    assert np.all(np.isfinite(a)) and np.all(a > 0)
    assert np.linalg.norm(a @ j) < 1e-6 * np.linalg.norm(a)


def _linear_losses(theta: nn.Parameter, scale: torch.Tensor) -> torch.Tensor:
    """``f_i = scale_i · θ_i``: loss i has value scale_i θ_i and gradient scale_i e_i."""
    return scale * theta


def test_uncertainty_weighting_rests_where_s_is_log_f() -> None:
    theta = nn.Parameter(torch.tensor([0.8, 2.5, 0.1]))
    method = UncertaintyWeighting()
    (s,) = method.setup(3, CPU, 0)
    f = _linear_losses(theta, torch.ones(3))
    with torch.no_grad():
        s.copy_(torch.log(f.detach()))
    weights = method.backward(f, [theta], [])
    assert s.grad is not None
    torch.testing.assert_close(s.grad, torch.zeros(3), atol=1e-6, rtol=0)
    torch.testing.assert_close(weights, 1 / f.detach())
    torch.testing.assert_close(theta.grad, 1 / f.detach())  # each loss's gradient (here e_i) weighted by 1/f_i
    # below log f the gradient is negative: s rises (the weight falls) towards 1/f
    with torch.no_grad():
        s.zero_()
    s.grad = None
    method.backward(_linear_losses(theta, torch.ones(3)), [theta], [])
    assert s.grad is not None and torch.all(torch.sign(s.grad) == torch.sign(1 - f.detach()))


def test_gradnorm_moves_weight_to_the_task_whose_loss_falls_slowest() -> None:
    method = GradNorm()
    (w,) = method.setup(2, CPU, 0)
    opt = torch.optim.SGD([w], lr=0.1)
    theta = nn.Parameter(torch.tensor([1.0, 1.0]))
    method.backward(_linear_losses(theta, torch.ones(2)), [theta], [])  # f(0) = (1, 1), equal gradient norms
    with torch.no_grad():
        theta.copy_(torch.tensor([0.5, 0.9]))  # task 0's loss halved, task 1's fell 10 %
    used = method.backward(_linear_losses(theta, torch.ones(2)), [theta], [])
    torch.testing.assert_close(used, torch.ones(2))
    torch.testing.assert_close(theta.grad, torch.ones(2))  # Σ w_i ∇f_i
    assert w.grad is not None and w.grad[1] < 0 < w.grad[0]
    opt.step()
    method.after_step(lambda: torch.zeros(2))
    assert w[1].item() > 1 > w[0].item() and float(w.detach().sum()) == pytest.approx(2.0)


def test_gradnorm_takes_a_task_s_first_positive_loss_as_its_start() -> None:
    """Under a ``where`` filter a batch may hold none of a task's rows (loss 0): no division by zero."""
    method = GradNorm()
    (w,) = method.setup(2, CPU, 0)
    theta = nn.Parameter(torch.tensor([1.0, 0.0]))
    method.backward(_linear_losses(theta, torch.ones(2)), [theta], [])
    assert w.grad is not None and torch.all(torch.isfinite(w.grad))
    with torch.no_grad():
        theta.copy_(torch.tensor([0.5, 2.0]))
    method.backward(_linear_losses(theta, torch.ones(2)), [theta], [])
    assert method.initial is not None
    torch.testing.assert_close(method.initial, torch.tensor([1.0, 2.0]))


def test_famo_weights_are_convex_and_shift_from_the_task_that_fell_most() -> None:
    method = FAMO()
    method.setup(2, CPU, 0)
    theta = nn.Parameter(torch.tensor([1.0, 4.0]))
    used = method.backward(_linear_losses(theta, torch.ones(2)), [theta], [])
    # z = (½, ½): w_i ∝ z_i / f_i, summing to 1 (log-loss gradients, renormalised)
    torch.testing.assert_close(used, torch.tensor([0.8, 0.2]), rtol=1e-6, atol=0)
    torch.testing.assert_close(theta.grad, used)
    method.after_step(lambda: torch.tensor([0.5, 3.8]))  # task 0 fell by half, task 1 by 5 %
    z = torch.softmax(method.xi.detach(), dim=0)
    assert z[1] > 0.5 > z[0]


# -- the registry ---------------------------------------------------------------


def test_registry_lists_the_methods_and_refuses_an_unknown_one(trainer) -> None:
    assert list(METHODS) == ["ew", "uw", "gradnorm", "pcgrad", "mgda", "famo", "nashmtl", "upgrad"]
    assert {m.kind for m in METHODS.values()} == {"loss weighting", "gradient aggregation"}
    with pytest.raises(UserError, match=r"unknown baseline method 'dwa'; use one of ew, uw, gradnorm, pcgrad, mgda, famo, nashmtl, upgrad"):
        train_baseline(trainer, "dwa")


def test_a_missing_torchjd_is_one_line_naming_the_install(monkeypatch) -> None:
    for mod in [m for m in sys.modules if m == "torchjd" or m.startswith("torchjd.")]:
        monkeypatch.setitem(sys.modules, mod, None)
    monkeypatch.setitem(sys.modules, "torchjd", None)
    monkeypatch.delitem(sys.modules, "paretomoo.baselines._jd", raising=False)
    for name in ("pcgrad", "mgda", "upgrad"):
        assert METHODS[name].needs == "torchjd"
        with pytest.raises(UserError, match=rf"^method '{name}' needs torchjd: pip install 'paretomoo\[baselines\]'$"):
            METHODS[name].check()
    for name in ("ew", "uw", "gradnorm", "famo", "nashmtl"):
        METHODS[name].check()  # the others need nothing optional
