"""Every edge case is either right or a clear error (issue: no silent wrong answers)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

import pathattr
from pathattr.engine.pipeline import NonFiniteWarning
from pathattr.engine.validate import TrainingModeWarning

D = torch.float64


def mlp(seed: int = 0, out: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, out)).double().eval()


def relu_mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).double().eval()


#: every public method, called the same way: (model, inputs, *, target=...)
METHODS: dict[str, Callable[..., Any]] = {
    "ig": lambda m, x, **kw: pathattr.integrated_gradients(m, x, steps=8, **kw),
    "ig_auto": lambda m, x, **kw: pathattr.integrated_gradients(m, x, steps="auto", **kw),
    "eg": lambda m, x, **kw: pathattr.expected_gradients(
        m, x, references=torch.randn(5, 4, dtype=D), samples=4, seed=0, **kw
    ),
    "smoothgrad": lambda m, x, **kw: pathattr.smoothgrad(m, x, samples=3, seed=0, **kw),
    "noise_ig": lambda m, x, **kw: pathattr.noise_integrated_gradients(
        m, x, samples=2, steps=4, seed=0, low=-1.0, high=1.0, **kw
    ),
    "saliency": lambda m, x, **kw: pathattr.saliency(m, x, **kw),
    "input_x_gradient": lambda m, x, **kw: pathattr.input_x_gradient(m, x, **kw),
    "guided_backprop": lambda m, x, **kw: pathattr.guided_backprop(m, x, **kw),
    "deconvnet": lambda m, x, **kw: pathattr.deconvnet(m, x, **kw),
    "deeplift": lambda m, x, **kw: pathattr.deeplift(m, x, **kw),
    "one_at_a_time": lambda m, x, **kw: pathattr.one_at_a_time(m, x, steps=4, **kw),
    "shapley_shubik": lambda m, x, **kw: pathattr.shapley_shubik(m, x, steps=4, **kw),
}


# --- non-finite results are never silent -------------------------------------------------------


class Log(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(x).sum(1)


def test_nan_at_the_baseline_is_named() -> None:
    """log at a baseline of -1: F(x') is NaN; the result says so instead of passing quietly."""
    x = torch.rand(3, 4, dtype=D) + 0.5
    with pytest.warns(NonFiniteWarning, match=r"baseline_output \(3 of 3 examples\)"):
        res = pathattr.integrated_gradients(Log(), x, baselines=-1.0, steps=8)
    assert torch.isnan(res.baseline_output).all()


def test_nan_everywhere_names_every_quantity() -> None:
    class NaNModel(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (x * float("nan")).sum(1)

    x = torch.rand(2, 4, dtype=D)
    with pytest.warns(NonFiniteWarning) as record:
        pathattr.integrated_gradients(NaNModel(), x, steps=4)
    text = str(record[0].message)
    for name in ("output (2 of 2", "baseline_output (2 of 2", "attributions (2 of 2"):
        assert name in text


def test_nan_in_some_examples_counts_them() -> None:
    x = torch.rand(4, 4, dtype=D) + 0.5
    b = torch.full_like(x, 0.5)
    b[1] = -1.0  # only example 1 has a NaN baseline output
    with pytest.warns(NonFiniteWarning, match=r"baseline_output \(1 of 4 examples\)"):
        pathattr.integrated_gradients(Log(), x, baselines=b, steps=8)


@pytest.mark.parametrize("name", ["eg", "smoothgrad", "saliency", "ig_auto"])
def test_nan_is_reported_by_the_other_methods(name: str) -> None:
    class NaNModel(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (x * float("nan")).sum(1)

    with pytest.warns(NonFiniteWarning, match="attributions"):
        METHODS[name](NaNModel(), torch.rand(2, 4, dtype=D))


def test_auto_steps_stop_at_once_on_a_nan_path() -> None:
    """No chasing NaN to max_steps: the example stops after its first panel, flagged."""

    class NaNModel(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (x * float("nan")).sum(1)

    with pytest.warns(NonFiniteWarning):
        res = pathattr.integrated_gradients(NaNModel(), torch.rand(2, 4, dtype=D), steps="auto")
    assert res.evaluations.max() <= 9
    assert res.extras["stop_reason"] == ["non_finite", "non_finite"]
    assert not res.extras["converged"].any()


def test_finite_results_raise_no_non_finite_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonFiniteWarning)
        pathattr.integrated_gradients(mlp(), torch.randn(3, 4, dtype=D), target=0, steps=8)


def test_relative_delta_is_undefined_when_the_outputs_agree() -> None:
    """F(x) = F(x') exactly: |delta| / 0 is no percentage; NaN, and the repr says why."""

    class Square(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (x**2).sum(1)

    x = torch.randn(2, 4, dtype=D)
    res = pathattr.integrated_gradients(Square(), x, baselines=-x, steps=8)
    assert torch.isnan(res.relative_delta).all()
    assert torch.isfinite(res.delta).all() and res.delta.abs().max() < 1e-12
    assert "undefined for 2" in repr(res)
    assert "e+" not in repr(res).split("relative_delta")[1].split(",")[0]


# --- empty batches -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(METHODS))
def test_empty_batch_gives_an_empty_result(name: str) -> None:
    model = relu_mlp() if name in ("deeplift", "guided_backprop", "deconvnet") else mlp()
    x = torch.zeros(0, 4, dtype=D)
    res = METHODS[name](model, x, target=1)
    assert res.attributions.shape == (0, 4)
    assert res.output.shape == (0,) and res.evaluations.shape == (0,)


def test_empty_batch_of_a_multi_input_model() -> None:
    def f(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a * b).sum(1)

    xs = (torch.zeros(0, 3), torch.zeros(0, 3))
    res = pathattr.integrated_gradients(f, xs, steps=4)
    assert isinstance(res.attributions, tuple) and [a.shape for a in res.attributions] == [
        (0, 3),
        (0, 3),
    ]


# --- outputs without a graph, inference mode, no_grad ------------------------------------------


GRAPHLESS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "constant": lambda x: torch.zeros(x.shape[0], dtype=x.dtype),
    "argmax": lambda x: x.argmax(1),
    "comparison": lambda x: (x.sum(1) > 0).to(x.dtype),
    "detached": lambda x: (x**2).sum(1).detach(),
}


@pytest.mark.parametrize("kind", sorted(GRAPHLESS))
@pytest.mark.parametrize("name", ["ig", "ig_auto", "eg", "smoothgrad", "saliency"])
def test_graphless_output_is_one_clear_error(kind: str, name: str) -> None:
    with pytest.raises(RuntimeError, match="has no autograd graph"):
        METHODS[name](GRAPHLESS[kind], torch.randn(3, 4, dtype=D))


def test_callable_target_that_detaches_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="has no autograd graph"):
        pathattr.integrated_gradients(
            mlp(), torch.randn(2, 4, dtype=D), target=lambda out: out[:, 0].detach(), steps=4
        )


def test_inference_mode_is_refused_clearly() -> None:
    x = torch.randn(2, 4, dtype=D)
    with torch.inference_mode(), pytest.raises(RuntimeError, match="torch.inference_mode"):
        pathattr.integrated_gradients(mlp(), x, target=0)


def test_inference_tensor_is_refused_clearly() -> None:
    with torch.inference_mode():
        x = torch.randn(2, 4, dtype=D)
    with pytest.raises(RuntimeError, match="inputs: an inference tensor"):
        pathattr.integrated_gradients(mlp(), x, target=0)


def test_no_grad_computes_the_same_attributions() -> None:
    x = torch.randn(3, 4, dtype=D)
    ref = pathattr.integrated_gradients(mlp(), x, target=1, steps=8).attributions
    with torch.no_grad():
        got = pathattr.integrated_gradients(mlp(), x, target=1, steps=8).attributions
    torch.testing.assert_close(got, ref)


@pytest.mark.parametrize("name", ["ig", "eg", "smoothgrad", "saliency"])
def test_create_graph_inside_no_grad_stays_differentiable(name: str) -> None:
    model = mlp()
    x = torch.randn(3, 4, dtype=D)
    with torch.no_grad():
        res = METHODS[name](model, x, target=1, create_graph=True)
    assert res.attributions.requires_grad
    res.attributions.sum().backward()
    assert model[0].weight.grad is not None and model[0].weight.grad.abs().sum() > 0


# --- training-mode models are left as they were ------------------------------------------------


def bn_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3)).double()


