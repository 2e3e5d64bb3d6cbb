r"""An extremal, non-straight path: features move from the baseline to the input one at a time.

With d features taken in the order π(0), …, π(d−1), feature π(s) moves during
α ∈ [s/d, (s+1)/d] while the others stay put:

.. math::

    \gamma_i(\alpha) = x'_i + \mathrm{clip}(d\alpha - \mathrm{rank}_i, 0, 1)\,(x_i - x'_i),
    \qquad \gamma'_i(\alpha) = d\,(x_i - x'_i)\,[\lfloor d\alpha \rfloor = \mathrm{rank}_i].

Features are the entries of all inputs flattened and concatenated, in that order.  γ' depends on
α, so the path has ``constant_derivative = False`` and the engine multiplies row by row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


class OneAtATime:
    """Paths that move one feature at a time, in ``order``, from ``baselines`` to ``inputs``."""

    constant_derivative = False

    def __init__(
        self,
        inputs: tuple[torch.Tensor, ...],
        baselines: tuple[torch.Tensor, ...],
        order: Sequence[int] | torch.Tensor | None = None,
    ):
        self.inputs = inputs
        self.baselines = baselines
        self.sizes = [math.prod(x.shape[1:]) for x in inputs]
        self.n_features = sum(self.sizes)
        d = self.n_features
        perm = torch.arange(d) if order is None else torch.as_tensor(order).reshape(-1).long()
        if perm.numel() != d or not bool((perm.sort().values == torch.arange(d)).all()):
            raise ValueError(
                f"order: expected a permutation of the {d} feature indices 0..{d - 1} (inputs "
                f"flattened and concatenated), got {perm.tolist()[:20]}"
            )
        self.order = perm
        rank = torch.empty(d, dtype=torch.long)
        rank[perm] = torch.arange(d)
        device = inputs[0].device
        self.ranks = tuple(r.to(device) for r in torch.split(rank, self.sizes))

    def _progress(self, alphas: torch.Tensor, i: int, like: torch.Tensor) -> torch.Tensor:
        pos = alphas.to(like.dtype)[:, None] * self.n_features - self.ranks[i].to(like.dtype)
        return pos.clamp(0, 1).reshape((-1,) + like.shape[1:])

    def points(
        self, rows: torch.Tensor, alphas: torch.Tensor, keys: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """γ(α): features ranked before dα at the input, the current one part-way."""
        out = []
        for i, (x, b) in enumerate(zip(self.inputs, self.baselines)):
            out.append(b[rows] + self._progress(alphas, i, x) * (x[rows] - b[rows]))
        return tuple(out)

    def derivatives(
        self, rows: torch.Tensor, alphas: torch.Tensor, keys: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """γ'(α): d (x − x') on the moving feature, 0 elsewhere."""
        d = self.n_features
        seg = (alphas * d).floor().clamp(0, d - 1).long()
        out = []
        for i, (x, b) in enumerate(zip(self.inputs, self.baselines)):
            moving = (self.ranks[i][None, :] == seg[:, None]).to(x.dtype)
            out.append(d * moving.reshape((-1,) + x.shape[1:]) * (x[rows] - b[rows]))
        return tuple(out)

    def total_derivative(self) -> tuple[torch.Tensor, ...]:
        """Not constant along the path."""
        raise NotImplementedError("OneAtATime: γ' depends on α (constant_derivative is False)")
