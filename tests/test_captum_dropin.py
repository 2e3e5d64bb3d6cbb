"""pathattr.captum against the installed Captum: same members, same arguments, same numbers."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import captum.attr as ca
import numpy as np
import pytest
import torch
from captum.testing.helpers.basic_models import (
    BasicLinearModel,
    BasicModel2,
    BasicModel_ConvNet_One_Conv,
    BasicModel_MultiLayer,
    BasicModel_MultiLayer_MultiInput,
    BasicModel_MultiLayer_TrueMultiInput,
)
from torch import nn

import pathattr.captum as pc

CLASSES = [n for n in pc.__all__ if n != "Attribution"]


def close(ours: Any, ref: Any, rel: float = 2e-5) -> None:
    """Equal structure (tensor vs tuple, shapes) and numbers within float32 rounding."""
    assert isinstance(ours, tuple) == isinstance(ref, tuple), (type(ours), type(ref))
    pairs = zip(ours, ref) if isinstance(ref, tuple) else [(ours, ref)]
    for a, b in pairs:
        assert isinstance(a, torch.Tensor) and a.shape == b.shape, (a.shape, b.shape)
        assert torch.isfinite(a).all()
        scale = float(b.abs().max()) or 1.0
        err = float((a.detach() - b.detach()).abs().max())
        assert err <= rel * scale + 1e-6, f"max abs diff {err:.3g} (scale {scale:.3g})"


def convnet() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 16),
        nn.ReLU(),
        nn.Linear(16, 5),
    ).eval()


def mlp() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 4)).eval()


def make(name: str, model: Any, **kw: Any) -> tuple[Any, Any]:
    """(pathattr's instance, Captum's instance) of class ``name``."""
    return getattr(pc, name)(model, **kw), getattr(ca, name)(model, **kw)


# ---------------------------------------------------------------- members and signatures


@pytest.mark.parametrize("name", CLASSES)
def test_members_match_captum(name: str) -> None:
    model = convnet()
    inner = (pc.Saliency(model), ca.Saliency(model))
    layer_kw = {"layer": next(iter(model.children()))} if name.startswith("Layer") else {}
    ours, ref = (
        (pc.NoiseTunnel(inner[0]), ca.NoiseTunnel(inner[1]))
        if name == "NoiseTunnel"
        else make(name, model, **layer_kw)
    )
    public = {m for m in dir(ref) if not m.startswith("_")}
    missing = public - set(dir(ours))
    assert not missing, f"{name} lacks {sorted(missing)}"
    for member in ("has_convergence_delta", "multiplies_by_inputs", "get_name", "forward_func"):
        assert member in dir(ours)
    assert ours.has_convergence_delta() == ref.has_convergence_delta()
    assert ours.multiplies_by_inputs == ref.multiplies_by_inputs
    assert ours.get_name() == ref.get_name()
    assert ours.forward_func is ref.forward_func
    with pytest.raises(NotImplementedError):
        ours.attribute_future()
    sig = inspect.signature(ours.attribute).parameters
    ref_sig = inspect.signature(ref.attribute).parameters
    assert list(sig) == list(ref_sig)
    assert [p.default for p in sig.values()] == [p.default for p in ref_sig.values()]
    # Captum's NoiseTunnel calls attribute.__wrapped__(self, ...): it must be there
    assert callable(getattr(ours.attribute, "__wrapped__", None))


@pytest.mark.parametrize("flag", [True, False])
def test_multiplies_by_inputs_flag(flag: bool) -> None:
    model = mlp()
    for name in ("IntegratedGradients", "DeepLift", "GradientShap"):
        ours, ref = make(name, model, multiply_by_inputs=flag)
        assert ours.multiplies_by_inputs == ref.multiplies_by_inputs == flag


# ---------------------------------------------------------------- Integrated Gradients


@pytest.mark.parametrize(
    "method", ["gausslegendre", "riemann_left", "riemann_right", "riemann_middle"]
)
@pytest.mark.parametrize("multiply", [True, False])
def test_ig_convnet(method: str, multiply: bool) -> None:
    model = convnet()
    torch.manual_seed(2)
    x, b = torch.rand(3, 2, 8, 8), torch.rand(1, 2, 8, 8)
    ours, ref = make("IntegratedGradients", model, multiply_by_inputs=multiply)
    kw = dict(
        baselines=b, target=[0, 3, 4], n_steps=16, method=method, return_convergence_delta=True
    )
    a, d = ours.attribute(x, **kw)
    ra, rd = ref.attribute(x, **kw)
    close(a, ra)
    assert d.shape == rd.shape == (3,)
    close(d, rd, rel=1e-4)  # finite and Captum's also with multiply_by_inputs=False


def test_ig_multi_input_forward_args_internal_batch_size() -> None:
    model = BasicModel_MultiLayer_MultiInput()
    torch.manual_seed(3)
    xs = tuple(torch.randn(4, 3) for _ in range(3))
    bs = (torch.zeros(1, 3), 0.5, torch.randn(4, 3))
    ours, ref = make("IntegratedGradients", model)
    for ibs in (None, 7, 40):
        kw = dict(
            baselines=bs,
            target=torch.tensor([0, 1, 1, 0]),
            additional_forward_args=(2,),
            n_steps=10,
            internal_batch_size=ibs,
            return_convergence_delta=True,
        )
        a, d = ours.attribute(xs, **kw)
        ra, rd = ref.attribute(xs, **kw)
        close(a, ra)
        close(d, rd, rel=1e-4)


def test_ig_tensor_forward_arg_and_tuple_target_on_multidim_output() -> None:
    model = BasicModel_MultiLayer()
    torch.manual_seed(4)
    x = torch.randn(3, 3)
    ours, ref = make("IntegratedGradients", model)
    for target in [(1, 0, 1), [(0, 1, 0), (1, 1, 1), (1, 0, 0)]]:
        kw = dict(
            target=target,
            additional_forward_args=(torch.randn(3, 3), True),
            n_steps=12,
            return_convergence_delta=True,
        )
        a, d = ours.attribute(x, **kw)
        ra, rd = ref.attribute(x, **kw)
        close(a, ra)
        close(d, rd, rel=1e-4)


def test_ig_compute_convergence_delta_matches() -> None:
    model = mlp()
    torch.manual_seed(5)
    x = torch.randn(5, 6)
    ours, ref = make("IntegratedGradients", model)
    a = ref.attribute(x, target=2)
    close(
        ours.compute_convergence_delta(a, 0.1, x, target=2),
        ref.compute_convergence_delta(a, 0.1, x, target=2),
    )


# ---------------------------------------------------------------- single-gradient methods


@pytest.mark.parametrize("name", ["Saliency", "InputXGradient", "GuidedBackprop", "Deconvolution"])
def test_gradient_methods_convnet(name: str) -> None:
    model = convnet()
    torch.manual_seed(6)
    x = torch.randn(4, 2, 8, 8)
    ours, ref = make(name, model)
    for target in (3, [0, 1, 2, 3], torch.tensor([4, 4, 0, 1])):
        close(ours.attribute(x, target=target), ref.attribute(x, target=target))
    if name == "Saliency":
        close(ours.attribute(x, target=1, abs=False), ref.attribute(x, target=1, abs=False))


@pytest.mark.parametrize("name", ["Saliency", "InputXGradient", "GuidedBackprop", "Deconvolution"])
def test_gradient_methods_multi_input_with_forward_args(name: str) -> None:
    model = BasicModel_ConvNet_One_Conv()
    torch.manual_seed(7)
    x, x2 = torch.randn(2, 1, 4, 4) * 10, torch.randn(2, 1, 4, 4) * 10
    ours, ref = make(name, model)
    close(
        ours.attribute((x,), target=1, additional_forward_args=x2),
        ref.attribute((x,), target=1, additional_forward_args=x2),
    )
    model3 = BasicModel_MultiLayer_TrueMultiInput()
    xs = tuple(torch.randn(3, 3) for _ in range(4))
    if name in ("Saliency", "InputXGradient"):  # GuidedBackprop/Deconvolution: same model
        ours, ref = make(name, model3)
        close(ours.attribute(xs, target=0), ref.attribute(xs, target=0))


# ---------------------------------------------------------------- DeepLift


@pytest.mark.parametrize("multiply", [True, False])
def test_deeplift_relu_networks(multiply: bool) -> None:
    for model, shape, target in ((convnet(), (3, 2, 8, 8), [1, 2, 3]), (mlp(), (5, 6), 2)):
        torch.manual_seed(8)
        x, b = torch.randn(*shape), torch.randn(1, *shape[1:])
        ours, ref = make("DeepLift", model, multiply_by_inputs=multiply)
        a, d = ours.attribute(x, b, target=target, return_convergence_delta=True)
        ra, rd = ref.attribute(x, b, target=target, return_convergence_delta=True)
        close(a, ra, rel=1e-4)
        close(d, rd, rel=1e-3)
        if multiply:
            assert float(d.abs().max()) < 1e-4  # summation-to-delta on a ReLU network


def test_deeplift_custom_attribution_func() -> None:
    model = mlp()
    torch.manual_seed(9)
    x, b = torch.randn(4, 6), torch.randn(4, 6)

    def custom(
        mults: tuple[torch.Tensor, ...],
        inputs: tuple[torch.Tensor, ...],
        baselines: tuple[torch.Tensor, ...],
    ) -> tuple[torch.Tensor, ...]:
        return tuple(m * (i - bb) ** 2 for m, i, bb in zip(mults, inputs, baselines))

    ours, ref = make("DeepLift", model)
    close(
        ours.attribute(x, b, target=1, custom_attribution_func=custom),
        ref.attribute(x, b, target=1, custom_attribution_func=custom),
        rel=1e-4,
    )


class Times1(nn.Module):
    """x * 1: keeps two hooked nonlinearities from sharing a tensor (see the next test)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 1.0


