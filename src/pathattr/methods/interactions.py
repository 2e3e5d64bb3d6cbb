r"""Integrated and Expected Hessians (Janizek, Sturmfels, Lee 2021): pairwise interactions.

Integrated Hessians attributes each Integrated Gradients attribution IG_i to the features
that interact with feature i (d = x − x'):

.. math::

    \Gamma_{ij} = d_i d_j \int_0^1\!\!\int_0^1 \alpha\beta\,
        \partial_{ij} F(x' + \alpha\beta d)\, d\alpha\, d\beta
      + \delta_{ij}\, d_i \int_0^1\!\!\int_0^1 \partial_i F(x' + \alpha\beta d)\, d\alpha\, d\beta .

Γ is symmetric and its rows add up to the attributions, Σ_j Γ_ij = IG_i (the *completeness of
interactions*: with φ_i(α) = IG_i of the point x' + α d, the integrand of row i summed over j
is dφ_i/dα).  The integrands depend on α and β only through t = αβ, so the double integral is
a single integral along the straight line with the weight −ln t (derived in
:mod:`pathattr.quadrature.interaction_rules`); the default rule is its Gauss rule, ``steps``
Hessian evaluations per example.  ``rule="linspace"`` is path_explain's product grid
(``steps`` = √num_samples nodes per axis), with equal products αβ evaluated once.

Expected Hessians averages Integrated Hessians over references x' ~ D, one (x', α, β) per
sample: Γ = E[(d d^T) ⊙ αβ ∇²F(x' + αβ d) + diag(d ⊙ ∇F(x' + αβ d))], so its rows add up to
Expected Gradients in expectation.  path_explain's PyTorch explainer draws a second, independent
reference for the inner integral (Expected Gradients of Expected Gradients); with one reference
the two agree (its TensorFlow explainer and the paper use one reference per sample, like here).

The check.  Each call also computes the first-order attributions (IG with ``max(steps, 32)``
Gauss–Legendre nodes, or EG with the same ``samples`` and seed) and reports
``extras["row_delta"]`` = Σ_j Γ_ij − attribution_i, raw; ``delta`` is Σ_ij Γ_ij − (F(x) − F(x')).
A :class:`~pathattr.result.CompletenessWarning` is raised when max_i |row_delta_i| exceeds
``warn_tol`` · |F(x) − F(x')|.  Inputs: one tensor (no tuples); ``pairs`` selects
interactions, which then come as ``(batch, P)`` and skip the row check.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import torch

from pathattr.baselines.sampling import check_sampling
from pathattr.baselines.sources import ReferencesLike, as_reference_source
from pathattr.engine.hessians import evaluate_hessian_rows, hessian_batch_size
from pathattr.engine.pipeline import Prepared, check_seed, generator, prepare
from pathattr.engine.progress import progress_bar
from pathattr.engine.targets import TargetLike
from pathattr.engine.validate import BaselineLike, check_int_arg
from pathattr.methods.interaction_args import PairsLike, check_draws, check_pairs, first_rows
from pathattr.paths.references import ReferencePath
from pathattr.paths.straight import StraightLine
from pathattr.quadrature.interaction_rules import interaction_rule
from pathattr.result import Attribution, CompletenessWarning, completeness

#: Gauss–Legendre nodes (at least) of the first-order attributions the rows are checked against
MAIN_EFFECT_STEPS = 32


def integrated_hessians(
    model: Callable[..., Any],
    inputs: torch.Tensor,
    *,
    baselines: BaselineLike = None,
    target: TargetLike = None,
    pairs: PairsLike = None,
    steps: int = 16,
    rule: str = "gausslog",
    forward_args: Any = (),
    batch_size: int | str | None = "auto",
    warn_tol: float | None = 0.05,
    progress: bool = False,
) -> Attribution:
    """Integrated Hessians of ``model``'s selected output at ``inputs`` against ``baselines``.

    Args:
        model: a twice-differentiable callable (softplus, not ReLU: a ReLU network's Hessian
            is zero almost everywhere), called as ``model(inputs, *forward_args)``.
        inputs: a batch-first float tensor ``(batch, *features)``.
        baselines: None (zeros), a scalar or a tensor broadcastable to the inputs.
        target: as in :func:`pathattr.integrated_gradients`.
        pairs: None (every pair: ``(batch, *features, *features)``), or a sequence of
            ``(i, j)`` feature pairs (flat indices or multi-indices into ``features``) or a
            ``(P, 2)`` int tensor of flat indices: ``(batch, P)``.
        steps: Hessian evaluations per example for ``gausslog``; nodes per axis for a product
            rule (``steps²`` products, equal ones evaluated once).
        rule: ``gausslog`` (Gauss rule of the reduced 1-D integral), ``linspace``
            (path_explain's grid) or a 1-D rule of :func:`pathattr.integrated_gradients`
            (``gausslegendre``, ``riemann_*``) taken in α and β.
        forward_args: extra model arguments, expanded with the rows.
        batch_size: most path points per model call; each keeps a Hessian slice of
            (rows of pairs) × features numbers.  ``"auto"`` fits the measured memory.
        warn_tol: warn when an example's worst row residual exceeds this fraction of
            |F(x) − F(x')| (None or 0: never).
        progress: show a progress bar (needs tqdm).

    Returns:
        An :class:`~pathattr.result.Attribution` whose ``attributions`` are the interactions;
        ``extras``: ``main_effects`` (IG), ``row_delta``, ``main_effects_delta``, ``rule``,
        ``steps``, ``nodes`` (Hessian points per example), ``pairs``.
    """
    r = interaction_rule(rule, steps)
    p = _prepare(model, inputs, baselines, target, forward_args, batch_size, warn_tol, progress)
    pair_idx = check_pairs(pairs, tuple(p.inputs[0].shape[1:]))
    n, k = p.n, len(r.t)
    extras: dict[str, Any] = {"rule": rule, "steps": steps, "nodes": k, "pairs": pair_idx}
    if p.empty:
        return _empty(p, pair_idx, "integrated_hessians", extras)
    assert p.baselines is not None
    from pathattr.methods.integrated_gradients import integrated_gradients

    main = integrated_gradients(
        model, p.inputs[0], baselines=p.baselines[0], target=target, forward_args=forward_args,
        steps=max(steps, MAIN_EFFECT_STEPS), batch_size=batch_size, warn_tol=None,
    )  # fmt: skip
    dev, dt = p.device, p.dtype
    rows = torch.arange(n, device=dev).repeat_interleave(k)
    ts = torch.tensor(r.t, dtype=dt, device=dev).repeat(n)
    w_g = torch.tensor(r.w_g, dtype=dt, device=dev).repeat(n)
    w_h = torch.tensor(r.w_h, dtype=dt, device=dev).repeat(n)
    path = StraightLine(p.inputs, p.baselines, p.diffs)
    with p.running():
        gamma = _accumulate(p, path, rows, ts, None, w_g, w_h, pair_idx, "integrated hessians")
    return _finish(p, gamma, main, main.output, main.baseline_output, pair_idx,
                   "integrated_hessians", k, extras, f"raise steps (now {steps})")  # fmt: skip


def expected_hessians(
    model: Callable[..., Any],
    inputs: torch.Tensor,
    *,
    references: ReferencesLike,
    target: TargetLike = None,
    pairs: PairsLike = None,
    samples: int = 200,
    sampling: str = "random",
    seed: int | None = None,
    draws: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    forward_args: Any = (),
    batch_size: int | str | None = "auto",
    warn_tol: float | None = None,
    progress: bool = False,
) -> Attribution:
    """Expected Hessians of ``model``'s selected output at ``inputs`` over ``references``.

    Args:
        model, inputs, target, pairs, forward_args, batch_size, progress: as in
            :func:`integrated_hessians`.
        references: the reference distribution, as in :func:`pathattr.expected_gradients`.
        samples: (reference, α, β) samples per example; each costs one Hessian evaluation.
        sampling: ``random``, ``stratified`` or ``sobol`` over (α, reference, β), one design
            per example (see :mod:`pathattr.baselines.sampling`).
        seed: seeds the draws (None: a fresh seed, reported in ``extras["seed"]``).
        draws: explicit ``(alphas, betas, indices)``, each ``(batch, samples)``, with indices
            into a tensor of ``references``: reproduces another implementation's draws (the
            tests feed path_explain's); ``sampling`` and ``seed`` then only drive the
            first-order check.
        warn_tol: as in :func:`integrated_hessians`; off by default, because the rows'
            residual against an independent EG estimate is Monte-Carlo error.

    Returns:
        An :class:`~pathattr.result.Attribution` as :func:`integrated_hessians`, with
        ``baseline_output`` the mean of F over the references drawn, ``main_effects`` EG, and
        ``extras["standard_error"]`` (shaped like the interactions): the Monte-Carlo standard
        error of every interaction from the spread of the k sample terms
        (``standard_error_method`` ``"iid"`` for random or explicit draws; for stratified /
        Sobol draws the same formula, ``"iid_conservative"``, which overstates their error).
    """
    k = check_int_arg(samples, "samples")
    check_sampling(sampling)
    check_seed(seed)
    p = _prepare(model, inputs, "none", target, forward_args, batch_size, warn_tol, progress)
    pair_idx = check_pairs(pairs, tuple(p.inputs[0].shape[1:]))
    source = as_reference_source(references, p.inputs)
    gen, used = generator(seed)
    extras: dict[str, Any] = {"samples": k, "sampling": sampling, "seed": used, "pairs": pair_idx}
    if p.empty:
        return _empty(p, pair_idx, "expected_hessians", extras)
    from pathattr.methods.expected_gradients import (
        draw_references,
        expected_gradients,
        reference_outputs,
    )

    n, dev, dt = p.n, p.device, p.dtype
    if draws is None:
        u, refs, keys, _ = draw_references(source, p.inputs, n, k, sampling, gen, 1, extra_dims=1)
        alphas, betas = u[..., 0], u[..., -1]
    else:
        alphas, betas, keys, refs = check_draws(draws, source, n, k)
    t = (alphas * betas).reshape(-1)
    rows = torch.arange(n, device=dev).repeat_interleave(k)
    ts, keys = t.to(device=dev, dtype=dt), keys.to(dev)
    w_g = torch.full_like(ts, 1.0 / k)
    main = expected_gradients(
        model, p.inputs[0], references=references, target=target, samples=k, sampling=sampling,
        seed=used, forward_args=forward_args, batch_size=batch_size,
    )  # fmt: skip
    path = ReferencePath(p.inputs, refs)
    squares: list[torch.Tensor] = []
    with p.running():
        gamma = _accumulate(
            p, path, rows, ts, keys, w_g, ts * w_g, pair_idx, "expected hessians", squares
        )
    if k > 1:
        # the k terms y_s = k·c_s are i.i.d. for random draws: SE² = (Σy² − (Σy)²/k)/(k(k − 1))
        g64 = gamma.to(torch.float64)
        var = (k * squares[0] - g64 * g64).clamp_min(0.0) / (k - 1)
        se = var.sqrt().to(gamma.dtype)
    else:
        se = torch.full_like(gamma, float("nan"))
    extras["standard_error"] = se if pair_idx is not None else se.reshape(
        (n, *p.inputs[0].shape[1:], *p.inputs[0].shape[1:]))  # fmt: skip
    extras["standard_error_method"] = (
        "iid" if sampling == "random" or draws is not None else "iid_conservative"
    )
    bsz = p.extras.get("batch_size")
    base = reference_outputs(model, refs, keys, rows, p.selector, p.forward_args, n, bsz)
    return _finish(p, gamma, main, main.output, base.reshape(n, k).mean(1), pair_idx,
                   "expected_hessians", k, extras, f"raise samples (now {k})")  # fmt: skip


def _prepare(model: Any, inputs: Any, baselines: Any, target: TargetLike, forward_args: Any,
             batch_size: Any, warn_tol: Any, progress: Any) -> Prepared:  # fmt: skip
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(
            f"inputs: expected one batch-first tensor (interactions of tuple inputs are not "
            f"supported; concatenate them), got {type(inputs).__name__}"
        )
    return prepare(
        model, inputs, baselines=baselines, target=target, forward_args=forward_args,
        batch_size=batch_size, warn_tol=warn_tol, progress=progress,
    )  # fmt: skip


def _accumulate(p: Prepared, path: Any, rows: torch.Tensor, ts: torch.Tensor,
                keys: torch.Tensor | None, w_g: torch.Tensor, w_h: torch.Tensor,
                pair_idx: torch.Tensor | None, desc: str,
                squares: list[torch.Tensor] | None = None) -> torch.Tensor:  # fmt: skip
    """Σ_rows w_h (d d^T) ⊙ H + w_g diag(d ⊙ g) per example: ``(n, D, D)`` or ``(n, P)``.

    With ``squares`` (a list) the float64 sums of the squared row terms are appended to it.
    """
    x = p.inputs[0]
    dim = math.prod(x.shape[1:])
    first, pos, second = first_rows(pair_idx, dim, x.device)
    if p.batch_size == "auto":
        bsz = hessian_batch_size(
            p.model, path, p.selector, rows, ts, int(first.shape[0]), n_examples=p.n,
            forward_args=p.forward_args, keys=keys,
        )  # fmt: skip
    else:
        bsz = p.resolve_batch_size(path, rows, ts, keys)  # an int or None, checked
    p.extras["batch_size"] = bsz
    shape = (p.n, dim, dim) if pair_idx is None else (p.n, int(pair_idx.shape[0]))
    out = torch.zeros(shape, dtype=x.dtype, device=x.device)
    sq = torch.zeros(shape, dtype=torch.float64, device=x.device) if squares is not None else None
    bar = progress_bar(int(rows.shape[0]), p.progress, desc=desc)
    try:
        for c in evaluate_hessian_rows(
            p.model, path, p.selector, rows, ts, first, n_examples=p.n,
            forward_args=p.forward_args, batch_size=bsz, progress=bar, keys=keys,
        ):  # fmt: skip
            (d,) = path.derivatives(c.rows, c.alphas, c.keys)
            d = d.reshape(d.shape[0], dim)
            wh, wg = w_h[c.start : c.stop, None], w_g[c.start : c.stop, None]
            if pair_idx is None:
                term = c.hessian * (wh * d)[:, :, None] * d[:, None, :]
                term.diagonal(dim1=1, dim2=2).add_(wg * d * c.grads)
            else:
                i, j = pair_idx[:, 0].to(x.device), pair_idx[:, 1].to(x.device)
                h = c.hessian[:, pos, second]
                term = wh * d[:, i] * d[:, j] * h + (i == j) * (wg * d[:, i] * c.grads[:, i])
            out.index_add_(0, c.rows, term.to(out.dtype))
            if sq is not None:
                sq.index_add_(0, c.rows, term.to(torch.float64).square())
    finally:
        bar.close()
    if squares is not None and sq is not None:
        squares.append(sq)
    return out


def _finish(p: Prepared, gamma: torch.Tensor, main: Attribution, output: torch.Tensor,
            base: torch.Tensor, pair_idx: torch.Tensor | None, method: str, k: int,
            extras: dict[str, Any], hint: str) -> Attribution:  # fmt: skip
    x = p.inputs[0]
    feat = tuple(x.shape[1:])
    me = main.attributions
    assert isinstance(me, torch.Tensor)
    extras.update(main_effects=me, main_effects_delta=main.delta, batch_size=p.extras.get(
        "batch_size"))  # fmt: skip
    if pair_idx is None:
        row_sums = gamma.sum(2).reshape(x.shape)
        extras["row_delta"] = row_sums - me
        attrs = gamma.reshape((p.n, *feat, *feat))
        delta, rel = completeness((gamma,), output, base)
    else:
        extras["row_delta"] = None
        attrs = gamma
        delta = torch.full_like(output, float("nan"))
        rel = delta.clone()
    res = Attribution(
        attributions=attrs, output=output, baseline_output=base, delta=delta,
        relative_delta=rel, evaluations=torch.full((p.n,), k, dtype=torch.long),
        method=method, extras=extras,
    )  # fmt: skip
    tol = p.warn_tol
    if pair_idx is None and tol:
        worst = extras["row_delta"].reshape(p.n, -1).abs().amax(1)
        gap = (output - base).abs()
        bad = worst > tol * gap
        if bool(bad.any()):
            warnings.warn(
                f"{int(bad.sum())} of {p.n} examples have interaction rows that miss the "
                f"first-order attributions by more than {tol:.0%} of |F(x) - F(x')| "
                f"(worst {float((worst / gap)[bad].max()):.1%}): {hint}",
                CompletenessWarning,
                stacklevel=3,
            )
    return res


def _empty(p: Prepared, pair_idx: torch.Tensor | None, method: str,
           extras: dict[str, Any]) -> Attribution:  # fmt: skip
    feat = tuple(p.inputs[0].shape[1:])
    shape = (0, *feat, *feat) if pair_idx is None else (0, int(pair_idx.shape[0]))
    res = p.empty_result(method, extras)
    res.attributions = torch.zeros(shape, dtype=p.dtype, device=p.device)
    return res
