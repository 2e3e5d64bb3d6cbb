"""Straight lines to per-row references: γ(α) = x'_k + α (x_r − x'_k), γ'(α) = x_r − x'_k.

The path of Expected Gradients.  Row ``i`` of a chunk belongs to example ``rows[i]`` and uses
reference ``keys[i]`` (a row of ``references``), so every (example, reference) pair is its own
straight line while the engine still batches everything into chunks.
"""

from __future__ import annotations

import torch


def _bcast(a: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return a.reshape(a.shape + (1,) * (like.dim() - 1))


class ReferencePath:
    """Straight lines from ``references[keys]`` to ``inputs[rows]``."""

    constant_derivative = False

    def __init__(self, inputs: tuple[torch.Tensor, ...], references: tuple[torch.Tensor, ...]):
        self.inputs = inputs
        self.references = references

    def _keys(self, keys: torch.Tensor | None) -> torch.Tensor:
        if keys is None:
            raise ValueError("keys: ReferencePath needs the reference index of every row")
        return keys

    def points(
        self, rows: torch.Tensor, alphas: torch.Tensor, keys: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """x'_k + α (x_r − x'_k) for each (row r, α, key k)."""
        kk = self._keys(keys)
        out = []
        for x, ref in zip(self.inputs, self.references):
            b = ref[kk.to(ref.device)]
            a = _bcast(alphas.to(device=x.device, dtype=x.dtype), x)
            out.append(torch.addcmul(b, a, x[rows.to(x.device)] - b))
        return tuple(out)

    def derivatives(
        self, rows: torch.Tensor, alphas: torch.Tensor, keys: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """x_r − x'_k for each row (independent of α)."""
        kk = self._keys(keys)
        return tuple(
            x[rows.to(x.device)] - ref[kk.to(ref.device)]
            for x, ref in zip(self.inputs, self.references)
        )

    def total_derivative(self) -> tuple[torch.Tensor, ...]:
        """Not defined: γ' depends on the row's reference."""
        raise NotImplementedError("ReferencePath: γ' differs per reference; use derivatives()")