def ruled_net(separate: bool, softmax: bool = True) -> nn.Module:
    torch.manual_seed(16)
    gap = [Times1()] if separate else []
    return nn.Sequential(
        nn.Conv2d(1, 3, 3),
        nn.ReLU(),
        *gap,
        nn.MaxPool2d(2),
        nn.Conv2d(3, 4, 3),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(16, 6),
        nn.Sigmoid(),
        nn.Linear(6, 5),
        nn.ELU(),
        nn.Linear(5, 3),
        *([nn.Softmax(dim=1)] if softmax else []),
    ).eval()


@pytest.mark.parametrize("multiply", [True, False])
def test_deeplift_rules_for_other_nonlinearities(multiply: bool) -> None:
    model = ruled_net(separate=True)
    torch.manual_seed(17)
    x, b = torch.randn(3, 1, 10, 10), torch.randn(3, 1, 10, 10)
    ours, ref = make("DeepLift", model, multiply_by_inputs=multiply)
    a, d = ours.attribute(x, b, target=[0, 1, 2], return_convergence_delta=True)
    ra, rd = ref.attribute(x, b, target=[0, 1, 2], return_convergence_delta=True)
    close(a, ra, rel=1e-4)
    close(d, rd, rel=1e-3)


def test_deeplift_adjacent_nonlinearities_keep_summation_to_delta() -> None:
    # ReLU feeding MaxPool directly: Captum's hook on the ReLU captures the gradient before the
    # max-pool rule rewrites it, so its delta is not ~0 here; pathattr chains both rules
    model = ruled_net(separate=False, softmax=False)  # Softmax's rule is not summation-exact
    torch.manual_seed(17)
    x, b = torch.randn(3, 1, 10, 10), torch.randn(3, 1, 10, 10)
    _, d = pc.DeepLift(model).attribute(x, b, target=1, return_convergence_delta=True)
    out = model(x)[:, 1] - model(b)[:, 1]
    assert float(d.abs().max()) <= 1e-4 * float(out.abs().max())
    # and it equals Captum's numbers once the two modules are separated (previous test)


