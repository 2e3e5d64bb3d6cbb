"""The batched path-integral engine.

Every path method reduces to evaluating, at many (example, α) pairs called *rows*,

    the gradient of the selected model output F at the path point γ_e(α), and F itself,

then combining those gradients with quadrature weights:  A_e = Σ_k w_k ∇F(γ_e(α_k)) ⊙ γ_e'(α_k).
The engine does exactly that, for any path, any per-example nodes and weights, in chunks of at
most ``batch_size`` rows taken across examples *and* steps, so memory never has to hold all
N × steps rows at once.  With ``create_graph=True`` nothing is detached between chunks and the
result is differentiable with respect to the model's parameters (attribution priors).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from pathattr.engine.targets import Selector
from pathattr.paths.base import Path


@dataclass
class Chunk:
    """One chunk of evaluated rows: ``rows[i]`` is the example, ``alphas[i]`` the path position."""

    start: int
    stop: int
    rows: torch.Tensor
    alphas: torch.Tensor
    keys: torch.Tensor | None
    outputs: torch.Tensor
    grads: tuple[torch.Tensor, ...]


def expand_forward_args(
    forward_args: tuple[Any, ...], n_examples: int, rows: torch.Tensor
) -> tuple[Any, ...]:
    """Index tensors whose batch dimension is ``n_examples`` by ``rows``; pass the rest as is."""
    out = []
    for a in forward_args:
        if isinstance(a, torch.Tensor) and a.dim() > 0 and a.shape[0] == n_examples:
            out.append(a.index_select(0, rows.to(a.device)))
        else:
            out.append(a)
    return tuple(out)


def equal_chunk(total: int, cap: int) -> int:
    """The chunk size that cuts ``total`` rows into equal chunks of at most ``cap`` rows.

    15 rows at a cap of 7 run as 5 + 5 + 5, not 7 + 7 + 1: no tiny last call, and no one-row
    batch, which batch norm in training mode refuses.
    """
    return -(-total // -(-total // cap))


def evaluate_rows(
    model: Callable[..., Any],
    path: Path,
    selector: Selector,
    rows: torch.Tensor,
    alphas: torch.Tensor,
    *,
    n_examples: int,
    forward_args: tuple[Any, ...] = (),
    batch_size: int | None = None,
    create_graph: bool = False,
    progress: Any = None,
    keys: torch.Tensor | None = None,
) -> Iterator[Chunk]:
    """Evaluate F and ∇F at γ_{rows[i]}(alphas[i]) for every row, ``batch_size`` rows at a time.

    Yields one :class:`Chunk` per model call.  Gradients are with respect to the path point (not
    yet multiplied by γ'); outputs are detached.  ``progress`` is an optional object with an
    ``update(n)`` method, advanced by the number of rows of each chunk.
    """
    total = int(rows.shape[0])
    step = total if batch_size is None else max(1, int(batch_size))
    if 0 < step < total:
        step = equal_chunk(total, step)
    for start in range(0, total, step or 1):
        stop = min(total, start + step)
        r = rows[start:stop]
        a = alphas[start:stop]
        kk = None if keys is None else keys[start:stop]
        if create_graph:
            points = tuple(
                p if p.requires_grad else p.requires_grad_(True) for p in path.points(r, a, kk)
            )
        else:
            with torch.no_grad():
                points = tuple(p.detach().requires_grad_(True) for p in path.points(r, a, kk))
        extra = expand_forward_args(forward_args, n_examples, r)
        with torch.enable_grad():
            out = model(*points, *extra)
            selected = require_graph(selector(out, r))
            grads = torch.autograd.grad(
                selected.sum(), points, create_graph=create_graph, allow_unused=True
            )
        grads = tuple(torch.zeros_like(p) if g is None else g for g, p in zip(grads, points))
        if progress is not None:
            progress.update(stop - start)
        yield Chunk(start, stop, r, a, kk, selected.detach(), grads)


def require_graph(selected: torch.Tensor) -> torch.Tensor:
    """``selected``, or a clear error when it carries no autograd graph to differentiate."""
    if not selected.requires_grad:
        raise RuntimeError(
            "model output: the selected output has no autograd graph, so it has no gradient "
            "with respect to the inputs. The model (or a callable target) returns a constant, "
            "a detached tensor, an argmax or a comparison such as (t > 0).float(), or runs "
            "under torch.no_grad() inside its forward; attribute a differentiable output "
            "(e.g. the logits instead of the predicted class)"
        )
    return selected


@dataclass
class Integral:
    """Σ_k w_k ∇F(γ(α_k)) ⊙ γ'(α_k) per example, with F at every row and evaluation counts.

    ``end_outputs`` holds F at the ``ends`` points handed to :func:`integrate` (``n`` values per
    set, in the order given) when they were evaluated in the same model call, else None.
    """

    sums: tuple[torch.Tensor, ...]
    row_outputs: torch.Tensor
    evaluations: torch.Tensor
    any_gradient: bool
    end_outputs: torch.Tensor | None = None


def integrate(
    model: Callable[..., Any],
    path: Path,
    selector: Selector,
    rows: torch.Tensor,
    alphas: torch.Tensor,
    weights: torch.Tensor,
    *,
    n_examples: int,
    forward_args: tuple[Any, ...] = (),
    batch_size: int | None = None,
    create_graph: bool = False,
    progress: Any = None,
    keys: torch.Tensor | None = None,
    grid: int | None = None,
    ends: tuple[tuple[torch.Tensor, ...], ...] | None = None,
) -> Integral:
    """Accumulate the weighted path integral over all rows (see the module docstring).

    Args:
        model: callable ``model(*points, *forward_args)``.
        path: the paths, one per example.
        selector: picks the scalar output per row (see :func:`make_selector`).
        rows, alphas, weights: 1-D, one entry per row; the nodes and weights may differ per
            example and rows may come in any order.
        n_examples: number of examples (the length of the result's batch dimension).
        batch_size: maximum rows per model call (None: all rows at once).
        create_graph: keep the graph so the result is differentiable w.r.t. model parameters.
        keys: optional per-row integers handed to the path (e.g. a sampled reference per row).
        grid: declares the regular layout of a fixed rule: the same ``grid`` nodes for every
            example, rows example-major (``rows = arange(n).repeat_interleave(grid)``). When
            everything fits in one model call, the points are then built by broadcasting and
            the weighted sum is a reshape and a sum instead of gathers and a scatter: the same
            numbers, a fixed cost that matters on small models.
        ends: sets of points shaped like the inputs (e.g. ``(inputs, baselines)``) whose F the
            caller needs for the completeness residual.  In the one-call grid layout their rows
            ride along in the same forward pass with a zero cotangent (one model call instead
            of two, which matters on small models) and come back as ``end_outputs``; otherwise
            (other layouts, ``create_graph``) they are ignored and ``end_outputs`` is None.
    """
    total = int(rows.shape[0])
    if ends is not None and (
        create_graph or (batch_size is not None and batch_size < total + len(ends) * n_examples)
    ):
        # past batch_size they cannot ride along; with create_graph they must not: inside the
        # graph an infinite derivative at an end point (sqrt or log at a zero baseline) times
        # its zero cotangent would turn the parameter gradients to NaN
        ends = None
    if (
        grid is not None
        and keys is None
        and (batch_size is None or batch_size >= total)
        and path.constant_derivative
        and hasattr(path, "grid_points")
        and total == n_examples * grid
    ):
        return _integrate_grid(
            model, path, selector, rows, alphas[:grid], weights, n_examples=n_examples,
            forward_args=forward_args, create_graph=create_graph, progress=progress, ends=ends,
        )  # fmt: skip
    like = path.total_derivative() if path.constant_derivative else None
    template = (
        like
        if like is not None
        else path.points(rows[:1], alphas[:1], None if keys is None else keys[:1])
    )
    sums = [
        torch.zeros((n_examples,) + t.shape[1:], dtype=t.dtype, device=t.device) for t in template
    ]
    row_outputs = torch.empty(rows.shape[0], dtype=template[0].dtype, device=template[0].device)
    any_gradient = False
    for chunk in evaluate_rows(
        model,
        path,
        selector,
        rows,
        alphas,
        n_examples=n_examples,
        forward_args=forward_args,
        batch_size=batch_size,
        create_graph=create_graph,
        progress=progress,
        keys=keys,
    ):
        row_outputs[chunk.start : chunk.stop] = chunk.outputs.to(row_outputs.dtype)
        w = weights[chunk.start : chunk.stop]
        derivs = (
            None
            if path.constant_derivative
            else path.derivatives(chunk.rows, chunk.alphas, chunk.keys)
        )
        for i, g in enumerate(chunk.grads):
            if derivs is not None and not any_gradient and bool((g != 0).any()):
                any_gradient = True
            term = g * w.to(g.dtype).reshape((-1,) + (1,) * (g.dim() - 1))
            if derivs is not None:
                term = term * derivs[i]
            idx = chunk.rows.to(term.device)
            if create_graph:
                sums[i] = sums[i].index_add(0, idx, term)
            else:
                sums[i].index_add_(0, idx, term)
    if like is not None:
        # with a constant γ' the weighted gradient sums tell whether any gradient was non-zero
        # (positive weights cannot cancel a non-zero gradient to exactly 0 in practice)
        any_gradient = any(bool((s != 0).any()) for s in sums)
        sums = [s * d for s, d in zip(sums, like)]
    evaluations = torch.bincount(rows.cpu(), minlength=n_examples)
    return Integral(tuple(sums), row_outputs, evaluations, any_gradient)


def _integrate_grid(
    model: Callable[..., Any],
    path: Any,
    selector: Selector,
    rows: torch.Tensor,
    alphas: torch.Tensor,
    weights: torch.Tensor,
    *,
    n_examples: int,
    forward_args: tuple[Any, ...],
    create_graph: bool,
    progress: Any,
    ends: tuple[tuple[torch.Tensor, ...], ...] | None = None,
) -> Integral:
    """:func:`integrate` for a regular grid in one model call.

    ``alphas``: the k nodes; ``weights``: one per row (n·k).  Only for paths with a constant γ'
    and a ``grid_points`` method (the straight line).  The weights go into the backward pass as
    the cotangent of each row's output, so the gradients come back already weighted and the
    quadrature sum is a reshape and a sum.  Rows of ``ends`` are appended to the same forward
    pass with a zero cotangent.
    """
    k = int(alphas.shape[0])
    nk = n_examples * k
    extra_sets = () if ends is None else ends
    with torch.set_grad_enabled(create_graph):
        points = path.grid_points(alphas, extra_sets)
    points = tuple(p if p.requires_grad else p.requires_grad_(True) for p in points)
    all_rows = rows if ends is None else _with_end_rows(rows, k, len(ends))
    extra = expand_forward_args(forward_args, n_examples, all_rows) if forward_args else ()
    with torch.enable_grad():
        out = model(*points, *extra)
        selected = require_graph(selector(out, all_rows))
        on_path = selected[:nk] if ends is not None else selected
        grads = torch.autograd.grad(
            torch.dot(on_path, weights.to(on_path.dtype)), points,
            create_graph=create_graph, allow_unused=True,
        )  # fmt: skip
    if progress is not None:
        progress.update(nk)
    sums = []
    for g, p in zip(grads, points):
        if g is None:
            g = torch.zeros_like(p)
        if ends is not None:
            g = g[:nk]
        sums.append(g.reshape((n_examples, k) + tuple(g.shape[1:])).sum(1))
    any_gradient = any(bool(s.any()) for s in sums)
    sums = [s * d for s, d in zip(sums, path.total_derivative())]  # γ' is constant on this path
    evaluations = torch.full((n_examples,), k, dtype=torch.long)
    detached = selected.detach()
    end_outputs = detached[nk:] if ends is not None else None
    return Integral(tuple(sums), detached[:nk], evaluations, any_gradient, end_outputs)


def _with_end_rows(rows: torch.Tensor, k: int, sets: int) -> torch.Tensor:
    """``rows`` (example-major, ``k`` per example), then one row per example for each end set."""
    examples = rows[::k]
    return torch.cat([rows, *(examples,) * sets])


def forward_select(
    model: Callable[..., Any],
    inputs: tuple[torch.Tensor, ...],
    selector: Selector,
    *,
    forward_args: tuple[Any, ...] = (),
    batch_size: int | None = None,
) -> torch.Tensor:
    """F(inputs) per example, without gradients, ``batch_size`` rows at a time."""
    n = inputs[0].shape[0]
    step = n if batch_size is None else max(1, int(batch_size))
    outs = []
    with torch.no_grad():
        for start in range(0, n, step):
            r = torch.arange(start, min(n, start + step), device=inputs[0].device)
            extra = expand_forward_args(forward_args, n, r)
            out = model(*(x[start : start + step] for x in inputs), *extra)
            outs.append(selector(out, r).detach())
    return torch.cat(outs)
