"""The comparison methods reproduce the IG paper's counter-examples (papers.md §1.3, §6 A1–A4)."""

from __future__ import annotations

import itertools
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import pathattr
from pathattr import axioms
from pathattr.methods.backprop_rules import relu_rule
from pathattr.methods.one_at_a_time import shapley_shubik


class PaperF(nn.Module):
    """f = ReLU(ReLU(x1) − 1 − ReLU(x2)) (IG paper, App. B, Fig. 7)."""

    def __init__(self) -> None:
        super().__init__()
        self.r1, self.r2, self.out = nn.ReLU(), nn.ReLU(), nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.r1(x[:, 0]) - 1 - self.r2(x[:, 1]))


class PaperG(nn.Module):
    """g = ReLU(ReLU(x1 − 1) − ReLU(x2)), functionally equal to f."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(torch.relu(x[:, 0] - 1) - x[:, 1].relu())


class OneMinusRelu(nn.Module):
    """f(x) = 1 − ReLU(1 − x) (IG paper §2.1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1 - torch.relu(1 - x[:, 0])


def ig(model, inputs, baselines=None, target=None):  # noqa: ANN001, ANN201
    return pathattr.integrated_gradients(
        model, inputs, baselines=baselines, target=target, steps=128, warn_tol=0
    )


def test_gradients_break_sensitivity_where_ig_does_not() -> None:
    f, x = OneMinusRelu(), torch.tensor([[2.0]])
    assert float(pathattr.saliency(f, x).attributions) == 0.0
    assert float(pathattr.input_x_gradient(f, x).attributions) == 0.0
    assert float(ig(f, x).attributions) == pytest.approx(1.0, abs=1e-6)
    for method, status in [(pathattr.saliency, "fail"), (pathattr.input_x_gradient, "fail"),
                           (ig, "pass")]:  # fmt: skip
        report = axioms.check(method, f, x, checks=["sensitivity", "completeness"])
        assert report["sensitivity"].status == status
        assert report["completeness"].status == status


def test_paper_f_and_g_are_equivalent() -> None:
    pts = torch.randn(20000, 2) * 3
    torch.testing.assert_close(PaperF()(pts), PaperG()(pts), rtol=0, atol=0)


def test_deeplift_breaks_implementation_invariance_ig_keeps_it() -> None:
    x = torch.tensor([[3.0, 1.0]])
    torch.testing.assert_close(pathattr.deeplift(PaperF(), x).attributions,
                               torch.tensor([[1.5, -0.5]]))  # fmt: skip
    torch.testing.assert_close(pathattr.deeplift(PaperG(), x).attributions,
                               torch.tensor([[2.0, -1.0]]))  # fmt: skip
    for model in (PaperF(), PaperG()):
        torch.testing.assert_close(ig(model, x).attributions, torch.tensor([[1.5, -0.5]]),
                                   atol=1e-5, rtol=0)  # fmt: skip
    bad = axioms.check(pathattr.deeplift, PaperF(), x, equivalent=PaperG())
    assert bad["implementation_invariance"].status == "fail"
    assert bad["implementation_invariance"].value == pytest.approx(1 / 3, rel=1e-5)
    assert bad["completeness"].status == "pass"  # DeepLift sums to delta on both
    good = axioms.check(ig, PaperF(), x, equivalent=PaperG())
    assert good["implementation_invariance"].status == "pass"
    assert good.ok


@pytest.mark.parametrize("method", [pathattr.guided_backprop, pathattr.deconvnet])
def test_backprop_rules_zero_a_feature_that_lowers_the_output(method) -> None:  # noqa: ANN001
    g = torch.Generator().manual_seed(0)
    x1 = 1.5 + 3 * torch.rand(64, generator=g)
    x2 = (x1 - 1) * torch.rand(64, generator=g)  # 0 ≤ x2 < x1 − 1: f falls with x2
    x = torch.stack([x1, x2], 1)
    f = PaperF()
    assert bool((f(x + torch.tensor([0.0, 1e-3])) < f(x)).all())
    assert bool((pathattr.saliency(f, x).attributions[:, 1] == -1).all())
    attr = method(f, x).attributions
    assert bool((attr[:, 1] == 0).all())
    assert bool((attr[:, 0] == 1).all())
    # x and x' differ only in x2 and f(x) = 1 ≠ f(x') = 2, yet x2 gets nothing
    point, base = torch.tensor([[3.0, 1.0]]), torch.tensor([[3.0, 0.0]])
    report = axioms.check(method, f, point, base, checks=["sensitivity"])
    assert report["sensitivity"].status == "fail" and report["sensitivity"].value == 0
    assert axioms.check(ig, f, point, base, checks=["sensitivity"]).ok


def test_relu_rule_restores_relu_even_on_error() -> None:
    saved = (torch.relu, F.relu, torch.Tensor.relu)
    with pytest.raises(RuntimeError, match="boom"), relu_rule("guided"):
        assert torch.relu is not saved[0]
        raise RuntimeError("boom")
    assert (torch.relu, F.relu, torch.Tensor.relu) == saved
    with pytest.raises(ValueError, match="rule: expected one of"):
        with relu_rule("nope"):
            pass


def _mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 12), nn.ReLU(), nn.Linear(12, 8), nn.ReLU(),
                         nn.Linear(8, 3)).eval()  # fmt: skip


