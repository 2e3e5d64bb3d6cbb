r"""Plain gradients ("saliency") and gradient × input, the baselines IG is compared against.

.. math::

    \mathrm{Saliency}_i(x) = \frac{\partial F(x)}{\partial x_i}, \qquad
    \mathrm{InputXGradient}_i(x) = x_i \, \frac{\partial F(x)}{\partial x_i}

Both take one gradient evaluation per example.  Neither satisfies Completeness nor
Sensitivity(a): on f(x) = 1 − ReLU(1 − x) at x = 2 with baseline 0 the output moves from 0 to 1
but the gradient is 0 (IG paper §2.1).  ``baselines`` is only used to report F(x') and the
completeness residual (``delta``), which is *not* expected to vanish: no completeness warning is
raised for these methods.

:func:`gradient` and :func:`finish` are shared with the other single-gradient methods (guided
back-propagation, deconvnet, DeepLift); the preparation is the pipeline's
(:mod:`pathattr.engine.pipeline`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from pathattr.engine.core import expand_forward_args, require_graph
from pathattr.engine.memory import forward_chunk_rows
from pathattr.engine.pipeline import Inputs, Prepared, prepare
from pathattr.engine.pipeline import finish as finish_result
from pathattr.engine.targets import TargetLike
from pathattr.engine.validate import BaselineLike
from pathattr.paths.straight import StraightLine
from pathattr.result import Attribution

__all__ = ["Inputs", "Prepared", "finish", "gradient", "input_x_gradient", "prepare", "saliency"]


def gradient(
    model: Callable[..., Any],
    p: Prepared,
    at: tuple[torch.Tensor, ...] | None = None,
    batch_size: int | str | None = None,
) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """∇F at ``at`` (default: the inputs) and F there.

    ``batch_size``: None runs one forward/backward pass over all examples; an int or ``"auto"``
    goes through the engine's chunking (:func:`~pathattr.engine.core.evaluate_rows`, the
    constant path γ(α) = ``at``), which bounds memory and, on the CPU, keeps chunks
    cache-sized.  Call it inside ``p.running()``.
    """
    points = at or p.inputs
    path = StraightLine(points, points)  # γ(α) = the points themselves: x' + α·0
    device = points[0].device
    rows = torch.arange(p.n, device=device)
    alphas = torch.zeros(p.n, dtype=points[0].dtype, device=device)  # any α: the path is constant
    bsz = None
    if batch_size is not None:
        p.batch_size = batch_size
        bsz = p.resolve_batch_size(path, rows, alphas)
    if bsz is None:
        leaves = tuple(
            t if p.create_graph and t.requires_grad else t.detach().clone().requires_grad_(True)
            for t in points
        )
        extra = expand_forward_args(p.forward_args, p.n, rows)
        with torch.enable_grad():
            selected = require_graph(p.selector(model(*leaves, *extra), rows))
            grads = torch.autograd.grad(
                selected.sum(), leaves, allow_unused=True, create_graph=p.create_graph
            )
        out = tuple(torch.zeros_like(x) if g is None else g for g, x in zip(grads, leaves))
        return out, selected.detach()
    parts: list[list[torch.Tensor]] = [[] for _ in points]
    outs = []
    for chunk in p.evaluate(path, rows, alphas, batch_size=bsz, show_progress=False):
        for part, g in zip(parts, chunk.grads):
            part.append(g)
        outs.append(chunk.outputs)
    return tuple(torch.cat(part) for part in parts), torch.cat(outs)


def finish(
    model: Callable[..., Any],
    p: Prepared,
    attributions: tuple[torch.Tensor, ...],
    output: torch.Tensor,
    method: str,
    evaluations: int = 1,
    extras: dict[str, Any] | None = None,
    batch_size: int | str | None = None,
    complete: bool = False,
    hint: str = "",
) -> Attribution:
    """Wrap attributions with F(x), F(x') and the residual (checked only if ``complete``)."""
    assert p.baselines is not None
    rows_per_call = (
        forward_chunk_rows(model, p.baselines, p.selector, p.n, forward_args=p.forward_args)
        if batch_size == "auto"
        else batch_size
    )
    base = p.forward(p.baselines, rows_per_call if isinstance(rows_per_call, int) else None)
    return finish_result(
        p, attributions, output, base, method=method, evaluations=evaluations, extras=extras,
        any_gradient=None, complete=complete, hint=hint,
    )  # fmt: skip


def _single_gradient(
    name: str,
    model: Callable[..., Any],
    inputs: Inputs,
    *,
    baselines: BaselineLike,
    target: TargetLike,
    forward_args: Any,
    batch_size: int | str | None,
    create_graph: bool,
    transform: Callable[[tuple[torch.Tensor, ...], Prepared], tuple[torch.Tensor, ...]],
    extras: dict[str, Any] | None = None,
) -> Attribution:
    p = prepare(
        model, inputs, baselines=baselines, target=target, forward_args=forward_args,
        batch_size=batch_size, create_graph=create_graph,
    )  # fmt: skip
    if p.empty:
        return p.empty_result(name, extras)
    with p.running():
        grads, out = gradient(model, p, batch_size=batch_size)
        attrs = transform(grads, p)
        return finish(model, p, attrs, out, name, extras=extras, batch_size=batch_size)


def saliency(
    model: Callable[..., Any],
    inputs: Inputs,
    *,
    baselines: BaselineLike = None,
    target: TargetLike = None,
    absolute: bool = False,
    forward_args: Any = (),
    batch_size: int | str | None = "auto",
    create_graph: bool = False,
) -> Attribution:
    r"""The gradient ∂F(x)/∂x_i of the selected output (Simonyan et al. 2014).

    Args:
        model: callable ``model(*inputs, *forward_args)`` with a batch-first output.
        inputs: a batch-first float tensor or a tuple of them.
        baselines: only used to report F(x') and ``delta`` (None: zeros).
        target: which output to explain (as in :func:`pathattr.integrated_gradients`).
        absolute: return |∂F/∂x| (Captum's default ``abs=True``); signed by default, as in the
            IG paper's comparison.
        forward_args: extra model arguments.
        batch_size: examples per model call; None: all at once; ``"auto"`` (default): the
            engine's choice (fits memory and, on the CPU, the cache budget).
        create_graph: keep the graph (differentiable w.r.t. the parameters and inputs).

    Returns:
        An :class:`~pathattr.result.Attribution` (``delta`` is reported, not enforced).
    """

    def signed_or_abs(grads: tuple[torch.Tensor, ...], p: Prepared) -> tuple[torch.Tensor, ...]:
        return tuple(g.abs() for g in grads) if absolute else grads

    return _single_gradient(
        "saliency", model, inputs, baselines=baselines, target=target,
        forward_args=forward_args, batch_size=batch_size, create_graph=create_graph,
        transform=signed_or_abs, extras={"absolute": absolute},
    )  # fmt: skip


def input_x_gradient(
    model: Callable[..., Any],
    inputs: Inputs,
    *,
    baselines: BaselineLike = None,
    target: TargetLike = None,
    forward_args: Any = (),
    batch_size: int | str | None = "auto",
    create_graph: bool = False,
) -> Attribution:
    r"""Gradient × input: :math:`x_i\,\partial F(x)/\partial x_i` (Shrikumar et al. 2016).

    Multiplied by the input itself (Captum's ``InputXGradient``), not by x − x'.  For a
    bias-free ReLU network and a zero baseline this equals IG exactly (Hesse et al. 2021).

    Args:
        model, inputs, baselines, target, forward_args, batch_size, create_graph: as in
            :func:`saliency`.

    Returns:
        An :class:`~pathattr.result.Attribution` (``delta`` is reported, not enforced).
    """

    def times_input(grads: tuple[torch.Tensor, ...], p: Prepared) -> tuple[torch.Tensor, ...]:
        return tuple(g * x for g, x in zip(grads, p.inputs))

    return _single_gradient(
        "input_x_gradient", model, inputs, baselines=baselines, target=target,
        forward_args=forward_args, batch_size=batch_size, create_graph=create_graph,
        transform=times_input,
    )  # fmt: skip
