"""Expected Gradients: closed forms, Monte-Carlo behaviour, reference sources, errors, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import TwoInput, mlp

import pathattr
from pathattr.baselines.sampling import draw_uniforms


class Linear(torch.nn.Module):
    """F(x) = W x + b: EG is W ⊙ (x − mean of the references used), exactly."""

    def __init__(self, d: int = 6, c: int = 3, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = torch.nn.Parameter(torch.randn(c, d, generator=g, dtype=torch.float64))
        self.b = torch.nn.Parameter(torch.randn(c, generator=g, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.w.T + self.b


def smooth_mlp(d: int = 8, seed: int = 0) -> torch.nn.Module:
    return mlp(seed, d_in=d, hidden=16, d_out=3, act=torch.nn.Tanh).double()


def data(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("sampling", ["random", "stratified", "sobol"])
@pytest.mark.parametrize("samples", [1, 7, 64])
def test_linear_model_closed_form(sampling: str, samples: int) -> None:
    model, x, refs = Linear(), data(4, 6, 1), data(10, 6, 2)
    r = pathattr.expected_gradients(
        model, x, references=refs, target=[0, 1, 2, 1], samples=samples, sampling=sampling, seed=3
    )
    idx = r.extras["reference_indices"]
    assert idx.shape == (4, samples)
    w = model.w.detach()[[0, 1, 2, 1]]
    expected = w * (x - refs[idx].mean(1))
    torch.testing.assert_close(r.attributions, expected, rtol=1e-12, atol=1e-12)
    # completeness is exact against the mean output of the references drawn
    torch.testing.assert_close(r.delta, torch.zeros(4, dtype=torch.float64), atol=1e-12, rtol=0)
    assert r.evaluations.tolist() == [samples] * 4


def test_stratified_uses_every_reference_equally_when_k_is_a_multiple() -> None:
    model, x, refs = Linear(), data(3, 6, 1), data(8, 6, 2)
    r = pathattr.expected_gradients(
        model, x, references=refs, target=0, samples=32, sampling="stratified"
    )
    # 4 replicates of 8 (not 8 of 4) keep every replicate balanced over the 8 references
    assert r.extras["replicates"] == 4
    counts = torch.stack([torch.bincount(i, minlength=8) for i in r.extras["reference_indices"]])
    assert (counts == 4).all()
    # hence the exact closed form against the whole reference set, E[F(x')] included
    torch.testing.assert_close(r.attributions, model.w.detach()[0] * (x - refs.mean(0)))
    torch.testing.assert_close(r.baseline_output, r.extras["reference_set_output"])


def test_base_value_is_the_mean_output_over_drawn_references() -> None:
    model, x, refs = smooth_mlp(), data(5, 8, 1), data(30, 8, 2)
    r = pathattr.expected_gradients(model, x, references=refs, target=2, samples=40, seed=0)
    with torch.no_grad():
        f_refs = model(refs)[:, 2]
    torch.testing.assert_close(r.baseline_output, f_refs[r.extras["reference_indices"]].mean(1))
    torch.testing.assert_close(r.extras["reference_set_output"], f_refs.mean().expand(5))
    with torch.no_grad():
        torch.testing.assert_close(r.output, model(x)[:, 2])


def test_sampling_draws_are_uniform_and_stratified() -> None:
    g = torch.Generator().manual_seed(0)
    for mode in ("random", "stratified", "sobol"):
        u = draw_uniforms(200, 64, mode, g)
        assert u.shape == (200, 64, 2) and bool((u >= 0).all() and (u < 1).all())
        assert abs(float(u.mean()) - 0.5) < 0.01
    u = draw_uniforms(5, 16, "stratified", g)
    for dim in (0, 1):  # one point in each of the 16 strata, in each coordinate
        strata = torch.floor(u[..., dim] * 16).sort(1).values
        assert (strata == torch.arange(16.0)).all()


def test_completeness_residual_shrinks_like_one_over_sqrt_k() -> None:
    model, x, refs = smooth_mlp(), data(6, 8, 1), data(50, 8, 2)
    ks = [8, 32, 128, 512]
    err = []
    for k in ks:
        deltas = [
            pathattr.expected_gradients(
                model, x, references=refs, target=0, samples=k, seed=s
            ).delta.abs()
            for s in range(6)
        ]
        err.append(float(torch.stack(deltas).mean()))
    slope = np.polyfit(np.log(ks), np.log(err), 1)[0]
    assert -0.7 <= slope <= -0.3, (slope, err)


def test_standard_error_covers_the_error_to_a_large_reference() -> None:
    model, x, refs = smooth_mlp(d=12), data(5, 12, 1), data(200, 12, 2)
    big = pathattr.expected_gradients(
        model, x, references=refs, target=1, samples=100_000, seed=123, batch_size=None
    ).attributions
    within1, within2, count = 0, 0, 0
    for seed in range(8):
        r = pathattr.expected_gradients(model, x, references=refs, target=1, samples=64, seed=seed)
        z = (r.attributions - big).abs() / r.extras["standard_error"]
        within1 += int((z <= 1).sum())
        within2 += int((z <= 2).sum())
        count += z.numel()
    assert 0.58 <= within1 / count <= 0.78, within1 / count
    assert 0.88 <= within2 / count <= 0.99, within2 / count


def test_standard_error_scales_and_is_nan_for_one_sample() -> None:
    model, x, refs = smooth_mlp(), data(3, 8, 1), data(40, 8, 2)
    se = [
        pathattr.expected_gradients(model, x, references=refs, target=0, samples=k, seed=0).extras[
            "standard_error"
        ]
        for k in (100, 1600)
    ]
    ratio = float(se[0].median() / se[1].median())
    assert 3.0 < ratio < 5.3  # √16 = 4
    one = pathattr.expected_gradients(model, x, references=refs, target=0, samples=1, seed=0)
    assert bool(one.extras["standard_error"].isnan().all())


def test_stratified_and_sobol_beat_random() -> None:
    model, x, refs = smooth_mlp(), data(4, 8, 1), data(16, 8, 2)
    big = pathattr.expected_gradients(
        model, x, references=refs, target=0, samples=64 * 16, sampling="stratified", seed=99
    ).attributions
    errs = {}
    for mode in ("random", "stratified", "sobol"):
        e = [
            float(
                (
                    pathattr.expected_gradients(
                        model, x, references=refs, target=0, samples=64, sampling=mode, seed=s
                    ).attributions
                    - big
                ).norm()
            )
            for s in range(8)
        ]
        errs[mode] = float(np.mean(e))
    assert errs["stratified"] < 0.7 * errs["random"], errs
    assert errs["sobol"] < 0.7 * errs["random"], errs


def test_seeds_reproduce_and_differ() -> None:
    model, x, refs = smooth_mlp(), data(3, 8, 1), data(20, 8, 2)
    for mode in ("random", "stratified", "sobol"):
        a = pathattr.expected_gradients(
            model, x, references=refs, target=0, samples=16, sampling=mode, seed=5
        )
        b = pathattr.expected_gradients(
            model, x, references=refs, target=0, samples=16, sampling=mode, seed=5
        )
        c = pathattr.expected_gradients(
            model, x, references=refs, target=0, samples=16, sampling=mode, seed=6
        )
        assert torch.equal(a.attributions, b.attributions)
        assert not torch.equal(a.attributions, c.attributions)
    d = pathattr.expected_gradients(model, x, references=refs, target=0, samples=16)
    e = pathattr.expected_gradients(
        model, x, references=refs, target=0, samples=16, seed=d.extras["seed"]
    )
    assert torch.equal(d.attributions, e.attributions)


def test_chunking_changes_nothing() -> None:
    model, x, refs = smooth_mlp(), data(3, 8, 1), data(20, 8, 2)
    runs = [
        pathattr.expected_gradients(
            model, x, references=refs, target=0, samples=30, seed=1, batch_size=b
        )
        for b in (None, 7, 1)
    ]
    for r in runs[1:]:
        torch.testing.assert_close(r.attributions, runs[0].attributions)
        torch.testing.assert_close(r.extras["standard_error"], runs[0].extras["standard_error"])


class Rows(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """(x, label) items, like a labelled dataset; records which items were read."""

    def __init__(self, x: torch.Tensor, broken: int | None = None) -> None:
        self.x, self.broken, self.read = x, broken, []

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        if i == self.broken:
            raise OSError("corrupt file")
        self.read.append(i)
        return self.x[i], 0


def test_dataset_and_loader_match_tensor_references() -> None:
    model, x, refs = smooth_mlp(), data(3, 8, 1), data(500, 8, 2)
    want = pathattr.expected_gradients(model, x, references=refs, target=0, samples=20, seed=4)
    ds = Rows(refs)
    got = pathattr.expected_gradients(model, x, references=ds, target=0, samples=20, seed=4)
    torch.testing.assert_close(got.attributions, want.attributions)
    torch.testing.assert_close(got.baseline_output, want.baseline_output)
    # only the drawn items were read, each once
    assert sorted(ds.read) == sorted(set(want.extras["reference_indices"].reshape(-1).tolist()))
    loader = torch.utils.data.DataLoader(Rows(refs), batch_size=32, shuffle=True)
    got = pathattr.expected_gradients(model, x, references=loader, target=0, samples=20, seed=4)
    torch.testing.assert_close(got.attributions, want.attributions)


def test_unreadable_dataset_item_is_named() -> None:
    model, x, refs = smooth_mlp(), data(2, 8, 1), data(4, 8, 2)
    with pytest.raises(RuntimeError, match="references: could not read reference 2 .*corrupt"):
        pathattr.expected_gradients(
            model, x, references=Rows(refs, broken=2), target=0, samples=16, seed=0
        )


def test_callable_sampler() -> None:
    model, x, refs = Linear(), data(3, 6, 1), data(10, 6, 2)
    calls = []

    def sampler(n: int, generator: torch.Generator) -> torch.Tensor:
        calls.append(n)
        return refs[torch.randint(0, 10, (n,), generator=generator)]

    a = pathattr.expected_gradients(model, x, references=sampler, target=1, samples=12, seed=0)
    b = pathattr.expected_gradients(model, x, references=sampler, target=1, samples=12, seed=0)
    assert calls == [36, 36] and torch.equal(a.attributions, b.attributions)
    torch.testing.assert_close(a.delta, torch.zeros(3, dtype=torch.float64), atol=1e-12, rtol=0)
    assert a.extras["reference_indices"] is None


def test_batch_references_are_drawn_among_the_other_examples() -> None:
    model, x = Linear(), data(5, 6, 1)
    r = pathattr.expected_gradients(model, x, references="batch", target=0, samples=3, seed=0)
    idx = r.extras["reference_indices"]
    assert idx.shape == (5, 3) and bool((idx != torch.arange(5)[:, None]).all())
    torch.testing.assert_close(r.attributions, model.w.detach()[0] * (x - x[idx].mean(1)))
    # stratified with k = N − 1 = 4 (one design): every other example exactly once
    s = pathattr.expected_gradients(
        model, x, references="batch", target=0, samples=4, sampling="stratified", seed=1
    )
    assert s.extras["replicates"] == 1
    others = [sorted(set(range(5)) - {e}) for e in range(5)]
    assert s.extras["reference_indices"].sort(1).values.tolist() == others
    # each other example is equally likely: offsets (reference − e) mod N uniform on 1..N−1
    xb = data(9, 6, 3)
    offsets = torch.cat([
        (pathattr.expected_gradients(
            model, xb, references="batch", target=0, samples=8, seed=s
        ).extras["reference_indices"] - torch.arange(9)[:, None]) % 9
        for s in range(50)
    ]).reshape(-1)  # fmt: skip
    counts = torch.bincount(offsets, minlength=9)
    assert int(counts[0]) == 0 and bool(((counts[1:] - 450).abs() < 90).all()), counts
    with pytest.raises(ValueError, match="samples: .*'batch'.* < batch size 5, got 5"):
        pathattr.expected_gradients(model, x, references="batch", target=0, samples=5)


def test_multi_input_with_forward_args(two_input: TwoInput) -> None:
    g = torch.Generator().manual_seed(0)
    img, vec = torch.randn(3, 1, 6, 6, generator=g), torch.randn(3, 3, generator=g)
    scale = torch.tensor([1.0, 2.0, 0.5])
    refs = (torch.randn(12, 1, 6, 6, generator=g), torch.randn(12, 3, generator=g))
    r = pathattr.expected_gradients(
        two_input, (img, vec), references=refs, target=[0, 1, 2], samples=2000, seed=0,
        sampling="sobol", forward_args=(scale,),
    )  # fmt: skip
    assert isinstance(r.attributions, tuple) and len(r.attributions) == 2
    assert r.attributions[0].shape == img.shape and r.attributions[1].shape == vec.shape
    se = r.extras["standard_error"]
    assert isinstance(se, tuple) and se[1].shape == vec.shape
    # the base value uses each example's forward args
    with torch.no_grad():
        idx = r.extras["reference_indices"]
        want = torch.stack([
            two_input(refs[0][idx[e]], refs[1][idx[e]], scale[e].expand(2000))[:, e].mean()
            for e in range(3)
        ])  # fmt: skip
    torch.testing.assert_close(r.baseline_output, want)
    # α noise of 8 replicates of 250 Sobol points (the sobol test elsewhere checks the gain)
    assert float(r.relative_delta.max()) < 0.08


def test_create_graph_matches_finite_differences() -> None:
    model, x, refs = smooth_mlp(d=5), data(3, 5, 1), data(10, 5, 2)
    weights = data(3, 5, 7)
    for references in (refs, "batch"):

        def loss(references: torch.Tensor | str = references) -> torch.Tensor:
            r = pathattr.expected_gradients(
                model, x, references=references, target=1,
                samples=2 if isinstance(references, str) else 6, seed=0, create_graph=True,
            )  # fmt: skip
            return (r.attributions * weights).sum() + (r.attributions**2).sum()

        params = list(model.parameters())
        grads = torch.autograd.grad(loss(), params, allow_unused=True)
        assert sum(g is not None for g in grads) >= 4  # all but the output bias
        for p, g in zip(params, grads):
            g = torch.zeros_like(p) if g is None else g
            flat = p.data.view(-1)
            for j in range(0, flat.numel(), max(1, flat.numel() // 5)):
                old = float(flat[j])
                flat[j] = old + 1e-6
                up = float(loss().detach())
                flat[j] = old - 1e-6
                down = float(loss().detach())
                flat[j] = old
                assert math.isclose(float(g.view(-1)[j]), (up - down) / 2e-6, abs_tol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"references": torch.zeros(5, 7)}, ValueError,
         r"references: expected reference rows of shape \(R, 8\).*got shape \(5, 7\)"),
        ({"references": (torch.zeros(5, 8), torch.zeros(5, 8))}, ValueError,
         "references: expected 1 reference tensors"),
        ({"samples": 0}, ValueError, "samples: expected an int >= 1, got 0"),
        ({"samples": 2.5}, TypeError, "samples: expected an int"),
        ({"sampling": "latin"}, ValueError, "sampling: expected one of 'random'.*got 'latin'"),
        ({"references": "dataset"}, ValueError, "references: the only string accepted is 'batch'"),
        ({"references": 3.0}, TypeError, "references: expected a tensor of reference rows"),
        ({"references": torch.zeros(0, 8)}, ValueError, "references: expected at least one"),
        ({"seed": "x"}, TypeError, "seed: expected an int or None"),
        ({"diagnostics": 1}, TypeError, "diagnostics: expected True or False, got int"),
        ({"diagnostics": False, "warn_tol": 0.05}, ValueError,
         "warn_tol: the completeness check needs diagnostics=True"),
    ],
)  # fmt: skip
def test_bad_arguments_are_named(kwargs: dict, error: type, message: str) -> None:
    args = {"references": torch.zeros(5, 8), "target": 0, **kwargs}
    with pytest.raises(error, match=message):
        pathattr.expected_gradients(smooth_mlp().float(), torch.zeros(2, 8), **args)


def test_nan_in_references_is_named() -> None:
    refs = torch.zeros(5, 8)
    refs[3, 1] = float("nan")
    with pytest.raises(ValueError, match=r"references: expected finite values.*\(first in row 3\)"):
        pathattr.expected_gradients(
            smooth_mlp().float(), torch.zeros(2, 8), references=refs, target=0
        )

    def sampler(n: int, g: torch.Generator) -> torch.Tensor:
        return torch.zeros(n + 1, 8)

    with pytest.raises(ValueError, match="references: expected .*rows"):
        pathattr.expected_gradients(
            smooth_mlp().float(), torch.zeros(2, 8), references=sampler, target=0
        )


def test_standard_error_covers_like_a_t_interval_for_stratified_and_sobol() -> None:
    """Replicate standard errors are calibrated, not conservative (the i.i.d. formula was)."""
    model, x, refs = smooth_mlp(d=12), data(5, 12, 1), data(24, 12, 2)
    exact = pathattr.noise_integrated_gradients(
        model, x, target=1, baselines=refs, steps=64
    ).attributions
    for mode in ("stratified", "sobol"):
        runs = [
            pathattr.expected_gradients(
                model, x, references=refs, target=1, samples=48, sampling=mode, seed=s
            )
            for s in range(12)
        ]
        assert runs[0].extras["standard_error_method"] == "replicates"
        assert runs[0].extras["replicates"] == 8
        z = torch.cat([
            ((r.attributions - exact).abs() / r.extras["standard_error"]).reshape(-1)
            for r in runs
        ])  # fmt: skip
        # |t| with 7 degrees of freedom: P(|t| <= 1) = 0.65, P(|t| <= 2) = 0.91
        assert 0.5 <= float((z <= 1).float().mean()) <= 0.8, mode
        assert 0.84 <= float((z <= 2).float().mean()) <= 0.97, mode


def test_iterable_dataset_is_refused_with_a_hint() -> None:
    class Stream(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
        def __iter__(self):
            return iter(torch.zeros(4, 8))

    with pytest.raises(TypeError, match="references: expected a map-style Dataset.*callable"):
        pathattr.expected_gradients(
            smooth_mlp().float(), torch.zeros(2, 8), references=Stream(), target=0
        )


def test_batch_references_multi_input(two_input: TwoInput) -> None:
    g = torch.Generator().manual_seed(1)
    img, vec = torch.randn(4, 1, 6, 6, generator=g), torch.randn(4, 3, generator=g)
    r = pathattr.expected_gradients(
        two_input, (img, vec), references="batch", target=0, samples=3, seed=0
    )
    idx = r.extras["reference_indices"]
    assert idx.shape == (4, 3) and bool((idx != torch.arange(4)[:, None]).all())
    with torch.no_grad():
        f = two_input(img, vec)[:, 0]
    torch.testing.assert_close(r.baseline_output, f[idx].mean(1))
    torch.testing.assert_close(r.output, f)


# --- diagnostics=False: attributions only (the training path) -------------------------------


class CountingModel(torch.nn.Module):
    """Wraps a model and records the rows of every call and whether it was a gradient call."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model, self.calls = model, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((x.shape[0], torch.is_grad_enabled()))
        return self.model(x)


