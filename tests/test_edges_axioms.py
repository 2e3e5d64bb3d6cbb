"""axioms.check cannot be fooled: NaN, inf and all-zero methods, the RNG, calling conventions."""

from __future__ import annotations

import functools
import random
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import pathattr
from pathattr import axioms


def net_with_dummy_and_twins(seed: int = 0) -> nn.Sequential:
    """A random MLP whose feature 5 is ignored and whose features 0 and 1 are exchangeable."""
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3)).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
        net[0].weight[:, 5] = 0
        net[0].weight[:, 1] = net[0].weight[:, 0]
    return net


def inputs(seed: int = 0, n: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 2 * torch.randn(n, 6, generator=g, dtype=torch.float64)


def ig(model: Any, x: torch.Tensor, *, baselines: Any = None, target: Any = None) -> Any:
    """Keyword-only like pathattr's methods after (model, inputs)."""
    return pathattr.integrated_gradients(
        model, x, baselines=baselines, target=target, steps=64, warn_tol=0
    )


def statuses(report: axioms.AxiomReport) -> dict[str, str]:
    return {k: v.status for k, v in report.results.items()}


def test_nan_attributions_fail_every_check_that_computes_them() -> None:
    def nan_method(model: Any, x: torch.Tensor, baselines: Any, target: Any) -> torch.Tensor:
        return torch.full_like(x, float("nan"))

    report = axioms.check(nan_method, net_with_dummy_and_twins(), inputs(), target=0)
    # before: sensitivity, linearity and implementation invariance passed on all-NaN output
    assert statuses(report) == dict.fromkeys(axioms.CHECKS, "fail"), str(report)
    for r in report.results.values():
        assert "non-finite attributions" in r.detail and "NaN" in r.detail, str(report)
        assert r.value is None
    assert not report.ok


def test_a_single_inf_attribution_fails() -> None:
    def one_inf(model: Any, x: torch.Tensor, *, baselines: Any, target: Any) -> torch.Tensor:
        a = ig(model, x, baselines=baselines, target=target).attributions.clone()
        a[0, 2] = float("inf")
        return a

    report = axioms.check(one_inf, net_with_dummy_and_twins(), inputs(), target=0,
                          checks=["completeness", "linearity"])  # fmt: skip
    assert statuses(report) == {"completeness": "fail", "linearity": "fail"}
    assert "0 NaN and 1 inf" in report["completeness"].detail


def test_an_all_zero_method_passes_nothing() -> None:
    def zero(model: Any, x: torch.Tensor, baselines: Any, target: Any) -> torch.Tensor:
        return torch.zeros_like(x)

    net = net_with_dummy_and_twins()
    report = axioms.check(zero, net, inputs(), target=0)
    st = statuses(report)
    # before: dummy, linearity, symmetry and implementation invariance passed (0/0 taken as 0)
    assert st["completeness"] == "fail" and st["sensitivity"] == "fail"
    for name in ("dummy", "linearity", "symmetry", "implementation_invariance"):
        assert st[name] == "n/a", str(report)
        assert "is 0" in report[name].detail and "although F(x) - F(x')" in report[name].detail
    assert "pass" not in st.values()
    assert not report.ok
    # IG on the same network still passes the four relative checks: n/a is not the default
    relative = ["dummy", "linearity", "symmetry", "implementation_invariance"]
    good = axioms.check(ig, net, inputs(), target=0, checks=relative)
    assert set(statuses(good).values()) == {"pass"}, str(good)


def test_zero_on_f_and_g_but_not_on_the_combination_fails_linearity() -> None:
    # φ(f) = φ(g) = 0 made the old scale 0 and the value 0 whatever φ(a·f + b·g) was
    def zero_on_sequential(model: Any, x: torch.Tensor, baselines: Any, target: Any) -> Any:
        return torch.zeros_like(x) if isinstance(model, nn.Sequential) else torch.ones_like(x)

    report = axioms.check(zero_on_sequential, net_with_dummy_and_twins(), inputs(), target=0,
                          checks=["linearity"])  # fmt: skip
    assert report["linearity"].status == "fail" and report["linearity"].value == 1.0


def test_zero_on_the_model_but_not_on_a_rewrite_fails_invariance() -> None:
    net = net_with_dummy_and_twins()

    def zero_on_net(model: Any, x: torch.Tensor, baselines: Any, target: Any) -> Any:
        return torch.zeros_like(x) if model is net else torch.ones_like(x)

    report = axioms.check(zero_on_net, net, inputs(), target=0,
                          checks=["implementation_invariance"])  # fmt: skip
    r = report["implementation_invariance"]
    assert r.status == "fail" and r.value == 1.0, str(report)


def test_non_finite_model_output_makes_the_checks_not_applicable() -> None:
    def broken(x: torch.Tensor) -> torch.Tensor:
        return (x.sum(1) * float("nan")).unsqueeze(1)

    report = axioms.check(ig, broken, inputs(), target=0, checks=["completeness", "dummy"])
    assert statuses(report) == {"completeness": "n/a", "dummy": "n/a"}
    assert "NaN or infinite" in report["dummy"].detail  # not "5 features are dummies"


def test_wrong_number_of_attributions_is_an_error() -> None:
    def short(model: Any, x: torch.Tensor, baselines: Any, target: Any) -> torch.Tensor:
        return x[:, :4]

    with pytest.raises(ValueError, match=r"method: expected 6 attributions per example .* got 4"):
        axioms.check(short, net_with_dummy_and_twins(), inputs(), target=0)


def test_check_leaves_the_global_rngs_alone() -> None:
    def noisy(model: Any, x: torch.Tensor, *, baselines: Any, target: Any) -> torch.Tensor:
        # a stochastic method drawing from every global generator
        noise = torch.rand(x.shape, dtype=x.dtype) + random.random() + float(np.random.rand())
        return ig(model, x, baselines=baselines, target=target).attributions * (1 + 1e-3 * noise)

    net = net_with_dummy_and_twins()
    torch.manual_seed(123)
    random.seed(123)
    np.random.seed(123)
    torch_state, py_state, np_state = (
        torch.get_rng_state(),
        random.getstate(),
        np.random.get_state(),
    )
    # every check: the rewrites create nn.Linear layers, which initialise from the global RNG
    first = axioms.check(noisy, net, inputs(), target=0, seed=7)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert random.getstate() == py_state
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), np_state))
    # the check's seed also seeds the method's draws: the same seed gives the same report
    again = axioms.check(noisy, net, inputs(), target=0, seed=7)
    assert first.to_dict() == again.to_dict()
    other = axioms.check(noisy, net, inputs(), target=0, seed=8)
    assert other.to_dict() != first.to_dict()
    assert torch.equal(torch.get_rng_state(), torch_state)


