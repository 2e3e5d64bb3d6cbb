"""The straight line of Integrated Gradients: γ(α) = x' + α (x − x'), γ'(α) = x − x'."""

from __future__ import annotations

import torch


def _bcast(a: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return a.reshape(a.shape + (1,) * (like.dim() - 1))


class StraightLine:
    """Straight-line paths, one per example, from ``baselines`` to ``inputs``."""

    constant_derivative = True

    def __init__(
        self,
        inputs: tuple[torch.Tensor, ...],
        baselines: tuple[torch.Tensor, ...],
        diffs: tuple[torch.Tensor, ...] | None = None,
    ):
        """``diffs``: x − x' when the caller has it already (the pipeline's finiteness check)."""
        self.inputs = inputs
        self.baselines = baselines
        self.diffs = diffs if diffs is not None else tuple(x - b for x, b in zip(inputs, baselines))

    def points(
        self, rows: torch.Tensor, alphas: torch.Tensor, keys: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """x'_r + α (x_r − x'_r) for each (row r, α)."""
        out = []
        for b, d in zip(self.baselines, self.diffs):
            a = _bcast(alphas.to(d.dtype), d)
            # index_select is several times faster than advanced indexing b[rows]
            out.append(torch.addcmul(b.index_select(0, rows), a, d.index_select(0, rows)))
        return tuple(out)

    def grid_points(
        self,
        alphas: torch.Tensor,
        extra: tuple[tuple[torch.Tensor, ...], ...] = (),
    ) -> tuple[torch.Tensor, ...]:
        """γ at the same nodes ``alphas`` (k) for every example: (n·k, ...) rows, example-major.

        Each set in ``extra`` (a tuple of tensors shaped like the inputs, e.g. the inputs and
        the baselines themselves) is appended after the path rows, so the model sees one batch.
        """
        out = []
        for i, (b, d) in enumerate(zip(self.baselines, self.diffs)):
            a = alphas.to(d.dtype).reshape((1, -1) + (1,) * (d.dim() - 1))
            pts = torch.addcmul(b.unsqueeze(1), a, d.unsqueeze(1)).reshape((-1,) + d.shape[1:])
            # one cat is cheaper than writing into a preallocated buffer (fewer small ops)
            out.append(torch.cat([pts, *(e[i] for e in extra)]) if extra else pts)
        return tuple(out)

    def derivatives(
        self, rows: torch.Tensor, alphas: torch.Tensor, keys: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """x_r − x'_r for each row (independent of α)."""
        return tuple(d.index_select(0, rows) for d in self.diffs)

    def total_derivative(self) -> tuple[torch.Tensor, ...]:
        """x − x' per example."""
        return self.diffs
