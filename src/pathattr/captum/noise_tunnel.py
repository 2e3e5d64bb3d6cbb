"""Captum's ``NoiseTunnel`` (SmoothGrad, SmoothGrad², VarGrad) around any attribution object."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pathattr.captum._common import Attribution, as_inputs, captum_api, format_output

NT_TYPES = ("smoothgrad", "smoothgrad_sq", "vargrad")


def _is_gradient_method(method: Any) -> bool:
    """pathattr's facades, and Captum's ``GradientAttribution`` subclasses (by name)."""
    if isinstance(method, Attribution):
        return True
    return any(c.__name__ == "GradientAttribution" for c in type(method).__mro__)


def _repeat_rows(t: Any, n: int) -> Any:
    """A tensor with a batch dimension repeated ``n`` times per row; anything else as is."""
    if isinstance(t, torch.Tensor) and t.dim() > 0:
        return t.repeat_interleave(n, dim=0)
    return t


def add_noise(
    k: int,
    xs: tuple[torch.Tensor, ...],
    stdevs: float | tuple[float, ...],
    requires_grad: bool,
) -> tuple[torch.Tensor, ...]:
    """``k`` noisy copies of every row (rows repeated in place), drawn as Captum draws."""
    if isinstance(stdevs, tuple):
        assert len(stdevs) == len(xs), (
            f"The number of input tensors in {len(xs)} must be equal to the number of "
            f"stdevs values {len(stdevs)}"
        )
        sds = stdevs
    else:
        assert isinstance(stdevs, float), f"stdevs must be type float. Given: {type(stdevs)}"
        sds = (stdevs,) * len(xs)
    out = []
    for x, sd in zip(xs, sds):
        shape = (x.shape[0] * k,) + tuple(x.shape[1:])
        noise = torch.normal(0, torch.tensor(sd, device=x.device).repeat(shape))
        noisy = x.repeat_interleave(k, dim=0) + noise
        out.append(noisy.requires_grad_() if requires_grad else noisy)
    return tuple(out)


def expand_arguments(
    k: int, kwargs: dict[str, Any], xs: tuple[torch.Tensor, ...], draw: bool
) -> dict[str, Any]:
    """Per-example arguments repeated ``k`` times per example (Captum's expansion)."""
    n = xs[0].shape[0]
    fargs = kwargs.get("additional_forward_args")
    if fargs is not None:
        fargs = fargs if isinstance(fargs, tuple) else (fargs,)
        kwargs["additional_forward_args"] = tuple(_repeat_rows(a, k) for a in fargs)
    if "target" in kwargs:
        t = kwargs["target"]
        if isinstance(t, list):
            kwargs["target"] = [v for v in t for _ in range(k)]
        elif isinstance(t, torch.Tensor) and t.numel() > 1:
            kwargs["target"] = t.repeat_interleave(k, dim=0)
    if "baselines" in kwargs:
        bs = kwargs["baselines"]
        if bs is None:
            bs = (0,) * len(xs)
        bs = bs if isinstance(bs, tuple) else (bs,)
        assert len(bs) == len(xs), (
            f"Input and baseline must have the same dimensions, {len(bs)} baselines for "
            f"{len(xs)} inputs"
        )
        if draw:
            bs = tuple(
                b[np.random.choice(b.shape[0], k * n).tolist()]
                if isinstance(b, torch.Tensor)
                else b
                for b in bs
            )
        else:
            bs = tuple(
                b.repeat_interleave(k, dim=0)
                if isinstance(b, torch.Tensor) and b.dim() > 0 and b.shape[0] == x.shape[0] > 1
                else b
                for x, b in zip(xs, bs)
            )
        kwargs["baselines"] = bs
    mask = kwargs.get("feature_mask")
    if mask is not None:
        masks = mask if isinstance(mask, tuple) else (mask,)
        kwargs["feature_mask"] = tuple(
            m.repeat_interleave(k, dim=0) if m.size(0) > 1 else m for m in masks
        )
    return kwargs


class NoiseTunnel(Attribution):
    """Captum's ``NoiseTunnel``: an attribution averaged over Gaussian-noised copies of inputs.

    ``NoiseTunnel(attribution_method).attribute(inputs, nt_type="smoothgrad", nt_samples=5,
    nt_samples_batch_size=None, stdevs=1.0, draw_baseline_from_distrib=False, **kwargs)``
    wraps any of :mod:`pathattr.captum`'s classes, and also Captum's own attribution objects.
    ``nt_type`` is ``"smoothgrad"`` (mean), ``"smoothgrad_sq"`` (mean of squares) or
    ``"vargrad"`` (variance); ``kwargs`` go to the wrapped ``attribute``.  With
    ``return_convergence_delta=True`` (for methods that have a delta) the delta has one entry
    per noisy sample, ``N · nt_samples``, ordered as in Captum.

    Batching: all ``N · nt_samples_batch_size`` noisy copies of a partition go to ONE call of
    the wrapped method (for pathattr's classes: one engine run, chunked by
    ``internal_batch_size`` where the method has it), so ``nt_samples`` costs
    ``ceil(nt_samples / nt_samples_batch_size)`` calls, not one per sample.

    Random numbers: the noise is drawn per partition and per input with ``torch.normal`` on the
    default generator, baselines (``draw_baseline_from_distrib``) with ``np.random.choice``,
    in Captum's order, so a seeded run gives Captum's numbers.

    Difference from Captum: ``compute_convergence_delta`` exists (Σ attributions − (F(x) −
    F(x')) on the forward function); Captum's ``NoiseTunnel`` has none.
    """

    def __init__(self, attribution_method: Any) -> None:
        """Wrap ``attribution_method`` (an object with ``attribute`` and ``forward_func``)."""
        self.attribution_method = attribution_method
        self.is_delta_supported = bool(attribution_method.has_convergence_delta())
        self._multiply_by_inputs = bool(attribution_method.multiplies_by_inputs)
        self.is_gradient_method = _is_gradient_method(attribution_method)
        super().__init__(attribution_method.forward_func)

    def has_convergence_delta(self) -> bool:
        """Whether the wrapped method has a convergence delta."""
        return self.is_delta_supported

    @captum_api
    def attribute(
        self,
        inputs: torch.Tensor | tuple[torch.Tensor, ...],
        nt_type: str = "smoothgrad",
        nt_samples: int = 5,
        nt_samples_batch_size: int | None = None,
        stdevs: float | tuple[float, ...] = 1.0,
        draw_baseline_from_distrib: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Attributions of the wrapped method smoothed over ``nt_samples`` noisy copies.

        Returns a tensor or a tuple like ``inputs`` (as the wrapped method returns), and with
        ``return_convergence_delta=True`` also the ``(N · nt_samples,)`` delta.
        """
        return_delta = bool(kwargs.get("return_convergence_delta", False))
        if nt_type not in NT_TYPES:
            raise AssertionError(
                f"Noise types must be either `smoothgrad`, `smoothgrad_sq` or `vargrad`. "
                f"Given {nt_type}"
            )
        with torch.no_grad():
            per_call = (
                nt_samples
                if nt_samples_batch_size is None
                else min(nt_samples, nt_samples_batch_size)
            )
            full_calls = nt_samples // per_call
            was_tuple = isinstance(inputs, tuple)
            xs = as_inputs(inputs)
            sums: list[torch.Tensor | None] = []
            sums_sq: list[torch.Tensor | None] = []
            deltas: list[torch.Tensor] = []
            attrs_tuple = was_tuple
            plan = [per_call] * full_calls
            if nt_samples - full_calls * per_call > 0:
                plan.append(nt_samples - full_calls * per_call)
            expanded: dict[str, Any] = {}
            for i, k in enumerate(plan):
                if i == 0 or k != plan[0]:
                    # like Captum: expanded once for the full partitions, again for the rest
                    expanded = expand_arguments(k, dict(kwargs), xs, draw_baseline_from_distrib)
                noisy = add_noise(k, xs, stdevs, self.is_gradient_method)
                attrs, attrs_tuple, delta = self._partial(noisy, expanded, was_tuple, return_delta)
                if not sums:
                    sums = [None] * len(attrs)
                    sums_sq = [None] * len(attrs)
                for j, a in enumerate(attrs):
                    shaped = a.view((a.shape[0] // k, k) + tuple(a.shape[1:]))
                    s = shaped.sum(dim=1)
                    sq = torch.sum(torch.pow(shaped, 2), dim=1)
                    prev, prev_sq = sums[j], sums_sq[j]
                    sums[j] = s if prev is None else prev + s
                    sums_sq[j] = sq if prev_sq is None else prev_sq + sq
                if self.is_delta_supported and return_delta and delta is not None:
                    deltas.append(delta)
            mean = tuple(s * 1 / nt_samples for s in sums if s is not None)
            mean_sq = tuple(s * 1 / nt_samples for s in sums_sq if s is not None)
            if nt_type == "smoothgrad":
                out = mean
            elif nt_type == "smoothgrad_sq":
                out = mean_sq
            else:
                out = tuple(m2 - m * m for m, m2 in zip(mean, mean_sq))
            delta_all = (
                torch.cat(deltas, dim=0) if self.is_delta_supported and return_delta else None
            )
        return format_output(attrs_tuple, out, delta_all, self.is_delta_supported and return_delta)

    def _partial(
        self,
        noisy: tuple[torch.Tensor, ...],
        kwargs: dict[str, Any],
        was_tuple: bool,
        return_delta: bool,
    ) -> tuple[tuple[torch.Tensor, ...], bool, torch.Tensor | None]:
        """One call of the wrapped method on all noisy copies of a partition."""
        fn = self.attribution_method.attribute
        arg = noisy if was_tuple else noisy[0]
        inner = getattr(fn, "__wrapped__", None)
        result = (
            inner(self.attribution_method, arg, **kwargs)
            if inner is not None
            else fn(arg, **kwargs)
        )
        delta = None
        if self.is_delta_supported and return_delta:
            result, delta = result
        attrs_tuple = isinstance(result, tuple)
        attrs = result if isinstance(result, tuple) else (result,)
        return attrs, attrs_tuple, delta
