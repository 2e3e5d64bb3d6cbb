r"""Blur Integrated Gradients (Xu, Venugopalan, Sundararajan, 2020).

.. math::

    \phi_i = \int_0^1 \frac{\partial F(\gamma(\alpha))}{\partial \gamma_i}\, \gamma_i'(\alpha)
    \, d\alpha, \qquad \gamma(\alpha) = G_{\sigma_{\max}(1-\alpha)} * x

the path integral along :class:`~pathattr.paths.blur.BlurPath`, from the image blurred with
``max_sigma`` to the image: no baseline is chosen, the blurred image is one.  It is a path plus
nodes and weights like IG and runs on the same engine, batched over images and steps.

Defaults are the paper's and PAIR's ``saliency.core.BlurIG`` (``steps=100``, ``max_sigma=50``,
``grad_step=0.01``): PAIR sums over σ_i = i·σ_max/steps, i = 0 … steps−1, with
−Δσ ∇F(x_σ) · (x_{σ+h} − x_σ)/h, which is the right Riemann rule in α (α = 1 − σ/σ_max), the
default ``rule`` here.  Completeness holds against the blurred image,
Σφ ≈ F(x) − F(G_{σmax} * x): ``baseline_output`` is that F, and the residual (quadrature and
forward-difference error) is reported, never rescaled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from pathattr.engine.idgi import idgi_on_rule
from pathattr.engine.pipeline import Inputs, check_bool, finish, prepare
from pathattr.engine.targets import TargetLike
from pathattr.engine.validate import check_int_arg
from pathattr.paths.blur import BlurPath, check_image
from pathattr.quadrature.rules import quadrature
from pathattr.result import Attribution


def blur_integrated_gradients(
    model: Callable[..., Any],
    inputs: Inputs,
    *,
    target: TargetLike = None,
    steps: int = 100,
    max_sigma: float = 50.0,
    grad_step: float | None = 0.01,
    rule: str = "riemann_right",
    idgi: bool = False,
    forward_args: Any = (),
    batch_size: int | str | None = "auto",
    create_graph: bool = False,
    warn_tol: float | None = 0.05,
    progress: bool = False,
) -> Attribution:
    """Blur IG of ``model``'s selected output at the images ``inputs``.

    Args:
        model: a callable (usually an ``nn.Module`` in eval mode) called as
            ``model(inputs, *forward_args)``.
        inputs: one batch of images, ``(N, C, H, W)`` or ``(N, H, W)``; the blur runs over the
            two last axes (channels are not mixed).
        target: which output to explain, as for :func:`pathattr.integrated_gradients`.
        steps: quadrature nodes per image (PAIR's ``steps``).
        max_sigma: the blur of the path's start, in pixels.
        grad_step: the σ step of PAIR's forward difference for ∂x/∂σ; None: the exact
            derivative of the (truncated, normalised) Gaussian kernel.
        rule: quadrature rule in α (``riemann_right`` reproduces PAIR).
        idgi: apply IDGI (:mod:`pathattr.engine.idgi`): complete by construction.
        forward_args, batch_size, create_graph, warn_tol, progress: as for
            :func:`pathattr.integrated_gradients`.

    Returns:
        An :class:`~pathattr.result.Attribution`; ``baseline_output`` is F of the image blurred
        with ``max_sigma``.
    """
    check_int_arg(steps, "steps")
    check_bool(idgi, "idgi")
    if isinstance(max_sigma, bool) or not isinstance(max_sigma, (int, float)) or max_sigma <= 0:
        raise ValueError(f"max_sigma: expected a number > 0, got {max_sigma!r}")
    if grad_step is not None and (
        isinstance(grad_step, bool) or not isinstance(grad_step, (int, float)) or grad_step <= 0
    ):
        raise ValueError(f"grad_step: expected a number > 0 or None (exact), got {grad_step!r}")
    nodes = quadrature(rule, steps)
    p = prepare(
        model, inputs, target=target, forward_args=forward_args, batch_size=batch_size,
        create_graph=create_graph, warn_tol=warn_tol, progress=progress,
    )  # fmt: skip
    check_image(p.inputs)
    k = int(nodes.alphas.shape[0])
    extras: dict[str, Any] = {
        "steps": k, "rule": rule, "max_sigma": float(max_sigma), "grad_step": grad_step,
        "idgi": idgi,
    }  # fmt: skip
    if p.empty:
        return p.empty_result("blur_integrated_gradients", extras)
    n, device = p.n, p.device
    path = BlurPath(p.inputs, float(max_sigma), grad_step)
    rows = torch.arange(n, device=device).repeat_interleave(k)
    alphas = torch.tensor(nodes.alphas, dtype=p.dtype, device=device).repeat(n)
    weights = torch.tensor(nodes.weights, dtype=p.dtype, device=device).repeat(n)
    with p.running():
        bsz = p.resolve_batch_size(path, rows, alphas)
        every = torch.arange(n, device=device)
        blurred = path.points(every, torch.zeros(n, dtype=p.dtype, device=device))
        output, base_output = p.forward_both(p.inputs, blurred, bsz)
        if idgi:
            sums, evals, any_gradient, forwards = idgi_on_rule(
                p, path, nodes.alphas, nodes.weights, output, base_output, batch_size=bsz,
                desc="blur IG (IDGI)",
            )  # fmt: skip
            extras["idgi_forward_passes"] = forwards
        else:
            result = p.integrate(path, rows, alphas, weights, batch_size=bsz, desc="blur IG")
            sums, evals, any_gradient = result.sums, result.evaluations, result.any_gradient
    hint = f"raise steps (now {k})" + ("" if grad_step is None else " or use grad_step=None")
    return finish(
        p, sums, output, base_output, method="blur_integrated_gradients", evaluations=evals,
        extras=extras, any_gradient=any_gradient, hint=hint,
    )  # fmt: skip
