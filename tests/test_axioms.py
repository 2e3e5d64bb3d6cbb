"""pathattr.axioms.check: IG passes everything on random networks; the checks can fail."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import pathattr
from pathattr import axioms
from pathattr.axioms.rewrites import REWRITES, SplitReLU


def ig(model, inputs, baselines=None, target=None):  # noqa: ANN001, ANN201
    return pathattr.integrated_gradients(
        model, inputs, baselines=baselines, target=target, steps=256, warn_tol=0
    )


def net_with_dummy_and_twins(seed: int, act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """A random MLP whose feature 5 is ignored and whose features 0 and 1 are exchangeable."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(6, 16), act(), nn.Linear(16, 8), act(), nn.Linear(8, 3))
    first = net[0]
    assert isinstance(first, nn.Linear)
    with torch.no_grad():
        first.weight[:, 5] = 0
        first.weight[:, 1] = first.weight[:, 0]
    return net.double().eval()


def inputs(seed: int, n: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 2 * torch.randn(n, 6, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("seed,act", [(0, nn.ReLU), (1, nn.Tanh), (2, nn.ReLU), (3, nn.Softplus)])
def test_ig_satisfies_every_check_on_random_networks(seed: int, act: type[nn.Module]) -> None:
    net, x = net_with_dummy_and_twins(seed, act), inputs(seed)
    report = axioms.check(ig, net, x, 0.1 * inputs(seed + 100), target=seed % 3)
    assert report.ok, str(report)
    statuses = {k: v["status"] for k, v in report.to_dict().items()}
    assert statuses == dict.fromkeys(axioms.CHECKS, "pass"), str(report)
    assert "1 probed dummy" in report["dummy"].detail
    assert "1 probed pairs" in report["symmetry"].detail


def test_checks_detect_violations_on_the_same_networks() -> None:
    net, x = net_with_dummy_and_twins(0), inputs(0)
    sal = axioms.check(pathattr.saliency, net, x, target=0)
    assert sal["completeness"].status == "fail"
    oat = axioms.check(pathattr.one_at_a_time, net, x, target=0, checks=["symmetry"])
    assert oat["symmetry"].status == "fail"
    gbp = axioms.check(pathattr.guided_backprop, net, x, target=0,
                       checks=["linearity", "implementation_invariance"])  # fmt: skip
    # clamping negative signals is not linear, and z + ReLU(−z) routes a negative signal around
    assert gbp["linearity"].status == "fail"
    assert gbp["implementation_invariance"].status == "fail"
    assert "split_relu" in gbp["implementation_invariance"].detail
    assert not gbp.ok
    # with a, b > 0 the clamp commutes with the scaling and linearity holds again
    positive = axioms.check(pathattr.guided_backprop, net, x, target=0, checks=["linearity"],
                            coefficients=(0.7, 1.3))  # fmt: skip
    assert positive["linearity"].status == "pass"


def test_a_method_that_leaks_onto_a_dummy_feature_fails() -> None:
    net, x = net_with_dummy_and_twins(0), inputs(0)

    def leaky(model, xs, bs, t):  # noqa: ANN001, ANN202
        a = ig(model, xs, bs, t).attributions.clone()
        a[:, 5] = 0.1
        return a

    report = axioms.check(leaky, net, x, target=0, checks=["dummy"])
    assert report["dummy"].status == "fail"
    declared = axioms.check(ig, net, x, target=0, checks=["dummy"], dummy=[5])
    assert declared["dummy"].status == "pass" and "declared" in declared["dummy"].detail


def test_not_applicable_checks() -> None:
    f = lambda x: (x**2).sum(1)  # noqa: E731  (a plain function: no copy, no rewrite)
    x = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    report = axioms.check(ig, f, x, x)  # x = x': nothing to attribute
    d = report.to_dict()
    assert d["completeness"] == {"status": "n/a", "value": None}
    assert d["sensitivity"]["status"] == "n/a"
    assert d["linearity"]["status"] == "n/a"
    assert d["implementation_invariance"]["status"] == "n/a"
    # x1, x2, x3 are exchangeable in Σx², but with x = x' every attribution is 0: vacuous
    assert d["symmetry"]["status"] == "n/a" and "is 0" in report["symmetry"].detail
    assert report.ok


def test_report_prints_renders_and_converts() -> None:
    net, x = net_with_dummy_and_twins(0), inputs(0)
    report = axioms.check(pathattr.saliency, net, x, target=1, checks=["completeness", "dummy"])
    text = str(report)
    assert "saliency" in text and "completeness" in text and "FAILED" in text
    html = report.to_html()
    assert html.startswith("<table>") and "<td>fail</td>" in html
    d = report.to_dict()
    assert list(d) == ["completeness", "dummy"]
    assert isinstance(d["completeness"]["value"], float)
    assert report.ok is False


@pytest.mark.parametrize("name", sorted(REWRITES))
def test_rewrites_preserve_the_function(name: str) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.Linear(8, 2)).double()
    new = REWRITES[name](net)
    assert new is not None and new is not net
    x = torch.randn(50, 4, dtype=torch.float64)
    torch.testing.assert_close(new(x), net(x), rtol=1e-12, atol=1e-12)
    assert REWRITES[name](lambda z: z) is None  # type: ignore[arg-type]
    assert SplitReLU()(torch.tensor([-2.0, 3.0])).tolist() == [0.0, 3.0]


def test_captum_adapter() -> None:
    from captum.attr import IntegratedGradients, Saliency

    net, x = net_with_dummy_and_twins(1), inputs(1)
    cig = axioms.from_captum(IntegratedGradients, n_steps=256)
    assert cig.__name__ == "captum.IntegratedGradients"
    report = axioms.check(cig, net, x, target=2)
    assert report.ok, str(report)
    sal = axioms.check(axioms.from_captum(Saliency, abs=False), net, x, target=2,
                       checks=["completeness"])  # fmt: skip
    assert sal["completeness"].status == "fail"


def test_errors_name_the_argument() -> None:
    net, x = net_with_dummy_and_twins(0), inputs(0)
    with pytest.raises(ValueError, match="checks: expected names"):
        axioms.check(ig, net, x, target=0, checks=["completness"])
    with pytest.raises(ValueError, match="dummy: expected flattened feature indices"):
        axioms.check(ig, net, x, target=0, checks=["dummy"], dummy=[6])
    with pytest.raises(ValueError, match="symmetric: expected pairs"):
        axioms.check(ig, net, x, target=0, checks=["symmetry"], symmetric=[(2, 2)])
    with pytest.raises(TypeError, match="method: expected a callable"):
        axioms.check("ig", net, x)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="inputs: expected one batch-first tensor"):
        axioms.check(ig, net, (x,))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="equivalent: differs from model"):
        axioms.check(ig, net, x, target=0, equivalent=net_with_dummy_and_twins(1),
                     checks=["implementation_invariance"])  # fmt: skip
    with pytest.raises(TypeError, match="method: expected it to return"):
        axioms.check(lambda *a: "nope", net, x, target=0, checks=["completeness"])
    with pytest.raises(TypeError, match="cls: expected a Captum attribution class"):
        axioms.from_captum(int)
