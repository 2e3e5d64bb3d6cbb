"""Draws of (α, reference) pairs for Monte-Carlo path methods: random, stratified, Sobol.

Each example gets ``k`` samples.  A sample is a position α ∈ [0, 1) on the path and a uniform
``u`` ∈ [0, 1) that picks a reference (``floor(u · R)`` of ``R`` references).  All three modes
are unbiased for the expectation over α ~ U(0, 1) and a uniformly drawn reference:

* ``"random"``: α and u i.i.d. uniform.
* ``"stratified"``: α_j = (j + U_j) / m and u_j = (π(j) + V_j) / m with an independent random
  permutation π per example — a Latin hypercube of size m over (α, u).  With ``m`` a multiple
  of ``R`` every reference is used exactly ``m / R`` times; otherwise reference strata are
  contiguous index ranges (stratifying by index also balances a reference set stored in sorted
  order).
* ``"sobol"``: the first ``m`` points of a 2-D Sobol sequence, randomised by torch's
  ``SobolEngine(scramble=True)`` (a random linear matrix scramble and digital shift, one per
  example) — randomised quasi-Monte Carlo.  Nets are balanced when ``m`` is a power of two.

Replicates.  A single stratified or Sobol design of size k has no unbiased variance estimate
from its own k points: the spread of the k terms measures the i.i.d. variance, which overstates
the error of a balanced design (for small reference sets by an order of magnitude).  So the k
samples of an example are drawn as ``replicates`` = B independent designs of sizes m_b
(= k / B, sizes differing by at most one when B does not divide k), contiguous in the sample
order: B independent Latin hypercubes, or B independent digital shifts of one scrambled Sobol
point set per example (given the scramble the shifted copies are i.i.d. and each is unbiased
whatever the scramble, so the replicate means are uncorrelated).  :func:`replicate_count`
chooses B (:data:`REPLICATES` from :data:`MIN_REPLICATED_SAMPLES` samples on); B = 1 is the
single design above, ``"random"`` always uses B = 1 (its terms are already i.i.d.).
"""

from __future__ import annotations

import torch

SAMPLING_MODES = ("random", "stratified", "sobol")

#: independent replicates per example for stratified / Sobol sampling with enough samples: the
#: standard error then has B − 1 = 7 degrees of freedom (about ±27% relative error per call),
#: while each replicate keeps k / 8 samples of stratification
REPLICATES = 8

#: fewest samples per example drawn as :data:`REPLICATES` replicates; from
#: :data:`MIN_FEW_REPLICATED_SAMPLES` to here 4 replicates (3 degrees of freedom), below it one
#: design whose standard error falls back to the i.i.d. formula
MIN_REPLICATED_SAMPLES = 16

#: fewest samples per example drawn as 4 replicates (see :data:`MIN_REPLICATED_SAMPLES`)
MIN_FEW_REPLICATED_SAMPLES = 8

#: bits of the Sobol points (torch's SobolEngine draws multiples of 2^-30)
_SOBOL_BITS = 30


def check_sampling(sampling: object) -> str:
    """``sampling`` validated against :data:`SAMPLING_MODES`."""
    if not isinstance(sampling, str) or sampling not in SAMPLING_MODES:
        raise ValueError(
            f"sampling: expected one of {', '.join(map(repr, SAMPLING_MODES))}, got {sampling!r}"
        )
    return sampling


