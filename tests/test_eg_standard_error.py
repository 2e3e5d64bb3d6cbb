"""Expected Gradients' standard error against the actual spread of the estimate over draws.

For every sampling mode and reference source, the reported ``extras["standard_error"]``
averaged over S ≥ 200 independent draws must match the empirical standard deviation of the
attribution over those draws: median over features of the ratio within [0.8, 1.5] (the mean
of a standard error with B − 1 = 7 degrees of freedom is c₄ ≈ 0.965 of the truth; the i.i.d.
formula the stratified and Sobol modes used before gave 3× to 80× in the cases below).

Speed: per-example draws are independent (each example gets its own permutations, scrambles
and shifts from the generator), so S copies of an input in ONE call are S independent draws of
its estimate, distributed exactly as S seeds; ``"batch"`` references depend on the batch, so
that source runs S real seeds on a small batch.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from conftest import cnn, mlp

import pathattr

S = 240  # independent draws per setting
MODES = ("random", "stratified", "sobol")


def dataset_of(rows: torch.Tensor) -> torch.utils.data.TensorDataset:
    """A map-style dataset of (x, label) items over reference rows."""
    return torch.utils.data.TensorDataset(rows, torch.zeros(len(rows)))


def randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


MODEL = mlp(0, d_in=6, hidden=12, d_out=3, act=torch.nn.Tanh).double()
X = randn(3, 6, seed=1)
REFS = randn(48, 6, seed=2)  # k = 32 < R: the usual case
SMALL_REFS = randn(8, 6, seed=3)  # k = 64 = 8 R: stratification balances the references


def sampler_over(rows: torch.Tensor) -> Any:
    """A callable reference sampler drawing rows uniformly (so the estimand is known)."""
    return lambda n, g: rows[torch.randint(0, len(rows), (n,), generator=g)]


def stacked(
    refs: Any, k: int, mode: str, model: Any = MODEL, x: torch.Tensor = X, **kw: Any
) -> tuple:
    """Attributions and SEs of S independent draws, ``(S, *x.shape)`` each, from one call."""
    r = pathattr.expected_gradients(
        model, x.repeat(S, *([1] * (x.dim() - 1))), references=refs, target=0, samples=k,
        sampling=mode, seed=0, batch_size=None, **kw,
    )  # fmt: skip
    shape = (S, *x.shape)
    return r.attributions.reshape(shape), r.extras["standard_error"].reshape(shape), r.extras


def ratio(attrs: torch.Tensor, ses: torch.Tensor) -> float:
    """Median over features of mean reported SE / empirical sd across the draws."""
    return float((ses.mean(0) / attrs.std(0)).median())


SOURCES = {
    "tensor": (REFS, 32),
    "tensor balanced": (SMALL_REFS, 64),
    "dataset": (dataset_of(REFS), 32),
    "sampler": (sampler_over(REFS), 32),
    "tensor k=12": (REFS, 12),  # 4 replicates
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("source", list(SOURCES))
def test_standard_error_matches_the_spread_over_draws(source: str, mode: str) -> None:
    refs, k = SOURCES[source]
    attrs, ses, extras = stacked(refs, k, mode)
    want = "iid" if mode == "random" else "replicates"
    assert extras["standard_error_method"] == want
    assert extras["replicates"] == (1 if mode == "random" else 8 if k >= 16 else 4)
    assert 0.8 <= ratio(attrs, ses) <= 1.5, (source, mode, ratio(attrs, ses))


@pytest.mark.parametrize("mode", MODES)
def test_standard_error_matches_the_spread_over_seeds_batch_references(mode: str) -> None:
    """``references="batch"``: S real seeds (the draw depends on the whole batch)."""
    x = randn(12, 6, seed=4)
    runs = [
        pathattr.expected_gradients(
            MODEL, x, references="batch", target=0, samples=8, sampling=mode, seed=s,
            batch_size=None, diagnostics=True,
        )
        for s in range(S)
    ]  # fmt: skip
    attrs = torch.stack([r.attributions for r in runs])
    ses = torch.stack([r.extras["standard_error"] for r in runs])
    assert runs[0].extras["replicates"] == (1 if mode == "random" else 4)
    assert 0.8 <= ratio(attrs, ses) <= 1.5, (mode, ratio(attrs, ses))
    # unbiased for EG over the other examples of the batch
    exact = torch.stack([
        pathattr.noise_integrated_gradients(
            MODEL, x[e : e + 1], target=0, baselines=torch.cat([x[:e], x[e + 1 :]]), steps=48
        ).attributions[0]
        for e in range(12)
    ])  # fmt: skip
    assert_unbiased(attrs, exact)


def test_conv_model_sobol_and_stratified() -> None:
    model = cnn(0).double()
    x, refs = randn(1, 1, 8, 8, seed=5), randn(16, 1, 8, 8, seed=6)
    for mode in ("stratified", "sobol"):
        attrs, ses, _ = stacked(refs, 32, mode, model=model, x=x)
        assert 0.8 <= ratio(attrs, ses) <= 1.5, (mode, ratio(attrs, ses))


def assert_unbiased(attrs: torch.Tensor, exact: torch.Tensor) -> None:
    """Mean over the draws within a few standard errors of the exact value, per feature."""
    z = ((attrs.mean(0) - exact) / (attrs.std(0) / attrs.shape[0] ** 0.5)).reshape(-1)
    assert float(z.abs().max()) < 4.5, z
    assert 0.3 < float(z.pow(2).mean()) < 2.5, z  # ≈ 1 without bias


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("source", ["tensor", "tensor balanced", "sampler"])
def test_attributions_stay_unbiased(source: str, mode: str) -> None:
    refs, k = SOURCES[source]
    rows = SMALL_REFS if source == "tensor balanced" else REFS
    exact = pathattr.noise_integrated_gradients(
        MODEL, X, target=0, baselines=rows, steps=48
    ).attributions
    attrs, _, _ = stacked(refs, k, mode)
    assert_unbiased(attrs, exact)


def test_stacked_copies_are_distributed_like_seeds() -> None:
    """The shortcut above: S copies in one call spread like S seeds of one copy."""
    one = torch.stack([
        pathattr.expected_gradients(
            MODEL, X[:1], references=REFS, target=0, samples=32, sampling="sobol", seed=s
        ).attributions[0]
        for s in range(S)
    ])  # fmt: skip
    copies, _, _ = stacked(REFS, 32, "sobol")
    sd_ratio = one.std(0) / copies[:, 0].std(0)
    assert bool(((sd_ratio > 0.75) & (sd_ratio < 1.33)).all()), sd_ratio


def test_few_samples_fall_back_to_the_conservative_iid_formula() -> None:
    for mode in ("stratified", "sobol"):
        attrs, ses, extras = stacked(SMALL_REFS, 4, mode)
        assert extras["replicates"] == 1
        assert extras["standard_error_method"] == "iid_conservative"
        assert ratio(attrs, ses) >= 1.0, mode  # overstates the error of the one design
    one = pathattr.expected_gradients(
        MODEL, X, references=REFS, target=0, samples=1, sampling="sobol", seed=0
    )
    assert one.extras["standard_error_method"] == "iid"
    assert bool(one.extras["standard_error"].isnan().all())


def test_replicates_are_independent_designs() -> None:
    """Each replicate is a Latin hypercube / a balanced Sobol net of its own."""
    from pathattr.baselines.sampling import draw_uniforms, replicate_sizes

    g = torch.Generator().manual_seed(0)
    u = draw_uniforms(5, 21, "stratified", g, replicates=4)  # sizes 6, 5, 5, 5
    assert replicate_sizes(21, 4).tolist() == [6, 5, 5, 5]
    start = 0
    for m in (6, 5, 5, 5):
        block = u[:, start : start + m]
        for dim in (0, 1):
            strata = torch.floor(block[..., dim] * m).sort(1).values
            assert (strata == torch.arange(m, dtype=torch.float64)).all()
        start += m
    v = draw_uniforms(5, 64, "sobol", g, replicates=8)
    assert bool((v >= 0).all() and (v < 1).all())
    for b in range(8):  # 8 points of a shifted net: one in each eighth, in each coordinate
        block = v[:, 8 * b : 8 * b + 8]
        for dim in (0, 1):
            assert (torch.floor(block[..., dim] * 8).sort(1).values == torch.arange(8.0)).all()
    assert not torch.equal(v[:, :8], v[:, 8:16])


def test_create_graph_and_chunking_keep_the_standard_error() -> None:
    model = mlp(1, d_in=6, hidden=12, d_out=3, act=torch.nn.Tanh).double()
    kw: dict[str, Any] = dict(references=REFS, target=0, samples=24, sampling="stratified", seed=3)
    a = pathattr.expected_gradients(model, X, batch_size=None, **kw)
    b = pathattr.expected_gradients(model, X, batch_size=5, create_graph=True, **kw)
    torch.testing.assert_close(b.attributions.detach(), a.attributions)
    torch.testing.assert_close(b.extras["standard_error"], a.extras["standard_error"])
    assert b.attributions.requires_grad and not b.extras["standard_error"].requires_grad
    (grad,) = torch.autograd.grad(b.attributions.pow(2).sum(), [model[0].weight])
    assert bool(torch.isfinite(grad).all()) and float(grad.abs().sum()) > 0


def test_replicates_argument() -> None:
    # one design of all k: balanced over the references (each exactly once), the old accuracy,
    # and the i.i.d. formula, which overstates its error
    attrs, ses, extras = stacked(SMALL_REFS, 8, "stratified", replicates=1)
    assert extras["replicates"] == 1 and extras["standard_error_method"] == "iid_conservative"
    counts = torch.stack([torch.bincount(i, minlength=8) for i in extras["reference_indices"]])
    assert (counts == 1).all()
    assert ratio(attrs, ses) > 1.5
    # an explicit B: 6 replicates of 8 Sobol points, still calibrated
    attrs, ses, extras = stacked(REFS, 48, "sobol", replicates=6)
    assert extras["replicates"] == 6 and extras["standard_error_method"] == "replicates"
    assert 0.8 <= ratio(attrs, ses) <= 1.5


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(replicates=0), ValueError, r"replicates: expected 1 <= replicates <= samples 8"),
        (dict(replicates=9), ValueError, r"replicates: expected 1 <= replicates <= samples 8"),
        (dict(replicates=2.0), TypeError, "replicates: expected an int or None, got float"),
        (dict(replicates=True), TypeError, "replicates: expected an int or None, got bool"),
        (dict(replicates=2, sampling="random"), ValueError, "replicates: sampling='random'"),
    ],
)
def test_bad_replicates_are_named(kwargs: dict, error: type, message: str) -> None:
    kw = dict(references=REFS, target=0, samples=8, sampling="stratified") | kwargs
    with pytest.raises(error, match=message):
        pathattr.expected_gradients(MODEL, X, **kw)


def test_one_example_batch_references_still_refused_by_name() -> None:
    # no other example to draw: the replicate choice must not fail first (R = N − 1 = 0)
    with pytest.raises(ValueError, match="samples: .*'batch'.* < batch size 1, got 8"):
        pathattr.expected_gradients(
            MODEL, X[:1], references="batch", target=0, samples=8, sampling="stratified"
        )