def references_of(kind: str, refs: torch.Tensor):
    if kind == "tensor":
        return refs
    if kind == "dataset":
        return Rows(refs)
    if kind == "sampler":
        return lambda n, g: refs[torch.randint(0, len(refs), (n,), generator=g)]
    return "batch"


@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("kind", ["tensor", "dataset", "sampler", "batch"])
def test_diagnostics_off_same_attributions_only_gradient_rows(
    kind: str, create_graph: bool
) -> None:
    n, k = 4, 3
    model, x, refs = CountingModel(smooth_mlp()), data(n, 8, 1), data(300, 8, 2)
    kw = dict(target=[0, 2, 1, 0], samples=k, seed=7, batch_size=None, create_graph=create_graph)
    full = pathattr.expected_gradients(model, x, references=references_of(kind, refs), **kw)
    # the default also evaluates F(x) and F(x') (and the whole tensor reference set) without grad
    assert any(not grad for _, grad in model.calls)
    if kind == "tensor":
        assert (300, False) in model.calls
    model.calls.clear()
    lean = pathattr.expected_gradients(
        model, x, references=references_of(kind, refs), diagnostics=False, **kw
    )
    # one model call: the N·k gradient rows, nothing else
    assert model.calls == [(n * k, True)]
    torch.testing.assert_close(lean.attributions, full.attributions, rtol=0, atol=0)
    assert lean.attributions.requires_grad == create_graph
    for field in (lean.output, lean.baseline_output, lean.delta, lean.relative_delta):
        assert field.shape == (n,) and bool(field.isnan().all())
    assert bool(lean.extras["standard_error"].isnan().all())
    assert lean.extras["standard_error"].shape == x.shape
    assert lean.extras["reference_set_output"] is None
    if full.extras["reference_indices"] is None:
        assert lean.extras["reference_indices"] is None
    else:
        assert torch.equal(lean.extras["reference_indices"], full.extras["reference_indices"])
    assert lean.evaluations.tolist() == [k] * n
    assert "expected_gradients" in repr(lean)  # NaN diagnostics print as n/a
    # the default result is unchanged: base value, residual and standard error are there
    assert bool(torch.isfinite(full.baseline_output).all())
    assert bool(torch.isfinite(full.delta).all())
    assert bool(torch.isfinite(full.extras["standard_error"]).all())