# ---------------------------------------------------------------- NoiseTunnel


def run_seeded(fn: Callable[[], Any], seed: int = 10) -> Any:
    torch.manual_seed(seed)
    np.random.seed(seed)
    return fn()


@pytest.mark.parametrize("nt_type", ["smoothgrad", "smoothgrad_sq", "vargrad"])
@pytest.mark.parametrize("batch", [None, 3])
def test_noise_tunnel_ig_matches(nt_type: str, batch: int | None) -> None:
    model = BasicModel_MultiLayer()
    x = torch.tensor([[1.5, 2.0, 1.3], [0.5, 0.1, 2.3]])
    ours = pc.NoiseTunnel(pc.IntegratedGradients(model))
    ref = ca.NoiseTunnel(ca.IntegratedGradients(model))
    kw = dict(
        nt_type=nt_type,
        nt_samples=7,
        nt_samples_batch_size=batch,
        stdevs=0.3,
        target=[0, 1],
        n_steps=20,
        return_convergence_delta=True,
    )
    a, d = run_seeded(lambda: ours.attribute(x, **kw))
    ra, rd = run_seeded(lambda: ref.attribute(x, **kw))
    close(a, ra, rel=1e-4)
    assert d.shape == rd.shape == (2 * 7,)  # one delta per noisy sample
    close(d, rd, rel=1e-3)


