"""Draws of (α, reference) pairs for Monte-Carlo path methods: random, stratified, Sobol.

Each example gets ``k`` samples.  A sample is a position α ∈ [0, 1) on the path and a uniform
``u`` ∈ [0, 1) that picks a reference (``floor(u · R)`` of ``R`` references).  All three modes
are unbiased for the expectation over α ~ U(0, 1) and a uniformly drawn reference:

* ``"random"``: α and u i.i.d. uniform.
* ``"stratified"``: α_j = (j + U_j) / k and u_j = (π(j) + V_j) / k with an independent random
  permutation π per example — a Latin hypercube over (α, u).  With ``k`` a multiple of ``R`` every
  reference is used exactly ``k / R`` times; otherwise reference strata are contiguous index
  ranges (stratifying by index also balances a reference set stored in sorted order).
* ``"sobol"``: the first ``k`` points of a 2-D Sobol sequence with an independent Owen scramble
  per example (randomised quasi-Monte Carlo).  Nets are balanced when ``k`` is a power of two.
"""

from __future__ import annotations

import torch

SAMPLING_MODES = ("random", "stratified", "sobol")


def check_sampling(sampling: object) -> str:
    """``sampling`` validated against :data:`SAMPLING_MODES`."""
    if not isinstance(sampling, str) or sampling not in SAMPLING_MODES:
        raise ValueError(
            f"sampling: expected one of {', '.join(map(repr, SAMPLING_MODES))}, got {sampling!r}"
        )
    return sampling


def draw_uniforms(
    n: int, k: int, sampling: str, generator: torch.Generator, dims: int = 2
) -> torch.Tensor:
    """``(n, k, dims)`` float64 points in [0, 1): per example ``k`` samples of ``dims`` uniforms.

    Dimension 0 is α; dimension 1 (when ``dims == 2``) selects the reference.
    """
    check_sampling(sampling)
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
