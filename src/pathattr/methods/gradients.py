r"""Plain gradients ("saliency") and gradient × input, the baselines IG is compared against.

.. math::

    \mathrm{Saliency}_i(x) = \frac{\partial F(x)}{\partial x_i}, \qquad
    \mathrm{InputXGradient}_i(x) = x_i \, \frac{\partial F(x)}{\partial x_i}

Both take one gradient evaluation per example.  Neither satisfies Completeness nor
Sensitivity(a): on f(x) = 1 − ReLU(1 − x) at x = 2 with baseline 0 the output moves from 0 to 1
but the gradient is 0 (IG paper §2.1).  ``baselines`` is only used to report F(x') and the
completeness residual (``delta``), which is *not* expected to vanish: no completeness warning is
raised for these methods.

The helpers :func:`prepare` and :func:`finish` are shared with the other single-gradient methods
(guided back-propagation, deconvnet, DeepLift).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from pathattr.engine.core import evaluate_rows, expand_forward_args, forward_select
from pathattr.engine.memory import forward_chunk_rows, resolve_batch_size
from pathattr.engine.targets import Selector, TargetLike, make_selector
from pathattr.engine.validate import BaselineLike, as_baselines, as_tuple, warn_training_mode
from pathattr.paths.straight import StraightLine
from pathattr.result import Attribution, completeness

Inputs = torch.Tensor | tuple[torch.Tensor, ...]


@dataclass
class Prepared:
    """Validated arguments of a single-gradient method."""

    single: bool
    inputs: tuple[torch.Tensor, ...]
    baselines: tuple[torch.Tensor, ...]
    selector: Selector
    forward_args: tuple[Any, ...]
    n: int


def prepare(
    model: Callable[..., Any],
    inputs: Inputs,
    baselines: BaselineLike,
    target: TargetLike,
    forward_args: Any = (),
) -> Prepared:
    """Validate and normalise the common arguments (errors name the argument)."""
    if not callable(model):
        raise TypeError(f"model: expected a callable (an nn.Module), got {type(model).__name__}")
    single = isinstance(inputs, torch.Tensor)
    xs = as_tuple(inputs)
    bs = as_baselines(baselines, xs)
    fargs = forward_args if isinstance(forward_args, tuple) else (forward_args,)
    n = xs[0].shape[0]
    warn_training_mode(model)
    return Prepared(single, xs, bs, make_selector(target, n), fargs, n)


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
    cache-sized.
    """
    points = at or p.inputs
    path = StraightLine(points, points)  # γ(α) = the points themselves: x' + α·0
    device = points[0].device
    rows = torch.arange(p.n, device=device)
    alphas = torch.zeros(p.n, dtype=points[0].dtype, device=device)  # any α: the path is constant
    bsz = None
    if batch_size is not None:
        bsz = resolve_batch_size(
            batch_size, model, path, p.selector, rows, alphas, n_examples=p.n,
            forward_args=p.forward_args,
        )  # fmt: skip
    if bsz is None:
        leaves = tuple(t.detach().clone().requires_grad_(True) for t in points)
        extra = expand_forward_args(p.forward_args, p.n, rows)
        with torch.enable_grad():
            selected = p.selector(model(*leaves, *extra), rows)
            grads = torch.autograd.grad(selected.sum(), leaves, allow_unused=True)
        out = tuple(torch.zeros_like(x) if g is None else g for g, x in zip(grads, leaves))
        return out, selected.detach()
    parts: list[list[torch.Tensor]] = [[] for _ in points]
    outs = []
    for chunk in evaluate_rows(
        model, path, p.selector, rows, alphas, n_examples=p.n, forward_args=p.forward_args,
        batch_size=bsz,
    ):  # fmt: skip
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
) -> Attribution:
    """Wrap attributions with F(x), F(x') and the (informative, unenforced) residual."""
    rows_per_call = (
        forward_chunk_rows(model, p.baselines, p.selector, p.n, forward_args=p.forward_args)
        if batch_size == "auto"
        else batch_size
    )
    base = forward_select(
        model, p.baselines, p.selector, forward_args=p.forward_args,
        batch_size=rows_per_call if isinstance(rows_per_call, int) else None,
    )  # fmt: skip
    delta, rel = completeness(attributions, output, base)
    return Attribution(
        attributions=attributions[0] if p.single else attributions,
        output=output,
        baseline_output=base,
        delta=delta,
        relative_delta=rel,
        evaluations=torch.full((p.n,), evaluations, dtype=torch.long),
        method=method,
        extras=dict(extras or {}),
    )


def saliency(
    model: Callable[..., Any],
    inputs: Inputs,
    baselines: BaselineLike = None,
    target: TargetLike = None,
    *,
    absolute: bool = False,
    forward_args: Any = (),
    batch_size: int | str | None = "auto",
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

    Returns:
        An :class:`~pathattr.result.Attribution` (``delta`` is reported, not enforced).
    """
    p = prepare(model, inputs, baselines, target, forward_args)
    grads, out = gradient(model, p, batch_size=batch_size)
    if absolute:
        grads = tuple(g.abs() for g in grads)
    return finish(
        model, p, grads, out, "saliency", extras={"absolute": absolute}, batch_size=batch_size
    )


def input_x_gradient(
    model: Callable[..., Any],
    inputs: Inputs,
    baselines: BaselineLike = None,
    target: TargetLike = None,
    *,
    forward_args: Any = (),
    batch_size: int | str | None = "auto",
) -> Attribution:
    r"""Gradient × input: :math:`x_i\,\partial F(x)/\partial x_i` (Shrikumar et al. 2016).

    Multiplied by the input itself (Captum's ``InputXGradient``), not by x − x'.  For a
    bias-free ReLU network and a zero baseline this equals IG exactly (Hesse et al. 2021).

    Args:
        model, inputs, baselines, target, forward_args, batch_size: as in :func:`saliency`.

    Returns:
        An :class:`~pathattr.result.Attribution` (``delta`` is reported, not enforced).
    """
    p = prepare(model, inputs, baselines, target, forward_args)
    grads, out = gradient(model, p, batch_size=batch_size)
    attrs = tuple(g * x for g, x in zip(grads, p.inputs))
    return finish(model, p, attrs, out, "input_x_gradient", batch_size=batch_size)
