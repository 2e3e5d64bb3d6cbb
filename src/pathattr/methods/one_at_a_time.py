r"""A path method on the one-feature-at-a-time path, and Shapley–Shubik by averaging orders.

.. math::

    \phi_i = \int_0^1 \frac{\partial F(\gamma(\alpha))}{\partial \gamma_i}\,
        \gamma_i'(\alpha)\, d\alpha
    = F(\text{features before } i \text{ and } i \text{ at } x) -
      F(\text{features before } i \text{ at } x)

for the path of :class:`~pathattr.paths.one_at_a_time.OneAtATime`.  Like every path method it
satisfies Completeness, Dummy, Linearity and Implementation Invariance, but it is not
symmetry-preserving (IG paper Theorem 1): on F = x₁x₂ at (1, 1) with baseline 0 the order
(x₁, x₂) gives (0, 1).  Averaging over all d! orders gives the Shapley–Shubik value
(:func:`shapley_shubik`), which is symmetric again but costs d!·d segments.

Each segment is integrated with its own quadrature rule on ``steps`` nodes, so the cost is
d·steps gradient evaluations per example and order.  The default is the midpoint rule: along an
axis-aligned segment a ReLU network's gradient is piecewise constant with jumps, where
Gauss–Legendre converges slowly (error O(h) per jump for the midpoint rule).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from pathattr.engine.core import forward_select, integrate
from pathattr.engine.targets import TargetLike, make_selector
from pathattr.engine.validate import (
    BaselineLike,
    as_baselines,
    as_tuple,
    check_int_arg,
    warn_training_mode,
)
from pathattr.methods.gradients import Inputs
from pathattr.paths.one_at_a_time import OneAtATime
from pathattr.quadrature.rules import quadrature
from pathattr.result import Attribution, completeness, warn_if_incomplete


def one_at_a_time(
    model: Callable[..., Any],
    inputs: Inputs,
    baselines: BaselineLike = None,
    target: TargetLike = None,
    *,
    order: Sequence[int] | torch.Tensor | None = None,
    steps: int = 64,
    rule: str = "riemann_middle",
    forward_args: Any = (),
    batch_size: int | None = None,
    warn_tol: float | None = 0.05,
) -> Attribution:
    """Path attributions along the path that moves features one at a time in ``order``.

    Args:
        model: callable ``model(*inputs, *forward_args)`` with a batch-first output.
        inputs: a batch-first float tensor or a tuple of them.
        baselines: None (zeros), a scalar, a tensor or a tuple, as for IG.
        target: which output to explain.
        order: a permutation of the flattened feature indices (inputs flattened and
            concatenated); None: 0, 1, …, d−1.
        steps: quadrature nodes per feature segment.
        rule: quadrature rule per segment (see :func:`pathattr.quadrature.quadrature`).
        forward_args: extra model arguments.
        batch_size: maximum rows per model call (None: all at once).
        warn_tol: warn when the relative completeness error exceeds this (None: never).

    Returns:
        An :class:`~pathattr.result.Attribution`; ``extras["order"]`` holds the order used.
    """
    check_int_arg(steps, "steps")
    single = isinstance(inputs, torch.Tensor)
    xs = as_tuple(inputs)
    bs = as_baselines(baselines, xs)
    fargs = forward_args if isinstance(forward_args, tuple) else (forward_args,)
    n = xs[0].shape[0]
    selector = make_selector(target, n)
    warn_training_mode(model)
    path = OneAtATime(xs, bs, order)
    d = path.n_features
    nodes = quadrature(rule, steps)
    k = nodes.alphas.shape[0]
    device = xs[0].device
    seg_alpha = (torch.arange(d, dtype=torch.float64)[:, None] + torch.tensor(nodes.alphas)) / d
    seg_alpha = seg_alpha.reshape(-1).clamp(0, 1)
    seg_w = (torch.tensor(nodes.weights) / d).repeat(d)
    rows = torch.arange(n, device=device).repeat_interleave(d * k)
    alphas = seg_alpha.to(device).repeat(n)
    weights = seg_w.to(device).repeat(n)
    result = integrate(
        model, path, selector, rows, alphas, weights, n_examples=n, forward_args=fargs,
        batch_size=batch_size,
    )  # fmt: skip
    both = tuple(torch.cat([x, b]) for x, b in zip(xs, bs))
    ends = forward_select(model, both, lambda o, r: selector(o, r % n), forward_args=fargs)
    output, base = ends[:n], ends[n:]
    delta, rel = completeness(result.sums, output, base)
    res = Attribution(
        attributions=result.sums[0] if single else result.sums,
        output=output,
        baseline_output=base,
        delta=delta,
        relative_delta=rel,
        evaluations=result.evaluations,
        method="one_at_a_time",
        extras={"order": path.order.tolist(), "steps": int(k), "rule": rule},
    )
    if warn_tol is not None:
        warn_if_incomplete(res, warn_tol, f"raise steps (now {k} per feature)")
    return res


def shapley_shubik(
    model: Callable[..., Any],
    inputs: Inputs,
    baselines: BaselineLike = None,
    target: TargetLike = None,
    *,
    steps: int = 64,
    rule: str = "riemann_middle",
    max_features: int = 8,
    **options: Any,
) -> Attribution:
    r"""The Shapley–Shubik value: :func:`one_at_a_time` averaged over all d! feature orders.

    .. math:: \phi_i = \frac{1}{d!} \sum_{\pi} \phi_i^{\pi}

    Exact up to the quadrature of each segment; only for d ≤ ``max_features`` (cost d!·d·steps).
    """
    xs = as_tuple(inputs)
    d = sum(int(x[0].numel()) for x in xs)
    if d > max_features:
        raise ValueError(
            f"inputs: Shapley–Shubik enumerates d! orders; expected at most {max_features} "
            f"features (raise max_features to force), got {d}"
        )
    results = [
        one_at_a_time(model, inputs, baselines, target, order=list(p), steps=steps, rule=rule,
                      **options)
        for p in itertools.permutations(range(d))
    ]  # fmt: skip
    first = results[0]
    parts = [r.attributions if isinstance(r.attributions, tuple) else (r.attributions,)
             for r in results]  # fmt: skip
    mean = tuple(torch.stack(group).mean(0) for group in zip(*parts))
    delta, rel = completeness(mean, first.output, first.baseline_output)
    return Attribution(
        attributions=mean[0] if isinstance(inputs, torch.Tensor) else mean,
        output=first.output,
        baseline_output=first.baseline_output,
        delta=delta,
        relative_delta=rel,
        evaluations=sum((r.evaluations for r in results), torch.zeros_like(first.evaluations)),
        method="shapley_shubik",
        extras={"orders": math.factorial(d), "steps": steps},
    )
