r"""Deletion and insertion curves (Petsiuk et al. 2018, RISE) and their area under the curve.

Features are ranked by their attribution (largest first).  For a fraction :math:`f` of the
:math:`G` features, the top :math:`k = \mathrm{round}(f G)` are

* **deletion**: replaced by the replacement value, starting from the input:
  :math:`s_{\mathrm{del}}(f) = F(x \odot (1 - m_k) + r \odot m_k)`;
* **insertion**: inserted into the replacement, starting from the replacement:
  :math:`s_{\mathrm{ins}}(f) = F(r \odot (1 - m_k) + x \odot m_k)`,

where :math:`m_k` marks the top-:math:`k` features and :math:`r` is the replacement (the
baseline, a blurred copy of the input, the input's mean, or a user tensor).  A faithful
attribution makes the deletion curve fall fast (low AUC) and the insertion curve rise fast
(high AUC).  The AUC is the trapezoid rule over the fractions, :math:`\int_0^1 s(f)\,df`.

For images ``(N, C, H, W)`` a feature is a pixel: the attributions of its channels are summed
and the whole pixel is removed or inserted (``feature_dims=(2, 3)``, the default for 4-D
inputs).  Every evaluated point is one row; rows of all examples and fractions are evaluated
``batch_size`` at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import torch
import torch.nn.functional as F

from pathattr.engine.core import expand_forward_args
from pathattr.engine.memory import forward_chunk_rows, resolve_metric_batch_size
from pathattr.engine.targets import TargetLike, make_selector
from pathattr.engine.validate import as_baselines, as_tuple, check_int_arg, warn_training_mode
from pathattr.metrics._common import (
    AttributionLike,
    attributions_tuple,
    check_feature_dims,
    expand_feature_mask,
    feature_scores,
    warn_constant_scores,
)

Replacement = Union[str, float, torch.Tensor]
REPLACEMENTS = ("baseline", "blur", "mean")


@dataclass
class Curve:
    """A deletion or insertion curve per example.

    Attributes:
        kind: ``"deletion"`` or ``"insertion"``.
        fractions: ``(K,)`` fractions of features removed (deletion) or inserted (insertion).
        scores: ``(N, K)`` selected model output at each fraction, per example.
        auc: ``(N,)`` trapezoid-rule area under each example's curve over the fractions.
        n_features: number of ranked features per example (pixels for images).
        replacement: a description of the replacement used.
    """

    kind: str
    fractions: torch.Tensor
    scores: torch.Tensor
    auc: torch.Tensor
    n_features: int
    replacement: str = "baseline"
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def mean(self) -> torch.Tensor:
        """The curve averaged over examples, ``(K,)``."""
        return self.scores.mean(0)

    @property
    def mean_auc(self) -> float:
        """The AUC averaged over examples."""
        return float(self.auc.mean())

    def to_dict(self) -> dict[str, Any]:
        """Plain Python lists and numbers (for JSON)."""
        return {
            "kind": self.kind,
            "fractions": self.fractions.tolist(),
            "scores": self.scores.tolist(),
            "auc": self.auc.tolist(),
            "mean_auc": self.mean_auc,
            "n_features": self.n_features,
            "replacement": self.replacement,
        }

    def __repr__(self) -> str:
        return (
            f"Curve(kind={self.kind}, examples={self.scores.shape[0]}, "
            f"points={self.fractions.numel()}, features={self.n_features}, "
            f"replacement={self.replacement}, mean_auc={self.mean_auc:.4g})"
        )


def auc(fractions: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Trapezoid-rule area under ``scores`` (``(..., K)``) over ``fractions`` (``(K,)``)."""
    f = fractions.to(device=scores.device, dtype=scores.dtype)  # scores may live on a GPU
    return torch.trapezoid(scores, f, dim=-1)


