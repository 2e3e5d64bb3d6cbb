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

from pathattr.engine.core import forward_select, integrate
from pathattr.engine.memory import resolve_batch_size
from pathattr.engine.progress import progress_bar
from pathattr.engine.targets import TargetLike, make_selector
from pathattr.engine.validate import (
    BaselineLike,
    as_baselines,
    as_tuple,
    check_finite_paths,
    warn_training_mode,
    warn_zero_gradient,
)
from pathattr.paths.straight import StraightLine
from pathattr.quadrature.rules import Rule, quadrature
from pathattr.result import Attribution, completeness, warn_if_incomplete


def integrated_gradients(
    model: Callable[..., Any],
    inputs: torch.Tensor | tuple[torch.Tensor, ...],
    baselines: BaselineLike = None,
    target: TargetLike = None,
    *,
    steps: int | str = 50,
    rule: str = "gausslegendre",
    forward_args: Any = (),
    batch_size: int | str | None = "auto",
    create_graph: bool = False,
    tol: float = 1e-2,
    max_steps: int = 1024,
    warn_tol: float = 0.05,
    progress: bool = False,
    multiply_by_inputs: bool = True,
) -> Attribution:
    """Integrated Gradients of ``model``'s selected output at ``inputs`` against ``baselines``.

    Args:
        model: a callable (usually an ``nn.Module`` in eval mode) called as
            ``model(*inputs, *forward_args)``, returning a batch-first output.
        inputs: a batch-first float tensor, or a tuple of them for multi-input models.
        baselines: None (zeros), a scalar, a tensor broadcastable to the inputs (one for all or
            one per example), or a tuple matching ``inputs``.
        target: None (the model returns one value per example), an int, one int per example, or
            a callable mapping the model output to a ``(batch,)`` tensor.
        steps: number of quadrature nodes per example, or ``"auto"`` for error control.
        rule: ``gausslegendre`` (default), ``riemann_left``, ``riemann_right``,
            ``riemann_middle`` or ``riemann_trapezoid`` (with correct weights: exact on linear
            models, unlike Captum's).
        forward_args: extra arguments passed to the model; tensors whose first dimension is the
            batch size are expanded along with the inputs.
        batch_size: maximum rows (example × step pairs) per model call; None runs all rows at
            once; ``"auto"`` (default) measures the activation memory one row keeps for the
            backward pass and fits chunks to a quarter of the free memory.
        create_graph: make the attributions differentiable w.r.t. the model parameters.
        tol, max_steps: accuracy target and budget per example for ``steps="auto"``.
        warn_tol: warn when an example's relative completeness error exceeds this.
        progress: show a progress bar (needs tqdm).
        multiply_by_inputs: False returns the path-averaged gradient ∫₀¹ ∂F/∂x dα without the
            (x − x') factor (Captum's ``multiply_by_inputs=False``); completeness is then not
            defined and ``delta`` is NaN.

    Returns:
        An :class:`~pathattr.result.Attribution`.
    """
    if isinstance(steps, str):
        if steps != "auto":
            raise ValueError(f"steps: expected a positive int or 'auto', got {steps!r}")
        if not multiply_by_inputs:
            raise ValueError("steps: 'auto' controls the error of attributions; it needs "
                             "multiply_by_inputs=True")  # fmt: skip
        from pathattr.methods.adaptive import adaptive_integrated_gradients

        return adaptive_integrated_gradients(
            model, inputs, baselines, target, tol=tol, max_steps=max_steps,
            forward_args=forward_args, batch_size=batch_size, create_graph=create_graph,
            warn_tol=warn_tol, progress=progress,
        )  # fmt: skip
    single = isinstance(inputs, torch.Tensor)
    xs = as_tuple(inputs, finite=False)
    bs = as_baselines(baselines, xs, finite=False)
    fargs = forward_args if isinstance(forward_args, tuple) else (forward_args,)
    nodes = quadrature(rule, steps)
    n = xs[0].shape[0]
    selector = make_selector(target, n)
    warn_training_mode(model)
    path = _path(xs, bs, multiply_by_inputs)
    check_finite_paths(xs, bs, path.diffs)

    k = nodes.alphas.shape[0]
    rows, alphas, weights = _node_tensors(rule, k, n, xs[0].dtype, xs[0].device)
    batch_size = resolve_batch_size(
        batch_size, model, path, selector, rows, alphas, n_examples=n, forward_args=fargs
    )
    end_sets = _missing_ends(nodes, xs, bs)
    bar = progress_bar(n * k, progress, desc="integrated gradients")
    try:
        result = integrate(
            model, path, selector, rows, alphas, weights, n_examples=n,
            forward_args=fargs, batch_size=batch_size, create_graph=create_graph, progress=bar,
            grid=k, ends=end_sets,
        )  # fmt: skip
    finally:
        bar.close()

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
        # one forward over [x; x'] instead of two calls: the overhead matters on small models
        both = tuple(torch.cat([x, b]) for x, b in zip(xs, bs))
        both_args = tuple(_twice(a, n) for a in fargs)
        ends = forward_select(
            model, both, _stacked(selector, n), forward_args=both_args, batch_size=batch_size
        )
        output, base_output = ends[:n], ends[n:]
    elif output is None:
        output = forward_select(model, xs, selector, forward_args=fargs, batch_size=batch_size)
    elif base_output is None:
        base_output = forward_select(model, bs, selector, forward_args=fargs, batch_size=batch_size)
    if not result.any_gradient:
        warn_zero_gradient(stacklevel=2)
    assert output is not None and base_output is not None
    delta, rel = completeness(result.sums, output, base_output)
    if not multiply_by_inputs:
        delta = torch.full_like(delta, float("nan"))
        rel = delta.clone()
    attributions = result.sums[0] if single else result.sums
    res = Attribution(
        attributions=attributions,
        output=output,
        baseline_output=base_output,
        delta=delta,
        relative_delta=rel,
        evaluations=result.evaluations,
        method="integrated_gradients",
        extras={"rule": rule, "steps": int(k)},
    )
    warn_if_incomplete(res, warn_tol, f"raise steps (now {k}) or use steps='auto'")
    return res


class _AveragedGradientPath(StraightLine):
    """The straight line with γ' replaced by 1: the engine then returns ∫ ∇F dα."""

    def total_derivative(self) -> tuple[torch.Tensor, ...]:
        return tuple(torch.ones_like(d) for d in self.diffs)


def _path(
    xs: tuple[torch.Tensor, ...], bs: tuple[torch.Tensor, ...], multiply: bool
) -> StraightLine:
    return StraightLine(xs, bs) if multiply else _AveragedGradientPath(xs, bs)


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


def _twice(arg: Any, n: int) -> Any:
    if isinstance(arg, torch.Tensor) and arg.dim() > 0 and arg.shape[0] == n:
        return torch.cat([arg, arg])
    return arg


def _stacked(selector: Any, n: int) -> Any:
    """The selector for rows of [x; x']: row r belongs to example r mod n."""

    def select(out: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return selector(out, rows % n)  # type: ignore[no-any-return]

    return select


def _endpoint(alphas: Any, at: float, per_example: torch.Tensor) -> torch.Tensor:
    """F at the node α = ``at`` (the caller has checked that the rule has one)."""
    hits = (alphas == at).nonzero()[0]
    return per_example[:, int(hits[0])].clone()
