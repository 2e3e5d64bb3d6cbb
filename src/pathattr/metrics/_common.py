"""Input checks and feature grouping shared by the metrics."""

from __future__ import annotations

import operator
import warnings
from collections.abc import Sequence
from typing import Any, Union

import torch

from pathattr.result import Attribution

AttributionLike = Union[torch.Tensor, tuple[torch.Tensor, ...], Attribution]


def attributions_tuple(
    attributions: Any, inputs: tuple[torch.Tensor, ...], name: str = "attributions"
) -> tuple[torch.Tensor, ...]:
    """Attributions (a tensor, a tuple or an :class:`Attribution`) checked against the inputs.

    Raises a ValueError naming ``name`` for a wrong count or shape, and for NaN or infinite
    values: a NaN sorts arbitrarily and poisons every score computed from it.
    """
    if isinstance(attributions, Attribution):
        attributions = attributions.attributions
    tup = tuple(attributions) if isinstance(attributions, (tuple, list)) else (attributions,)
    if len(tup) != len(inputs):
        raise ValueError(f"{name}: expected {len(inputs)} tensor(s), one per input, got {len(tup)}")
    out = []
    for i, (a, x) in enumerate(zip(tup, inputs)):
        label = name if len(tup) == 1 else f"{name}[{i}]"
        if not isinstance(a, torch.Tensor):
            raise TypeError(f"{label}: expected a torch.Tensor, got {type(a).__name__}")
        if a.shape != x.shape:
            raise ValueError(
                f"{label}: expected the input's shape {tuple(x.shape)}, got {tuple(a.shape)}"
            )
        check_finite(a, label)
        out.append(a.detach().to(device=x.device, dtype=x.dtype))
    return tuple(out)


def check_finite(t: torch.Tensor, name: str) -> None:
    """A ValueError naming ``name`` when ``t`` holds NaN or infinite values."""
    finite = torch.isfinite(t.detach())
    if not bool(finite.all()):
        nan = int(t.detach().isnan().sum())
        inf = int((~finite).sum()) - nan
        raise ValueError(
            f"{name}: expected finite values, got {nan} NaN and {inf} inf of {t.numel()} "
            f"(shape {tuple(t.shape)})"
        )


def warn_constant_scores(
    scores: torch.Tensor, name: str = "attributions", stacklevel: int = 2
) -> None:
    """Warn when an example's feature scores ``(N, G)`` are all equal (e.g. all zero).

    Ranking such an example's features is arbitrary (the stable sort keeps the feature order),
    so a curve or a correlation computed from the ranking says nothing about the attributions.
    """
    if scores.shape[1] < 2:
        return
    constant = (scores == scores[:, :1]).all(1)
    if bool(constant.any()):
        rows = constant.nonzero().reshape(-1).tolist()
        zero = bool((scores[constant] == 0).all())
        what = "all zero" if zero else "all equal"
        shown = rows[:10] + (["..."] if len(rows) > 10 else [])
        warnings.warn(
            f"{name}: the feature scores of {len(rows)} example(s) (rows {shown}) are {what}: "
            "their features have no ranking, the order used (feature index) is arbitrary and "
            "the result for them says nothing about the attributions",
            UserWarning,
            stacklevel=stacklevel + 1,
        )


def default_feature_dims(x: torch.Tensor) -> tuple[int, ...]:
    """Images ``(N, C, H, W)`` are grouped per pixel; anything else per element."""
    if x.dim() == 4:
        return (2, 3)
    return tuple(range(1, x.dim()))


def check_feature_dims(feature_dims: Sequence[int] | None, x: torch.Tensor) -> tuple[int, ...]:
    """``feature_dims`` as sorted dims in ``1..x.dim()-1`` (default: by input rank)."""
    if feature_dims is None:
        return default_feature_dims(x)
    try:
        ints = [operator.index(d) for d in feature_dims]  # ints, NumPy ints; not floats
    except TypeError:
        ints = None
    if ints is None or any(isinstance(d, bool) for d in feature_dims):
        raise TypeError(f"feature_dims: expected a sequence of ints, got {feature_dims!r}")
    # out-of-range dims used to wrap around (5 % 4 = 1 for a 4-D input): a silent wrong grouping
    bad = [d for d in ints if not -x.dim() <= d < x.dim()]
    if bad:
        raise ValueError(
            f"feature_dims: expected dims of the {x.dim()}-D inputs (shape {tuple(x.shape)}) "
            f"in 1 .. {x.dim() - 1} (or negative), got {tuple(ints)}"
        )
    dims = tuple(sorted({d % x.dim() for d in ints}))
    if not dims or 0 in dims:
        raise ValueError(
            "feature_dims: expected non-batch dimensions (1 .. "
            f"{x.dim() - 1}) of the inputs, got {tuple(feature_dims)}"
        )
    return dims


def feature_scores(attr: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """Attributions summed over the dims that are not feature dims: ``(N, G)`` scores.

    Summing (not summing magnitudes) keeps the sign: a pixel whose channels push the output
    up in total counts as positive evidence.
    """
    summed = [d for d in range(1, attr.dim()) if d not in dims]
    s = attr.sum(dim=summed, keepdim=True) if summed else attr
    return s.reshape(attr.shape[0], -1)


def expand_feature_mask(keep: torch.Tensor, x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """A ``(rows, G)`` boolean over features broadcast back to the input's element shape."""
    shape = [keep.shape[0]] + [x.shape[d] if d in dims else 1 for d in range(1, x.dim())]
    return keep.reshape(shape)
