"""Captum's ``DeepLift`` on :func:`pathattr.deeplift` (the Rescale rule)."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pathattr.captum._common import (
    Attribution,
    Inputs,
    as_inputs,
    captum_api,
    captum_target,
    check_baselines,
    expand_baselines,
    format_output,
    forward_args,
    full_baselines,
    quiet,
)
from pathattr.methods.deeplift import deeplift

#: modules whose backward the facade replaces by Captum's rules (ReLU is pathattr's own)
_ELEMENTWISE = (nn.ELU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Softplus)
_POOLS: dict[type[nn.Module], tuple[Callable[..., Any], Callable[..., Any]]] = {
    nn.MaxPool1d: (F.max_pool1d, F.max_unpool1d),
    nn.MaxPool2d: (F.max_pool2d, F.max_unpool2d),
    nn.MaxPool3d: (F.max_pool3d, F.max_unpool3d),
}
_RULED = (*_ELEMENTWISE, nn.Softmax, *_POOLS)


class _ModuleRule(torch.autograd.Function):
    """``module(z)`` forward; backward: Captum's DeepLift rule for the module against its
    reference input ``z_ref`` and output ``out_ref`` (recorded at the baseline)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        z: torch.Tensor,
        out: torch.Tensor,
        z_ref: torch.Tensor,
        out_ref: torch.Tensor,
        module: nn.Module,
        eps: float,
    ) -> torch.Tensor:
        ctx.save_for_backward(z, out, z_ref, out_ref)
        ctx.module, ctx.eps = module, eps
        return out.clone()

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        z, out, z_ref, out_ref = ctx.saved_tensors
        module, eps = ctx.module, ctx.eps
        with torch.enable_grad():
            leaf = z.detach().requires_grad_(True)
            (true_grad,) = torch.autograd.grad(module.forward(leaf), leaf, g)
        d_in = z - z_ref
        safe = torch.where(d_in.abs() < eps, torch.ones_like(d_in), d_in)
        pools = _POOLS.get(type(module))
        if pools is not None:
            pool, unpool = pools
            args = (module.kernel_size, module.stride, module.padding)
            top = torch.max(out, out_ref)
            _, at_x = pool(z, *args, module.dilation, module.ceil_mode, True)
            _, at_ref = pool(z_ref, *args, module.dilation, module.ceil_mode, True)
            size = list(z.shape)
            moved = unpool(g * (top - out_ref), at_x, *args, size) + unpool(
                g * (out - top), at_ref, *args, size
            )
            grad = torch.where(d_in.abs() < eps, true_grad, moved / safe)
        else:
            grad = torch.where(d_in.abs() < eps, true_grad, g * (out - out_ref) / safe)
            if isinstance(module, nn.Softmax):
                grad = grad - grad.sum() / grad.numel()
        return grad, None, None, None, None, None


@contextlib.contextmanager
def _module_rules(model: Any, eps: float) -> Iterator[None]:
    """Captum's DeepLift rules on Sigmoid, Tanh, ELU, LeakyReLU, Softplus, Softmax, MaxPool.

    pathattr's :func:`~pathattr.methods.deeplift.deeplift` runs the model twice: at the
    baseline without gradients, then at the input with gradients.  A forward hook on each such
    module records its input and output in the first pass (one entry per call, so a module
    used twice is handled) and swaps in :class:`_ModuleRule` in the second.
    """
    if not isinstance(model, nn.Module):
        yield
        return
    refs: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}
    used: dict[int, int] = {}

    def hook(module: nn.Module, inputs: tuple[Any, ...], out: Any) -> Any:
        if not inputs or not isinstance(inputs[0], torch.Tensor):
            return None
        z = inputs[0]
        if not isinstance(out, torch.Tensor):
            return None
        if not torch.is_grad_enabled():
            refs.setdefault(id(module), []).append((z.detach().clone(), out.detach().clone()))
            return None
        i = used.get(id(module), 0)
        recorded = refs.get(id(module), [])
        if i >= len(recorded) or recorded[i][0].shape != z.shape:
            raise RuntimeError(
                f"model: {type(module).__name__} was called in a different order or shape at "
                "the input than at the baseline; DeepLift needs a fixed sequence of calls"
            )
        used[id(module)] = i + 1
        z_ref, out_ref = recorded[i]
        return _ModuleRule.apply(z, out.detach(), z_ref, out_ref, module, eps)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, _RULED)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


