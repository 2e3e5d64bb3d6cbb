"""How much of each example's attribution falls inside a region (a patch, a token, a mask).

The question behind "debugging with planted features" (Sundararajan et al. 2017, §6): when a
model is suspected to use a decoy (a corner patch, a planted token), the share of the
attribution mass on the decoy says how much the prediction rests on it.  Compare the share with
the region's share of the area (what evenly spread attributions would give) and with the share
of the input's own mass ``|x - x'|`` there (what a method multiplying by ``x - x'`` gives a
model that treats every feature alike): ``region_share(x - baseline, region)``.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import torch

from pathattr.engine.validate import as_tuple

Sign = Literal["absolute", "positive", "negative"]
SIGNS = ("absolute", "positive", "negative")


def _mass(a: torch.Tensor, sign: str) -> torch.Tensor:
    if sign == "absolute":
        return a.abs()
    if sign == "positive":
        return a.clamp(min=0)
    return (-a).clamp(min=0)


def _region_tuple(region: Any, attrs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """``region`` as one boolean tensor per attribution tensor, broadcast to its shape."""
    tup = tuple(region) if isinstance(region, (tuple, list)) else (region,)
    if len(tup) != len(attrs):
        raise ValueError(
            f"region: expected {len(attrs)} boolean tensor(s), one per input, got {len(tup)}"
        )
    out = []
    for i, (r, a) in enumerate(zip(tup, attrs)):
        label = "region" if len(tup) == 1 else f"region[{i}]"
        if not isinstance(r, torch.Tensor) or r.dtype != torch.bool:
            what = f"a {r.dtype} tensor" if isinstance(r, torch.Tensor) else type(r).__name__
            raise TypeError(f"{label}: expected a boolean tensor, got {what}")
        try:
            fits = torch.broadcast_shapes(r.shape, a.shape) == a.shape
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(
                f"{label}: expected a shape that broadcasts to the attributions' "
                f"{tuple(a.shape)} (e.g. {tuple(a.shape[1:])} for every example, or "
                f"{tuple(a.shape)}), got {tuple(r.shape)}"
            )
        out.append(r.to(a.device).expand(a.shape))
    return tuple(out)


def region_share(attributions: Any, region: Any, *, sign: Sign = "absolute") -> torch.Tensor:
    """Share of each example's attribution mass inside ``region``, ``(N,)`` in [0, 1].

    ``share = Σ_region m(a) / Σ_all m(a)`` with ``m(a) = |a|`` (``sign="absolute"``), ``max(a, 0)``
    (``"positive"``: the share of the evidence *for* the target that sits in the region) or
    ``max(-a, 0)`` (``"negative"``).  Masses are taken element by element: for per-pixel or
    per-token magnitudes of multi-channel attributions, sum over the channels (the embedding
    dimension) first and pass those.

    Args:
        attributions: a tensor ``(N, ...)``, a tuple of them (the share is over all of them
            together), or an :class:`~pathattr.result.Attribution`.
        region: a boolean tensor that broadcasts to the attributions' shape: ``(H, W)`` or
            ``(1, 1, H, W)`` for the same patch in every image, ``(N, T)`` for a token per
            text, ...; a tuple of them for tuple attributions.
        sign: ``"absolute"`` (default), ``"positive"`` or ``"negative"``.

    Returns:
        The share per example; NaN (with a UserWarning) for an example with no mass at all.
    """
    if sign not in SIGNS:
        raise ValueError(f"sign: expected one of {', '.join(SIGNS)}, got {sign!r}")
    raw = attributions.attributions if hasattr(attributions, "attributions") else attributions
    attrs = tuple(a.detach() for a in as_tuple(raw, "attributions"))  # finite, batch-first
    regions = _region_tuple(region, attrs)
    inside = torch.zeros(attrs[0].shape[0], dtype=torch.float64, device=attrs[0].device)
    total = torch.zeros_like(inside)
    for a, r in zip(attrs, regions):
        m = _mass(a.double(), sign).reshape(a.shape[0], -1)
        inside += (m * r.reshape(a.shape[0], -1)).sum(1)
        total += m.sum(1)
    empty = total == 0
    if bool(empty.any()):
        rows = empty.nonzero().reshape(-1).tolist()
        warnings.warn(
            f"attributions: {len(rows)} example(s) (rows {rows[:10]}) have no {sign} mass; "
            "their region share is NaN",
            UserWarning,
            stacklevel=2,
        )
    return torch.where(empty, torch.full_like(total, float("nan")), inside / total)
