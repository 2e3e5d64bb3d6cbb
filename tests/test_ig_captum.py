"""Integrated Gradients equals Captum's, rule by rule, and every rule is exact on linear models."""

from __future__ import annotations

import pytest
import torch
from captum.attr import IntegratedGradients as CaptumIG
from conftest import TwoInput, cnn, mlp

import pathattr
from pathattr.captum import IntegratedGradients as FacadeIG

RULES = ["gausslegendre", "riemann_left", "riemann_right", "riemann_middle"]


def assert_close_rel(a: torch.Tensor, b: torch.Tensor, rel: float = 1e-5) -> None:
    """Equal within float32 rounding, relative to the tensor's scale."""
    scale = float(b.abs().max()) or 1.0
    err = float((a - b).abs().max())
    assert err <= rel * scale, f"max abs diff {err:.3g} > {rel:g} x scale {scale:.3g}"


def assert_delta_close(ours: pathattr.Attribution, ref_delta: torch.Tensor) -> None:
    """Deltas agree within float32 rounding of the sums they cancel.

    A delta is Σ attributions − (F(x) − F(x')): when it is tiny, its rounding error is set by
    the terms that cancel, not by the delta itself, so the scale is the larger of |F(x) − F(x')|
    and Σ |attributions| per example.
    """
    attrs = ours.attributions if isinstance(ours.attributions, tuple) else (ours.attributions,)
    mass = sum(a.abs().flatten(1).sum(1) for a in attrs)
    rise = (ours.output - ours.baseline_output).abs()
    scale = float(torch.maximum(mass, rise).max()) or 1.0
    err = float((ours.delta - ref_delta).abs().max())
    assert err <= 1e-5 * scale, f"delta: max abs diff {err:.3g} > 1e-5 x scale {scale:.3g}"


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("steps", [4, 17, 64])
def test_mlp_matches_captum(rule: str, steps: int) -> None:
    model = mlp(seed=steps)
    torch.manual_seed(1)
    x, b = torch.randn(6, 10), torch.randn(6, 10)
    target = torch.tensor([0, 1, 2, 3, 0, 1])
    ours = pathattr.integrated_gradients(
        model, x, baselines=b, target=target, steps=steps, rule=rule, warn_tol=0
    )
    ref, ref_delta = CaptumIG(model).attribute(
        x, b, target=target, n_steps=steps, method=rule, return_convergence_delta=True
    )
    assert_close_rel(ours.attributions, ref)
    assert_delta_close(ours, ref_delta)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("steps", [8, 33])
def test_cnn_matches_captum(rule: str, steps: int) -> None:
    model = cnn()
    torch.manual_seed(2)
    x = torch.rand(3, 1, 8, 8)
    b = torch.rand(1, 1, 8, 8)  # one baseline shared by all examples
    target = [3, 7, 1]
    ours = pathattr.integrated_gradients(
        model, x, baselines=b, target=target, steps=steps, rule=rule, warn_tol=0
    )
    ref, ref_delta = CaptumIG(model).attribute(
        x, b, target=target, n_steps=steps, method=rule, return_convergence_delta=True
    )
    assert_close_rel(ours.attributions, ref)
    assert_delta_close(ours, ref_delta)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("batch_size", [13, None])
def test_multi_input_matches_captum(rule: str, batch_size: int | None, two_input: TwoInput) -> None:
    """batch_size=13: chunks of the general layout; None: the one-call grid layout, where the
    end points ride along with the path rows (and the forward args are expanded for them)."""
    torch.manual_seed(3)
    img, vec = torch.rand(4, 1, 6, 6), torch.randn(4, 3)
    bimg, bvec = torch.rand(4, 1, 6, 6), torch.randn(4, 3)  # per-example baselines
    scale = torch.rand(4) + 0.5
    target = torch.tensor([4, 0, 2, 1])
    ours = pathattr.integrated_gradients(
        two_input, (img, vec), baselines=(bimg, bvec), target=target, steps=24, rule=rule,
        forward_args=(scale,), batch_size=batch_size, warn_tol=0,
    )  # fmt: skip
    ref, ref_delta = CaptumIG(two_input).attribute(
        (img, vec), (bimg, bvec), target=target, additional_forward_args=(scale,), n_steps=24,
        method=rule, return_convergence_delta=True,
    )  # fmt: skip
    assert isinstance(ours.attributions, tuple) and len(ours.attributions) == 2
    for a, r in zip(ours.attributions, ref):
        assert a.shape == r.shape
        assert_close_rel(a, r)
    assert_delta_close(ours, ref_delta)


def test_facade_is_a_drop_in(two_input: TwoInput) -> None:
    torch.manual_seed(4)
    img, vec = torch.rand(2, 1, 6, 6), torch.randn(2, 3)
    ours, d1 = FacadeIG(two_input).attribute(
        (img, vec), target=1, n_steps=16, internal_batch_size=5, return_convergence_delta=True
    )
    ref, d2 = CaptumIG(two_input).attribute(
        (img, vec), target=1, n_steps=16, internal_batch_size=5, return_convergence_delta=True
    )
    for a, r in zip(ours, ref):
        assert_close_rel(a, r)
    assert_close_rel(d1, d2, rel=1e-4)
    only = FacadeIG(two_input).attribute((img, vec), target=1, n_steps=16)
    assert isinstance(only, tuple) and only[0].shape == img.shape


@pytest.mark.parametrize("rule", RULES + ["riemann_trapezoid"])
@pytest.mark.parametrize("steps", [2, 3, 8, 50])
def test_every_rule_is_exact_on_linear_models(rule: str, steps: int) -> None:
    torch.manual_seed(steps)
    lin = torch.nn.Linear(7, 3).double().eval()
    x, b = torch.randn(5, 7, dtype=torch.float64), torch.randn(5, 7, dtype=torch.float64)
    res = pathattr.integrated_gradients(lin, x, baselines=b, target=2, steps=steps, rule=rule)
    exact = lin.weight[2].detach() * (x - b)
    torch.testing.assert_close(res.attributions, exact, rtol=1e-12, atol=1e-12)
    assert float(res.relative_delta.max()) < 1e-12


def test_captum_trapezoid_defect_is_not_copied() -> None:
    """Captum's trapezoid weights sum to 1 - 1/n; ours sum to 1 (documented difference)."""
    lin = torch.nn.Linear(4, 1).double().eval()
    x = torch.randn(3, 4, dtype=torch.float64)
    theirs = CaptumIG(lin).attribute(x, n_steps=8, method="riemann_trapezoid")
    ours = pathattr.integrated_gradients(lin, x, steps=8, rule="riemann_trapezoid")
    diff = (lin(x) - lin(torch.zeros_like(x))).squeeze(1)
    assert torch.allclose(ours.attributions.sum(1), diff)
    assert torch.allclose(theirs.sum(1), 0.875 * diff)