@pytest.mark.parametrize("batch_size", ["auto", None, 7])
@pytest.mark.parametrize("name", ["ig", "ig_auto", "eg", "smoothgrad", "saliency", "deeplift"])
def test_train_mode_batch_norm_changes_nothing(name: str, batch_size: Any) -> None:
    model = bn_model().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(5, 4, dtype=D)
    kw: dict[str, Any] = {"target": 0}
    if name != "deeplift":
        kw["batch_size"] = batch_size
    with pytest.warns(TrainingModeWarning, match="restored"):
        METHODS[name](model, x, **kw)
    assert model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


# --- ignored arguments are errors --------------------------------------------------------------


def test_rule_with_auto_steps_is_an_error() -> None:
    with pytest.raises(ValueError, match="rule: steps='auto' chooses its own nodes"):
        pathattr.integrated_gradients(mlp(), torch.randn(2, 4, dtype=D), target=0,
                                      steps="auto", rule="riemann_left")  # fmt: skip


def test_tol_with_fixed_steps_is_an_error() -> None:
    with pytest.raises(ValueError, match="tol, max_steps: only used with steps='auto'"):
        pathattr.integrated_gradients(mlp(), torch.randn(2, 4, dtype=D), target=0, steps=8,
                                      tol=1e-3)  # fmt: skip


