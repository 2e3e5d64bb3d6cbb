"""Bad input gets an error naming the argument, what was expected and what came."""

from __future__ import annotations

import pytest
import torch
from conftest import mlp

import pathattr
from pathattr.engine.validate import TrainingModeWarning, ZeroGradientWarning


@pytest.fixture
def model():
    return mlp()


def test_baseline_shape_mismatch(model) -> None:
    with pytest.raises(ValueError, match=r"baselines: expected .*\(3, 10\).*got shape \(3, 9\)"):
        pathattr.integrated_gradients(
            model, torch.randn(3, 10), baselines=torch.randn(3, 9), target=0
        )


def test_baseline_tuple_length(model) -> None:
    with pytest.raises(ValueError, match="baselines: expected 1 baselines"):
        pathattr.integrated_gradients(model, torch.randn(3, 10), baselines=(0.0, 1.0), target=0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_inputs_and_baselines(model, bad) -> None:
    x = torch.randn(2, 10)
    x[1, 3] = bad
    with pytest.raises(ValueError, match="inputs: expected finite values, got 1 NaN or inf"):
        pathattr.integrated_gradients(model, x, target=0)
    b = torch.zeros(2, 10)
    b[0, 0] = bad
    with pytest.raises(ValueError, match="baselines: expected finite values"):
        pathattr.integrated_gradients(model, torch.randn(2, 10), baselines=b, target=0)


def test_non_finite_check_names_the_input_of_a_tuple(two_input) -> None:
    img, vec = torch.rand(2, 1, 6, 6), torch.randn(2, 3)
    bvec = torch.zeros(2, 3)
    bvec[1, 2] = float("inf")
    with pytest.raises(ValueError, match=r"baselines\[1\]: expected finite values, got 1 NaN"):
        pathattr.integrated_gradients(
            two_input, (img, vec), baselines=(torch.zeros_like(img), bvec), target=0,
            forward_args=(torch.ones(2),),
        )  # fmt: skip
    x = torch.full((2, 10), float("inf"))
    with pytest.raises(ValueError, match="inputs: expected finite values, got 20 NaN"):
        pathattr.integrated_gradients(
            model_10(), x, baselines=x, target=0
        )  # x - x' = NaN everywhere


def test_huge_finite_inputs_are_not_flagged() -> None:
    """The one-reduction finiteness check overflows on huge values; the exact check decides."""
    x = torch.full((2, 10), 3e38)
    res = pathattr.integrated_gradients(
        model_10(), x, baselines=x * 0.5, target=0, steps=4, warn_tol=0
    )
    assert res.attributions.shape == (2, 10)


def test_overflowing_difference_is_an_error() -> None:
    """x = 3e38 and x' = -3e38 are finite, but x - x' is inf in float32: never all-inf output."""
    x = torch.full((2, 10), 3e38)
    with pytest.raises(ValueError, match=r"inputs - baselines: the difference overflows"):
        pathattr.integrated_gradients(model_10(), x, baselines=-x, target=0, steps=4)


def model_10() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(10, 4)).eval()


def test_nan_scalar_baseline(model) -> None:
    with pytest.raises(ValueError, match="baselines: expected finite values, got nan"):
        pathattr.integrated_gradients(model, torch.randn(2, 10), baselines=float("nan"), target=0)


def test_integer_inputs_point_to_embeddings() -> None:
    emb = torch.nn.Embedding(20, 4)
    with pytest.raises(TypeError, match="inputs: expected a floating-point tensor.*embedding"):
        pathattr.integrated_gradients(emb, torch.randint(0, 20, (2, 5)), target=0)


def test_target_out_of_range(model) -> None:
    with pytest.raises(ValueError, match="target: index 4 is out of range for a model with 4"):
        pathattr.integrated_gradients(model, torch.randn(2, 10), target=4)
    with pytest.raises(ValueError, match="target: index 9 is out of range"):
        pathattr.integrated_gradients(model, torch.randn(2, 10), target=[0, 9])


def test_target_wrong_length(model) -> None:
    with pytest.raises(ValueError, match=r"target: expected one index per example \(3\), got 2"):
        pathattr.integrated_gradients(model, torch.randn(3, 10), target=[0, 1])


def test_target_float_dtype(model) -> None:
    with pytest.raises(TypeError, match="target: expected integer class indices"):
        pathattr.integrated_gradients(model, torch.randn(2, 10), target=torch.tensor([0.0, 1.0]))


def test_callable_target_wrong_shape(model) -> None:
    with pytest.raises(ValueError, match=r"target: the callable must return a tensor of shape"):
        pathattr.integrated_gradients(model, torch.randn(2, 10), target=lambda out: out)


def test_missing_target_for_multi_output(model) -> None:
    with pytest.raises(ValueError, match="target: the model returns shape"):
        pathattr.integrated_gradients(model, torch.randn(2, 10))


def test_output_without_batch_dimension() -> None:
    f = lambda z: z.sum()  # noqa: E731
    with pytest.raises(ValueError, match="model output: expected a batch dimension"):
        pathattr.integrated_gradients(f, torch.randn(2, 3))


def test_training_mode_with_dropout_warns() -> None:
    m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 1))
    m.train()
    with pytest.warns(TrainingModeWarning, match=r"model: in training mode with Dropout.*eval\(\)"):
        pathattr.integrated_gradients(m, torch.randn(2, 4), steps=4, warn_tol=0)


def test_output_independent_of_inputs_warns() -> None:
    f = lambda z: torch.zeros(z.shape[0]) + 0 * z.detach().sum(1)  # noqa: E731
    with pytest.raises(RuntimeError):
        # a graph-free output cannot be differentiated at all: torch says so
        pathattr.integrated_gradients(f, torch.randn(2, 3), steps=4)
    g = lambda z: torch.relu(z - 100).sum(1)  # noqa: E731  zero gradient everywhere on the path
    with pytest.warns(ZeroGradientWarning, match="zero gradient"):
        pathattr.integrated_gradients(g, torch.randn(2, 3), steps=4)


@pytest.mark.parametrize("steps", [0, -3])
def test_steps_below_one(model, steps) -> None:
    with pytest.raises(ValueError, match=f"steps: expected an int >= 1, got {steps}"):
        pathattr.integrated_gradients(model, torch.randn(2, 10), target=0, steps=steps)


def test_steps_bad_string(model) -> None:
    with pytest.raises(ValueError, match="steps: expected a positive int or 'auto'"):
        pathattr.integrated_gradients(model, torch.randn(2, 10), target=0, steps="many")


def test_unknown_rule(model) -> None:
    with pytest.raises(ValueError, match="rule: expected one of .*gausslegendre.*got 'simpson'"):
        pathattr.integrated_gradients(model, torch.randn(2, 10), target=0, rule="simpson")


def test_inputs_batch_mismatch_across_tuple() -> None:
    with pytest.raises(ValueError, match=r"inputs\[1\]: expected batch size 3"):
        pathattr.integrated_gradients(lambda a, b: a.sum(1), (torch.randn(3, 2), torch.randn(2, 2)))
