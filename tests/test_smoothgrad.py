"""SmoothGrad and noise-baseline Integrated Gradients on the engine."""

from __future__ import annotations

import pytest
import torch
from captum.attr import IntegratedGradients, NoiseTunnel, Saliency
from conftest import TwoInput, mlp

import pathattr


def smooth_mlp() -> torch.nn.Module:
    return mlp(0, d_in=6, hidden=16, d_out=3, act=torch.nn.Tanh)


def data(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("squared", [False, True])
def test_smoothgrad_equals_captum_noise_tunnel_with_the_same_noise(squared: bool) -> None:
    model, x = smooth_mlp(), data(4, 6, 1)
    ours = pathattr.smoothgrad(
        model, x, target=[0, 1, 2, 0], samples=16, stdev=0.3, relative=False, seed=11,
        squared=squared, batch_size=5,
    )  # fmt: skip
    torch.manual_seed(11)  # Captum draws the same N(0, σ²) tensor from the global generator
    theirs = NoiseTunnel(Saliency(model)).attribute(
        x, nt_type="smoothgrad_sq" if squared else "smoothgrad", nt_samples=16, stdevs=0.3,
        target=[0, 1, 2, 0], abs=False,
    )  # fmt: skip
    torch.testing.assert_close(ours.attributions, theirs)


def test_smoothgrad_relative_noise_matches_a_manual_computation() -> None:
    model, x = smooth_mlp(), data(3, 6, 2)
    r = pathattr.smoothgrad(model, x, target=1, samples=10, stdev=0.2, seed=3)
    g = torch.Generator().manual_seed(3)
    sigma = 0.2 * (x.max(1).values - x.min(1).values)
    noise = torch.randn(30, 6, generator=g) * sigma.repeat_interleave(10)[:, None]
    noisy = (x.repeat_interleave(10, 0) + noise).requires_grad_()
    (grad,) = torch.autograd.grad(model(noisy)[:, 1].sum(), noisy)
    torch.testing.assert_close(r.attributions, grad.reshape(3, 10, 6).mean(1))
    se = grad.reshape(3, 10, 6).std(1) / 10**0.5
    torch.testing.assert_close(r.extras["standard_error"], se, rtol=1e-4, atol=1e-6)
    xin = pathattr.smoothgrad(
        model, x, target=1, samples=10, stdev=0.2, seed=3, multiply_by_inputs=True
    )
    torch.testing.assert_close(xin.attributions, r.attributions * x)
    assert torch.isnan(r.delta).all() and r.evaluations.tolist() == [10, 10, 10]


def test_smoothgrad_zero_noise_is_the_gradient_and_seeds_reproduce(two_input: TwoInput) -> None:
    g = torch.Generator().manual_seed(0)
    img, vec = torch.randn(2, 1, 6, 6, generator=g), torch.randn(2, 3, generator=g)
    r = pathattr.smoothgrad(two_input, (img, vec), target=2, samples=3, stdev=0.0)
    sal = pathattr.saliency(two_input, (img, vec), target=2)
    for a, b in zip(r.attributions, sal.attributions):
        torch.testing.assert_close(a, b)
    a = pathattr.smoothgrad(two_input, (img, vec), target=2, samples=4, seed=1).attributions
    b = pathattr.smoothgrad(two_input, (img, vec), target=2, samples=4, seed=1).attributions
    c = pathattr.smoothgrad(two_input, (img, vec), target=2, samples=4, seed=2).attributions
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert not torch.equal(a[0], c[0])


def test_smoothgrad_bad_arguments() -> None:
    with pytest.raises(ValueError, match="stdev: expected a finite number >= 0, got -0.1"):
        pathattr.smoothgrad(smooth_mlp(), data(2, 6, 0), target=0, stdev=-0.1)
    with pytest.raises(ValueError, match="samples: expected an int >= 1, got 0"):
        pathattr.smoothgrad(smooth_mlp(), data(2, 6, 0), target=0, samples=0)


def test_noise_ig_is_the_mean_of_igs_and_complete() -> None:
    model, x = smooth_mlp(), data(3, 6, 3)
    bases = torch.rand(4, 6, generator=torch.Generator().manual_seed(5))
    r = pathattr.noise_integrated_gradients(
        model, x, target=[0, 1, 2], baselines=bases, steps=32, batch_size=17
    )
    ig = IntegratedGradients(model)
    want = sum(
        ig.attribute(x, bases[j].expand(3, 6), target=[0, 1, 2], n_steps=32) for j in range(4)
    )
    torch.testing.assert_close(r.attributions, want / 4, rtol=1e-4, atol=1e-6)
    with torch.no_grad():
        torch.testing.assert_close(r.baseline_output, model(bases)[:, [0, 1, 2]].mean(0))
    assert float(r.relative_delta.max()) < 1e-4
    assert r.evaluations.tolist() == [4 * 32] * 3


def test_noise_ig_uniform_baselines(two_input: TwoInput) -> None:
    g = torch.Generator().manual_seed(0)
    img, vec = torch.rand(2, 1, 6, 6, generator=g), torch.rand(2, 3, generator=g)
    r = pathattr.noise_integrated_gradients(
        two_input, (img, vec), target=1, samples=6, steps=24, low=0.0, high=1.0, seed=4
    )
    assert isinstance(r.attributions, tuple) and r.attributions[0].shape == img.shape
    assert (
        float(r.relative_delta.max()) < 0.02
    )  # complete against the mean F(baseline), up to quadrature error
    again = pathattr.noise_integrated_gradients(
        two_input, (img, vec), target=1, samples=6, steps=24, low=0.0, high=1.0, seed=4
    )
    assert torch.equal(r.attributions[1], again.attributions[1])
    with pytest.raises(ValueError, match="baselines: expected 'uniform' or a tensor"):
        pathattr.noise_integrated_gradients(two_input, (img, vec), target=1, baselines="gauss")
    with pytest.raises(ValueError, match="low, high: expected low <= high"):
        pathattr.noise_integrated_gradients(two_input, (img, vec), target=1, low=1.0, high=0.0)
