"""A population of ReLU MLPs with per-task heads, forward and backward written out.

Training a small MLP costs a handful of matrix products per step plus, under
autograd, a fresh activation tensor for every layer, every ReLU and every
gradient: on a CPU those allocations are new pages, touched cold, and the
elementwise passes over them took as long as a third of the products (2-core
EPYC, K = 4 members of a 256-128 bottom, one thread). Here a layer's output is
written into a buffer that the next step reuses (``out=``), ReLU and its
gradient run in place on it, and the per-task output layer (one value per task,
a matrix product with a single column that BLAS runs at a few GFLOP/s) is an
elementwise product and a sum. The arithmetic is that of ``torch.baddbmm``,
``torch.relu`` and a dot product, so member k still depends on its own weights
only.

``dense_chain(x, layers, head, workspace)``:

* ``x[K, B, i]``; ``layers`` pairs ``(W[K, i, o], b[K, 1, o])``, each followed by
  a ReLU;
* ``head = (W[K, T, h], b[K, 1, T])``: the last layer's ``T·h`` outputs are T
  groups of h, and task t's score is its group's dot product with ``W[:, t]``;
* returns ``[K, B, T]``.

Buffers live in ``workspace`` (a dict, one per model) keyed by shape (the batch
and the last, shorter one) and serve training passes only, one at a time: a
forward pass overwrites the previous one's buffers, so each must have had its
backward pass first (autograd raises otherwise). Evaluation allocates as usual:
on a CPU reusing buffers there gained nothing measurable, on a GPU its chunks
are large, and a model in ``eval()`` mode (``load_model``) never touches the
workspace, so several threads may score with it at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

_relu_backward_ = torch.ops.aten.threshold_backward.grad_input  # out= form: the gradient of ReLU in place


def _buffer(workspace: dict[Any, torch.Tensor] | None, key: Any, like: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    if workspace is None:
        return torch.empty(tuple(shape), dtype=like.dtype, device=like.device)
    full = (key, tuple(shape), like.dtype, like.device)
    buf = workspace.get(full)
    if buf is None:
        buf = workspace[full] = torch.empty(tuple(shape), dtype=like.dtype, device=like.device)
    return buf


# A batched product whose result has fewer than NARROW columns is computed as the
# transpose of the product of the transposes (Cᵀ = Bᵀ·Aᵀ) and handed on as a
# transposed view. MKL's kernels vectorise along a result's rows; one 4 or 44
# floats wide ran 2-6× slower than its transpose (2-core EPYC, one thread: the
# weight gradient of a 64→4 layer 305 → 48 µs, the input gradient of a 44-wide
# input 1363 → 1078 µs at K = 4, batch 1024). The choice depends on shapes only,
# so a run is reproducible and a member still depends on its own weights only.
NARROW = 64


def _product(
    a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor | None = None, out: Any = None, workspace: dict[Any, torch.Tensor] | None = None
) -> torch.Tensor:
    """``bias + a @ b`` batched (``a[K, m, n]``, ``b[K, n, p]``, ``bias[K, 1, p]``), into a buffer keyed ``out``."""
    m, p = a.shape[1], b.shape[2]
    if p < NARROW and m > p:
        buf = _buffer(workspace, out, a, (a.shape[0], p, m)) if out is not None else None
        bt, at = b.transpose(1, 2), a.transpose(1, 2)
        result = torch.bmm(bt, at, out=buf) if bias is None else torch.baddbmm(bias.transpose(1, 2), bt, at, out=buf)
        return result.transpose(1, 2)
    buf = _buffer(workspace, out, a, (a.shape[0], m, p)) if out is not None else None
    return torch.bmm(a, b, out=buf) if bias is None else torch.baddbmm(bias, a, b, out=buf)


class _DenseChain(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, workspace: dict[Any, torch.Tensor] | None, *params: torch.Tensor) -> torch.Tensor:
        *dense, head_w, head_b = params
        k, b = x.shape[0], x.shape[1]
        h = x
        acts = []
        for i in range(0, len(dense), 2):
            w, bias = dense[i], dense[i + 1]
            h = _product(h, w, bias, ("act", i), workspace).clamp_(min=0)
            acts.append(h)
        t, width = head_w.shape[1], head_w.shape[2]
        groups = h.reshape(k, b, t, width)
        product = torch.mul(groups, head_w.unsqueeze(1), out=_buffer(workspace, "head", h, groups.shape))
        out = product.sum(dim=-1).add_(head_b)  # a fresh tensor: the caller keeps it
        ctx.workspace = workspace
        ctx.save_for_backward(x, *params, *acts)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        workspace = ctx.workspace
        saved = ctx.saved_tensors
        n_dense = (len(ctx.needs_input_grad) - 4) // 2  # inputs: x, workspace, dense pairs, head pair
        x, params, acts = saved[0], saved[1 : 2 * n_dense + 3], saved[2 * n_dense + 3 :]
        head_w = params[-2]
        k, b, t, width = x.shape[0], x.shape[1], head_w.shape[1], head_w.shape[2]
        grad = grad.contiguous()  # [K, B, T]
        # head: d/dh = grad ⊗ W; d/dW = Σ_rows grad · h (a [T, B] × [B, T·h] product, its diagonal blocks)
        grad_head_w = _product(grad.transpose(1, 2), acts[-1]).reshape(k, t, t, width).diagonal(dim1=1, dim2=2).transpose(1, 2)
        grads: list[torch.Tensor | None] = [None] * (2 * n_dense) + [grad_head_w.contiguous(), grad.sum(dim=1, keepdim=True)]
        g = torch.mul(grad.unsqueeze(-1), head_w.unsqueeze(1), out=_buffer(workspace, "grad", x, (k, b, t, width))).view(k, b, t * width)
        for layer in reversed(range(n_dense)):
            w = params[2 * layer]
            g = _relu_backward_(g, acts[layer], 0, grad_input=g)
            below = acts[layer - 1] if layer > 0 else x
            grads[2 * layer] = _product(below.transpose(1, 2), g).contiguous()
            grads[2 * layer + 1] = g.sum(dim=1, keepdim=True)
            if layer > 0:
                g = _product(g, w.transpose(1, 2), out=("grad", layer), workspace=workspace)
            elif ctx.needs_input_grad[0]:
                return (_product(g, w.transpose(1, 2)), None, *grads)
        return (None, None, *grads)


def dense_chain(
    x: torch.Tensor,
    layers: Sequence[tuple[torch.Tensor, torch.Tensor]],
    head: tuple[torch.Tensor, torch.Tensor],
    workspace: dict[Any, torch.Tensor] | None,
) -> torch.Tensor:
    """ReLU layers, then per-task heads: ``x[K, B, i]`` → ``[K, B, T]`` (see the module's doc).

    ``workspace`` is used only by passes that autograd records (training);
    pass ``None`` for none at all.
    """
    if not layers:
        raise ValueError("dense_chain needs at least one hidden layer")
    flat = [p for pair in (*layers, head) for p in pair]
    training = torch.is_grad_enabled() and any(p.requires_grad for p in (x, *flat))
    return _DenseChain.apply(x, workspace if training else None, *flat)
