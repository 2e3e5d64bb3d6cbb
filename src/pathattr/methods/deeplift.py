r"""DeepLift with the Rescale rule (Shrikumar, Greenside, Kundaje 2017), for ReLU networks.

Each ReLU y = max(z, 0) back-propagates the *multiplier* of its finite difference against the
same unit's pre-activation z' at the baseline instead of its derivative:

.. math::

    m = \frac{\mathrm{ReLU}(z) - \mathrm{ReLU}(z')}{z - z'}
    \quad(\text{the gradient } [z > 0] \text{ where } |z - z'| \le \varepsilon),

linear layers (Linear, Conv, Flatten, sums) pass multipliers by the chain rule, and the
attribution is :math:`\phi_i = (x_i - x'_i)\, m_{x_i \to F}`.  For networks of linear layers and
ReLUs, Σφ = F(x) − F(x') (summation-to-delta).  Other nonlinearities (max-pooling, sigmoid, ...)
back-propagate their plain gradient, so there completeness is only approximate and the residual
is reported and warned about.

It works on any module graph whose ReLUs are ``nn.ReLU``, ``F.relu``, ``torch.relu`` or
``Tensor.relu`` calls: one forward at the baseline records every ReLU's pre-activation in call
order, then a forward at the input swaps each ReLU for the rescale rule (the same scheme Captum
uses with hooks).  The multipliers are discrete gradients, which do not obey the chain rule:
DeepLift breaks Implementation Invariance.  On the IG paper's networks f and g (App. B) at
x = (3, 1), x' = 0 it gives (1.5, −0.5) and (2, −1) although f ≡ g.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from pathattr.engine.core import expand_forward_args
from pathattr.engine.targets import TargetLike
from pathattr.engine.validate import BaselineLike
from pathattr.methods.backprop_rules import patched_relu, warn_no_relu
from pathattr.methods.gradients import Inputs, finish, gradient, prepare
from pathattr.result import Attribution


class _RescaleReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, z: torch.Tensor, z_ref: torch.Tensor, eps: float) -> torch.Tensor:
        ctx.save_for_backward(z, z_ref)
        ctx.eps = eps
        return z.clamp_min(0)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        z, z_ref = ctx.saved_tensors
        dz = z - z_ref
        close = dz.abs() <= ctx.eps
        # where z ≈ z' the secant is 0/0: fall back to the derivative, as Captum does
        secant = (z.clamp_min(0) - z_ref.clamp_min(0)) / torch.where(close, torch.ones_like(dz), dz)
        mult = torch.where(close, (z > 0).to(z.dtype), secant)
        return grad * mult, None, None


def deeplift(
    model: Callable[..., Any],
    inputs: Inputs,
    *,
    baselines: BaselineLike = None,
    target: TargetLike = None,
    eps: float = 1e-10,
    forward_args: Any = (),
    warn_tol: float | None = 0.05,
    multiply_by_inputs: bool = True,
) -> Attribution:
    r"""DeepLift-Rescale attributions :math:`(x - x') \odot m` (see the module docstring).

    Args:
        model: callable whose ReLUs are ``nn.ReLU`` / ``F.relu`` / ``torch.relu`` calls and whose
            forward calls them in the same order and shapes for every input.
        inputs: a batch-first float tensor or a tuple of them.
        baselines: the reference x' (None: zeros), as in :func:`pathattr.integrated_gradients`.
        target: which output to explain.
        eps: below this |z − z'| a ReLU uses its gradient instead of the secant.
        forward_args: extra model arguments.
        warn_tol: warn when the relative completeness error exceeds this (None: never); it is
            exact for Linear/Conv/ReLU networks, approximate with other nonlinearities.
        multiply_by_inputs: False returns the multipliers m themselves (Captum's
            ``multiply_by_inputs=False``); completeness is then not defined and ``delta`` is NaN.

    Returns:
        An :class:`~pathattr.result.Attribution`.
    """
    p = prepare(
        model, inputs, baselines=baselines, target=target, forward_args=forward_args,
        warn_tol=warn_tol,
    )  # fmt: skip
    if p.empty:
        return p.empty_result("deeplift")
    assert p.baselines is not None
    refs: list[torch.Tensor] = []

    def record(z: torch.Tensor) -> torch.Tensor:
        refs.append(z.detach())
        return z.clamp_min(0)

    rows = torch.arange(p.n, device=p.inputs[0].device)
    with p.running(), torch.no_grad(), patched_relu(record):
        model(*p.baselines, *expand_forward_args(p.forward_args, p.n, rows))
    if not refs:
        warn_no_relu("deeplift")
    calls = iter(range(len(refs)))

    def rescale(z: torch.Tensor) -> torch.Tensor:
        i = next(calls, None)
        if i is None or refs[i].shape != z.shape:
            raise RuntimeError(
                "model: the forward at the input called ReLU in a different order or shape than "
                "at the baseline (call "
                f"{len(refs) if i is None else i}); DeepLift needs a fixed sequence of ReLU calls"
            )
        return _RescaleReLU.apply(z, refs[i], eps)  # type: ignore[no-any-return]

    with p.running(), patched_relu(rescale):
        mults, out = gradient(model, p)
    if not multiply_by_inputs:
        res = finish(model, p, mults, out, "deeplift", extras={"relus": len(refs)})
        res.delta = torch.full_like(res.delta, float("nan"))
        res.relative_delta = res.delta.clone()
        return res
    attrs = tuple(m * (x - b) for m, x, b in zip(mults, p.inputs, p.baselines))
    with p.running():
        return finish(
            model, p, attrs, out, "deeplift", extras={"relus": len(refs)}, complete=True,
            hint="the model has nonlinearities other than ReLU",
        )  # fmt: skip