def test_diagnostics_off_gives_the_same_parameter_gradients() -> None:
    model, x, refs = smooth_mlp(d=5), data(6, 5, 1), data(50, 5, 2)
    params = list(model.parameters())
    grads = []
    for diagnostics in (True, False):
        r = pathattr.expected_gradients(
            model, x, references=refs, target=1, samples=4, seed=3, create_graph=True,
            diagnostics=diagnostics,
        )  # fmt: skip
        loss = r.attributions.abs().mean(0).sum()
        grads.append(torch.autograd.grad(loss, params, allow_unused=True))
    for a, b in zip(*grads):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_diagnostics_off_multi_input_with_forward_args(two_input: TwoInput) -> None:
    g = torch.Generator().manual_seed(0)
    img, vec = torch.randn(3, 1, 6, 6, generator=g), torch.randn(3, 3, generator=g)
    refs = (torch.randn(40, 1, 6, 6, generator=g), torch.randn(40, 3, generator=g))
    scale = torch.tensor([0.5, 1.0, 2.0])
    kw = dict(target=[0, 1, 4], samples=5, seed=2, forward_args=(scale,))
    full = pathattr.expected_gradients(two_input, (img, vec), references=refs, **kw)
    lean = pathattr.expected_gradients(
        two_input, (img, vec), references=refs, diagnostics=False, **kw
    )
    for a, b in zip(lean.attributions, full.attributions):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert all(bool(se.isnan().all()) for se in lean.extras["standard_error"])


@pytest.mark.parametrize("chunk", [1, 200, 1 << 16])  # per example, blocks of 2, all
def test_reference_set_output_per_example_targets(chunk: int, monkeypatch) -> None:
    """The whole-set base value, computed for blocks of examples at once, for any target kind."""
    from pathattr.methods import expected_gradients as eg

    monkeypatch.setattr(eg, "_TABLE_CHUNK_ELEMENTS", chunk)
    model, x, refs = smooth_mlp(), data(5, 8, 1), data(30, 8, 2)
    with torch.no_grad():
        out = model(refs)
    labels = [2, 0, 1, 1, 2]
    targets = {
        "per_example": (labels, out[:, labels].mean(0)),
        "int": (1, out[:, 1].mean().expand(5)),
        "callable": (lambda o: o.softmax(-1)[:, 0], out.softmax(-1)[:, 0].mean().expand(5)),
    }
    for target, want in targets.values():
        r = pathattr.expected_gradients(model, x, references=refs, target=target, samples=4, seed=0)
        torch.testing.assert_close(r.extras["reference_set_output"], want)
