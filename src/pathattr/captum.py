"""A Captum-compatible facade: switch with one import.

    # from captum.attr import IntegratedGradients
    from pathattr.captum import IntegratedGradients

``IntegratedGradients(forward_func, multiply_by_inputs=True).attribute(inputs, baselines=None,
target=None, additional_forward_args=None, n_steps=50, method="gausslegendre",
internal_batch_size=None, return_convergence_delta=False)`` behaves like Captum's, computed by
pathattr's engine, with three differences worth knowing:

* ``riemann_trapezoid`` uses correct trapezoid weights (they sum to 1), so it is exact on linear
  models; Captum's step sizes sum to 1 − 1/n (0.875 of F(x) − F(x') at n = 8).
* ``internal_batch_size`` bounds rows across examples *and* steps, so it may go below one pass
  over the batch (Captum never splits examples).
* The convergence delta reuses the path's endpoint evaluations when the rule has them instead of
  two extra forward passes.  Its sign convention matches Captum: Σ attributions − (F(x) − F(x')).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from pathattr.engine.targets import TargetLike
from pathattr.engine.validate import BaselineLike
from pathattr.methods.integrated_gradients import integrated_gradients

__all__ = ["IntegratedGradients"]


class IntegratedGradients:
    """Captum's ``IntegratedGradients`` interface on pathattr's engine."""

    def __init__(self, forward_func: Callable[..., Any], multiply_by_inputs: bool = True) -> None:
        """Wrap ``forward_func`` (a model or any callable returning a batch-first output)."""
        self.forward_func = forward_func
        self.multiply_by_inputs = multiply_by_inputs

    @property
    def multiplies_by_inputs(self) -> bool:
        """Whether attributions are multiplied by (inputs − baselines), as in Captum."""
        return self.multiply_by_inputs

    def has_convergence_delta(self) -> bool:
        """IG has a convergence delta (Captum API)."""
        return True

    def attribute(
        self,
        inputs: torch.Tensor | tuple[torch.Tensor, ...],
        baselines: BaselineLike = None,
        target: TargetLike = None,
        additional_forward_args: Any = None,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: int | None = None,
        return_convergence_delta: bool = False,
    ) -> Any:
        """Integrated Gradients with Captum's arguments and return convention.

        Returns the attributions (same structure as ``inputs``), or ``(attributions, delta)``
        when ``return_convergence_delta`` is True.
        """
        fargs: tuple[Any, ...]
        if additional_forward_args is None:
            fargs = ()
        elif isinstance(additional_forward_args, tuple):
            fargs = additional_forward_args
        else:
            fargs = (additional_forward_args,)
        res = integrated_gradients(
            self.forward_func,
            inputs,
            baselines=baselines,
            target=target,
            steps=n_steps,
            rule=method,
            forward_args=fargs,
            batch_size=internal_batch_size,
            warn_tol=0.0,
            multiply_by_inputs=self.multiply_by_inputs,
        )
        if return_convergence_delta:
            return res.attributions, res.delta
        return res.attributions
