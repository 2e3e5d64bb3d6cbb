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
from pathattr.engine.core import forward_select, integrate
from pathattr.engine.memory import resolve_batch_size
from pathattr.engine.progress import progress_bar
from pathattr.engine.targets import TargetLike, make_selector
from pathattr.engine.validate import as_tuple, check_int_arg, warn_training_mode
from pathattr.methods.expected_gradients import output_table, reference_outputs
from pathattr.paths.references import ReferencePath
from pathattr.quadrature.rules import quadrature
from pathattr.result import Attribution, completeness, warn_if_incomplete


def noise_integrated_gradients(
    model: Callable[..., Any],
    inputs: torch.Tensor | tuple[torch.Tensor, ...],
    target: TargetLike = None,
    *,
    baselines: str | torch.Tensor | tuple[torch.Tensor, ...] = "uniform",
    n_baselines: int = 10,
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
    """Integrated Gradients averaged over ``n_baselines`` noise baselines (or given ones).

    Args:
        model, inputs, target, forward_args, batch_size, create_graph, progress: as in
            :func:`~pathattr.integrated_gradients`.
        baselines: ``"uniform"`` draws ``n_baselines`` baselines per example with independent
            U(low, high) entries; a tensor ``(B, *input.shape[1:])`` (a tuple of them for
            multi-input models) uses those B baselines for every example.
        n_baselines: B for ``"uniform"``.
        low, high: the noise range; None uses the minimum / maximum of each input tensor over
            the batch (for images in [0, 1] pass 0 and 1).
        steps, rule: the quadrature of every IG path.
        seed: seeds the noise; None draws a fresh seed (reported in ``extras["seed"]``).
        warn_tol: warn when an example's relative completeness error exceeds this.

    Returns:
        An :class:`~pathattr.result.Attribution` whose ``baseline_output`` is the mean of F over
        the example's baselines; ``evaluations`` = B · steps per example.
    """
    if not callable(model):
        raise TypeError(f"model: expected a callable (an nn.Module), got {type(model).__name__}")
    steps = check_int_arg(steps, "steps")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed: expected an int or None, got {type(seed).__name__}")
    single = isinstance(inputs, torch.Tensor)
    xs = as_tuple(inputs)
    n = xs[0].shape[0]
    fargs = forward_args if isinstance(forward_args, tuple) else (forward_args,)
    selector = make_selector(target, n)
    warn_training_mode(model)
    device = xs[0].device
    gen = torch.Generator()
    used_seed = gen.seed() if seed is None else int(seed)
    gen.manual_seed(used_seed)

    if isinstance(baselines, str):
        if baselines != "uniform":
            raise ValueError(
                f"baselines: expected 'uniform' or a tensor of baselines, got {baselines!r}"
            )
        b = check_int_arg(n_baselines, "n_baselines")
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

    path = ReferencePath(xs, refs)
    bsize = resolve_batch_size(
        batch_size, model, path, selector, rows, alphas, n_examples=n, forward_args=fargs,
        keys=keys,
    )  # fmt: skip
    bar = progress_bar(n * b * s, progress, desc="noise integrated gradients")
    try:
        result = integrate(
            model, path, selector, rows, alphas, weights, n_examples=n, forward_args=fargs,
            batch_size=bsize, create_graph=create_graph, progress=bar, keys=keys,
        )  # fmt: skip
    finally:
        bar.close()
    output = forward_select(model, xs, selector, forward_args=fargs, batch_size=bsize)
    per_base_rows = torch.arange(n, device=device).repeat_interleave(b)
    table = output_table(model, refs, fargs, n, bsize, n * b)
    f_base = reference_outputs(
        model, refs, base_keys.to(device).reshape(-1), per_base_rows, selector, fargs, n, bsize,
        table,
    ).reshape(n, b)  # fmt: skip
    base_output = f_base.mean(1)
    delta, rel = completeness(result.sums, output, base_output)
    res = Attribution(
        attributions=result.sums[0] if single else result.sums,
        output=output,
        baseline_output=base_output,
        delta=delta,
        relative_delta=rel,
        evaluations=result.evaluations,
        method="noise_integrated_gradients",
        extras={"n_baselines": int(b), "steps": int(s), "rule": rule, "seed": used_seed},
    )
    warn_if_incomplete(res, warn_tol, f"raise steps (now {s})")
    return res


def _uniform(
    x: torch.Tensor, count: int, low: float | None, high: float | None, gen: torch.Generator
) -> torch.Tensor:
    lo = float(x.detach().min()) if low is None else float(low)
    hi = float(x.detach().max()) if high is None else float(high)
    if not lo <= hi:
        raise ValueError(f"low, high: expected low <= high, got low={lo}, high={hi}")
    u = torch.rand((count,) + tuple(x.shape[1:]), generator=gen, dtype=x.dtype)
    return (lo + (hi - lo) * u).to(x.device)