@pytest.mark.parametrize("name", ["Saliency", "InputXGradient", "GuidedBackprop"])
@pytest.mark.parametrize("nt_type", ["smoothgrad", "vargrad"])
def test_noise_tunnel_gradient_methods(name: str, nt_type: str) -> None:
    model = convnet()
    torch.manual_seed(11)
    x = torch.randn(2, 2, 8, 8)
    ours_m, ref_m = make(name, model)
    kw = dict(nt_type=nt_type, nt_samples=5, nt_samples_batch_size=2, stdevs=0.2, target=3)
    close(
        run_seeded(lambda: pc.NoiseTunnel(ours_m).attribute(x, **kw)),
        run_seeded(lambda: ca.NoiseTunnel(ref_m).attribute(x, **kw)),
    )


def test_noise_tunnel_multi_input_stdev_tuple_and_baseline_draws() -> None:
    model = BasicModel_MultiLayer_MultiInput()
    torch.manual_seed(12)
    xs = tuple(torch.randn(3, 3) for _ in range(3))
    refs = tuple(torch.randn(6, 3) for _ in range(3))
    kw = dict(
        nt_type="smoothgrad_sq",
        nt_samples=4,
        stdevs=(0.1, 0.2, 0.3),
        baselines=refs,
        draw_baseline_from_distrib=True,
        target=1,
        additional_forward_args=(3,),
        n_steps=8,
    )
    ours = pc.NoiseTunnel(pc.IntegratedGradients(model))
    ref = ca.NoiseTunnel(ca.IntegratedGradients(model))
    close(
        run_seeded(lambda: ours.attribute(xs, **kw)),
        run_seeded(lambda: ref.attribute(xs, **kw)),
        rel=1e-4,
    )


