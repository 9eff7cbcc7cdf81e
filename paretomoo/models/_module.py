"""A population of the user's own ``nn.Module``: K members trained in one pass, whatever the module.

The factory (``[model] factory = "package.module:build"``) is called once per
member, under ``torch.manual_seed(seed)``, so a member's initial weights depend
on its seed only. The members' parameters and buffers are stacked along a new
leading axis K (``torch.func.stack_module_state``): the population's own
parameters, so one optimizer, checkpoints, weight mixing and ``member_state``
see the same layout as the built-in models. A forward pass runs the module's
own ``forward`` on each member's weights through ``torch.func.functional_call``:

* ``"vmap"``: every member at once under ``torch.vmap(randomness="different")``
  (independent Dropout masks; BatchNorm's running statistics, stacked, are
  updated per member);
* ``"sequential"``: the members one after another on the same batch, on views
  of the stacked tensors (for modules ``vmap`` cannot run: ``.item()``, data-
  dependent Python control flow, an operator without a batching rule).

Both compute the same function; ``Trainer`` picks one (``[model] population``).

The module's ``forward`` takes a batch: a mapping of feature tensors ``[B, ...]``
(the labels removed) and returns one score per task: a mapping task → ``[B]``
or ``[B, 1]``, a tensor ``[B, T]`` in task order, or a sequence of T tensors.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from paretomoo._imports import call_with, load_target, options_dict
from paretomoo.errors import UserError
from paretomoo.models._base import ModelShape, PopulationModel
from paretomoo.spec._sections import ModelSpec

# population = "auto": passes of each mode before timing (the first ones pay one-off costs: 8× a later one's, seen on a
# small module), then passes of each mode in turns, timed
WARM_UP_STEPS = 3
TIMED_STEPS = 3


def _escape(name: str) -> str:
    return name.replace(".", "__")


def build_members(spec: ModelSpec, shape: ModelShape, seeds: Sequence[int]) -> list[nn.Module]:
    """One module per seed from the spec's factory (seeded), checked: a Module, no parameter shared between two members."""
    factory = load_target(spec.factory, spec.base, "model.factory")
    if not callable(factory):
        raise UserError(f"model.factory: {spec.factory!r} is not callable; point it at a function that returns an nn.Module")
    options = options_dict(spec.options)
    members: list[nn.Module] = []
    for s in seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(s))
            try:
                m = call_with(factory, {"tasks": list(shape.tasks), **options}, {"shape": shape})
            except UserError:
                raise
            except Exception as exc:
                raise UserError(f"model.factory {spec.factory!r} raised {type(exc).__name__}: {_first_line(exc)}") from None
        if not isinstance(m, nn.Module):
            raise UserError(f"model.factory {spec.factory!r} returned {type(m).__name__}, not a torch.nn.Module; return the model instance")
        members.append(m)
    _check_not_shared(members, spec.factory)
    return members


def _check_not_shared(members: Sequence[nn.Module], factory: str) -> None:
    """Two members must never hold the same tensor: they would train as one."""
    seen: dict[int, str] = {}
    for k, m in enumerate(members):
        own: set[int] = set()
        for name, t in [*m.named_parameters(), *m.named_buffers()]:
            key = id(t)
            if key in seen and key not in own:
                raise UserError(
                    f"model.factory {factory!r} returned members that share {name!r} (member {k} and an earlier one): each call "
                    "must build new modules; do not cache a module (e.g. an embedding table) across calls"
                )
            own.add(key)
        for key in own:
            seen[key] = f"member {k}"


