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

from pathattr.engine.pipeline import finish, prepare
from pathattr.engine.targets import TargetLike
from pathattr.engine.validate import BaselineLike, as_tuple, check_int_arg
from pathattr.methods.gradients import Inputs
from pathattr.paths.one_at_a_time import OneAtATime
from pathattr.quadrature.rules import quadrature
from pathattr.result import Attribution, completeness


def one_at_a_time(
    model: Callable[..., Any],
    inputs: Inputs,
    *,
    baselines: BaselineLike = None,
    target: TargetLike = None,
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
    p = prepare(
        model, inputs, baselines=baselines, target=target, forward_args=forward_args,
        batch_size=batch_size, warn_tol=warn_tol,
    )  # fmt: skip
    assert p.baselines is not None
    xs, bs, n, device = p.inputs, p.baselines, p.n, p.device
    path = OneAtATime(xs, bs, order)
    d = path.n_features
    nodes = quadrature(rule, steps)
    k = nodes.alphas.shape[0]
    extras = {"order": path.order.tolist(), "steps": int(k), "rule": rule}
    if p.empty:
        return p.empty_result("one_at_a_time", extras)
    seg_alpha = (torch.arange(d, dtype=torch.float64)[:, None] + torch.tensor(nodes.alphas)) / d
    seg_alpha = seg_alpha.reshape(-1).clamp(0, 1)
    seg_w = (torch.tensor(nodes.weights) / d).repeat(d)
    rows = torch.arange(n, device=device).repeat_interleave(d * k)
    alphas = seg_alpha.to(device).repeat(n)
    weights = seg_w.to(device).repeat(n)
    with p.running():
        result = p.integrate(path, rows, alphas, weights, desc="one at a time")
        output, base = p.forward_both(xs, bs, p.extras["batch_size"])
    return finish(
        p, result.sums, output, base, method="one_at_a_time", evaluations=result.evaluations,
        extras=extras, any_gradient=result.any_gradient,
        hint=f"raise steps (now {k} per feature)",
    )  # fmt: skip


def shapley_shubik(
    model: Callable[..., Any],
    inputs: Inputs,
    *,
    baselines: BaselineLike = None,
    target: TargetLike = None,
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
    d = sum(math.prod(x.shape[1:]) for x in xs)
    if d > max_features:
        raise ValueError(
            f"inputs: Shapley–Shubik enumerates d! orders; expected at most {max_features} "
            f"features (raise max_features to force), got {d}"
        )
    results = [
        one_at_a_time(model, inputs, baselines=baselines, target=target, order=list(p),
                      steps=steps, rule=rule, **options)
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
