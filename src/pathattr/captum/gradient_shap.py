"""Captum's ``GradientShap`` on pathattr's Expected-Gradients path (:class:`ReferencePath`)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
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
from pathattr.captum.noise_tunnel import add_noise, expand_arguments
from pathattr.engine.core import integrate
from pathattr.engine.targets import make_selector
from pathattr.paths.references import ReferencePath


class _GradientAtReference(ReferencePath):
    """The reference path with γ' replaced by 1: the engine then returns the plain gradient."""

    def derivatives(
        self, rows: torch.Tensor, alphas: torch.Tensor, keys: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """Ones shaped like the rows' points."""
        return tuple(torch.ones_like(x[rows.to(x.device)]) for x in self.inputs)


class GradientShap(Attribution):
    """Captum's ``GradientShap``: Expected Gradients with one random α per sample, on noisy inputs.

    ``GradientShap(forward_func, multiply_by_inputs=True).attribute(inputs, baselines,
    n_samples=5, stdevs=0.0, target=None, additional_forward_args=None,
    return_convergence_delta=False)``.  For each example, ``n_samples`` times: draw a
    baseline row from ``baselines`` (a tensor or tuple of reference rows, or a callable
    returning them, called with ``inputs`` when it takes an argument), add N(0, stdevs²) noise
    to the input, draw α ~ U(0, 1), and take (x̃ − x') ⊙ ∇F(x' + α (x̃ − x')); the attribution
    is the mean over samples.  The delta (``return_convergence_delta``) has one entry per
    sample, ``N · n_samples``: Σ attributions − (F(x̃) − F(x')).

    All ``N · n_samples`` (reference, α) rows go through pathattr's engine as Expected
    Gradients' :class:`~pathattr.paths.references.ReferencePath` in one model call.  Random
    numbers are consumed as Captum consumes them (``np.random.choice`` per baseline tensor,
    ``torch.normal`` per input, ``np.random.uniform`` for α), so seeding ``np.random`` and
    ``torch`` gives Captum's numbers (within float rounding: the path point is computed as
    x' + α (x̃ − x') instead of α x̃ + (1 − α) x').
    """

    _delta = True

    def __init__(self, forward_func: Callable[..., Any], multiply_by_inputs: bool = True) -> None:
        """Wrap ``forward_func``; ``multiply_by_inputs=False`` averages gradients only."""
        super().__init__(forward_func)
        self._multiply_by_inputs = multiply_by_inputs

    @captum_api
    def attribute(
        self,
        inputs: Inputs,
        baselines: Any,
        n_samples: int = 5,
        stdevs: float | tuple[float, ...] = 0.0,
        target: Any = None,
        additional_forward_args: Any = None,
        return_convergence_delta: bool = False,
    ) -> Any:
        """GradientShap attributions (and the per-sample delta when asked)."""
        if callable(baselines) and not isinstance(baselines, torch.Tensor):
            takes_inputs = len(inspect.signature(baselines).parameters) > 0
            baselines = baselines(inputs) if takes_inputs else baselines()
        refs = baselines if isinstance(baselines, tuple) else (baselines,)
        assert isinstance(refs[0], torch.Tensor), (
            f"Baselines distribution has to be provided in a form of a torch.Tensor {refs[0]}."
        )
        was_tuple = isinstance(inputs, tuple)
        xs = as_inputs(inputs)
        k = n_samples
        # Captum's order of random draws: baseline indices, then noise, then α
        expanded = expand_arguments(
            k,
            {
                "baselines": refs,
                "target": target,
                "additional_forward_args": additional_forward_args,
            },
            xs,
            draw=True,
        )
        with torch.no_grad():
            noisy = add_noise(k, xs, stdevs, requires_grad=False)
        drawn = tuple(
            b.to(device=x.device, dtype=x.dtype).expand_as(x)
            if isinstance(b, torch.Tensor)
            else torch.full_like(x, float(b))
            for x, b in zip(noisy, expanded["baselines"])
        )
        rows = torch.arange(noisy[0].shape[0], device=noisy[0].device)
        alphas = torch.tensor(
            np.random.uniform(0.0, 1.0, noisy[0].shape[0]), device=rows.device,
            dtype=noisy[0].dtype,
        )  # fmt: skip
        path_cls = ReferencePath if self._multiply_by_inputs else _GradientAtReference
        path = path_cls(noisy, drawn)
        n_rows = int(rows.shape[0])
        fargs = forward_args(expanded["additional_forward_args"])
        with quiet():
            res = integrate(
                self.forward_func, path, make_selector(captum_target(expanded["target"]), n_rows),
                rows, alphas, torch.ones_like(alphas), n_examples=n_rows, forward_args=fargs,
                keys=rows,
            )  # fmt: skip
        delta = None
        if return_convergence_delta:
            delta = self.compute_convergence_delta(
                res.sums, drawn, noisy, target=expanded["target"],
                additional_forward_args=expanded["additional_forward_args"],
            )  # fmt: skip
        attrs = tuple(
            s.view((s.shape[0] // k, k) + tuple(s.shape[1:])).sum(dim=1) * 1 / k for s in res.sums
        )
        return format_output(was_tuple, attrs, delta, return_convergence_delta)
