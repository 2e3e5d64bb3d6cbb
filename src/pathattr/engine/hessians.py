"""Gradients and Hessian rows of the selected output at many path points, chunked.

The second-order counterpart of :func:`pathattr.engine.core.evaluate_rows`: the same rows
(example, path position, optional reference key), the same chunking by ``batch_size`` and
forward-argument expansion, and per row the gradient ∇F and the rows ``first`` of the Hessian
∇²F with respect to the flattened input.

The Hessian rows come from one double backward per chunk: with g = ∇F at every row of the chunk
(built with ``create_graph=True``), the gradient of Σ_rows g_i with respect to the points is
row r's Hessian row H_r[i, :] — rows do not interact in the model (the engine's assumption
everywhere).  The |first| cotangents e_i are batched through autograd's vmap
(``is_grads_batched=True``), so all Hessian rows of a chunk cost one vectorised backward pass
instead of |first| of them; an operation without a batching rule falls back to a loop over i.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from pathattr.engine.core import equal_chunk, expand_forward_args, require_graph
from pathattr.engine.memory import (
    MIN_CPU_CHUNK_ROWS,
    available_bytes,
    cpu_cache_bytes,
    saved_bytes_per_row,
)
from pathattr.engine.targets import Selector


@dataclass
class HessianChunk:
    """F, ∇F (``(B, D)``) and the Hessian rows ``first`` (``(B, len(first), D)``) of a chunk."""

    start: int
    stop: int
    rows: torch.Tensor
    alphas: torch.Tensor
    keys: torch.Tensor | None
    outputs: torch.Tensor
    grads: torch.Tensor
    hessian: torch.Tensor


def evaluate_hessian_rows(
    model: Callable[..., Any],
    path: Any,
    selector: Selector,
    rows: torch.Tensor,
    alphas: torch.Tensor,
    first: torch.Tensor,
    *,
    n_examples: int,
    forward_args: tuple[Any, ...] = (),
    batch_size: int | None = None,
    progress: Any = None,
    keys: torch.Tensor | None = None,
) -> Iterator[HessianChunk]:
    """F, ∇F and the Hessian rows ``first`` (flat feature indices) at every row, in chunks.

    The path has one input (``path.points`` returns a 1-tuple); features are flattened.
    """
    total = int(rows.shape[0])
    step = total if batch_size is None else max(1, int(batch_size))
    if 0 < step < total:
        step = equal_chunk(total, step)
    for start in range(0, total, step or 1):
        stop = min(total, start + step)
        r, a = rows[start:stop], alphas[start:stop]
        kk = None if keys is None else keys[start:stop]
        with torch.no_grad():
            (point,) = path.points(r, a, kk)
        point = point.detach().requires_grad_(True)
        extra = expand_forward_args(forward_args, n_examples, r)
        with torch.enable_grad():
            selected = require_graph(selector(model(point, *extra), r))
            (g,) = torch.autograd.grad(selected.sum(), point, create_graph=True)
            flat = g.reshape(g.shape[0], -1)
            hess = hessian_rows(flat, point, first)
        if progress is not None:
            progress.update(stop - start)
        yield HessianChunk(
            start, stop, r, a, kk, selected.detach(), flat.detach(), hess.detach()
        )  # fmt: skip


def hessian_rows(flat_grad: torch.Tensor, point: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
    """``(B, len(first), D)``: d(flat_grad[:, i]) / d point for every i in ``first``."""
    b, d = flat_grad.shape
    m = int(first.shape[0])
    if not flat_grad.requires_grad:
        # the gradient does not depend on the point (a linear model): the Hessian is zero
        return torch.zeros((b, m, d), dtype=flat_grad.dtype, device=flat_grad.device)
    basis = torch.zeros((m, b, d), dtype=flat_grad.dtype, device=flat_grad.device)
    basis[torch.arange(m), :, first.to(flat_grad.device)] = 1.0
    try:
        (h,) = torch.autograd.grad(
            flat_grad, point, grad_outputs=basis, is_grads_batched=True, allow_unused=True,
            retain_graph=True,
        )  # fmt: skip
    except RuntimeError:
        # an operation without a vmap batching rule in its backward: one pass per row i
        parts = []
        for i in range(m):
            (hi,) = torch.autograd.grad(
                flat_grad, point, grad_outputs=basis[i], retain_graph=True, allow_unused=True
            )
            parts.append(torch.zeros_like(point) if hi is None else hi)
        h = torch.stack(parts)
    if h is None:
        return torch.zeros((b, m, d), dtype=flat_grad.dtype, device=flat_grad.device)
    return h.reshape(m, b, d).transpose(0, 1)


def hessian_batch_size(
    model: Callable[..., Any],
    path: Any,
    selector: Selector,
    rows: torch.Tensor,
    alphas: torch.Tensor,
    n_first: int,
    *,
    n_examples: int,
    forward_args: tuple[Any, ...] = (),
    keys: torch.Tensor | None = None,
) -> int | None:
    """``batch_size="auto"`` for Hessian rows: the gradient rule with the double backward's bytes.

    A row keeps its saved activations once for the gradient and, with the ``n_first`` batched
    cotangents, about ``n_first`` more times in the double backward, plus its Hessian slice
    (``n_first`` × features, and a temporary of the same size).  The rows are fitted to a
    quarter of the free memory and, on the CPU, to the cache budget of
    :func:`~pathattr.engine.memory.cpu_cache_bytes` (a 30-feature MLP: about 200 rows per
    chunk, 1.5x faster per row than 1600 rows in one call), in equal chunks; None: one chunk.
    """
    total = int(rows.shape[0])
    if total <= MIN_CPU_CHUNK_ROWS:
        return None
    saved = saved_bytes_per_row(
        model, path, selector, rows, alphas, n_examples=n_examples, forward_args=forward_args,
        keys=keys,
    )  # fmt: skip
    x = path.inputs[0]
    dim = x[0].numel()
    per_row = saved * (1 + n_first) + 2 * n_first * dim * x.element_size()
    fit = max(1, int(0.25 * available_bytes(rows.device)) // per_row)
    if rows.device.type == "cpu":
        fit = min(fit, max(MIN_CPU_CHUNK_ROWS, cpu_cache_bytes() // per_row))
    if fit >= total:
        return None
    return equal_chunk(total, fit)