class ModulePopulation(PopulationModel):
    """K members of a user module as one population model: ``forward(batch)`` → scores ``[K, B, T]``.

    ``batch`` maps feature names to tensors ``[B, ...]`` (one batch for every
    member) or, with ``stacked=True``, ``[K, B, ...]`` (one batch per member).
    Scores are the module's own outputs (``[[tasks]] output`` says what they are).
    """

    __call__ = nn.Module.__call__  # the batch goes to forward as it is
    base: nn.Module  # member 0, the architecture functional_call runs (set past nn.Module's registration)

    def __init__(self, shape: ModelShape, spec: ModelSpec, seeds: Sequence[int], members: Sequence[nn.Module] | None = None) -> None:
        nn.Module.__init__(self)  # not PopulationModel's: the module's outputs are in the labels' units already
        self.shape, self.spec = shape, spec
        self.population = len(seeds)
        self.mode = "vmap" if spec.population == "auto" else spec.population
        self.tasks = list(shape.tasks)
        members = list(members) if members is not None else build_members(spec, shape, seeds)
        params, buffers = torch.func.stack_module_state(members)
        self.param_names = list(params)
        self.buffer_names = list(buffers)
        self.stacked = nn.ParameterDict({_escape(n): nn.Parameter(p.detach().clone()) for n, p in params.items()})
        holder = nn.Module()
        for n, b in buffers.items():
            holder.register_buffer(_escape(n), b.clone())
        self.stacked_buffers = holder
        # the architecture functional_call runs: member 0 itself (not a registered submodule: its own weights are unused)
        object.__setattr__(self, "base", members[0])

    # -- the population interface ----------------------------------------------------

    def weights(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The stacked parameters and buffers ``{user name: [K, ...]}``."""
        params = {n: self.stacked[_escape(n)] for n in self.param_names}
        buffers = {n: getattr(self.stacked_buffers, _escape(n)) for n in self.buffer_names}
        return params, buffers

    def forward(self, batch: Mapping[str, torch.Tensor], cat: Any = None, *, stacked: bool = False) -> torch.Tensor:
        params, buffers = self.weights()
        if self.mode == "vmap":
            dims = {k: 0 if stacked else None for k in batch}
            run = torch.vmap(self._one, in_dims=(0, 0, dims), randomness="different")
            return run(params, buffers, dict(batch))
        outs = []
        for k in range(self.population):
            part = {n: v[k] for n, v in batch.items()} if stacked else dict(batch)
            outs.append(self._one({n: p[k] for n, p in params.items()}, {n: b[k] for n, b in buffers.items()}, part))
        return torch.stack(outs)

    def _one(self, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out = torch.func.functional_call(self.base, (params, buffers), (batch,))
        return scores_of(out, self.tasks, self.spec.factory)

    @classmethod
    def flops_per_row(cls, shape: ModelShape, spec: ModelSpec) -> int:
        """Unknown for a user's module: 0."""
        return 0

    def train(self, mode: bool = True) -> ModulePopulation:
        super().train(mode)
        self.base.train(mode)
        return self

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        """Member k's parameters and buffers (population axis kept at size 1, on the CPU), by the population's names."""
        out = {n: p.detach()[k : k + 1].cpu().clone() for n, p in self.named_parameters()}
        out.update({n: b.detach()[k : k + 1].cpu().clone() for n, b in self.named_buffers()})
        return out

    def user_state(self, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A ``member_state`` as the user's module's own ``state_dict``: its names, no population axis.

        Every name the module's ``state_dict`` has, no more: a tied weight (one
        stacked tensor) under each of its names, no non-persistent buffer; so
        the user's own ``load_state_dict`` (strict) takes it.
        """
        own = {n: state[f"stacked.{_escape(n)}"][0] for n in self.param_names}
        own.update({n: state[f"stacked_buffers.{_escape(n)}"][0] for n in self.buffer_names})
        names = self.base.state_dict(keep_vars=True)
        canonical = {id(names[n]): n for n in own if n in names}
        return {n: own[canonical[id(t)]] for n, t in names.items() if id(t) in canonical}

    def user_module(self, state: Mapping[str, torch.Tensor]) -> nn.Module:
        """The user's own module (member 0's class, built by the factory) holding ``state``, in eval mode."""
        module = copy.deepcopy(self.base)
        try:
            module.load_state_dict(self.user_state(state))
        except RuntimeError as exc:  # missing or unexpected keys, other shapes
            raise UserError(f"the stored weights do not fit {type(module).__name__}: {state_error(exc)}") from None
        return module.eval()


def choose_mode(
    model: ModulePopulation, batch: Mapping[str, torch.Tensor], loss: Callable[[torch.Tensor], torch.Tensor], wanted: str
) -> tuple[str, str]:
    """How ``model``'s members run: ``(mode, why)``.

    Checks the module on the first batch (scores of the right shape, finite).
    ``wanted`` "vmap" or "sequential" is taken as asked (a vmap the module
    cannot run is a one-line error); "auto" times forward and backward passes
    of each mode in turns (after warm-up passes) and keeps the faster; a module that
    vmap cannot run takes "sequential", and ``why`` names what failed. The
    weights, their gradients and the buffers (BatchNorm's running statistics)
    are as they were before.
    """
    params = list(model.parameters())
    saved = [b.detach().clone() for b in model.buffers()]

    def step(mode: str, times: int) -> float:
        model.mode = mode
        start = time.perf_counter()
        for _ in range(times):
            pred = model(batch)
            if not bool(torch.isfinite(pred).all()):
                raise UserError(
                    f"the model of {model.spec.factory!r} returned NaN/inf scores on the first batch; check its initial weights and inputs"
                )
            loss(pred).backward()
        if pred.is_cuda:
            torch.cuda.synchronize()
        return (time.perf_counter() - start) / times

    try:
        failed = ""
        modes = ["sequential", "vmap"] if wanted == "auto" else [wanted]
        for mode in list(modes):
            try:
                step(mode, WARM_UP_STEPS if wanted == "auto" else 1)
            except UserError:
                raise
            except Exception as exc:
                if mode == "sequential" or wanted == "vmap":
                    how = "" if wanted == "vmap" else ' (population = "sequential")'
                    raise UserError(
                        f"the model of {model.spec.factory!r} failed on the first batch{how}: {type(exc).__name__}: {_first_line(exc)}"
                        + ('; set [model] population = "sequential" or "auto"' if wanted == "vmap" else "")
                    ) from None
                failed = f"{type(exc).__name__}: {_first_line(exc)}"
                modes.remove(mode)
        # both warmed up (the first passes of a mode pay one-off costs), then timed in turns: the faster one's median
        times: dict[str, list[float]] = {m: [] for m in modes}
        for _ in range(TIMED_STEPS if len(modes) > 1 else 0):
            for mode in modes:
                times[mode].append(step(mode, 1))
        seconds = {m: float(np.median(t)) for m, t in times.items() if t}
    finally:
        with torch.no_grad():
            for b, old in zip(model.buffers(), saved, strict=True):
                b.copy_(old)
        for p in params:
            p.grad = None
    if wanted != "auto":
        return wanted, f"population = {wanted!r} in the spec"
    if failed:
        return "sequential", f"torch.vmap cannot run this module ({failed}); its members train one after another"
    mode = min(seconds, key=lambda m: seconds[m])
    return (
        mode,
        f"{mode} was the faster on the first batch (vmap {seconds['vmap'] * 1e3:.1f} ms, one at a time {seconds['sequential'] * 1e3:.1f} ms a step)",
    )


def scores_of(out: Any, tasks: Sequence[str], factory: str) -> torch.Tensor:
    """A module's output as ``[B, T]`` in task order: from a mapping task → ``[B]``/``[B, 1]``, a tensor ``[B, T]``,
    or a sequence of T tensors. One-line ``UserError`` naming what came back otherwise."""
    t = len(tasks)
    if isinstance(out, Mapping):
        missing = [n for n in tasks if n not in out]
        if missing:
            raise UserError(
                f"the model of {factory!r} returned a mapping with keys {sorted(map(str, out))}, without {missing}; "
                f"return one score per task under the task names {list(tasks)}"
            )
        cols = [out[n] for n in tasks]
    elif isinstance(out, torch.Tensor):
        if out.dim() != 2 or out.shape[-1] != t:
            raise UserError(
                f"the model of {factory!r} returned a tensor of shape {tuple(out.shape)}; return [batch, {t}] (one column per task, "
                f"in the order {list(tasks)}), a mapping task → [batch], or a list of {t} tensors"
            )
        return out
    elif isinstance(out, Sequence) and not isinstance(out, str):
        if len(out) != t:
            raise UserError(
                f"the model of {factory!r} returned {len(out)} outputs for {t} tasks; return one per task, in the order {list(tasks)}"
            )
        cols = list(out)
    else:
        raise UserError(
            f"the model of {factory!r} returned {type(out).__name__}; return a mapping task → [batch], a tensor [batch, {t}] or a list of {t} tensors"
        )
    flat = []
    for name, c in zip(tasks, cols, strict=True):
        if not isinstance(c, torch.Tensor) or not (c.dim() == 1 or (c.dim() == 2 and c.shape[1] == 1)):
            what = tuple(c.shape) if isinstance(c, torch.Tensor) else type(c).__name__
            raise UserError(f"the model of {factory!r} returned {what} for task {name!r}; return one score per row, [batch] or [batch, 1]")
        flat.append(c.reshape(-1))
    if len({c.shape[0] for c in flat}) != 1:
        raise UserError(
            f"the model of {factory!r} returned scores of different lengths per task ({[c.shape[0] for c in flat]}); return one per row"
        )
    return torch.stack(flat, dim=-1)


def state_error(exc: BaseException) -> str:
    """What ``load_state_dict``'s error says, on one line: its first finding (the line after "Error(s) in loading ...:")."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()] or ["(no message)"]
    found = lines[1] if len(lines) > 1 and lines[0].endswith(":") else lines[0]
    return found if len(found) <= 200 else found[:199] + "…"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else "(no message)"
