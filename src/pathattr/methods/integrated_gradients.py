r"""Integrated Gradients (Sundararajan, Taly, Yan 2017).

.. math::

    \mathrm{IG}_i(x) = (x_i - x'_i) \int_0^1
        \frac{\partial F(x' + \alpha (x - x'))}{\partial x_i}\, d\alpha
    \approx (x_i - x'_i) \sum_k w_k \frac{\partial F(x' + \alpha_k (x - x'))}{\partial x_i}

IG is the straight-line path method: a :class:`~pathattr.paths.StraightLine` path plus the
nodes α_k and weights w_k of a quadrature rule, fed to the engine.  It satisfies Completeness
(Σ_i IG_i = F(x) − F(x')), Sensitivity, Dummy, Linearity, Symmetry-Preservation and
Implementation Invariance.  The completeness residual is reported for every example and a
warning is raised when it exceeds ``warn_tol`` (5% by default, as the paper advises); it is
never rescaled away.

``steps="auto"`` chooses the nodes per example until an error estimate meets ``tol``
(see :mod:`pathattr.methods.adaptive`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

from pathattr.engine.idgi import idgi_on_rule
from pathattr.engine.pipeline import Inputs, check_bool, finish, prepare
from pathattr.engine.targets import TargetLike
from pathattr.engine.validate import BaselineLike, check_int_arg
from pathattr.paths.straight import StraightLine
from pathattr.quadrature.rules import Rule, quadrature
from pathattr.result import Attribution


def integrated_gradients(
    model: Callable[..., Any],
    inputs: Inputs,
    *,
    baselines: BaselineLike = None,
    target: TargetLike = None,
    steps: int | str = 50,
    rule: str | None = None,
    forward_args: Any = (),
    batch_size: int | str | None = "auto",
    create_graph: bool = False,
    tol: float | None = None,
    max_steps: int | None = None,
    warn_tol: float | None = 0.05,
    progress: bool = False,
    multiply_by_inputs: bool = True,
    idgi: bool = False,
) -> Attribution:
    """Integrated Gradients of ``model``'s selected output at ``inputs`` against ``baselines``.

    Args:
        model: a callable (usually an ``nn.Module`` in eval mode) called as
            ``model(*inputs, *forward_args)``, returning a batch-first output.
        inputs: a batch-first float tensor, or a tuple of them for multi-input models.
        baselines: None (zeros), a scalar, a tensor broadcastable to the inputs (one for all or
            one per example), or a tuple matching ``inputs``.
        target: None (the model returns one value per example), an int, a tuple (one
            multi-index into each example's output), one int per example (a list or 1-D
            tensor), or a callable mapping the model output to a ``(batch,)`` tensor (see
            :func:`~pathattr.engine.targets.make_selector`).
        steps: number of quadrature nodes per example, or ``"auto"`` for error control.
        rule: ``gausslegendre`` (the default), ``riemann_left``, ``riemann_right``,
            ``riemann_middle`` or ``riemann_trapezoid`` (with correct weights: exact on linear
            models, unlike Captum's).  ``steps="auto"`` chooses its own nodes: a rule is an
            error there.
        forward_args: extra arguments passed to the model; tensors whose first dimension is the
            batch size are expanded along with the inputs.
        batch_size: maximum rows (example × step pairs) per model call; None runs all rows at
            once; ``"auto"`` (default) measures the activation memory one row keeps for the
            backward pass and fits chunks to a quarter of the free memory.
        create_graph: make the attributions differentiable w.r.t. the model parameters and the
            inputs (otherwise inputs that are part of a graph are detached).
        tol, max_steps: accuracy target (default 1e-2) and budget per example (default 1024)
            for ``steps="auto"``; an error with a fixed step count, which would ignore them.
        warn_tol: warn when an example's relative completeness error exceeds this (None or 0:
            never).
        progress: show a progress bar (needs tqdm).
        multiply_by_inputs: False returns the path-averaged gradient ∫₀¹ ∂F/∂x dα without the
            (x − x') factor (Captum's ``multiply_by_inputs=False``); ``delta`` is then Captum's
            Σ attributions − (F(x) − F(x')), which is not expected to vanish, and no
            completeness warning is raised.
        idgi: apply IDGI (:mod:`pathattr.engine.idgi`): each cell of the rule spends its output
            change along the gradient's important direction; complete by construction.  The
            rule then defaults to ``riemann_left``, the reference implementation's pairing of
            a gradient with the step to the next point (no extra model call); other rules cost
            ``steps − 1`` forward passes per example for F at their cell edges.

    Returns:
        An :class:`~pathattr.result.Attribution`.
    """
    check_bool(idgi, "idgi")
    if idgi and not multiply_by_inputs:
        raise ValueError("idgi: IDGI attributions are complete by construction; they have no "
                         "multiply_by_inputs=False form")  # fmt: skip
    if isinstance(steps, str):
        if idgi:
            raise ValueError("idgi: needs a fixed step count; steps='auto' is not supported")
        if steps != "auto":
            raise ValueError(f"steps: expected a positive int or 'auto', got {steps!r}")
        if rule is not None:
            raise ValueError(
                f"rule: steps='auto' chooses its own nodes (adaptive Boole panels), so rule= "
                f"is not used; drop rule={rule!r} or pass an int steps"
            )
        if not multiply_by_inputs:
            raise ValueError("steps: 'auto' controls the error of attributions; it needs "
                             "multiply_by_inputs=True")  # fmt: skip
        from pathattr.methods.adaptive import adaptive_integrated_gradients

        return adaptive_integrated_gradients(
            model, inputs, baselines=baselines, target=target,
            tol=1e-2 if tol is None else tol, max_steps=1024 if max_steps is None else max_steps,
            forward_args=forward_args, batch_size=batch_size, create_graph=create_graph,
            warn_tol=warn_tol, progress=progress,
        )  # fmt: skip
    check_int_arg(steps, "steps")
    if tol is not None or max_steps is not None:
        raise ValueError(
            "tol, max_steps: only used with steps='auto'; with a fixed step count they "
            "would be ignored"
        )
    # IDGI's reference pairs each gradient with the step to the next point: riemann_left
    rule = ("riemann_left" if idgi else "gausslegendre") if rule is None else rule
    nodes = quadrature(rule, steps)
    p = prepare(
        model, inputs, baselines=baselines, target=target, forward_args=forward_args,
        batch_size=batch_size, create_graph=create_graph, warn_tol=warn_tol, progress=progress,
    )  # fmt: skip
    k = nodes.alphas.shape[0]
    extras: dict[str, Any] = {"rule": rule, "steps": int(k)}
    if idgi:
        extras["idgi"] = True
    if p.empty:
        return p.empty_result("integrated_gradients", extras)
    assert p.baselines is not None
    xs, bs, n = p.inputs, p.baselines, p.n
    path = (StraightLine if multiply_by_inputs else _AveragedGradientPath)(xs, bs, p.diffs)
    rows, alphas, weights = _node_tensors(rule, k, n, p.dtype, p.device)
    if idgi:
        return _idgi(p, path, nodes, rows, alphas, extras)
    with p.running():
        bsz = p.resolve_batch_size(path, rows, alphas)
        result = p.integrate(
            path, rows, alphas, weights, grid=k, ends=_missing_ends(nodes, xs, bs),
            batch_size=bsz, desc="integrated gradients",
        )  # fmt: skip
        output, base_output = _end_outputs(p, nodes, result, bsz)
    return finish(
        p, result.sums, output, base_output, method="integrated_gradients",
        evaluations=result.evaluations, extras=extras, any_gradient=result.any_gradient,
        complete=multiply_by_inputs, hint=f"raise steps (now {k}) or use steps='auto'",
    )  # fmt: skip


def _idgi(
    p: Any,
    path: StraightLine,
    nodes: Rule,
    rows: torch.Tensor,
    alphas: torch.Tensor,
    extras: dict[str, Any],
) -> Attribution:
    """IG with the IDGI correction on the rule's cells (see :mod:`pathattr.engine.idgi`)."""
    assert p.baselines is not None
    with p.running():
        bsz = p.resolve_batch_size(path, rows, alphas)
        output, base_output = p.forward_both(p.inputs, p.baselines, bsz)
        sums, evals, any_gradient, forwards = idgi_on_rule(
            p, path, nodes.alphas, nodes.weights, output, base_output, batch_size=bsz,
            desc="integrated gradients (IDGI)",
        )  # fmt: skip
    extras["idgi_forward_passes"] = forwards
    return finish(
        p, sums, output, base_output, method="integrated_gradients", evaluations=evals,
        extras=extras, any_gradient=any_gradient,
        hint="IDGI is complete up to rounding unless a step's gradient is exactly 0",
    )  # fmt: skip


def _end_outputs(
    p: Any, nodes: Rule, result: Any, batch_size: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """F(x) and F(x'): from the rule's end nodes, the rows that rode along, or one call."""
    n, k = p.n, nodes.alphas.shape[0]
    per_example = result.row_outputs.reshape(n, k)
    output = _endpoint(nodes.alphas, 1.0, per_example) if nodes.includes_end else None
    base_output = _endpoint(nodes.alphas, 0.0, per_example) if nodes.includes_start else None
    if result.end_outputs is not None:
        got = result.end_outputs
        if output is None:
            output, got = got[:n], got[n:]
        if base_output is None:
            base_output = got[:n]
    elif output is None and base_output is None:
        output, base_output = p.forward_both(p.inputs, p.baselines, batch_size)
    elif output is None:
        output = p.forward(p.inputs, batch_size)
    elif base_output is None:
        base_output = p.forward(p.baselines, batch_size)
    assert output is not None and base_output is not None
    return output, base_output


class _AveragedGradientPath(StraightLine):
    """The straight line with γ' replaced by 1: the engine then returns ∫ ∇F dα."""

    def total_derivative(self) -> tuple[torch.Tensor, ...]:
        return tuple(torch.ones_like(d) for d in self.diffs)


#: node tensors are cached up to this many rows (a few hundred kB); larger runs build them
_CACHED_ROWS = 1 << 16


def _node_tensors(
    rule: str, k: int, n: int, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Example index, α and weight of every row (example-major), in the inputs' precision.

    Building them is a handful of small tensor operations: a visible share of a sub-millisecond
    call, so the common sizes are cached (the tensors are never written to).
    """
    if n * k <= _CACHED_ROWS:
        return _cached_node_tensors(rule, k, n, dtype, device)
    return _build_node_tensors(rule, k, n, dtype, device)


def _build_node_tensors(
    rule: str, k: int, n: int, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    nodes = quadrature(rule, k)
    rows = torch.arange(n, device=device).repeat_interleave(k)
    alphas = torch.tensor(nodes.alphas, device=device, dtype=dtype).repeat(n)
    weights = torch.tensor(nodes.weights, device=device, dtype=dtype).repeat(n)
    return rows, alphas, weights


_cached_node_tensors = functools.lru_cache(maxsize=64)(_build_node_tensors)


def _missing_ends(
    nodes: Rule, xs: tuple[torch.Tensor, ...], bs: tuple[torch.Tensor, ...]
) -> tuple[tuple[torch.Tensor, ...], ...] | None:
    """The end points whose F the rule's nodes do not give: x (α = 1), then x' (α = 0)."""
    sets = (() if nodes.includes_end else (xs,)) + (() if nodes.includes_start else (bs,))
    return sets or None


def _endpoint(alphas: Any, at: float, per_example: torch.Tensor) -> torch.Tensor:
    """F at the node α = ``at`` (the caller has checked that the rule has one)."""
    hits = (alphas == at).nonzero()[0]
    return per_example[:, int(hits[0])].clone()
