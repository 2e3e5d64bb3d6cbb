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

from pathattr.engine.core import expand_forward_args, forward_select
from pathattr.engine.targets import Selector, TargetLike, make_selector
from pathattr.engine.validate import BaselineLike, as_baselines, as_tuple, warn_training_mode
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
    model: Callable[..., Any], p: Prepared, at: tuple[torch.Tensor, ...] | None = None
) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """∇F at ``at`` (default: the inputs) and F there, in one forward/backward pass."""
    points = tuple(t.detach().clone().requires_grad_(True) for t in (at or p.inputs))
    rows = torch.arange(p.n, device=points[0].device)
    extra = expand_forward_args(p.forward_args, p.n, rows)
    with torch.enable_grad():
        selected = p.selector(model(*points, *extra), rows)
        grads = torch.autograd.grad(selected.sum(), points, allow_unused=True)
    out = tuple(torch.zeros_like(x) if g is None else g for g, x in zip(grads, points))
    return out, selected.detach()


def finish(
    model: Callable[..., Any],
    p: Prepared,
    attributions: tuple[torch.Tensor, ...],
    output: torch.Tensor,
    method: str,
    evaluations: int = 1,
    extras: dict[str, Any] | None = None,
) -> Attribution:
    """Wrap attributions with F(x), F(x') and the (informative, unenforced) residual."""
    base = forward_select(model, p.baselines, p.selector, forward_args=p.forward_args)
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

    Returns:
        An :class:`~pathattr.result.Attribution` (``delta`` is reported, not enforced).
    """
    p = prepare(model, inputs, baselines, target, forward_args)
    grads, out = gradient(model, p)
    if absolute:
        grads = tuple(g.abs() for g in grads)
    return finish(model, p, grads, out, "saliency", extras={"absolute": absolute})


def input_x_gradient(
    model: Callable[..., Any],
    inputs: Inputs,
    baselines: BaselineLike = None,
    target: TargetLike = None,
    *,
    forward_args: Any = (),
) -> Attribution:
    r"""Gradient × input: :math:`x_i\,\partial F(x)/\partial x_i` (Shrikumar et al. 2016).

    Multiplied by the input itself (Captum's ``InputXGradient``), not by x − x'.  For a
    bias-free ReLU network and a zero baseline this equals IG exactly (Hesse et al. 2021).

    Args:
        model, inputs, baselines, target, forward_args: as in :func:`saliency`.

    Returns:
        An :class:`~pathattr.result.Attribution` (``delta`` is reported, not enforced).
    """
    p = prepare(model, inputs, baselines, target, forward_args)
    grads, out = gradient(model, p)
    attrs = tuple(g * x for g, x in zip(grads, p.inputs))
    return finish(model, p, attrs, out, "input_x_gradient")