def deletion_curve(
    model: Callable[..., Any],
    inputs: torch.Tensor,
    attributions: AttributionLike,
    target: TargetLike = None,
    *,
    replacement: Replacement = "baseline",
    baselines: Any = None,
    steps: int | Sequence[float] = 20,
    feature_dims: Sequence[int] | None = None,
    blur_sigma: float = 5.0,
    forward_args: Any = (),
    batch_size: int | str | None = "auto",
) -> Curve:
    """Deletion curve: remove the most important features first and follow the output.

    Args:
        model: called as ``model(x, *forward_args)``; batch-first output.
        inputs: a batch-first float tensor ``(N, ...)``.
        attributions: same shape as ``inputs`` (a tensor or an :class:`Attribution`), finite
            (NaN or inf: a ValueError).  An example whose feature scores are all equal (e.g.
            all zero) gets a UserWarning: its features have no ranking, the order used
            (feature index) is arbitrary and so is its curve.
        target: as for :func:`pathattr.integrated_gradients` (None, int, one per example, or
            a callable on the output, e.g. a softmax probability).
        replacement: ``"baseline"`` (the ``baselines``, zeros by default), ``"blur"`` (a
            Gaussian blur of the input with ``blur_sigma`` over its spatial dims), ``"mean"``
            (the input's mean per example, per channel for images), a number or a tensor
            broadcastable to the inputs.
        baselines: the values used by ``replacement="baseline"``.
        steps: an int ``K`` for the fractions ``0, 1/K, ..., 1``, or increasing fractions in
            ``[0, 1]``.
        feature_dims: the input dims that index features; the others are summed (default:
            ``(2, 3)`` for 4-D images, i.e. pixels; every element otherwise).
        blur_sigma: standard deviation in elements of the blur replacement.
        forward_args: extra model arguments (tensors with the batch dim are expanded).
        batch_size: maximum rows per model call; None: all ``N × (K+1)`` at once; ``"auto"``
            (default): chunks sized like the engine's (memory, and on the CPU the cache
            budget, which makes them faster per row).

    Returns:
        A :class:`Curve` with ``kind="deletion"``.
    """
    return _curve("deletion", model, inputs, attributions, target, replacement, baselines,
                  steps, feature_dims, blur_sigma, forward_args, batch_size)  # fmt: skip


def insertion_curve(
    model: Callable[..., Any],
    inputs: torch.Tensor,
    attributions: AttributionLike,
    target: TargetLike = None,
    *,
    replacement: Replacement = "blur",
    baselines: Any = None,
    steps: int | Sequence[float] = 20,
    feature_dims: Sequence[int] | None = None,
    blur_sigma: float = 5.0,
    forward_args: Any = (),
    batch_size: int | str | None = "auto",
) -> Curve:
    """Insertion curve: start from the replacement and insert the most important features first.

    The arguments are those of :func:`deletion_curve`; the default replacement is ``"blur"``
    (as in RISE) because inserting into a black image makes any partial image out of
    distribution.  A faithful attribution gives a high AUC.
    """
    return _curve("insertion", model, inputs, attributions, target, replacement, baselines,
                  steps, feature_dims, blur_sigma, forward_args, batch_size)  # fmt: skip


def fractions_from_steps(steps: int | Sequence[float]) -> torch.Tensor:
    """``steps`` (an int or explicit fractions) as a float64 ``(K,)`` tensor of fractions."""
    if isinstance(steps, int) and not isinstance(steps, bool):
        k = check_int_arg(steps, "steps", 1)
        return torch.linspace(0.0, 1.0, k + 1, dtype=torch.float64)
    try:
        f = torch.as_tensor(steps, dtype=torch.float64).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(
            f"steps: expected an int >= 1 or a sequence of fractions, got {type(steps).__name__}"
        ) from None
    if f.numel() < 2 or bool((f < 0).any() | (f > 1).any()) or bool((f.diff() <= 0).any()):
        raise ValueError(
            "steps: expected at least two strictly increasing fractions in [0, 1], "
            f"got {f.tolist()}"
        )
    return f