def test_noise_tunnel_wraps_captum_objects_and_captum_wraps_ours() -> None:
    model = convnet()
    torch.manual_seed(13)
    x = torch.randn(2, 2, 8, 8)
    kw = dict(nt_type="smoothgrad", nt_samples=4, stdevs=0.1, target=1)
    expected = run_seeded(lambda: ca.NoiseTunnel(ca.Saliency(model)).attribute(x, **kw))
    close(run_seeded(lambda: pc.NoiseTunnel(ca.Saliency(model)).attribute(x, **kw)), expected)
    close(run_seeded(lambda: ca.NoiseTunnel(pc.Saliency(model)).attribute(x, **kw)), expected)
    ig_kw = dict(kw, n_steps=10, return_convergence_delta=True)
    a, d = run_seeded(lambda: ca.NoiseTunnel(pc.IntegratedGradients(model)).attribute(x, **ig_kw))
    ra, rd = run_seeded(lambda: ca.NoiseTunnel(ca.IntegratedGradients(model)).attribute(x, **ig_kw))
    close(a, ra, rel=1e-4)
    close(d, rd, rel=1e-3)


def test_noise_tunnel_calls_the_method_once_per_partition() -> None:
    calls = []

    class Counting(pc.IntegratedGradients):
        def attribute(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(int(inputs.shape[0]))
            return super().attribute(inputs, *args, **kwargs)

    x = torch.randn(3, 6)
    pc.NoiseTunnel(Counting(mlp())).attribute(
        x, nt_samples=10, nt_samples_batch_size=4, target=0, n_steps=5
    )
    assert calls == [12, 12, 6]  # all noisy copies of a partition in one engine run


# ---------------------------------------------------------------- GradientShap


@pytest.mark.parametrize("multiply", [True, False])
@pytest.mark.parametrize("stdevs", [0.0, 0.05])
def test_gradient_shap_matches(multiply: bool, stdevs: float) -> None:
    model = convnet()
    torch.manual_seed(14)
    x, refs = torch.randn(3, 2, 8, 8), torch.randn(5, 2, 8, 8)
    ours, ref = make("GradientShap", model, multiply_by_inputs=multiply)
    kw = dict(n_samples=6, stdevs=stdevs, target=[0, 1, 4], return_convergence_delta=True)
    a, d = run_seeded(lambda: ours.attribute(x, refs, **kw))
    ra, rd = run_seeded(lambda: ref.attribute(x, refs, **kw))
    close(a, ra, rel=1e-4)
    assert d.shape == rd.shape == (3 * 6,)
    close(d, rd, rel=1e-3)


def test_gradient_shap_multi_input_callable_baselines() -> None:
    model = BasicLinearModel()
    x = (torch.randn(4, 3), torch.randn(4, 4))

    def baselines(inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        return tuple(torch.linspace(-1, 1, 7 * t.shape[1]).reshape(7, -1) for t in inputs)

    ours, ref = make("GradientShap", model)
    a, d = run_seeded(
        lambda: ours.attribute(
            x, baselines, n_samples=9, stdevs=(0.1, 0.2), return_convergence_delta=True
        )
    )
    ra, rd = run_seeded(
        lambda: ref.attribute(
            x, baselines, n_samples=9, stdevs=(0.1, 0.2), return_convergence_delta=True
        )
    )
    close(a, ra, rel=1e-4)
    close(d, rd, rel=1e-3)


def test_gradient_shap_relu_model_additional_args() -> None:
    model = BasicModel_ConvNet_One_Conv()
    torch.manual_seed(15)
    x, x2, refs = torch.randn(2, 1, 4, 4) * 10, torch.randn(2, 1, 4, 4), torch.randn(3, 1, 4, 4)
    kw = dict(n_samples=4, target=2, additional_forward_args=x2)
    close(
        run_seeded(lambda: pc.GradientShap(model).attribute(x, refs, **kw)),
        run_seeded(lambda: ca.GradientShap(model).attribute(x, refs, **kw)),
        rel=1e-4,
    )


def test_ig_on_basic_model2_is_captums() -> None:
    model = BasicModel2()
    x = (torch.tensor([[3.0]]), torch.tensor([[1.0]]))
    ours, ref = make("IntegratedGradients", model)
    close(ours.attribute(x, n_steps=30), ref.attribute(x, n_steps=30))
