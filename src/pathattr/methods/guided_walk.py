"""The bookkeeping of Guided IG's path: PAIR's ``guided_ig_impl`` loop, for a batch at once.

One :meth:`GuidedWalk.move` is one step of PAIR's loop for every example, given the gradients at
the current points: features that lag behind the allowed band jump to its lower edge, then the
``fraction`` with the smallest |gradient| move towards the band's upper edge until the L1
distance to the input reaches this step's target.  The inner loop runs on all examples still
moving, with masks.

It runs on small arrays many times per step, where the cost is per operation, not per element:
on the CPU, batches of up to :data:`NUMPY_MAX` entries run in NumPy (about 1 µs an operation
against torch's 5-10 µs), on views that share memory with the torch state the model reads;
larger batches and other devices run in torch.  Both do the same float64 arithmetic as PAIR.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

#: PAIR's tolerance for "the L1 distance has reached this step's target"
EPSILON = 1e-9
#: up to this many entries (examples × features) the CPU walk runs in NumPy
NUMPY_MAX = 1 << 20


class _NumpyOps:
    where = staticmethod(np.where)
    maximum = staticmethod(np.maximum)
    zeros_like = staticmethod(np.zeros_like)

    @staticmethod
    def floor(a: Any, v: float) -> Any:
        return np.maximum(a, v)

    @staticmethod
    def kth(a: Any, k: int) -> Any:
        return np.partition(a, k - 1, axis=1)[:, k - 1]

    @staticmethod
    def copy(a: Any) -> Any:
        return a.copy()


class _TorchOps:
    where = staticmethod(torch.where)
    maximum = staticmethod(torch.maximum)
    zeros_like = staticmethod(torch.zeros_like)

    @staticmethod
    def floor(a: Any, v: float) -> Any:
        return a.clamp_min(v)

    @staticmethod
    def kth(a: Any, k: int) -> Any:
        return a.kthvalue(k, dim=1).values

    @staticmethod
    def copy(a: Any) -> Any:
        return a.clone()


class GuidedWalk:
    """Every example's point on its guided path (``state``) and its attribution sums.

    Args:
        x_in, x_base: ``(n, d)`` inputs and baselines, flattened, in the path's precision.
        fraction, max_dist: Guided IG's options (see
            :func:`pathattr.guided_integrated_gradients`).
    """

    def __init__(self, x_in: torch.Tensor, x_base: torch.Tensor, fraction: float, max_dist: float):
        self.state = x_base.clone()  # what the model reads
        self.numpy = x_in.device.type == "cpu" and x_in.numel() <= NUMPY_MAX
        ops: Any = _NumpyOps if self.numpy else _TorchOps
        self.ops = ops
        arr = self._array
        self.x = arr(self.state)  # a view of ``state`` in NumPy: moves show through
        self.x_in, self.x_base = arr(x_in), arr(x_base)
        self.diff = self.x_in - self.x_base
        self.still = self.diff == 0
        self.safe_diff = self.ops.where(self.still, 1.0, self.diff)  # no 0/0 where nothing moves
        self.l1_total = abs(self.diff).sum(1)
        self.attr = self.ops.zeros_like(self.diff)
        self.max_dist = max_dist
        # np.quantile(..., interpolation="lower"): the element at floor(q (d − 1)) when sorted
        self.rank = int(math.floor(fraction * (x_in.shape[1] - 1))) + 1

    def _array(self, t: torch.Tensor) -> Any:
        return t.detach().numpy() if self.numpy else t

    def attributions(self) -> torch.Tensor:
        """Σ over the moves so far of (x_new − x_old) ⊙ ∇F(x_old), ``(n, d)``."""
        return torch.from_numpy(self.attr) if self.numpy else self.attr

    def move(self, step: int, steps: int, grad_actual: torch.Tensor) -> None:
        """Step ``step`` of ``steps`` of PAIR's loop with the gradients at the current points."""
        with np.errstate(divide="ignore", invalid="ignore"):  # gamma's inf and 0 · inf, unused
            self._move(step, steps, self._array(grad_actual))

    def _move(self, step: int, steps: int, grad_actual: Any) -> None:
        ops, x = self.ops, self.x
        alpha = (step + 1.0) / steps
        alpha_min, alpha_max = max(alpha - self.max_dist, 0.0), min(alpha + self.max_dist, 1.0)
        x_min = self.x_base + self.diff * alpha_min
        x_max = self.x_base + self.diff * alpha_max
        l1_target = self.l1_total * (1 - (step + 1) / steps)
        grad = ops.copy(grad_actual)
        target_abs = abs(l1_target)
        x_start = ops.copy(x)
        active = self.l1_total != 0  # an input equal to its baseline has nothing to move
        while bool(active.any()):
            x_alpha = ops.where(self.still, alpha_max, (x - self.x_base) / self.safe_diff)
            x[...] = ops.where((x_alpha < alpha_min) & active[:, None], x_min, x)
            l1_current = abs(x - self.x_in).sum(1)
            # not math.isclose(l1_target, l1_current, rel_tol=EPSILON, abs_tol=EPSILON)
            tol = ops.floor(ops.maximum(target_abs, l1_current) * EPSILON, EPSILON)
            movers = active & (abs(l1_target - l1_current) > tol)
            grad = ops.where((x == x_max) & movers[:, None], math.inf, grad)
            magnitude = abs(grad)
            threshold = ops.kth(magnitude, self.rank)
            chosen = (magnitude <= threshold[:, None]) & (grad != math.inf) & movers[:, None]
            gap = x_max - x
            l1_s = (abs(gap) * chosen).sum(1)
            gamma = ops.where(l1_s == 0, math.inf, (l1_current - l1_target) / l1_s)
            full = gamma > 1
            # PAIR: x_max exactly where gamma > 1, else x + (x_max − x)·gamma
            moved = ops.where(full[:, None], x_max, x + gap * gamma[:, None])
            x[...] = ops.where(chosen, moved, x)
            # l1_s = 0 (nothing left to move) would loop for ever in PAIR's code; rounding only
            active = movers & full & (l1_s > 0)
        # PAIR adds (x − x_old) ⊙ ∇F after every pass of the loop; ∇F is the step's, so the sum
        # is the step's whole move times it (equal up to float64 rounding, fewer operations)
        self.attr += (x - x_start) * grad_actual
