"""λ-conditioned models by weight mixing: one network whose weights are a λ-weighted mix of T anchors.

Model r (of R, one per training seed) holds T anchors θ_r1 … θ_rT, one per
task, of the spec's own architecture (shared bottom, MMoE or PLE: every
parameter is mixed, embeddings, experts, gates and towers alike). For a λ on
the simplex its weights are ``θ_r(λ) = Σ_i λ_i θ_ri`` (Pareto Manifold
Learning, Dimitriadis et al., ICML 2023), so any λ is a forward pass away. The
anchors are one population model of R·T members (member r·T + i is anchor i of
model r), and a batch of mixed models runs through the architecture's own
population forward (``torch.func.functional_call``): nothing in
``paretomoo.models`` knows of conditioning.

Why mixing rather than FiLM (a small network of λ scaling and shifting the
shared bottom's units): ``benchmarks/conditioned.py`` compares them; FiLM's
points gathered around one compromise while mixing reached every task's end
(docs/conditioned.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from paretomoo.models import ModelShape, PopulationModel, build_model
from paretomoo.models._module import ModulePopulation
from paretomoo.spec import ModelSpec


class Mixture(nn.Module):
    """R conditioned models of T anchors each: ``forward(lam[R, M, T], num, cat)`` → scores ``[R·M, B, T]``
    (model r's M mixes first; ``num``/``cat`` ``[B, ·]`` for every mix, or ``[R·M, B, ·]``, one batch per mix)."""

    def __init__(self, shape: ModelShape, spec: ModelSpec, seeds: Sequence[int], device: torch.device | str = "cpu") -> None:
        super().__init__()
        self.shape, self.spec, self.seeds = shape, spec, [int(s) for s in seeds]
        self.models, self.tasks = len(self.seeds), shape.n_tasks
        # every anchor of model r starts from model r's seeded weights: at the start θ_r(λ) is that one model for every λ,
        # the model a fixed-λ trial of seed r starts from
        self.anchors = build_model(shape, spec, [s for s in self.seeds for _ in range(self.tasks)]).to(device)
        self._templates: dict[int, PopulationModel] = {}

    def mixed(self, lam: torch.Tensor) -> dict[str, torch.Tensor]:
        """The weights of R × M mixed models: ``lam[R, M, T]`` → {name: ``[R·M, ...]``}; a user module's stacked
        buffers too (floats mixed like weights, others taken from each model's first anchor)."""
        r, m, t = lam.shape
        out = {}
        for name, p in [*self.anchors.named_parameters(), *self._stacked_buffers()]:
            if not p.is_floating_point():
                out[name] = p.view(r, t, *p.shape[1:])[:, :1].expand(r, m, *p.shape[1:]).reshape(r * m, *p.shape[1:])
                continue
            a = p.reshape(r, t, -1)  # [R, T, numel of one member]
            out[name] = torch.bmm(lam.to(p.dtype), a).view(r * m, *p.shape[1:])
        return out

    def _stacked_buffers(self) -> list[tuple[str, torch.Tensor]]:
        """Buffers with a population axis (a user module's, see ``ModulePopulation``); the built-in models' buffers
        do not depend on the member."""
        return list(self.anchors.named_buffers()) if isinstance(self.anchors, ModulePopulation) else []

    def template(self, n: int) -> PopulationModel:
        """An architecture of population n whose parameters ``functional_call`` replaces (its buffers are used)."""
        if n not in self._templates:
            with torch.device("meta"):
                model = build_model(self.shape, self.spec, [0] * n)
            model = model.to_empty(device=_device(self.anchors))
            # buffers (label rescaling, PLE's expert indices) are left empty on the meta device and do not depend on
            # the population: the anchors' own
            own = dict(self.anchors.named_buffers())
            with torch.no_grad():
                for name, buf in model.named_buffers():
                    if own[name].shape == buf.shape:  # a user module's stacked buffers come mixed (``mixed``)
                        buf.copy_(own[name])
            self._templates[n] = model
        return self._templates[n].train(self.anchors.training)  # Dropout while the anchors train, none while they are measured

    def updates_buffers(self) -> bool:
        """Whether the model keeps running statistics that training updates in place (BatchNorm): a mix of weights
        cannot carry them."""
        base = getattr(self.anchors, "base", None)
        return base is not None and any(
            isinstance(mod, nn.modules.batchnorm._BatchNorm) and mod.track_running_stats for mod in base.modules()
        )

    def forward(self, lam: torch.Tensor, batch: Mapping[str, torch.Tensor], stacked: bool = False) -> torch.Tensor:
        n = lam.shape[0] * lam.shape[1]
        return torch.func.functional_call(self.template(n), self.mixed(lam), (batch,), {"stacked": stacked})

    def state(self) -> dict[str, torch.Tensor]:
        return {name: p.detach().cpu().clone() for name, p in self.anchors.named_parameters()}

    def load(self, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for name, p in self.anchors.named_parameters():
                p.copy_(state[name].to(p.device))


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


class Mixed(nn.Module):
    """Fixed mixes as the population model ``Trainer.predict`` takes: ``population`` = R·M members,
    ``forward(batch)`` → ``[R·M, B, T]``."""

    def __init__(self, mixture: Mixture, lam: torch.Tensor) -> None:
        super().__init__()
        self.mixture = mixture
        self.population = lam.shape[0] * lam.shape[1]
        with torch.no_grad():
            self.weights = mixture.mixed(lam)

    def forward(self, batch: Mapping[str, torch.Tensor] | torch.Tensor, cat: torch.Tensor | None = None) -> torch.Tensor:
        if not isinstance(batch, Mapping):  # model(num, cat), as an exported built-in model is called
            assert cat is not None, "model(num, cat) needs both; or pass one batch mapping"
            batch = {"num": batch, "cat": cat}
        return torch.func.functional_call(self.mixture.template(self.population), self.weights, (batch,))


class ConditionedModel(nn.Module):
    """An exported λ-conditioned model: ``model(num, cat, lam=None)`` → scores ``[1, B, T]`` at ``lam``
    (``[T]``, one weight per task in spec order; default: the λ it was exported at), or ``[M, B, T]`` for
    ``lam[M, T]``, M trade-offs at once.

    ``lam`` need not be normalised (it is divided by its sum); scores are logits
    for binary tasks and values in the label's units for regression tasks.
    ``population`` is 1, so the trainer's ``measure`` reads it as any exported
    model.
    """

    population = 1
    lam: torch.Tensor

    def __init__(self, shape: ModelShape, spec: ModelSpec, anchors: dict[str, torch.Tensor], lam: Sequence[float], tasks: Sequence[str]):
        super().__init__()
        self.mixture = Mixture(shape, spec, [0])
        self.mixture.load(anchors)
        self.tasks = list(tasks)
        self.register_buffer("lam", torch.as_tensor(list(lam), dtype=torch.float32))

    def forward(
        self,
        num: torch.Tensor | Mapping[str, torch.Tensor],
        cat: torch.Tensor | None = None,
        lam: torch.Tensor | Sequence[float] | None = None,
    ) -> torch.Tensor:
        w = self.lam if lam is None else torch.as_tensor(lam, dtype=torch.float32, device=self.lam.device)
        w = w.unsqueeze(0) if w.dim() == 1 else w
        if (
            w.dim() != 2
            or w.shape[1] != len(self.tasks)
            or not bool(torch.isfinite(w).all())
            or bool((w < 0).any())
            or bool((w.sum(1) <= 0).any())
        ):
            raise ValueError(
                f"lam must hold {len(self.tasks)} weights >= 0 with a positive sum ({', '.join(self.tasks)}), got {w.tolist()}"
            )
        w = w / w.sum(dim=1, keepdim=True)
        return Mixed(self.mixture, w.unsqueeze(0))(num, cat)