def test_methods_are_called_by_keyword_when_they_take_keywords() -> None:
    net, x = net_with_dummy_and_twins(), inputs()
    b = 0.1 * inputs(1)
    seen: dict[str, Any] = {}

    def keyword_only(model: Any, xs: torch.Tensor, *, baselines: Any, target: Any) -> Any:
        seen["keyword_only"] = target
        return ig(model, xs, baselines=baselines, target=target)

    def no_baselines(model: Any, xs: torch.Tensor, target: Any = None, *, samples: int = 3) -> Any:
        # SmoothGrad's shape: a positional call would have made the baselines the target
        seen["no_baselines"] = target
        return torch.zeros_like(xs)

    def references_style(model: Any, xs: torch.Tensor, references: Any, target: Any = None) -> Any:
        seen["references"] = references
        return torch.zeros_like(xs)

    def positional(model: Any, xs: torch.Tensor, bs: torch.Tensor, t: Any) -> Any:
        seen["positional"] = (bs, t)
        return ig(model, xs, baselines=bs, target=t)

    assert axioms.check(keyword_only, net, x, b, target=2, checks=["completeness"]).ok
    assert seen["keyword_only"] == 2
    axioms.check(no_baselines, net, x, b, target=2, checks=["completeness"])
    assert seen["no_baselines"] == 2
    axioms.check(references_style, net, x, b, target=2, checks=["completeness"])
    assert torch.equal(seen["references"], b)
    assert axioms.check(positional, net, x, b, target=2, checks=["completeness"]).ok
    assert torch.equal(seen["positional"][0], b) and seen["positional"][1] == 2

    def positional_with_kwargs(model: Any, xs: torch.Tensor, bs: Any, t: Any, **kw: Any) -> Any:
        seen["positional_with_kwargs"] = (bs, t, kw)
        return ig(model, xs, baselines=bs, target=t)

    assert axioms.check(positional_with_kwargs, net, x, b, target=2, checks=["completeness"]).ok
    bs, t, kw = seen["positional_with_kwargs"]
    assert torch.equal(bs, b) and t == 2 and kw == {}

    def third_named_otherwise(model: Any, xs: torch.Tensor, b_: Any, target: Any = None) -> Any:
        seen["third"] = (b_, target)
        return ig(model, xs, baselines=b_, target=target)

    assert axioms.check(third_named_otherwise, net, x, b, target=2, checks=["completeness"]).ok
    assert torch.equal(seen["third"][0], b) and seen["third"][1] == 2

    def forwarding(model: Any, xs: torch.Tensor, *, target: Any = None, **kw: Any) -> Any:
        seen["forwarding"] = kw
        return ig(model, xs, target=target, **kw)

    assert axioms.check(forwarding, net, x, b, target=2, checks=["completeness"]).ok
    assert torch.equal(seen["forwarding"]["baselines"], b)
    star = axioms.check(lambda *a: ig(a[0], a[1], baselines=a[2], target=a[3]), net, x, b,
                        target=2, checks=["completeness"])  # fmt: skip
    assert star.ok


def test_pathattr_smoothgrad_gets_its_target() -> None:
    # SmoothGrad takes (model, inputs, target): the baselines must not land in `target`
    net, x = net_with_dummy_and_twins(), inputs()

    def explicit(model: Any, xs: torch.Tensor, bs: Any, t: Any) -> Any:
        assert t == 1
        return pathattr.smoothgrad(model, xs, target=t, seed=0)

    checks = ["completeness", "sensitivity"]
    sg = functools.partial(pathattr.smoothgrad, seed=0)
    report = axioms.check(sg, net, x, 0.5, target=1, checks=checks)
    same = axioms.check(explicit, net, x, 0.5, target=1, checks=checks)
    assert report.to_dict() == same.to_dict()
    assert report["completeness"].value is not None


def test_from_captum_adapter_takes_keywords() -> None:
    from captum.attr import IntegratedGradients

    net, x = net_with_dummy_and_twins(), inputs()
    cig = axioms.from_captum(IntegratedGradients, n_steps=64)
    by_kw = cig(net, x, baselines=torch.zeros_like(x), target=1)
    by_pos = cig(net, x, torch.zeros_like(x), 1)
    torch.testing.assert_close(by_kw, by_pos)
    assert axioms.check(cig, net, x, target=1, checks=["completeness"]).ok


def test_partial_of_a_pathattr_method_is_called_by_keyword() -> None:
    net, x = net_with_dummy_and_twins(), inputs()
    ig256 = functools.partial(pathattr.integrated_gradients, steps=256, warn_tol=0)
    report = axioms.check(ig256, net, x, 0.1 * inputs(5), target=2, checks=["completeness"])
    assert report.ok and report["completeness"].value is not None
    assert report["completeness"].value < 1e-3
