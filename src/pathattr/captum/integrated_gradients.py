"""Captum's ``IntegratedGradients`` on :func:`pathattr.integrated_gradients`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
    quiet,
)
from pathattr.methods.integrated_gradients import integrated_gradients


class IntegratedGradients(Attribution):
    """Captum's ``IntegratedGradients`` interface, computed by pathattr's engine.

    ``IntegratedGradients(forward_func, multiply_by_inputs=True).attribute(inputs,
    baselines=None, target=None, additional_forward_args=None, n_steps=50,
    method="gausslegendre", internal_batch_size=None, return_convergence_delta=False)`` takes
    Captum's arguments and returns what Captum returns (a tensor or a tuple like ``inputs``, and
    with ``return_convergence_delta`` a ``(N,)`` delta Σ attributions − (F(x) − F(x')), also with
    ``multiply_by_inputs=False``).  Differences from Captum:

    * ``riemann_trapezoid`` uses correct trapezoid weights (they sum to 1), so it is exact on
      linear models; Captum's step sizes sum to 1 − 1/n (0.875 of F(x) − F(x') at n = 8).
      The other rules give Captum's numbers within float rounding.
    * ``internal_batch_size`` bounds rows (example × step pairs) per model call, as in Captum,
      but may also split one example's steps (Captum never goes below one step per example).
    * pathattr's own warnings (training mode, zero gradient, completeness) are silenced, as
      Captum raises none.
    """

    _delta = True

    def __init__(self, forward_func: Callable[..., Any], multiply_by_inputs: bool = True) -> None:
        """Wrap ``forward_func``; ``multiply_by_inputs=False`` gives the averaged gradient."""
        super().__init__(forward_func)
        self._multiply_by_inputs = multiply_by_inputs

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
    ) -> Any:
        """Integrated Gradients with Captum's arguments and return convention.

        Returns the attributions (same structure as ``inputs``), or ``(attributions, delta)``
        when ``return_convergence_delta`` is True; ``delta`` is computed exactly as
        :meth:`compute_convergence_delta` computes it.
        """
        was_tuple = isinstance(inputs, tuple)
        xs = as_inputs(inputs)
        bs = expand_baselines(baselines, xs)
        check_baselines(xs, bs)
        with quiet():
            res = integrated_gradients(
                self.forward_func,
                xs,
                baselines=bs,
                target=captum_target(target),
                steps=n_steps,
                rule=method,
                forward_args=forward_args(additional_forward_args),
                batch_size=internal_batch_size,
                warn_tol=0.0,
                multiply_by_inputs=self._multiply_by_inputs,
            )
        attrs = res.attributions
        assert isinstance(attrs, tuple)
        delta = None
        if return_convergence_delta:
            delta = self.compute_convergence_delta(
                attrs, bs, xs, target=target, additional_forward_args=additional_forward_args
            )
        return format_output(was_tuple, attrs, delta, return_convergence_delta)
