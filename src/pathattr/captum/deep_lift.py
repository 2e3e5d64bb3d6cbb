"""Captum's ``DeepLift`` on :func:`pathattr.deeplift` (the Rescale rule)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch

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


class DeepLift(Attribution):
    """Captum's ``DeepLift`` interface: DeepLift-Rescale multipliers on pathattr's method.

    ``DeepLift(model, multiply_by_inputs=True, eps=1e-10).attribute(inputs, baselines=None,
    target=None, additional_forward_args=None, return_convergence_delta=False,
    custom_attribution_func=None)``.  Returns (x − x') ⊙ m (``multiply_by_inputs=False``: the
    multipliers m; ``custom_attribution_func(m[, inputs[, baselines]])``: its result), and with
    ``return_convergence_delta`` the ``(N,)`` delta Σ attributions − (F(x) − F(x')).

    Differences from Captum: the Rescale rule is applied to ReLUs (``nn.ReLU`` modules and
    functional calls alike); other nonlinearities (Sigmoid, Tanh, ELU, Softmax, max-pooling)
    back-propagate their plain gradient where Captum applies its Rescale / max-pool rules, so on
    models with them the numbers differ and the delta is not ~0.  On Linear/Conv/ReLU networks
    the numbers are Captum's.
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
        """Whether DeepLift changes ``module``'s backward pass (here: ReLU modules)."""
        return isinstance(module, torch.nn.ReLU)

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
        with quiet():
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
