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

from pathattr.engine.core import expand_forward_args, require_graph
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
        step = -(-total // -(-total // step))  # equal chunks, as evaluate_rows
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


def hessian_batch_size(rows_per_gradient: int | None, n_first: int) -> int | None:
    """Rows per call for the double backward from the rows one gradient pass fits.

    The batched backward keeps about ``hessian_rows`` copies of a row's backward activations
    and the Hessian slice itself, so the measured rows are divided by 1 + ``n_first``.
    """
    if rows_per_gradient is None:
        return None
    return max(1, rows_per_gradient // (1 + n_first))