def test_methods_match_captum() -> None:
    import captum.attr as captum

    model, x = _mlp(), torch.randn(6, 5)
    b = torch.randn(1, 5) * 0.1
    pairs = [
        (pathattr.saliency(model, x, target=1), captum.Saliency(model).attribute(x, 1, abs=False)),
        (pathattr.input_x_gradient(model, x, target=1),
         captum.InputXGradient(model).attribute(x, target=1)),
        (pathattr.guided_backprop(model, x, target=1),
         captum.GuidedBackprop(model).attribute(x, target=1)),
        (pathattr.deconvnet(model, x, target=1),
         captum.Deconvolution(model).attribute(x, target=1)),
        (pathattr.deeplift(model, x, baselines=b, target=1),
         captum.DeepLift(model).attribute(x, b, target=1)),
    ]  # fmt: skip
    for ours, theirs in pairs:
        torch.testing.assert_close(ours.attributions, theirs, atol=1e-5, rtol=1e-4)


def test_deeplift_matches_captum_on_a_cnn() -> None:
    import captum.attr as captum

    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(4, 4, 3),
                        nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5)).eval()  # fmt: skip
    x, b = torch.randn(3, 1, 8, 8), 0.1 * torch.randn(3, 1, 8, 8)
    ours = pathattr.deeplift(cnn, x, baselines=b, target=2)
    theirs = captum.DeepLift(cnn).attribute(x, b, target=2).detach()
    torch.testing.assert_close(ours.attributions, theirs, atol=1e-5, rtol=1e-4)
    assert float(ours.relative_delta.max()) < 1e-4
    assert ours.extras["relus"] == 2


def test_results_report_outputs_and_residual_without_warning() -> None:
    model, x = _mlp(), torch.randn(4, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for method in (pathattr.saliency, pathattr.input_x_gradient, pathattr.guided_backprop,
                       pathattr.deconvnet):  # fmt: skip
            res = method(model, x, baselines=None, target=2)
            torch.testing.assert_close(res.output, model(x)[:, 2].detach())
            torch.testing.assert_close(res.baseline_output, model(torch.zeros(4, 5))[:, 2].detach())
            assert res.method == method.__name__
            assert res.evaluations.tolist() == [1] * 4
        dl = pathattr.deeplift(model, x, baselines=None, target=2)
    assert float(dl.relative_delta.max()) < 1e-4  # summation-to-delta on a ReLU MLP


def test_warns_when_no_relu_is_intercepted() -> None:
    model, x = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)), torch.randn(2, 3)
    for method in (pathattr.guided_backprop, pathattr.deconvnet, pathattr.deeplift):
        with pytest.warns(UserWarning, match="intercepted no ReLU call"):
            method(model, x)


def test_min_ig_is_not_shapley() -> None:
    mn = lambda x: torch.minimum(x[:, 0], x[:, 1])  # noqa: E731
    x = torch.tensor([[1.0, 3.0]], dtype=torch.float64)
    torch.testing.assert_close(ig(mn, x).attributions, torch.tensor([[1.0, 0.0]]).double())
    # exact Shapley value from the definition: average marginal contribution over orders
    exact = torch.zeros(2, dtype=torch.float64)
    for order in itertools.permutations(range(2)):
        point = torch.zeros(1, 2, dtype=torch.float64)
        for i in order:
            before = mn(point)
            point[0, i] = x[0, i]
            exact[i] += float(mn(point) - before) / math.factorial(2)
    torch.testing.assert_close(exact, torch.tensor([0.5, 0.5]).double())
    sv = shapley_shubik(mn, x, steps=256)
    torch.testing.assert_close(sv.attributions[0], exact, atol=1e-2, rtol=0)
    assert sv.extras["orders"] == 2