def replicate_count(k: int, sampling: str, n_references: int | None = None) -> int:
    """Independent replicates B the ``k`` samples of an example are drawn as (see module doc).

    1 for ``"random"`` (i.i.d. terms need none) and for fewer than
    :data:`MIN_FEW_REPLICATED_SAMPLES` samples (too few for a useful spread of replicate
    means: one design, whose i.i.d. standard error is an approximate upper bound); else
    :data:`REPLICATES`, or 4 below :data:`MIN_REPLICATED_SAMPLES` samples.  Given the number of
    references ``R`` (an indexable source) with ``k`` a multiple of R, the B in (8, 4) that keeps
    every replicate balanced (k / B a multiple of R: each reference used k / R times in all) is
    preferred, because balance removes the whole between-reference part of the error.
    """
    check_sampling(sampling)
    if sampling == "random" or k < MIN_FEW_REPLICATED_SAMPLES:
        return 1
    default = REPLICATES if k >= MIN_REPLICATED_SAMPLES else 4
    if n_references and k % n_references == 0:
        for b in (REPLICATES, 4):
            if b <= default and k % b == 0 and (k // b) % n_references == 0:
                return b
    return default


def check_replicates(replicates: object, k: int, sampling: str) -> int | None:
    """A user's ``replicates`` (None = :func:`replicate_count` chooses) validated for ``k``."""
    if replicates is None:
        return None
    if isinstance(replicates, bool) or not isinstance(replicates, int):
        raise TypeError(f"replicates: expected an int or None, got {type(replicates).__name__}")
    if sampling == "random" and replicates != 1:
        raise ValueError(
            f"replicates: sampling='random' draws i.i.d. samples, which need no replicates; "
            f"expected None or 1, got {replicates}"
        )
    if not 1 <= replicates <= k:
        raise ValueError(f"replicates: expected 1 <= replicates <= samples {k}, got {replicates}")
    return replicates


def replicate_sizes(k: int, replicates: int) -> torch.Tensor:
    """``(replicates,)`` int64 sizes m_b summing to ``k``, the first ``k mod B`` one larger."""
    if not 1 <= replicates <= k:
        raise ValueError(f"replicates: expected 1 <= replicates <= samples {k}, got {replicates}")
    sizes = torch.full((replicates,), k // replicates, dtype=torch.int64)
    sizes[: k % replicates] += 1
    return sizes


def replicate_of_sample(k: int, replicates: int) -> torch.Tensor:
    """``(k,)`` int64: the replicate each of an example's ``k`` samples belongs to (contiguous)."""
    return torch.repeat_interleave(torch.arange(replicates), replicate_sizes(k, replicates))


def draw_uniforms(
    n: int,
    k: int,
    sampling: str,
    generator: torch.Generator,
    dims: int = 2,
    replicates: int = 1,
) -> torch.Tensor:
    """``(n, k, dims)`` float64 points in [0, 1): per example ``k`` samples of ``dims`` uniforms.

    Dimension 0 is α; dimension 1 (when ``dims == 2``) selects the reference.  With
    ``replicates`` = B > 1 the samples of an example are B independent stratified / Sobol
    designs, contiguous and of the sizes :func:`replicate_sizes` gives (ignored for
    ``"random"``, whose samples are all independent anyway).
    """
    check_sampling(sampling)
    if sampling != "random" and replicates != 1:
        sizes = replicate_sizes(k, replicates)
        if sampling == "stratified":
            return _replicated_latin_hypercubes(n, sizes, generator, dims)
        return _shifted_sobol(n, sizes, generator, dims)
    if sampling == "random":
        return torch.rand((n, k, dims), generator=generator, dtype=torch.float64)
    if sampling == "stratified":
        jitter = torch.rand((n, k, dims), generator=generator, dtype=torch.float64)
        strata = torch.arange(k, dtype=torch.float64).expand(n, k)
        cols = [strata]
        for _ in range(1, dims):
            # an independent permutation per example pairs α strata with reference strata
            keys = torch.rand((n, k), generator=generator)
            cols.append(keys.argsort(dim=1).to(torch.float64))
        return (torch.stack(cols, dim=-1) + jitter) / k
    out = torch.empty((n, k, dims), dtype=torch.float64)
    seeds = torch.randint(0, 2**62, (n,), generator=generator)
    for e in range(n):
        eng = torch.quasirandom.SobolEngine(dims, scramble=True, seed=int(seeds[e]))
        out[e] = eng.draw(k, dtype=torch.float64)
    return out.clamp_(0.0, 1.0 - 2.0**-53)


def reference_indices(u: torch.Tensor, n_references: int) -> torch.Tensor:
    """``floor(u · R)`` as int64, clamped to ``[0, R)``."""
    idx = torch.floor(u * n_references).to(torch.int64)
    return idx.clamp_(0, n_references - 1)


def _replicated_latin_hypercubes(
    n: int, sizes: torch.Tensor, generator: torch.Generator, dims: int
) -> torch.Tensor:
    """Per example, ``len(sizes)`` independent Latin hypercubes of the given sizes, concatenated."""
    k = int(sizes.sum())
    group = torch.repeat_interleave(torch.arange(len(sizes)), sizes)
    start = (torch.cumsum(sizes, 0) - sizes)[group]  # first sample of each sample's replicate
    m = sizes[group].to(torch.float64)
    jitter = torch.rand((n, k, dims), generator=generator, dtype=torch.float64)
    cols = [(torch.arange(k) - start).to(torch.float64).expand(n, k)]
    for _ in range(1, dims):
        # sorting random keys offset by the replicate index permutes each replicate's samples
        # among themselves: rank − start is an independent random permutation per replicate
        keys = torch.rand((n, k), generator=generator, dtype=torch.float64) + group
        rank = keys.argsort(dim=1).argsort(dim=1)
        cols.append((rank - start).to(torch.float64))
    return (torch.stack(cols, dim=-1) + jitter) / m[:, None]


def _shifted_sobol(
    n: int, sizes: torch.Tensor, generator: torch.Generator, dims: int
) -> torch.Tensor:
    """Per example one scrambled Sobol set; replicate b is its first m_b points XOR a shift.

    The digital shifts are independent and uniform, so every replicate is uniformly
    distributed whatever the scramble, and given the scramble the replicates are i.i.d.: the
    replicate means are uncorrelated, which is what the variance estimate needs.
    """
    k, b = int(sizes.sum()), len(sizes)
    m_max = int(sizes.max())
    scale = float(2**_SOBOL_BITS)
    seeds = torch.randint(0, 2**62, (n,), generator=generator)
    shifts = torch.randint(0, 2**_SOBOL_BITS, (n, b, dims), generator=generator)
    base = torch.empty((n, m_max, dims), dtype=torch.int64)
    for e in range(n):
        eng = torch.quasirandom.SobolEngine(dims, scramble=True, seed=int(seeds[e]))
        base[e] = (eng.draw(m_max, dtype=torch.float64) * scale).round().to(torch.int64)
    group = torch.repeat_interleave(torch.arange(b), sizes)
    index = torch.arange(k) - (torch.cumsum(sizes, 0) - sizes)[group]  # point within replicate
    points = torch.bitwise_xor(base[:, index], shifts[:, group])
    return points.to(torch.float64) / scale
