"""The baseline e' of :func:`pathattr.sequence_attributions`: the mean embedding (the default,
see :mod:`pathattr.methods.sequence_attributions` for why not zeros), zeros, token ids or
explicit embeddings, at every moving position."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def baseline_embeddings(
    baselines: Any, emb: nn.Module, x: torch.Tensor, sources: int
) -> torch.Tensor:
    """e' for the ``sources`` moving positions, (N, P, d)."""
    n, _, d = x.shape
    weight = emb.weight
    assert isinstance(weight, torch.Tensor)
    if baselines is None or (isinstance(baselines, str) and baselines == "mean"):
        with torch.no_grad():
            base = weight.detach().to(x.dtype).mean(0)
        return base.expand(n, sources, d)
    if isinstance(baselines, str):
        if baselines == "zero":
            return torch.zeros(n, sources, d, dtype=x.dtype, device=x.device)
        raise ValueError(
            f"baselines: expected 'mean', 'zero', a token id or a tensor, got {baselines!r}"
        )
    if isinstance(baselines, bool):
        raise TypeError("baselines: expected 'mean', 'zero', a token id or a tensor, got a bool")
    if isinstance(baselines, int):
        baselines = torch.full((sources,), baselines, dtype=torch.long)
    if isinstance(baselines, float):
        if baselines != 0.0:
            raise ValueError(
                f"baselines: a float means the zero embedding (0.0); got {baselines} (use a "
                "tensor of embeddings for other values)"
            )
        return torch.zeros(n, sources, d, dtype=x.dtype, device=x.device)
    if not isinstance(baselines, torch.Tensor):
        raise TypeError(
            "baselines: expected 'mean', 'zero', a token id or a tensor, got "
            f"{type(baselines).__name__}"
        )
    b = baselines.to(x.device)
    if not b.dtype.is_floating_point:
        vocab = int(weight.shape[0])
        if b.numel() and (int(b.min()) < 0 or int(b.max()) >= vocab):
            raise ValueError(f"baselines: token ids must lie in [0, {vocab})")
        if b.dim() not in (1, 2) or b.shape[-1] != sources:
            raise ValueError(
                f"baselines: token ids of shape ({sources},) or (N, {sources}) expected (one per "
                f"moving position), got {tuple(b.shape)}"
            )
        with torch.no_grad():
            e = emb(b.long()).detach().to(x.dtype)
        return e.expand(n, sources, d) if e.dim() == 2 else e
    if b.shape[-1] != d or b.dim() > 3:
        raise ValueError(
            f"baselines: embeddings of shape ({d},), ({sources}, {d}) or (N, {sources}, {d}) "
            f"expected, got {tuple(b.shape)}"
        )
    try:
        return b.detach().to(x.dtype).expand(n, sources, d)
    except RuntimeError:
        raise ValueError(
            f"baselines: embeddings of shape ({d},), ({sources}, {d}) or ({n}, {sources}, {d}) "
            f"expected, got {tuple(b.shape)}"
        ) from None
