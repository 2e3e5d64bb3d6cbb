r"""Integrated Gradients averaged over several noise baselines.

.. math::

    \mathrm{NIG}_i(x) = \frac{1}{B} \sum_{b=1}^{B} \mathrm{IG}_i(x; x'_b),
    \qquad x'_b \sim U(\mathrm{low}, \mathrm{high})^d

The IG authors suggest averaging over several uniform-noise baselines when no single neutral
input exists.  All examples × baselines × quadrature nodes are ONE engine call: rows are
examples, ``keys`` pick the baseline of each row (a :class:`~pathattr.paths.references.
ReferencePath`), the weights are the rule's weights divided by B.  By linearity, Completeness
holds against the mean output over the baselines, Σ_i NIG_i = F(x) − (1/B) Σ_b F(x'_b), up to
quadrature error; that residual is what ``delta`` reports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from pathattr.baselines.sources import check_rows
from pathattr.engine.pipeline import check_seed, finish, generator, prepare
from pathattr.engine.targets import TargetLike
from pathattr.engine.validate import check_int_arg
from pathattr.methods.expected_gradients import output_table, reference_outputs
from pathattr.paths.references import ReferencePath
from pathattr.quadrature.rules import quadrature
from pathattr.result import Attribution


def noise_integrated_gradients(
    model: Callable[..., Any],
    inputs: torch.Tensor | tuple[torch.Tensor, ...],
    *,
    target: TargetLike = None,
    baselines: str | torch.Tensor | tuple[torch.Tensor, ...] = "uniform",
    samples: int = 10,
    low: float | None = None,
    high: float | None = None,
    steps: int = 50,
    rule: str = "gausslegendre",
    seed: int | None = None,
    batch_size: int | str | None = "auto",
    create_graph: bool = False,
    forward_args: Any = (),
    warn_tol: float = 0.05,
    progress: bool = False,
) -> Attribution:
    """Integrated Gradients averaged over ``samples`` noise baselines (or given ones).

    Args:
        model, inputs, target, forward_args, batch_size, create_graph, progress: as in
            :func:`~pathattr.integrated_gradients`.
        baselines: ``"uniform"`` draws ``samples`` baselines per example with independent
            U(low, high) entries; a tensor ``(B, *input.shape[1:])`` (a tuple of them for
            multi-input models) uses those B baselines for every example.
        samples: B for ``"uniform"`` (the number of noise baselines per example).
        low, high: the noise range; None uses the minimum / maximum of each input tensor over
            the batch (for images in [0, 1] pass 0 and 1).
        steps, rule: the quadrature of every IG path.
        seed: seeds the noise; None draws a fresh seed (reported in ``extras["seed"]``).
        warn_tol: warn when an example's relative completeness error exceeds this.

    Returns:
        An :class:`~pathattr.result.Attribution` whose ``baseline_output`` is the mean of F over
        the example's baselines; ``evaluations`` = B · steps per example.
    """
    steps = check_int_arg(steps, "steps")
    check_seed(seed)
    p = prepare(
        model, inputs, target=target, forward_args=forward_args, batch_size=batch_size,
        create_graph=create_graph, warn_tol=warn_tol, progress=progress,
    )  # fmt: skip
    xs, n, device = p.inputs, p.n, p.device
    gen, used_seed = generator(seed)
    if p.empty:
        return p.empty_result("noise_integrated_gradients", {"seed": used_seed})
    if isinstance(baselines, str):
        if baselines != "uniform":
            raise ValueError(
                f"baselines: expected 'uniform' or a tensor of baselines, got {baselines!r}"
            )
        b = check_int_arg(samples, "samples")
        refs = tuple(_uniform(x, n * b, low, high, gen) for x in xs)
        base_keys = torch.arange(n * b).reshape(n, b)  # baseline j of example e: row e·B + j
    else:
        given = tuple(baselines) if isinstance(baselines, (tuple, list)) else (baselines,)
        if len(xs) > 1 and isinstance(baselines, torch.Tensor):
            raise ValueError(
                f"baselines: the model has {len(xs)} inputs; expected a tuple of {len(xs)} "
                "baseline tensors, got one tensor"
            )
        refs = check_rows(given, xs, "baselines", "baselines")
        b = refs[0].shape[0]
        base_keys = torch.arange(b).expand(n, b)
    nodes = quadrature(rule, steps)
    s = nodes.alphas.shape[0]
    # row order: example, then baseline, then node
    rows = torch.arange(n, device=device).repeat_interleave(b * s)
    keys = base_keys.to(device).repeat_interleave(s, dim=1).reshape(-1)
    alphas = torch.tensor(nodes.alphas, dtype=xs[0].dtype, device=device).repeat(n * b)
    weights = torch.tensor(nodes.weights / b, dtype=xs[0].dtype, device=device).repeat(n * b)

    extras = {"samples": int(b), "steps": int(s), "rule": rule, "seed": used_seed}
    path = ReferencePath(xs, refs)
    with p.running():
        result = p.integrate(
            path, rows, alphas, weights, keys=keys, desc="noise integrated gradients"
        )
        bsize = p.extras["batch_size"]
        output = p.forward(xs, bsize)
        per_base_rows = torch.arange(n, device=device).repeat_interleave(b)
        table = output_table(p.model, refs, p.forward_args, n, bsize, n * b)
        f_base = reference_outputs(
            p.model, refs, base_keys.to(device).reshape(-1), per_base_rows, p.selector,
            p.forward_args, n, bsize, table,
        ).reshape(n, b)  # fmt: skip
    return finish(
        p, result.sums, output, f_base.mean(1), method="noise_integrated_gradients",
        evaluations=result.evaluations, extras=extras, any_gradient=result.any_gradient,
        hint=f"raise steps (now {s})",
    )  # fmt: skip


def _uniform(
    x: torch.Tensor, count: int, low: float | None, high: float | None, gen: torch.Generator
) -> torch.Tensor:
    lo = float(x.detach().min()) if low is None else float(low)
    hi = float(x.detach().max()) if high is None else float(high)
    if not lo <= hi:
        raise ValueError(f"low, high: expected low <= high, got low={lo}, high={hi}")
    u = torch.rand((count,) + tuple(x.shape[1:]), generator=gen, dtype=x.dtype)
    return (lo + (hi - lo) * u).to(x.device)
