"""The arguments of Integrated / Expected Hessians that are their own: ``pairs`` and ``draws``.

``pairs`` selects the interactions to compute.  Every pair (i, j) costs the Hessian row of i or
of j (Γ is symmetric), so the pairs are served by whichever side has fewer distinct features:
30 pairs (0, j) need one Hessian row, not 30.  ``draws`` feeds explicit (α, β, reference)
samples to Expected Hessians.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Union

import torch

from pathattr.baselines.sources import TensorReferences

#: None (all pairs), a ``(P, 2)`` int tensor of flat indices, or a sequence of ``(i, j)`` with
#: each index an int (flat) or a tuple (a multi-index into the feature shape)
PairsLike = Union[None, torch.Tensor, Sequence[Any]]


def check_pairs(pairs: PairsLike, features: tuple[int, ...]) -> torch.Tensor | None:
    """``pairs`` as a ``(P, 2)`` int64 tensor of flat feature indices (None: all pairs).

    Errors name the pair, the index and the feature shape.
    """
    if pairs is None:
        return None
    dim = math.prod(features)
    shape = f"inputs of shape (batch, {', '.join(map(str, features))})"
    if isinstance(pairs, torch.Tensor):
        if pairs.dim() != 2 or pairs.shape[1] != 2 or pairs.dtype.is_floating_point:
            raise ValueError(
                f"pairs: expected a (P, 2) integer tensor of flat feature indices, got "
                f"{pairs.dtype} of shape {tuple(pairs.shape)}"
            )
        items: list[Any] = pairs.tolist()
    elif isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
        raise TypeError(
            f"pairs: expected None, a sequence of (i, j) feature pairs or a (P, 2) tensor, "
            f"got {type(pairs).__name__}"
        )
    else:
        items = list(pairs)
    if not items:
        raise ValueError("pairs: expected at least one (i, j) pair, got none")
    flat = []
    for k, pair in enumerate(items):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"pairs[{k}]: expected a pair (i, j), got {pair!r}")
        flat.append([_flat_index(v, features, dim, f"pairs[{k}]", shape) for v in pair])
    return torch.tensor(flat, dtype=torch.long)


def _flat_index(v: Any, features: tuple[int, ...], dim: int, label: str, shape: str) -> int:
    if isinstance(v, bool):
        raise TypeError(f"{label}: expected feature indices, got the bool {v!r}")
    if isinstance(v, int) or (isinstance(v, torch.Tensor) and v.dim() == 0):
        i = int(v)
        if not 0 <= i < dim:
            raise IndexError(f"{label}: flat feature index {i} out of range [0, {dim}) for {shape}")
        return i
    if isinstance(v, (tuple, list)) and all(
        isinstance(c, int) and not isinstance(c, bool) for c in v
    ):
        if len(v) != len(features) or not all(0 <= c < s for c, s in zip(v, features)):
            raise IndexError(f"{label}: multi-index {tuple(v)} out of range for {shape}")
        flat = 0
        for c, s in zip(v, features):
            flat = flat * s + c
        return flat
    raise TypeError(f"{label}: expected an int or a tuple of ints, got {v!r}")


def first_rows(
    pair_idx: torch.Tensor | None, dim: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The Hessian rows to compute and, per pair, which of them and which column to read.

    Returns ``(first, pos, second)``: pair p is ``H[first[pos[p]], second[p]]``.  All pairs:
    every row (``pos`` and ``second`` are unused).
    """
    if pair_idx is None:
        every = torch.arange(dim, device=device)
        return every, every, every
    a, b = pair_idx[:, 0], pair_idx[:, 1]
    if torch.unique(b).numel() < torch.unique(a).numel():
        a, b = b, a  # H is symmetric: read the pairs from the side with fewer rows
    first, pos = torch.unique(a, return_inverse=True)
    return first.to(device), pos.to(device), b.to(device)


def check_draws(
    draws: Any, source: Any, n: int, k: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
    """Explicit ``(alphas, betas, indices)`` checked: α, β (float64), keys, reference rows."""
    if not isinstance(source, TensorReferences):
        raise TypeError("draws: explicit draws index a tensor of references; got another kind")
    if not isinstance(draws, (tuple, list)) or len(draws) != 3:
        raise TypeError("draws: expected a tuple (alphas, betas, indices) of (batch, samples)")
    alphas, betas, idx = (torch.as_tensor(d) for d in draws)
    for name, d in (("alphas", alphas), ("betas", betas), ("indices", idx)):
        if tuple(d.shape) != (n, k):
            raise ValueError(f"draws: {name} must have shape ({n}, {k}), got {tuple(d.shape)}")
    if idx.dtype.is_floating_point or int(idx.min()) < 0 or int(idx.max()) >= source.size:
        raise ValueError(f"draws: indices must be ints in [0, {source.size}) (the references)")
    if (
        float(torch.minimum(alphas, betas).min()) < 0
        or float(torch.maximum(alphas, betas).max()) > 1
    ):
        raise ValueError("draws: alphas and betas must lie in [0, 1]")
    keys = idx.reshape(-1).long()
    return alphas.double(), betas.double(), keys, source.tensors
