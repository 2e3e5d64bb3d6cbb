"""Captum's ``LayerIntegratedGradients`` on :func:`pathattr.layer_integrated_gradients`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from pathattr.captum._common import (
    Attribution,
    Inputs,
    as_inputs,
    captum_api,
    captum_target,
    check_baselines,
    expand_baselines,
    forward_args,
    full_baselines,
    quiet,
)
from pathattr.captum.integrated_gradients import IntegratedGradients
from pathattr.methods.layer_integrated_gradients import layer_integrated_gradients


class LayerIntegratedGradients(Attribution):
    """Captum's ``LayerIntegratedGradients`` interface, computed by pathattr's engine.

    ``LayerIntegratedGradients(forward_func, layer, device_ids=None, multiply_by_inputs=True)
    .attribute(inputs, baselines=None, target=None, additional_forward_args=None, n_steps=50,
    method="gausslegendre", internal_batch_size=None, return_convergence_delta=False,
    attribute_to_layer_input=False, grad_kwargs=None)`` returns what Captum returns: the layer
    attributions (a tensor, or a tuple for a layer with several outputs; a list for a list of
    layers) and, with ``return_convergence_delta``, Captum's delta Σ attributions −
    (F(x) − F(x')) in input space.  Differences from Captum:

    * the prefix below the layer is not recomputed at every step where the model can be split
      (``nn.Sequential``) or the layer sits in a block stack of ``forward_func`` (when
      ``forward_func`` is the ``nn.Module``); same numbers, less time;
    * ``riemann_trapezoid`` uses correct trapezoid weights, as in pathattr's
      ``IntegratedGradients``;
    * ``device_ids`` (DataParallel) is accepted for compatibility; of ``grad_kwargs`` only
      ``materialize_grads`` (what the engine always does) is accepted, anything else is an
      error, since the engine computes its own gradients.
    """

    _delta = True

    def __init__(
        self,
        forward_func: Callable[..., Any],
        layer: nn.Module | list[nn.Module],
        device_ids: list[int] | None = None,
        multiply_by_inputs: bool = True,
    ) -> None:
        """Wrap ``forward_func`` and the ``layer`` (or list of layers) to attribute to."""
        super().__init__(forward_func)
        self.layer = layer
        self.device_ids = device_ids
        self._multiply_by_inputs = multiply_by_inputs
        #: the input-space IG object Captum keeps alongside (for code that reads ``lig.ig``)
        self.ig = IntegratedGradients(forward_func, multiply_by_inputs)

    @staticmethod
    def interpolate(
        layer_attribution: torch.Tensor,
        interpolate_dims: int | tuple[int, ...],
        interpolate_mode: str = "nearest",
    ) -> torch.Tensor:
        """Upsample layer attributions to ``interpolate_dims`` (Captum's helper, e.g. to the
        input's height and width for a conv layer)."""
        return torch.nn.functional.interpolate(
            layer_attribution, interpolate_dims, mode=interpolate_mode
        )

    @captum_api
    def attribute(
        self,
        inputs: Inputs,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: int | None = None,
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = False,
        grad_kwargs: dict[str, Any] | None = None,
    ) -> Any:
        """Layer Integrated Gradients with Captum's arguments and return convention."""
        # the engine always materialises the gradient of an unused value as zeros
        unsupported = sorted(set(grad_kwargs or {}) - {"materialize_grads"})
        if unsupported:
            raise ValueError(
                "grad_kwargs: pathattr's engine computes its own gradients (unused values get "
                f"zeros, as with materialize_grads=True); got unsupported keys {unsupported}"
            )
        xs = as_inputs(inputs)
        bs = expand_baselines(baselines, xs)
        check_baselines(xs, bs)
        with quiet():
            res = layer_integrated_gradients(
                self.forward_func,
                self.layer,
                xs,
                baselines=full_baselines(xs, bs),
                target=captum_target(target),
                steps=n_steps,
                rule=method,
                forward_args=forward_args(additional_forward_args),
                batch_size=internal_batch_size,
                warn_tol=0.0,
                multiply_by_inputs=self._multiply_by_inputs,
                attribute_to="input" if attribute_to_layer_input else "output",
            )
        attrs = res.attributions
        if not return_convergence_delta:
            return attrs
        flat = _flatten(attrs)
        delta = self.compute_convergence_delta(
            flat, bs, xs, target=target, additional_forward_args=additional_forward_args
        )
        return attrs, delta


def _flatten(value: Any) -> tuple[torch.Tensor, ...]:
    if isinstance(value, torch.Tensor):
        return (value,)
    return tuple(t for v in value for t in _flatten(v))
