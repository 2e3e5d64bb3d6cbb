r"""Error-controlled Integrated Gradients (``integrated_gradients(..., steps="auto")``).

.. math::

    \mathrm{IG}(x) = (x - x') \odot \int_0^1 \nabla F(x' + \alpha (x - x'))\, d\alpha
    \approx (x - x') \odot \sum_{p} \sum_{j=0}^{4} w^{B}_{pj}\, \nabla F(\gamma(\alpha_{pj}))

Each example's path [0, 1] is covered by dyadic panels [a, b], each with five equispaced nodes
(see :mod:`pathattr.quadrature.adaptive`).  On a panel the Boole value :math:`B_p` is kept and two
error signals are computed from gradients that are already there:

* the per-feature estimate :math:`E_p = (S2_p - S1_p)/15 \odot (x - x')` (difference of two
  nested Simpson rules on the same nodes), measured as :math:`\|E_p\|_2 / \|A\|_2`;
* the exact sub-interval completeness residual
  :math:`r_p = \sum_i B_{p,i} - (F(\gamma(b)) - F(\gamma(a)))`, free because the forward value
  at every node comes with its gradient, measured as :math:`|r_p| / |F(x) - F(x')|`.

An example's error estimate is
:math:`\max(\sum_p \|E_p\|/\|A\|, |\sum_p r_p| / |\Delta F|)` (the second term is the exact
completeness residual of the result); while it exceeds ``tol`` the panels with the largest
indicators :math:`\|E_p\|/\|A\| + |r_p|/|\Delta F|` (large where the path bends: a ReLU kink,
a saturation front) are halved (four new nodes each, all old nodes reused),
until ``tol`` or ``max_steps`` is reached.  Every round gathers the new nodes of all examples
into one batched engine call.  Attributions are never rescaled.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from pathattr.engine.core import evaluate_rows
from pathattr.engine.memory import resolve_batch_size
from pathattr.engine.progress import progress_bar
from pathattr.engine.targets import TargetLike, make_selector
from pathattr.engine.validate import (
    BaselineLike,
    ZeroGradientWarning,
    as_baselines,
    as_tuple,
    warn_training_mode,
)
from pathattr.paths.straight import StraightLine
from pathattr.quadrature import adaptive as q
from pathattr.result import Attribution, ConvergenceWarning, completeness, warn_if_incomplete

_SPLIT_COST = 4


@dataclass
class _Example:
    """Panels, node gradients (flattened over all inputs) and forward values of one example."""

    panels: list[tuple[int, int]]
    grads: dict[int, torch.Tensor] = field(default_factory=dict)
    outputs: dict[int, float] = field(default_factory=dict)
    error: float = math.inf
    done: bool = False
    converged: bool = False


def adaptive_integrated_gradients(
    model: Callable[..., Any],
    inputs: torch.Tensor | tuple[torch.Tensor, ...],
    baselines: BaselineLike = None,
    target: TargetLike = None,
    *,
    tol: float = 1e-2,
    max_steps: int = 1024,
    forward_args: Any = (),
    batch_size: int | str | None = "auto",
    create_graph: bool = False,
    warn_tol: float = 0.05,
    progress: bool = False,
) -> Attribution:
    """Integrated Gradients with per-example adaptive quadrature to relative accuracy ``tol``.

    Args:
        model, inputs, baselines, target, forward_args, batch_size, create_graph, warn_tol,
            progress: as in :func:`pathattr.integrated_gradients`.
        tol: requested relative accuracy per example (see the module docstring for the two
            error signals; the per-feature one is relative to ‖A‖₂, the completeness one to
            |F(x) − F(x')|).
        max_steps: gradient evaluations allowed per example (at least 5).

    Returns:
        An :class:`~pathattr.result.Attribution` whose ``extras`` hold, per example,
        ``error_estimate`` (float tensor), ``converged`` (bool tensor) and ``alphas`` (the
        nodes used, a list of float64 arrays), plus ``rounds`` (batched engine calls).
        With ``create_graph=True`` the attributions keep the graph of every gradient summed
        (no extra evaluations), so they are differentiable w.r.t. the model parameters.
    """
    tol = _check_tol(tol)
    max_steps = _check_max_steps(max_steps)
    single = isinstance(inputs, torch.Tensor)
    xs = as_tuple(inputs)
    bs = as_baselines(baselines, xs)
    fargs = forward_args if isinstance(forward_args, tuple) else (forward_args,)
    n = xs[0].shape[0]
    selector = make_selector(target, n)
    warn_training_mode(model)
    path = StraightLine(xs, bs)
    device = xs[0].device
    diff_flat = torch.cat([d.reshape(n, -1) for d in path.diffs], 1)
    diff_plain = diff_flat.detach()

    n_init = 2 if max_steps >= 9 else 1
    examples = [_Example(q.initial_panels(n_init)) for _ in range(n)]
    pending = [(e, pos) for e in range(n) for pos in _nodes_of(examples[e].panels)]
    rows0, alphas0 = _rows(pending, device)
    bsz = resolve_batch_size(
        batch_size, model, path, selector, rows0, alphas0, n_examples=n, forward_args=fargs
    )
    bar = progress_bar(n * max_steps, progress, desc="adaptive integrated gradients")
    any_gradient = False
    rounds = 0
    try:
        while pending:
            rows, alphas = _rows(pending, device)
            rounds += 1
            for chunk in evaluate_rows(
                model, path, selector, rows, alphas, n_examples=n, forward_args=fargs,
                batch_size=bsz, create_graph=create_graph, progress=bar,
            ):  # fmt: skip
                flat = torch.cat([g.reshape(g.shape[0], -1) for g in chunk.grads], 1)
                if not any_gradient and bool((flat != 0).any()):
                    any_gradient = True
                outs = chunk.outputs.detach().double().cpu().tolist()
                for i, (e, pos) in enumerate(pending[chunk.start : chunk.stop]):
                    examples[e].grads[pos] = flat[i]
                    examples[e].outputs[pos] = outs[i]
            pending = []
            for e, ex in enumerate(examples):
                if ex.done:
                    continue
                pending.extend((e, pos) for pos in _refine(ex, diff_plain[e], tol, max_steps))
    finally:
        bar.close()

    attributions = _final_sums(examples, diff_flat, xs)
    output = torch.tensor([ex.outputs[q.ONE] for ex in examples], dtype=xs[0].dtype, device=device)
    base_output = torch.tensor([ex.outputs[0] for ex in examples], dtype=xs[0].dtype, device=device)
    if not any_gradient:
        warnings.warn(
            "inputs: the selected model output has zero gradient with respect to every input at "
            "every path point; the output does not depend on the inputs (check the target and "
            "that the inputs reach the output)",
            ZeroGradientWarning,
            stacklevel=3,
        )
    delta, rel = completeness(attributions, output, base_output)
    converged = torch.tensor([ex.converged for ex in examples], dtype=torch.bool)
    if not bool(converged.all()):
        bad = [i for i, ex in enumerate(examples) if not ex.converged]
        worst = max(examples[i].error for i in bad)
        warnings.warn(
            f"max_steps: {len(bad)} of {n} examples stopped at max_steps={max_steps} before "
            f"reaching tol={tol:g} (worst error estimate {worst:.3g}); raise max_steps",
            ConvergenceWarning,
            stacklevel=3,
        )
    res = Attribution(
        attributions=attributions[0] if single else attributions,
        output=output,
        baseline_output=base_output,
        delta=delta,
        relative_delta=rel,
        evaluations=torch.tensor([len(ex.grads) for ex in examples], dtype=torch.long),
        method="integrated_gradients",
        extras={
            "rule": "auto",
            "tol": tol,
            "max_steps": max_steps,
            "rounds": rounds,
            "error_estimate": torch.tensor([ex.error for ex in examples], dtype=torch.float64),
            "converged": converged,
            "alphas": [np.array([q.to_alpha(p) for p in sorted(ex.grads)]) for ex in examples],
        },
    )
    warn_if_incomplete(res, warn_tol, f"lower tol (now {tol:g}) or raise max_steps")
    return res


def _check_tol(tol: Any) -> float:
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not math.isfinite(tol):
        raise TypeError(f"tol: expected a positive float, got {type(tol).__name__} {tol!r}")
    if tol <= 0:
        raise ValueError(f"tol: expected a positive float, got {tol!r}")
    return float(tol)


def _check_max_steps(max_steps: Any) -> int:
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)):
        raise TypeError(
            f"max_steps: expected an int >= 5, got {type(max_steps).__name__} {max_steps!r}"
        )
    if max_steps < 5:
        raise ValueError(f"max_steps: expected an int >= 5 (one 5-node panel), got {max_steps}")
    return int(max_steps)


def _nodes_of(panels: list[tuple[int, int]]) -> list[int]:
    return sorted({p for lo, hi in panels for p in q.panel_nodes(lo, hi)})


def _rows(
    pending: list[tuple[int, int]], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    rows = torch.tensor([e for e, _ in pending], dtype=torch.long, device=device)
    alphas = torch.tensor([q.to_alpha(p) for _, p in pending], dtype=torch.float64, device=device)
    return rows, alphas


def _panel_estimates(
    ex: _Example, diff: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per panel: Boole values (P, F), per-feature error estimates (P, F), residuals (P,)."""
    positions = sorted(ex.grads)
    index = {p: i for i, p in enumerate(positions)}
    grads = torch.stack([ex.grads[p].detach() for p in positions]).double()
    dev = grads.device
    idx = torch.tensor(
        [[index[p] for p in q.panel_nodes(lo, hi)] for lo, hi in ex.panels], device=dev
    )
    h = torch.tensor(
        [(hi - lo) / (4 * q.ONE) for lo, hi in ex.panels], dtype=torch.float64, device=dev
    )
    g = grads[idx]  # (P, 5, F)
    d = diff.double().to(dev)
    boole_w = torch.from_numpy(q.BOOLE).to(dev)
    error_w = torch.from_numpy(q.ERROR).to(dev)
    boole = torch.einsum("pkf,k->pf", g, boole_w) * h[:, None] * d
    error = torch.einsum("pkf,k->pf", g, error_w) * h[:, None] * d
    rise = torch.tensor(
        [ex.outputs[hi] - ex.outputs[lo] for lo, hi in ex.panels], dtype=torch.float64, device=dev
    )
    resid = boole.sum(1) - rise
    return boole, error, resid


def _refine(ex: _Example, diff: torch.Tensor, tol: float, max_steps: int) -> list[int]:
    """Update ``ex``'s error estimate; return the new node positions to evaluate (maybe none)."""
    boole, error, resid = _panel_estimates(ex, diff)
    tiny = torch.finfo(torch.float64).tiny
    scale_a = float(boole.sum(0).norm()) or tiny
    scale_f = abs(ex.outputs[q.ONE] - ex.outputs[0]) or tiny
    feat = error.norm(dim=1) / scale_a
    comp = resid.abs() / scale_f
    # The global residual is exact (no cancellation hidden by the estimate); the per-panel
    # residuals below only decide where to refine.
    ex.error = max(float(feat.sum()), float(resid.sum().abs()) / scale_f)
    if ex.error <= tol:
        ex.done = ex.converged = True
        return []
    indicator = (feat + comp).tolist()
    order = sorted(range(len(ex.panels)), key=lambda i: -indicator[i])
    budget = (max_steps - len(ex.grads)) // _SPLIT_COST
    goal = sum(indicator) - 0.5 * tol
    chosen: list[int] = []
    covered = 0.0
    for i in order:
        if len(chosen) >= budget or covered >= goal:
            break
        lo, hi = ex.panels[i]
        if q.can_split(lo, hi):
            chosen.append(i)
            covered += indicator[i]
    if not chosen:
        ex.done = True
        return []
    new: list[int] = []
    keep = [p for i, p in enumerate(ex.panels) if i not in set(chosen)]
    for i in chosen:
        for child in q.split(*ex.panels[i]):
            keep.append(child)
            c0, c1, c2, c3, c4 = q.panel_nodes(*child)
            new.extend((c1, c3))
    ex.panels = sorted(keep)
    return new


def _final_sums(
    examples: list[_Example], diff_flat: torch.Tensor, xs: tuple[torch.Tensor, ...]
) -> tuple[torch.Tensor, ...]:
    """Composite Boole sums × (x − x'), split back into the inputs' shapes (graph kept)."""
    rows = []
    for e, ex in enumerate(examples):
        weights = q.boole_weights(ex.panels)
        positions = sorted(weights)
        g = torch.stack([ex.grads[p] for p in positions])
        w = torch.tensor([weights[p] for p in positions], dtype=g.dtype, device=g.device)
        rows.append((w[:, None] * g).sum(0) * diff_flat[e])
    flat = torch.stack(rows)
    out = []
    start = 0
    for x in xs:
        size = x[0].numel()
        out.append(flat[:, start : start + size].reshape(x.shape))
        start += size
    return tuple(out)