def test_one_at_a_time_breaks_symmetry_ig_keeps_it() -> None:
    prod = lambda x: x[:, 0] * x[:, 1]  # noqa: E731
    x = torch.ones(1, 2, dtype=torch.float64)
    oat = pathattr.one_at_a_time(prod, x, order=[0, 1])
    torch.testing.assert_close(oat.attributions, torch.tensor([[0.0, 1.0]]).double())
    assert float(oat.relative_delta) < 1e-10  # still complete: a path method
    torch.testing.assert_close(ig(prod, x).attributions, torch.tensor([[0.5, 0.5]]).double())
    torch.testing.assert_close(shapley_shubik(prod, x).attributions,
                               torch.tensor([[0.5, 0.5]]).double())  # fmt: skip
    bad = axioms.check(pathattr.one_at_a_time, prod, x, checks=["symmetry", "completeness"])
    assert bad["symmetry"].status == "fail" and bad["completeness"].status == "pass"
    assert axioms.check(ig, prod, x, checks=["symmetry"])["symmetry"].status == "pass"


def test_one_at_a_time_on_images_is_a_complete_path_method() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 2)).eval()
    x = torch.randn(2, 1, 4, 4).double()
    model = model.double()
    order = torch.randperm(16)
    res = pathattr.one_at_a_time(model, x, target=1, order=order, steps=256)
    assert res.attributions.shape == x.shape
    assert float(res.relative_delta.max()) < 0.02
    assert res.extras["order"] == order.tolist()
    assert res.evaluations.tolist() == [16 * 256] * 2
    lin = nn.Sequential(nn.Flatten(), nn.Linear(16, 1)).double()
    torch.testing.assert_close(pathattr.one_at_a_time(lin, x, steps=2).attributions,
                               ig(lin, x).attributions)  # fmt: skip


def test_errors_name_the_argument() -> None:
    model, x = _mlp(), torch.randn(2, 5)
    with pytest.raises(ValueError, match="order: expected a permutation"):
        pathattr.one_at_a_time(model, x, target=0, order=[0, 0, 1, 2, 3])
    with pytest.raises(TypeError, match="model: expected a callable"):
        pathattr.saliency("model", x)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="inputs: Shapley"):
        shapley_shubik(model, torch.randn(1, 9), target=0)
    with pytest.raises(ValueError, match="target"):
        pathattr.guided_backprop(model, x)


def test_warns_about_relu6_and_other_activations() -> None:
    # MobileNet / EfficientNet-Lite use ReLU6, which the ReLU rules leave alone
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU6(), nn.Linear(4, 1))
    with pytest.warns(UserWarning, match=r"other activations \(ReLU6\)"):
        pathattr.guided_backprop(model, torch.randn(2, 3))


@pytest.mark.parametrize(
    "method",
    [pathattr.saliency, pathattr.input_x_gradient, pathattr.guided_backprop, pathattr.deconvnet],
)
def test_single_gradient_methods_chunk_without_changing_anything(method) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    inner = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 8 * 8, 5)).eval()  # fmt: skip
    calls: list[int] = []

    class Counting(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            calls.append(x.shape[0])
            return self.inner(x)

    model = Counting().eval()
    x, b = torch.randn(11, 1, 8, 8), 0.1 * torch.randn(11, 1, 8, 8)
    whole = method(model, x, baselines=b, target=[i % 5 for i in range(11)], batch_size=None)
    assert calls == [11, 11]  # the gradient pass, then F(x')
    calls.clear()
    chunked = method(model, x, baselines=b, target=[i % 5 for i in range(11)], batch_size=4)
    assert calls == [4, 4, 3, 4, 4, 3]  # gradient chunks, then F(x') in chunks
    torch.testing.assert_close(chunked.attributions, whole.attributions)
    torch.testing.assert_close(chunked.output, whole.output)
    torch.testing.assert_close(chunked.delta, whole.delta)