@pytest.mark.parametrize("name", ["ig", "ig_auto", "eg", "noise_ig", "deeplift"])
def test_negative_warn_tol_is_an_error(name: str) -> None:
    with pytest.raises(ValueError, match="warn_tol: expected a number >= 0"):
        METHODS[name](mlp(), torch.randn(2, 4, dtype=D), target=0, warn_tol=-0.1)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_everything_after_model_and_inputs_is_keyword_only(name: str) -> None:
    fn = {
        "ig": pathattr.integrated_gradients,
        "ig_auto": pathattr.integrated_gradients,
        "eg": pathattr.expected_gradients,
        "smoothgrad": pathattr.smoothgrad,
        "noise_ig": pathattr.noise_integrated_gradients,
        "saliency": pathattr.saliency,
        "input_x_gradient": pathattr.input_x_gradient,
        "guided_backprop": pathattr.guided_backprop,
        "deconvnet": pathattr.deconvnet,
        "deeplift": pathattr.deeplift,
        "one_at_a_time": pathattr.one_at_a_time,
        "shapley_shubik": pathattr.shapley_shubik,
    }[name]
    with pytest.raises(TypeError, match="positional argument"):
        fn(mlp(), torch.randn(2, 4, dtype=D), 3)


# --- targets: a tuple is Captum's multi-index, never per-example indices ----------------------


