r"""Expected Gradients (Erion, Janizek, Sturmfels, Lundberg, Lee 2021).

.. math::

    \mathrm{EG}_i(x) = \mathbb{E}_{x' \sim D,\ \alpha \sim U(0,1)}
        \Big[(x_i - x'_i)\, \frac{\partial F(x' + \alpha (x - x'))}{\partial x_i}\Big]

Integrated Gradients averaged over a distribution ``D`` of references, estimated by Monte
Carlo: every sample is one (reference, α) pair and costs ONE gradient evaluation.  All samples
of all examples go through the engine in chunks (rows = example, alphas = drawn α, keys = drawn
reference), so any number of samples fits in memory and ``create_graph=True`` makes the result
differentiable for attribution priors.

Completeness holds in expectation against the base value E[F(x')]: Σ_i EG_i(x) = F(x) −
E[F(x')].  The result reports F averaged over the references actually drawn as
``baseline_output`` and the residual against it as ``delta``; that residual is Monte-Carlo error
of the α draw and shrinks like 1/√k (faster with ``sampling="stratified"`` or ``"sobol"``).

Standard error.  Write t_s = (x − x'_s) ⊙ ∇F(x'_s + α_s (x − x'_s)) for the k terms of an
example and EG^ = (1/k) Σ_s t_s.  ``extras["standard_error"]`` estimates sd(EG^) over the
randomness of the draw (the spread of the estimate over seeds), per feature, as
``extras["standard_error_method"]`` says:

* ``"iid"`` (``sampling="random"``): the terms are i.i.d., Var(EG^) = σ²/k, and
  s² / k with the sample variance s² of the k terms is unbiased.  NaN when k = 1.
* ``"replicates"`` (stratified / Sobol, k ≥ 8): a stratified or quasi-random design of size k
  has no unbiased variance estimate from its own terms — s² / k measures the i.i.d. variance,
  which overstated the design's actual error 1.4–25× (``experiments/eg_standard_error.py``).
  So the k samples are drawn as B independent replicate designs of sizes m_b (B = 8, or 4 when
  that keeps every replicate balanced over the references; see
  :func:`~pathattr.baselines.sampling.replicate_count`).  With replicate means ȳ_b,

  .. math::

      \widehat{\mathrm{Var}}(\widehat{EG})
          = \frac{1}{(B-1)\,k} \sum_b m_b \big(\bar y_b - \widehat{EG}\big)^2,

  which for equal sizes is the randomised-QMC estimator Σ_b (ȳ_b − EG^)² / (B (B − 1)),
  unbiased because the replicates are independent with the same mean (for unequal sizes
  exactly so when Var(ȳ_b) ∝ 1/m_b, a second-order effect otherwise).  It has B − 1 degrees
  of freedom, so a single call's SE is itself uncertain (±27% for B = 8; a ±2·SE interval
  covers like a t₇ interval, 91%), but it is right on average.
* ``"iid_conservative"`` (stratified / Sobol with k < 8, or ``replicates=1``): one design,
  too small for (or asked without) replicates; s² / k, which usually overstates its error
  (for a Latin hypercube it can understate it by at most a factor (k − 1) / k in variance).

EG^ is the plain mean of all k terms in every case, hence unbiased, and the draw costs the
same k gradient evaluations.  The price of replicates is accuracy: each replicate is
stratified over k / B samples, not k, which loses part of the gain of stratified and Sobol
sampling over random when k is small compared to the number of references (see
``docs/expected_gradients.md``).

With ``references="batch"`` the references are drawn, like from a reference set, among the
N − 1 other examples, so the spread over seeds includes the choice of references (with fixed
references only the α noise would vary, and it cannot be estimated from one α per reference).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from pathattr.baselines.sampling import (
    check_replicates,
    check_sampling,
    draw_uniforms,
    reference_indices,
    replicate_count,
    replicate_of_sample,
    replicate_sizes,
)
from pathattr.baselines.sources import (
    BATCH,
    DatasetReferences,
    ReferencesLike,
    SamplerReferences,
    TensorReferences,
    as_reference_source,
)
from pathattr.engine.core import evaluate_rows, expand_forward_args, forward_select
from pathattr.engine.memory import resolve_batch_size
from pathattr.engine.pipeline import (
    Prepared,
    check_bool,
    check_seed,
    generator,
    prepare,
    warn_non_finite,
)
from pathattr.engine.progress import progress_bar
from pathattr.engine.targets import Selector, TargetLike
from pathattr.engine.validate import (
    check_int_arg,
    warn_zero_gradient,
)
from pathattr.paths.references import ReferencePath
from pathattr.result import Attribution, completeness, warn_if_incomplete

#: the mean of F over a tensor reference set (``extras["reference_set_output"]``) is computed when
#: it has at most this many rows (or no more rows than the samples drawn): one forward-only pass
#: over up to this many rows per call, which can cost more than the N·k gradient evaluations for
#: small batches; ``diagnostics=False`` skips it
FULL_REFERENCE_OUTPUT_ROWS = 10_000

#: most elements of a repeated reference-output table per selector call (see table_means)
_TABLE_CHUNK_ELEMENTS = 1 << 16


def expected_gradients(
    model: Callable[..., Any],
    inputs: torch.Tensor | tuple[torch.Tensor, ...],
    *,
    references: ReferencesLike,
    target: TargetLike = None,
    samples: int = 200,
    sampling: str = "random",
    seed: int | None = None,
    replicates: int | None = None,
    batch_size: int | str | None = "auto",
    create_graph: bool = False,
    forward_args: Any = (),
    warn_tol: float | None = None,
    progress: bool = False,
    diagnostics: bool = True,
) -> Attribution:
    """Expected Gradients of ``model``'s selected output at ``inputs`` over ``references``.

    Args:
        model: a callable (usually an ``nn.Module`` in eval mode) called as
            ``model(*inputs, *forward_args)``, returning a batch-first output.
        inputs: a batch-first float tensor, or a tuple of them for multi-input models.
        references: the reference distribution D:

            * a tensor of reference rows ``(R, *input.shape[1:])`` (a tuple of them for
              multi-input models);
            * a map-style ``torch.utils.data.Dataset`` or a ``DataLoader`` over one: indices are
              drawn and only those items are read (an item is a tensor, or a tuple whose first
              entries are the inputs, e.g. ``(x, y)``);
            * a callable ``sampler(n, generator) -> rows`` returning ``n`` reference rows (a
              tensor or tuple of tensors) drawn with the given ``torch.Generator``;
            * ``"batch"``: the other examples of ``inputs``; each sample of example ``e`` draws
              one of the N − 1 others, like from a reference set of them (``samples`` must be
              < N).  With ``samples=1`` and ``create_graph=True`` this is the paper's cheap
              training-time estimate.
        target: None (the model returns one value per example), an int, one int per example, or
            a callable mapping the model output to a ``(batch,)`` tensor.
        samples: (reference, α) samples per example k; each costs one gradient evaluation.
        sampling: ``"random"`` (i.i.d.), ``"stratified"`` (α in m strata, reference index in m
            strata, paired by a random permutation: a Latin hypercube) or ``"sobol"``
            (per-example scrambled Sobol points over (α, reference)), by default with k ≥ 8
            drawn as ``extras["replicates"]`` independent designs of m = k / B samples each,
            so that the standard error is honest (module docstring and
            :mod:`pathattr.baselines.sampling`).
            Callable samplers draw the references themselves; only α is stratified then.
        seed: seeds the ``torch.Generator`` for every draw; the same seed gives the same result.
            None draws a fresh seed, reported in ``extras["seed"]``.
        replicates: for stratified / Sobol sampling, the number B of independent designs the
            k samples are drawn as, which the standard error needs (module docstring).  None
            (default): 8, or 4 when that keeps every replicate balanced over the references,
            or 1 below 8 samples.  1 draws one design of all k samples — the most accurate
            estimate, but its standard error is then the i.i.d. formula, which overstates the
            error (``standard_error_method="iid_conservative"``).  Must be None or 1 for
            ``"random"``.
        batch_size: maximum rows (samples) per model call; None runs all at once; ``"auto"``
            fits chunks to free memory.
        create_graph: make the attributions differentiable w.r.t. the model parameters (and
            the inputs).
        forward_args: extra arguments passed to the model; tensors whose first dimension is the
            batch size are expanded along with the inputs.
        warn_tol: warn when an example's relative completeness residual exceeds this.  Off by
            default because the residual is expected Monte-Carlo error (see ``delta``).
        progress: show a progress bar (needs tqdm).
        diagnostics: compute everything besides the attributions (the default).  False skips
            the forward-only passes for F(x), for F at the drawn references and, for a tensor
            reference set, over the whole set (``reference_set_output``), the float64 moments
            of the standard error and the all-zero-gradient check: in a training loop with
            ``create_graph=True`` only the attributions enter the loss, and the whole-set pass
            alone can cost more than the gradients (:class:`~pathattr.priors.AttributionPrior`
            passes False).  The attributions and the draws are identical either way; ``output``,
            ``baseline_output``, ``delta``, ``relative_delta`` and ``standard_error`` are NaN
            and ``reference_set_output`` is None.  Cannot be combined with ``warn_tol``.

    Returns:
        An :class:`~pathattr.result.Attribution` with ``baseline_output`` = the mean of F over
        the references drawn for each example, ``delta``/``relative_delta`` the completeness
        residual against it, ``evaluations`` = ``samples`` per example, and in ``extras``
        (with ``diagnostics=False`` see above):

        * ``standard_error``: per-feature Monte-Carlo standard error (same structure as
          ``attributions``), an estimate of the attribution's spread over seeds;
          ``standard_error_method`` says how it was computed (module docstring): ``"iid"``
          (random: sample sd of the k terms / √k; NaN when k = 1), ``"replicates"`` (stratified
          / Sobol with k ≥ 8: spread of the means of the ``replicates`` = B independent
          designs, B − 1 degrees of freedom) or ``"iid_conservative"`` (stratified / Sobol with
          k < 8 or ``replicates=1``: the i.i.d. formula, which overstates the error).
        * ``reference_set_output``: the mean of F over the whole tensor reference set (the exact
          base value E[F(x')]) when it has at most max(10000, N·k) rows, else None.
        * ``reference_indices``: ``(N, k)`` indices of the references drawn (None for callable
          samplers), ``seed``, ``samples``, ``sampling``.
    """
    k = check_int_arg(samples, "samples")
    check_sampling(sampling)
    reps = check_replicates(replicates, k, sampling)
    check_seed(seed)
    check_bool(diagnostics, "diagnostics")
    if warn_tol is not None and not diagnostics:
        raise ValueError(
            "warn_tol: the completeness check needs diagnostics=True (diagnostics=False skips "
            "the base value and the residual)"
        )
    p = prepare(
        model, inputs, target=target, forward_args=forward_args, batch_size=batch_size,
        create_graph=create_graph, warn_tol=warn_tol, progress=progress,
    )  # fmt: skip
    source = as_reference_source(references, p.inputs)
    if p.empty:
        return p.empty_result("expected_gradients", {"samples": k, "sampling": sampling})
    with p.running():
        return _expected_gradients(p, source, k, sampling, seed, diagnostics, reps)


def _expected_gradients(
    p: Prepared,
    source: Any,
    k: int,
    sampling: str,
    seed: int | None,
    diagnostics: bool,
    replicates: int | None = None,
) -> Attribution:
    model, single, xs, n = p.model, p.single, p.inputs, p.n
    fargs, selector, device = p.forward_args, p.selector, p.device
    batch_size, create_graph, progress, warn_tol = (
        p.batch_size,
        p.create_graph,
        p.progress,
        p.warn_tol,
    )
    gen, used_seed = generator(seed)

    # one (α, reference) pair per sample; examples are contiguous blocks of k rows, each block
    # `reps` independent replicate designs (see _replicate_variance)
    rows = torch.arange(n).repeat_interleave(k)
    size = n - 1 if source == BATCH else getattr(source, "size", None)
    reps = replicate_count(k, sampling, size) if replicates is None else replicates
    u, refs, keys, drawn = draw_references(source, xs, n, k, sampling, gen, reps)
    alphas = u[..., 0].reshape(-1).to(xs[0].dtype)
    rows, alphas, keys = rows.to(device), alphas.to(device), keys.to(device)

    path = ReferencePath(xs, refs)
    bsize = resolve_batch_size(
        batch_size, model, path, selector, rows, alphas, n_examples=n, forward_args=fargs,
        keys=keys,
    )  # fmt: skip
    bar = progress_bar(n * k, progress, desc="expected gradients")
    try:
        sums, se, any_gradient = _accumulate(
            model, path, selector, rows, alphas, keys, n, k, fargs, bsize, create_graph, bar,
            diagnostics, reps,
        )  # fmt: skip
    finally:
        bar.close()

    full: torch.Tensor | None = None
    if not diagnostics:
        # attributions only (training loops): no forward pass besides the gradient rows
        nan = torch.full((n,), float("nan"), dtype=xs[0].dtype, device=device)
        return _result(
            sums, se, single, nan, nan.clone(), nan.clone(), nan.clone(), k, sampling, used_seed,
            full, drawn, reps,
        )  # fmt: skip

    table = output_table(model, refs, fargs, n, bsize, max(FULL_REFERENCE_OUTPUT_ROWS, n * k))
    if source == BATCH and table is not None:
        output = selector(table, torch.arange(n, device=device)).detach()
    else:
        output = forward_select(model, xs, selector, forward_args=fargs, batch_size=bsize)
    ref_out = reference_outputs(model, refs, keys, rows, selector, fargs, n, bsize, table)
    base_output = ref_out.reshape(n, k).mean(1)
    if isinstance(source, TensorReferences) and table is not None:
        full = table_means(table, selector, n)
    if not any_gradient:
        warn_zero_gradient("every sampled path point", stacklevel=3)
    delta, rel = completeness(sums, output, base_output)
    if not bool(torch.isfinite(delta).all()):
        warn_non_finite({"output": output, "baseline_output": base_output}, sums, stacklevel=3)
    res = _result(
        sums, se, single, output, base_output, delta, rel, k, sampling, used_seed, full, drawn,
        reps,
    )  # fmt: skip
    if warn_tol is not None:
        warn_if_incomplete(
            res, warn_tol, f"raise samples (now {k}) or use sampling='sobol'", stacklevel=4
        )
    return res


def draw_references(
    source: Any,
    xs: tuple[torch.Tensor, ...],
    n: int,
    k: int,
    sampling: str,
    gen: torch.Generator,
    reps: int,
    extra_dims: int = 0,
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor, torch.Tensor | None]:
    """The (α, reference) draws of ``k`` samples per example from a reference source.

    Returns ``u`` (``(n, k, dims)`` uniforms: α in column 0, the reference in column 1 for
    indexable sources, then ``extra_dims`` more columns for the caller, e.g. Expected
    Hessians' β), the reference rows ``refs``, the row of ``refs`` of every sample ``keys``
    (``(n·k,)``) and the ``(n, k)`` drawn indices (None for callable samplers).
    """
    drawn: torch.Tensor | None
    if source == BATCH:
        if k >= n:
            raise ValueError(
                f"samples: references='batch' uses the other examples of the batch as "
                f"references, so samples must be < batch size {n}, got {k}"
            )
        # the reference is drawn (like a reference set) among the n − 1 other examples, so
        # the estimate's spread over seeds includes the choice of references and the standard
        # error estimates it; fixed references would leave only the α noise, which cannot be
        # estimated from one α per reference
        u = draw_uniforms(n, k, sampling, gen, dims=2 + extra_dims, replicates=reps)
        offset = reference_indices(u[..., 1], n - 1)
        drawn = (torch.arange(n)[:, None] + 1 + offset) % n
        refs: tuple[torch.Tensor, ...] = xs
        keys = drawn.reshape(-1)
    elif isinstance(source, SamplerReferences):
        u = draw_uniforms(n, k, sampling, gen, dims=1 + extra_dims, replicates=reps)
        refs = source.sample(n * k, gen, xs)
        drawn = None
        keys = torch.arange(n * k)
    else:
        assert isinstance(source, (TensorReferences, DatasetReferences))
        u = draw_uniforms(n, k, sampling, gen, dims=2 + extra_dims, replicates=reps)
        drawn = reference_indices(u[..., 1], source.size)
        if isinstance(source, TensorReferences):
            refs, keys = source.tensors, drawn.reshape(-1)
        else:
            # read every drawn item once
            uniq, inverse = torch.unique(drawn.reshape(-1), return_inverse=True)
            refs, keys = source.rows(uniq), inverse
    return u, refs, keys, drawn


def _result(
    sums: tuple[torch.Tensor, ...],
    se: tuple[torch.Tensor, ...],
    single: bool,
    output: torch.Tensor,
    base_output: torch.Tensor,
    delta: torch.Tensor,
    rel: torch.Tensor,
    k: int,
    sampling: str,
    seed: int,
    full: torch.Tensor | None,
    drawn: torch.Tensor | None,
    replicates: int,
) -> Attribution:
    n = output.shape[0]
    return Attribution(
        attributions=sums[0] if single else sums,
        output=output,
        baseline_output=base_output,
        delta=delta,
        relative_delta=rel,
        evaluations=torch.full((n,), k, dtype=torch.int64),
        method="expected_gradients",
        extras={
            "samples": k,
            "sampling": sampling,
            "seed": seed,
            "standard_error": se[0] if single else se,
            "standard_error_method": standard_error_method(k, sampling, replicates),
            "replicates": replicates,
            "reference_set_output": full,
            "reference_indices": drawn,
        },
    )


def standard_error_method(k: int, sampling: str, replicates: int) -> str:
    """How ``extras["standard_error"]`` is computed (see the module docstring).

    ``"iid"``: sample sd of the k terms / √k (exact for i.i.d. terms; NaN when k = 1);
    ``"replicates"``: spread of the means of the independent replicate designs;
    ``"iid_conservative"``: stratified / Sobol as one design (too few samples for replicates,
    or ``replicates=1``) — the i.i.d. formula, which overstates that design's error.
    """
    if replicates > 1:
        return "replicates"
    return "iid" if sampling == "random" or k < 2 else "iid_conservative"


def _accumulate(
    model: Callable[..., Any],
    path: ReferencePath,
    selector: Selector,
    rows: torch.Tensor,
    alphas: torch.Tensor,
    keys: torch.Tensor,
    n: int,
    k: int,
    fargs: tuple[Any, ...],
    batch_size: int | None,
    create_graph: bool,
    bar: Any,
    diagnostics: bool = True,
    replicates: int = 1,
) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...], bool]:
    """Mean of the per-sample terms (x − x') ⊙ ∇F per example, and their standard error.

    With ``replicates`` = B > 1 the k samples of an example are B contiguous independent
    designs (:func:`~pathattr.baselines.sampling.replicate_sizes`) and the standard error comes
    from the spread of their means; with B = 1 from the spread of the k terms.  Without
    ``diagnostics`` the standard error is NaN and no gradient is checked for being all zero
    (the flag returned is True).
    """
    sums = [torch.zeros_like(x) for x in path.inputs]
    # detached float64 accumulators for the standard error: the first and second moments of
    # the terms (B = 1; float64 so that Σt² − k·mean² does not cancel catastrophically), or
    # the sum of the terms of each (example, replicate) (B > 1)
    width = replicates if replicates > 1 else 1
    m1 = [
        torch.zeros((x.shape[0] * width, *x.shape[1:]), dtype=torch.float64, device=x.device)
        for x in (path.inputs if diagnostics else ())
    ]
    m2 = [torch.zeros_like(m) for m in (m1 if replicates == 1 else ())]
    # the (example, replicate) cell of every sample row
    cell = rows * width + replicate_of_sample(k, width).repeat(n).to(rows.device)
    any_gradient = False
    for chunk in evaluate_rows(
        model, path, selector, rows, alphas, n_examples=n, forward_args=fargs,
        batch_size=batch_size, create_graph=create_graph, progress=bar, keys=keys,
    ):  # fmt: skip
        derivs = path.derivatives(chunk.rows, chunk.alphas, chunk.keys)
        idx = chunk.rows
        for i, (g, d) in enumerate(zip(chunk.grads, derivs)):
            term = g * d
            if create_graph:
                sums[i] = sums[i].index_add(0, idx, term / k)
            else:
                sums[i].index_add_(0, idx, term / k)
            if not diagnostics:
                continue
            if not any_gradient and bool((g != 0).any()):
                any_gradient = True
            t64 = term.detach().to(torch.float64)
            m1[i].index_add_(0, cell[chunk.start : chunk.stop], t64)
            if replicates == 1:
                m2[i].index_add_(0, idx, t64 * t64)
    if not diagnostics:
        nan = tuple(torch.full_like(x, float("nan")) for x in path.inputs)
        return tuple(sums), nan, True
    se = []
    for i, x in enumerate(path.inputs):
        if replicates > 1:
            var = _replicate_variance(m1[i], replicate_sizes(k, replicates), n)
        elif k < 2:
            se.append(torch.full_like(x, float("nan")))
            continue
        else:
            s1, s2 = m1[i], m2[i]
            var = (s2 - s1 * s1 / k).clamp_min(0.0) / (k - 1) / k
        se.append(var.sqrt().to(x.dtype))
    return tuple(sums), tuple(se), any_gradient


def _replicate_variance(cell_sums: torch.Tensor, sizes: torch.Tensor, n: int) -> torch.Tensor:
    """Variance of the mean of all k terms, from the sums of the terms of each replicate.

    With replicate means ȳ_b over m_b terms and the overall mean ȳ = Σ_b m_b ȳ_b / k,
    ``Σ_b m_b (ȳ_b − ȳ)² / ((B − 1) k)`` — with equal sizes the textbook
    ``Σ_b (ȳ_b − ȳ)² / (B (B − 1))``, unbiased because the replicates are independent and
    unbiased (see the module docstring).
    """
    b = sizes.shape[0]
    k = int(sizes.sum())
    per = cell_sums.reshape(n, b, *cell_sums.shape[1:])
    m = sizes.to(per)[(None, slice(None)) + (None,) * (per.dim() - 2)]
    means = per / m
    overall = per.sum(1, keepdim=True) / k
    return (m * (means - overall).pow(2)).sum(1) / ((b - 1) * k)


def output_table(
    model: Callable[..., Any],
    refs: tuple[torch.Tensor, ...],
    fargs: tuple[Any, ...],
    n: int,
    batch_size: int | None,
    max_rows: int,
) -> torch.Tensor | None:
    """The model's raw output at every reference row, when it can be shared by all examples.

    None when a forward argument depends on the example, the output is not a plain tensor, or
    there are more than ``max_rows`` references (then F is evaluated per drawn sample instead).
    """
    u = refs[0].shape[0]
    if u > max_rows or any(
        isinstance(a, torch.Tensor) and a.dim() > 0 and a.shape[0] == n for a in fargs
    ):
        return None
    step = u if batch_size is None else max(1, batch_size)
    raw = []
    with torch.no_grad():
        for start in range(0, u, step):
            r = torch.arange(start, min(u, start + step), device=refs[0].device)
            out = model(*(t[r] for t in refs), *fargs)
            if not isinstance(out, torch.Tensor):
                return None
            raw.append(out.detach())
    return torch.cat(raw)


def table_means(table: torch.Tensor, selector: Selector, n: int) -> torch.Tensor:
    """Per example e, the mean over all reference rows of ``selector(table, e)``.

    Small tables are repeated for a block of examples (at most ``_TABLE_CHUNK_ELEMENTS``
    elements, so the copy stays in cache) and selected in one call instead of one call per
    example; a table larger than that is selected once per example, without a copy.
    """
    u = table.shape[0]
    size = max(1, table.numel())
    block = max(1, min(n, _TABLE_CHUNK_ELEMENTS // size))
    every = torch.arange(u, device=table.device)
    means = []
    for start in range(0, n, block):
        stop = min(n, start + block)
        if stop - start == 1:
            means.append(selector(table, torch.full_like(every, start)).detach().mean()[None])
            continue
        ex = torch.arange(start, stop, device=table.device).repeat_interleave(u)
        reps = (stop - start,) + (1,) * (table.dim() - 1)
        means.append(selector(table.repeat(reps), ex).detach().reshape(stop - start, u).mean(1))
    return torch.cat(means)


def reference_outputs(
    model: Callable[..., Any],
    refs: tuple[torch.Tensor, ...],
    keys: torch.Tensor,
    rows: torch.Tensor,
    selector: Selector,
    fargs: tuple[Any, ...],
    n: int,
    batch_size: int | None,
    table: torch.Tensor | None = None,
) -> torch.Tensor:
    """F(x'_key) for every sample row, with the row's example's target and forward args.

    With ``table`` (the raw outputs at every reference, see :func:`output_table`) nothing is
    evaluated again; otherwise the model runs on every (example, reference) row.
    """
    total = rows.shape[0]
    step = total if batch_size is None else max(1, batch_size)
    outs = []
    with torch.no_grad():
        for start in range(0, total, step):
            sl = slice(start, start + step)
            if table is not None:
                outs.append(selector(table[keys[sl]], rows[sl]).detach())
                continue
            extra = expand_forward_args(fargs, n, rows[sl])
            out = model(*(t[keys[sl]] for t in refs), *extra)
            outs.append(selector(out, rows[sl]).detach())
    return torch.cat(outs)
