r"""IDGI, the important-direction correction of path methods (Yang, Wang, Bilgic 2023).

A path method spends each step's output change along the path direction; IDGI spends it along
the gradient instead.  For the steps j of a path from x' to x, with ∇F at one point of the step
(g_j) and the output change over the step d_j = F(end_j) − F(start_j):

.. math::

    \phi^{\mathrm{IDGI}}_i = \sum_j \frac{g_{ji}^2}{\lVert g_j\rVert^2}\, d_j,
    \qquad \sum_i \phi^{\mathrm{IDGI}}_i = \sum_j d_j = F(x) - F(x')

so completeness holds by construction (telescoping), up to floating-point rounding, for every
path, at any step count; only a step whose gradient is exactly 0 loses its d_j (its share is
left out and shows in the reported residual, never rescaled).  The reference implementation
(``idgi.py``) takes the gradients and outputs at ordered points x_0 = x' … x_m = x and gives
step j the gradient at its start.

For a quadrature rule (IG, Blur IG) the steps are the rule's *cells*: node α_k owns
[Σ_{l<k} w_l, Σ_{l≤k} w_l], whose width is its weight.  For ``riemann_left`` that is exactly
the reference's pairing (a node and the step to the next one), for ``riemann_right`` (Blur IG)
the step that ends at the node, for the midpoint rule the cell around it, and Gauss–Legendre
nodes lie inside their cells too (the Chebyshev–Markov–Stieltjes separation).  Where the cell
edges are nodes (the Riemann rules) F comes with the gradients at no extra cost; other inner
edges cost one forward pass each (no backward).  Guided IG has its ordered points already and
calls :func:`idgi_terms` itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pathattr.engine.core import expand_forward_args


def idgi_terms(grads: tuple[torch.Tensor, ...], change: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """g² · d / ‖g‖² per row (the norm over every input's features), 0 where g = 0."""
    squares = tuple(g * g for g in grads)
    norm = sum(s.reshape(s.shape[0], -1).sum(1) for s in squares)
    assert isinstance(norm, torch.Tensor)
    scale = torch.where(norm > 0, change.to(norm.dtype) / torch.where(norm > 0, norm, 1), 0)
    return tuple(s * scale.reshape((-1,) + (1,) * (s.dim() - 1)) for s in squares)


def cell_edges(weights: np.ndarray) -> np.ndarray:
    """The k + 1 cell edges 0 = e_0 < … < e_k = 1 of a rule's k nodes (cumulative weights)."""
    edges = np.concatenate([[0.0], np.cumsum(weights)])
    edges[-1] = 1.0  # the weights sum to 1 up to rounding; the last edge is the input itself
    return edges


def forward_rows(
    p: Any, path: Any, rows: torch.Tensor, alphas: torch.Tensor, batch_size: int | None
) -> torch.Tensor:
    """F at γ_{rows[i]}(alphas[i]) for every row, without gradients, in chunks."""
    total = int(rows.shape[0])
    step = total if batch_size is None else max(1, int(batch_size))
    out = []
    with torch.no_grad():
        for start in range(0, total, step or 1):
            r, a = rows[start : start + step], alphas[start : start + step]
            extra = expand_forward_args(p.forward_args, p.n, r)
            out.append(p.selector(p.model(*path.points(r, a), *extra), r).detach())
    if not out:
        return torch.zeros(0, dtype=p.dtype, device=p.device)
    return torch.cat(out)


def idgi_on_rule(
    p: Any,
    path: Any,
    node_alphas: np.ndarray,
    node_weights: np.ndarray,
    output: torch.Tensor,
    base_output: torch.Tensor,
    *,
    batch_size: int | None,
    desc: str,
) -> tuple[tuple[torch.Tensor, ...], torch.Tensor, bool, int]:
    """IDGI along ``path`` at a rule's nodes (ascending α), every example with the same nodes.

    ``output`` and ``base_output`` are F at α = 1 and α = 0 (the caller's exact end points).
    A cell edge that is a node (``riemann_left``/``riemann_right``: all of them) takes F from
    that node's gradient row, so such rules cost no extra model call; the other inner edges
    are evaluated first, forward only.  A row's term waits until F at both its edges is known:
    for ``riemann_left`` the next node, which the next chunk may hold (at most one row waits
    per chunk boundary, so ``batch_size`` still bounds memory).

    Returns the attributions per input, gradient evaluations per example, whether any gradient
    was non-zero, and the forward passes per example spent on inner edges that are not nodes.
    """
    n, k = p.n, len(node_alphas)
    device, dtype = p.device, p.dtype
    edges = cell_edges(node_weights)
    # the node an edge falls on (cumulative sums are not bit-equal to j / k), else -1
    gap = np.abs(edges[:, None] - np.asarray(node_alphas)[None, :])
    on_node = np.where(gap.min(1) <= 1e-12, gap.argmin(1), -1)
    on_node[0] = on_node[-1] = -1  # the ends are F(x') and F(x) themselves
    edge_of_node = np.full(k, -1)
    for e, j in enumerate(on_node):
        if j >= 0:
            edge_of_node[j] = e
    f_edges = torch.full((n, k + 1), float("nan"), dtype=output.dtype, device=output.device)
    f_edges[:, 0], f_edges[:, k] = base_output.detach(), output.detach()
    missing = [e for e in range(1, k) if on_node[e] < 0]
    if missing:
        edge_rows = torch.arange(n, device=device).repeat_interleave(len(missing))
        edge_alphas = torch.tensor(edges[missing], dtype=dtype, device=device).repeat(n)
        got = forward_rows(p, path, edge_rows, edge_alphas, batch_size)
        f_edges[:, missing] = got.reshape(n, len(missing)).to(f_edges.dtype)
    edge_of = torch.as_tensor(edge_of_node, device=device)
    rows = torch.arange(n, device=device).repeat_interleave(k)
    alphas = torch.tensor(node_alphas, dtype=dtype, device=device).repeat(n)
    sums: list[torch.Tensor] | None = None
    waiting: list[tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]] = []
    any_gradient = False
    for chunk in p.evaluate(path, rows, alphas, batch_size=batch_size, desc=desc):
        node = torch.arange(chunk.start, chunk.stop, device=device) % k
        edge = edge_of[node]
        known = edge >= 0
        f_edges[chunk.rows[known], edge[known]] = chunk.outputs[known].to(f_edges.dtype)
        any_gradient = any_gradient or any(bool((g != 0).any()) for g in chunk.grads)
        ones = torch.ones(chunk.stop - chunk.start, dtype=f_edges.dtype, device=device)
        waiting.append((chunk.rows, node, idgi_terms(chunk.grads, ones)))
        if sums is None:
            sums = [torch.zeros((n,) + t.shape[1:], dtype=t.dtype, device=t.device)
                    for t in waiting[-1][2]]  # fmt: skip
        waiting = _spend(waiting, f_edges, sums, p.create_graph)
    assert sums is not None
    # rows still waiting have a non-finite F at an edge: NaN terms, which finish() reports
    _spend(waiting, f_edges, sums, p.create_graph, final=True)
    return tuple(sums), torch.full((n,), k, dtype=torch.long), any_gradient, len(missing)


def _spend(
    waiting: list[tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]],
    f_edges: torch.Tensor,
    sums: list[torch.Tensor],
    create_graph: bool,
    final: bool = False,
) -> list[tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]]:
    """Add every waiting row's direction × output change whose two edges are known."""
    left = []
    for ex, node, dirs in waiting:
        change = f_edges[ex, node + 1] - f_edges[ex, node]
        ready = torch.ones_like(change, dtype=torch.bool) if final else ~torch.isnan(change)
        every = bool(ready.all())
        if not every and not bool(ready.any()):
            left.append((ex, node, dirs))
            continue
        for i, u in enumerate(dirs):
            sel, r = (u, ex) if every else (u[ready], ex[ready])
            c = change if every else change[ready]
            t = sel * c.to(sel.dtype).reshape((-1,) + (1,) * (sel.dim() - 1))
            idx = r.to(t.device)
            sums[i] = (
                sums[i].index_add(0, idx, t) if create_graph else sums[i].index_add_(0, idx, t)
            )
        if not every:
            keep = ~ready
            left.append((ex[keep], node[keep], tuple(u[keep] for u in dirs)))
    return left