class Grid(nn.Module):
    """Output (N, 3, 4)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.lin = nn.Linear(4, 12).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.lin(x)).reshape(-1, 3, 4)


def test_tuple_target_is_a_multi_index_like_captum() -> None:
    from captum.attr import IntegratedGradients

    model = Grid()
    x = torch.randn(2, 4, dtype=D)
    ours = pathattr.integrated_gradients(model, x, target=(1, 2), steps=16, rule="riemann_left")
    theirs = IntegratedGradients(model).attribute(x, target=(1, 2), n_steps=16,
                                                  method="riemann_left")  # fmt: skip
    torch.testing.assert_close(ours.attributions, theirs)
    torch.testing.assert_close(ours.output, model(x)[:, 1, 2].detach())


def test_tuple_target_on_a_2d_output_is_refused_not_read_per_example() -> None:
    """N = 2 and target=(1, 2) on a (2, 3) output once meant classes 1 and 2; now an error."""
    with pytest.raises(ValueError, match="multi-index .* for one class per example pass a list"):
        pathattr.integrated_gradients(mlp(), torch.randn(2, 4, dtype=D), target=(1, 2))


def test_list_target_is_per_example() -> None:
    model, x = mlp(), torch.randn(2, 4, dtype=D)
    res = pathattr.integrated_gradients(model, x, target=[1, 2], steps=8)
    torch.testing.assert_close(res.output, model(x).detach()[[0, 1], [1, 2]])


def test_list_of_tuples_is_a_per_example_multi_index() -> None:
    model, x = Grid(), torch.randn(2, 4, dtype=D)
    res = pathattr.integrated_gradients(model, x, target=[(0, 1), (2, 3)], steps=8)
    out = model(x).detach()
    torch.testing.assert_close(res.output, torch.stack([out[0, 0, 1], out[1, 2, 3]]))


def test_tuple_target_out_of_range_names_the_shape() -> None:
    with pytest.raises(ValueError, match=r"shape \(3, 4\)"):
        pathattr.integrated_gradients(Grid(), torch.randn(2, 4, dtype=D), target=(3, 0))


# --- inputs that are part of the user's graph --------------------------------------------------


def test_inputs_in_a_graph_are_detached_without_create_graph() -> None:
    leaf = torch.randn(3, 4, dtype=D, requires_grad=True)
    x = leaf * 2
    res = pathattr.integrated_gradients(mlp(), x, target=0, steps=8)
    assert not res.attributions.requires_grad


def test_create_graph_is_fully_differentiable_in_the_inputs() -> None:
    """IG of F = Σ w x² from 0 is w x² (exact with Gauss-Legendre); d/dx Σ IG = 2 w x.

    A gradient through (x − x') alone would give w x: half the true derivative.
    """
    w = torch.tensor([0.5, -1.0, 2.0, 3.0], dtype=D)

    def f(t: torch.Tensor) -> torch.Tensor:
        return (w * t**2).sum(1)

    leaf = torch.randn(3, 4, dtype=D, requires_grad=True)
    res = pathattr.integrated_gradients(f, leaf * 1.0, steps=4, create_graph=True)
    torch.testing.assert_close(res.attributions.detach(), (w * leaf**2).detach())
    (grad,) = torch.autograd.grad(res.attributions.sum(), leaf)
    torch.testing.assert_close(grad, 2 * w * leaf.detach())


# --- the metrics and the axiom checker refuse an empty batch with one clear error -------------


def _perturb(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    noise = torch.randn_like(x) * 0.1
    return noise, x - noise


SCORES: dict[str, Callable[[nn.Module, torch.Tensor], Any]] = {
    "deletion": lambda m, x: pathattr.metrics.deletion_curve(m, x, torch.zeros_like(x), target=0),
    "insertion": lambda m, x: pathattr.metrics.insertion_curve(m, x, torch.zeros_like(x), target=0),
    "infidelity": lambda m, x: pathattr.metrics.infidelity(
        m, _perturb, x, torch.zeros_like(x), target=0
    ),
    "max_sensitivity": lambda m, x: pathattr.metrics.max_sensitivity(
        lambda xx, **kw: pathattr.saliency(m, xx, target=0).attributions, x
    ),
    "model_randomisation": lambda m, x: pathattr.metrics.model_randomisation(
        pathattr.saliency, m, x, target=0
    ),
    "axioms.check": lambda m, x: pathattr.axioms.check(
        pathattr.integrated_gradients, m, x, target=0
    ),
}


@pytest.mark.parametrize("name", sorted(SCORES))
def test_scores_refuse_an_empty_batch(name: str) -> None:
    with pytest.raises(ValueError, match="inputs: expected at least one example"):
        SCORES[name](mlp(), torch.zeros(0, 4, dtype=D))
