"""The path protocol the engine integrates along."""

from __future__ import annotations

from typing import Protocol

import torch


class Path(Protocol):
    """A path γ from baseline (α = 0) to input (α = 1), one per example.

    ``rows`` index examples and ``alphas`` give the position on each row's path; both are
    1-D of equal length.  ``keys`` is an optional per-row integer tensor the caller passed to the
    engine (e.g. which sampled reference a row uses in Expected Gradients); paths that do not
    need it ignore it.  Methods return one tensor per model input, batch-first over rows.
    """

    #: True when γ'(α) does not depend on α; the engine then multiplies once at the end.
    constant_derivative: bool

    def points(
        self, rows: torch.Tensor, alphas: torch.Tensor, keys: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """γ(α) for each (row, α) pair."""
        ...

    def derivatives(
        self, rows: torch.Tensor, alphas: torch.Tensor, keys: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """γ'(α) for each (row, α) pair."""
        ...

    def total_derivative(self) -> tuple[torch.Tensor, ...]:
        """γ' per example when ``constant_derivative`` is True (shape of the inputs)."""
        ...