def make_replacement(
    inputs: torch.Tensor,
    replacement: Replacement,
    baselines: Any = None,
    *,
    blur_sigma: float = 5.0,
) -> torch.Tensor:
    """The replacement values ``r`` (same shape as ``inputs``) used by the curves.

    ``"baseline"``: the baselines (zeros by default); ``"blur"``: Gaussian blur with
    ``blur_sigma`` over dims 2.. of 3-D/4-D inputs (dim 1 of 2-D inputs), replicate padding;
    ``"mean"``: the mean per example (and per channel for 3-D/4-D inputs); a number or tensor:
    broadcast to the inputs.
    """
    if isinstance(replacement, str):
        if replacement == "baseline":
            return as_baselines(baselines, (inputs,))[0]
        if replacement == "blur":
            if not (isinstance(blur_sigma, (int, float)) and blur_sigma > 0):
                raise ValueError(f"blur_sigma: expected a number > 0, got {blur_sigma!r}")
            return gaussian_blur(inputs, float(blur_sigma))
        if replacement == "mean":
            dims = tuple(range(2, inputs.dim())) if inputs.dim() >= 3 else (1,)
            return inputs.mean(dim=dims, keepdim=True).expand_as(inputs).contiguous()
        raise ValueError(
            f"replacement: expected one of {', '.join(REPLACEMENTS)}, a number or a tensor, "
            f"got {replacement!r}"
        )
    if isinstance(replacement, bool):
        raise TypeError("replacement: expected a string, a number or a tensor, got bool")
    return as_baselines(replacement, (inputs,), name="replacement")[0]


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur over the spatial dims (2.. for 3-D/4-D, 1 for 2-D inputs)."""
    radius = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = (kernel / kernel.sum()).reshape(1, 1, -1)
    dims = list(range(2, x.dim())) if x.dim() >= 3 else [1]
    out = x
    for d in dims:
        moved = out.movedim(d, -1)
        shape = moved.shape
        flat = moved.reshape(-1, 1, shape[-1])
        flat = F.pad(flat, (radius, radius), mode="replicate")
        out = F.conv1d(flat, kernel).reshape(shape).movedim(-1, d)
    return out.contiguous()


def feature_ranks(attributions: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """``(N, G)`` rank of each feature (0 = largest summed attribution)."""
    scores = feature_scores(attributions, dims)
    order = torch.argsort(scores, dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
    return ranks


def masked_inputs(
    kind: str,
    inputs: torch.Tensor,
    replacement: torch.Tensor,
    ranks: torch.Tensor,
    counts: torch.Tensor,
    rows: torch.Tensor,
    dims: tuple[int, ...],
) -> torch.Tensor:
    """The inputs of ``rows`` with the top ``counts`` features deleted or inserted."""
    top = ranks[rows] < counts[:, None]
    m = expand_feature_mask(top, inputs, dims)
    x, r = inputs[rows], replacement[rows]
    if kind == "deletion":
        return torch.where(m, r, x)
    return torch.where(m, x, r)


def _curve(
    kind: str,
    model: Callable[..., Any],
    inputs: torch.Tensor,
    attributions: AttributionLike,
    target: TargetLike,
    replacement: Replacement,
    baselines: Any,
    steps: int | Sequence[float],
    feature_dims: Sequence[int] | None,
    blur_sigma: float,
    forward_args: Any,
    batch_size: int | str | None,
) -> Curve:
    if isinstance(inputs, (tuple, list)):
        raise TypeError(
            "inputs: expected one batch-first tensor (the curves rank the features of one "
            f"input), got a {type(inputs).__name__} of {len(inputs)}"
        )
    (x,) = as_tuple(inputs, nonempty=True)
    (attr,) = attributions_tuple(attributions, (x,))
    dims = check_feature_dims(feature_dims, x)
    fractions = fractions_from_steps(steps)
    batch_size = resolve_metric_batch_size(batch_size)
    fargs = forward_args if isinstance(forward_args, tuple) else (forward_args,)
    n = x.shape[0]
    selector = make_selector(target, n)
    warn_training_mode(model)
    repl = make_replacement(x.detach(), replacement, baselines, blur_sigma=blur_sigma)
    # points at the caller of deletion_curve / insertion_curve, two frames above _curve
    warn_constant_scores(feature_scores(attr, dims), stacklevel=3)
    ranks = feature_ranks(attr, dims)
    g = ranks.shape[1]
    counts_per_step = torch.round(fractions * g).long().to(x.device)
    k = counts_per_step.numel()
    # row = (example, fraction), example-major
    ex_of_row = torch.arange(n, device=x.device).repeat_interleave(k)
    count_of_row = counts_per_step.repeat(n)
    total = n * k
    if batch_size == "auto":
        step = forward_chunk_rows(model, (x,), selector, total, forward_args=fargs) or total
    else:
        step = total if batch_size is None else int(batch_size)
    outs = []
    with torch.no_grad():
        for start in range(0, total, step):
            sl = slice(start, min(total, start + step))
            r = ex_of_row[sl]
            xi = masked_inputs(kind, x.detach(), repl, ranks, count_of_row[sl], r, dims)
            out = model(xi, *expand_forward_args(fargs, n, r))
            outs.append(selector(out, r).detach())
    scores = torch.cat(outs).reshape(n, k)
    label = replacement if isinstance(replacement, str) else "custom"
    return Curve(kind=kind, fractions=fractions, scores=scores, auc=auc(fractions, scores),
                 n_features=g, replacement=label)  # fmt: skip