class DeepLift(Attribution):
    """Captum's ``DeepLift`` interface: DeepLift-Rescale multipliers on pathattr's method.

    ``DeepLift(model, multiply_by_inputs=True, eps=1e-10).attribute(inputs, baselines=None,
    target=None, additional_forward_args=None, return_convergence_delta=False,
    custom_attribution_func=None)``.  Returns (x − x') ⊙ m (``multiply_by_inputs=False``: the
    multipliers m; ``custom_attribution_func(m[, inputs[, baselines]])``: its result), and with
    ``return_convergence_delta`` the ``(N,)`` delta Σ attributions − (F(x) − F(x')).

    ReLUs get pathattr's Rescale rule; ``nn.Sigmoid``, ``nn.Tanh``, ``nn.ELU``, ``nn.LeakyReLU``,
    ``nn.Softplus`` (Rescale), ``nn.Softmax`` (Rescale minus the mean multiplier) and
    ``nn.MaxPool1d/2d/3d`` (Captum's max-pool rule) get Captum's rules through forward hooks
    around :func:`pathattr.deeplift` (:func:`_module_rules`).  Differences from Captum:

    * the ReLU rule also applies to functional calls (``F.relu``, ``torch.relu``), Captum's only
      to ``nn.ReLU`` modules;
    * a module called several times in one forward is handled (Captum raises RuntimeError);
    * adjacent hooked modules (``nn.ReLU`` feeding ``nn.MaxPool2d`` directly): Captum's ReLU
      hook captures the gradient before the max-pool rule rewrites it, which drops that rule
      and breaks summation-to-delta; here both rules chain and the delta stays ~0;
    * where a max-pool input equals its baseline, each example falls back to its own gradient
      (Captum's rule uses the first example's, ``grad_input[0]``, for all).

    Elsewhere the numbers are Captum's within float rounding.
    """

    _delta = True

    def __init__(
        self, model: torch.nn.Module, multiply_by_inputs: bool = True, eps: float = 1e-10
    ) -> None:
        """Wrap ``model``; ``eps``: below this |z − z'| a ReLU uses its gradient.

        ``forward_handles`` and ``backward_handles`` (Captum's hook bookkeeping) stay empty:
        the rule is applied without module hooks.
        """
        super().__init__(model)
        self.forward_handles: list[Any] = []
        self.backward_handles: list[Any] = []
        self.model = model
        self.eps = eps
        self._multiply_by_inputs = multiply_by_inputs

    def satisfies_attribute_criteria(self, module: torch.nn.Module) -> bool:
        """Whether DeepLift replaces ``module``'s backward pass (its supported nonlinearities)."""
        return isinstance(module, (nn.ReLU, *_RULED))

    @captum_api
    def attribute(
        self,
        inputs: Inputs,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        return_convergence_delta: bool = False,
        custom_attribution_func: Callable[..., tuple[torch.Tensor, ...]] | None = None,
    ) -> Any:
        """DeepLift attributions with Captum's arguments and return convention."""
        was_tuple = isinstance(inputs, tuple)
        xs = as_inputs(inputs)
        bs = expand_baselines(baselines, xs)
        check_baselines(xs, bs)
        multiply = self._multiply_by_inputs and custom_attribution_func is None
        with quiet(), _module_rules(self.forward_func, self.eps):
            res = deeplift(
                self.forward_func, xs, baselines=bs, target=captum_target(target), eps=self.eps,
                forward_args=forward_args(additional_forward_args), warn_tol=None,
                multiply_by_inputs=multiply,
            )  # fmt: skip
        attrs = res.attributions
        assert isinstance(attrs, tuple)
        if custom_attribution_func is not None:
            attrs = _call_custom(custom_attribution_func, attrs, xs, full_baselines(xs, bs))
        delta = None
        if return_convergence_delta:
            delta = self.compute_convergence_delta(
                attrs, bs, xs, target=target, additional_forward_args=additional_forward_args
            )
        return format_output(was_tuple, attrs, delta, return_convergence_delta)


def _call_custom(
    fn: Callable[..., Any],
    mults: tuple[torch.Tensor, ...],
    inputs: tuple[torch.Tensor, ...],
    baselines: tuple[torch.Tensor, ...],
) -> tuple[torch.Tensor, ...]:
    """Captum's custom attribution function, called with 1, 2 or 3 arguments as it takes."""
    n = len(inspect.signature(fn).parameters)
    assert n in (1, 2, 3), "custom_attribution_func must take 1, 2 or 3 arguments"
    out = fn(*(mults, inputs, baselines)[:n])
    return out if isinstance(out, tuple) else (out,)
