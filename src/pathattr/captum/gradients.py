"""Captum's single-gradient classes on pathattr's methods.

``Saliency``, ``InputXGradient``, ``GuidedBackprop`` and ``Deconvolution`` each take one
forward-backward pass over the batch (as Captum), plus the forward pass at the baselines that
pathattr's methods report ``F(x')`` from, through
:func:`pathattr.saliency`, :func:`pathattr.input_x_gradient`, :func:`pathattr.guided_backprop`
and :func:`pathattr.deconvnet`.  None has a convergence delta.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from pathattr.captum._common import (
    Attribution,
    Inputs,
    as_inputs,
    captum_api,
    captum_target,
    format_output,
    forward_args,
    quiet,
)
from pathattr.methods.backprop_rules import deconvnet, guided_backprop
from pathattr.methods.gradients import input_x_gradient, saliency


class Saliency(Attribution):
    """Captum's ``Saliency``: the gradient of the target output, absolute by default.

    ``Saliency(forward_func).attribute(inputs, target=None, abs=True,
    additional_forward_args=None)`` returns |∂F/∂x| (``abs=False``: the signed gradient), a
    tensor or a tuple like ``inputs``; the same numbers as Captum.
    """

    def __init__(self, forward_func: Callable[..., Any]) -> None:
        """Wrap ``forward_func`` (a model or any callable with a batch-first output)."""
        super().__init__(forward_func)

    @captum_api
    def attribute(
        self,
        inputs: Inputs,
        target: Any = None,
        abs: bool = True,
        additional_forward_args: Any = None,
    ) -> Any:
        """The (absolute) gradient of the target output with respect to each input."""
        xs = as_inputs(inputs)
        with quiet():
            res = saliency(
                self.forward_func, xs, target=captum_target(target), absolute=abs,
                forward_args=forward_args(additional_forward_args), batch_size=None,
            )  # fmt: skip
        assert isinstance(res.attributions, tuple)
        return format_output(isinstance(inputs, tuple), res.attributions)


class InputXGradient(Attribution):
    """Captum's ``InputXGradient``: input × gradient of the target output.

    ``InputXGradient(forward_func).attribute(inputs, target=None,
    additional_forward_args=None)``; the same numbers as Captum.
    """

    _multiply_by_inputs = True

    def __init__(self, forward_func: Callable[..., Any]) -> None:
        """Wrap ``forward_func`` (a model or any callable with a batch-first output)."""
        super().__init__(forward_func)

    @captum_api
    def attribute(
        self, inputs: Inputs, target: Any = None, additional_forward_args: Any = None
    ) -> Any:
        """x ⊙ ∂F/∂x for each input."""
        xs = as_inputs(inputs)
        with quiet():
            res = input_x_gradient(
                self.forward_func, xs, target=captum_target(target),
                forward_args=forward_args(additional_forward_args), batch_size=None,
            )  # fmt: skip
        assert isinstance(res.attributions, tuple)
        return format_output(isinstance(inputs, tuple), res.attributions)


class _ModifiedReLU(Attribution):
    """Shared by :class:`GuidedBackprop` and :class:`Deconvolution` (a ReLU backward rule)."""

    _method: Callable[..., Any]
    _use_relu_grad_output = False

    def __init__(self, model: torch.nn.Module) -> None:
        """Wrap ``model``, an ``nn.Module`` (as Captum requires).

        ``use_relu_grad_output`` tells the rule as in Captum (True: DeconvNet);
        ``backward_hooks`` stays empty: the rule is applied without module hooks.
        """
        assert isinstance(model, torch.nn.Module), (
            "Given model must be an instance of torch.nn.Module to properly hook ReLU layers."
        )
        super().__init__(model)
        self.model = model
        self.use_relu_grad_output = self._use_relu_grad_output
        self.backward_hooks: list[Any] = []

    @captum_api
    def attribute(
        self, inputs: Inputs, target: Any = None, additional_forward_args: Any = None
    ) -> Any:
        """The gradient with the modified ReLU backward rule, for each input."""
        xs = as_inputs(inputs)
        method = type(self)._method
        with quiet():
            res = method(
                self.forward_func, xs, target=captum_target(target),
                forward_args=forward_args(additional_forward_args), batch_size=None,
            )  # fmt: skip
        assert isinstance(res.attributions, tuple)
        return format_output(isinstance(inputs, tuple), res.attributions)


class GuidedBackprop(_ModifiedReLU):
    """Captum's ``GuidedBackprop``: ReLUs back-propagate max(g, 0)·[z > 0].

    ``GuidedBackprop(model).attribute(inputs, target=None, additional_forward_args=None)``.
    Difference from Captum: the rule applies to every ReLU call (``nn.ReLU``, ``F.relu``,
    ``torch.relu``, ``Tensor.relu``), Captum's only to ``nn.ReLU`` modules; on models whose
    ReLUs are modules the numbers are Captum's.
    """

    _method = staticmethod(guided_backprop)


class Deconvolution(_ModifiedReLU):
    """Captum's ``Deconvolution`` (DeconvNet): ReLUs back-propagate max(g, 0).

    ``Deconvolution(model).attribute(inputs, target=None, additional_forward_args=None)``.
    Difference from Captum: as for :class:`GuidedBackprop`, every ReLU call gets the rule.
    """

    _method = staticmethod(deconvnet)
    _use_relu_grad_output = True
