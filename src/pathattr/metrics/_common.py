"""Input checks and feature grouping shared by the metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union

import torch

from pathattr.result import Attribution

AttributionLike = Union[torch.Tensor, tuple[torch.Tensor, ...], Attribution]


def attributions_tuple(
    attributions: Any, inputs: tuple[torch.Tensor, ...], name: str = "attributions"
) -> tuple[torch.Tensor, ...]:
    """Attributions (a tensor, a tuple or an :class:`Attribution`) checked against the inputs."""
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
        out.append(a.detach().to(device=x.device, dtype=x.dtype))
    return tuple(out)


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
        dims = tuple(sorted({int(d) % x.dim() for d in feature_dims}))
    except TypeError:
        raise TypeError(
            f"feature_dims: expected a sequence of ints, got {type(feature_dims).__name__}"
        ) from None
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
