"""Layer Integrated Gradients: Captum's numbers, the prefix computed once, clear errors."""

from __future__ import annotations

import pytest
import torch
from captum.attr import LayerIntegratedGradients
from torch import nn

import pathattr

D = torch.float64


class ConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(1, 3, 3, padding=1)
        self.act = nn.ReLU()
        self.conv2 = nn.Conv2d(3, 4, 3)
        self.head = nn.Linear(4 * 4 * 4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.conv1(x))
        return self.head(torch.tanh(self.conv2(h)).flatten(1))


class TextNet(nn.Module):
    """Token ids -> embedding -> mean -> tanh MLP; the IG paper's text recipe."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.emb = nn.Embedding(20, 6)
        self.mlp = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        e = self.emb(ids) * mask[..., None]
        return self.mlp(e.sum(1) / mask.sum(1, keepdim=True))


def net() -> ConvNet:
    return ConvNet().double().eval()


def test_equals_captum_at_a_conv_output() -> None:
    model = net()
    x = torch.randn(3, 1, 6, 6, dtype=D)
    b = torch.rand(3, 1, 6, 6, dtype=D) * 0.1
    target = [0, 3, 1]
    ours = pathattr.layer_integrated_gradients(
        model, model.conv1, x, baselines=b, target=target, steps=20, rule="riemann_middle"
    )
    theirs, delta = LayerIntegratedGradients(model, model.conv1).attribute(
        x, baselines=b, target=target, n_steps=20, method="riemann_middle",
        return_convergence_delta=True,
    )  # fmt: skip
    torch.testing.assert_close(ours.attributions, theirs)
    # everything passes through conv1: G(a') = F(x'), so the deltas agree too
    torch.testing.assert_close(ours.delta, delta)
    assert ours.extras["split"] == "hooks"


def test_equals_captum_at_a_layer_input_with_gauss_legendre() -> None:
    model = net()
    x = torch.randn(2, 1, 6, 6, dtype=D)
    ours = pathattr.layer_integrated_gradients(
        model, model.conv2, x, target=2, steps=16, attribute_to="input"
    )
    theirs = LayerIntegratedGradients(model, model.conv2).attribute(
        x, target=2, n_steps=16, attribute_to_layer_input=True
    )
    torch.testing.assert_close(ours.attributions, theirs)
    assert ours.attributions.shape == (2, 3, 6, 6)


def test_embedding_layer_with_token_ids_and_a_mask_equals_captum() -> None:
    model = TextNet().double().eval()
    ids = torch.randint(1, 20, (4, 7))
    mask = torch.ones(4, 7, dtype=D)
    mask[1, 5:] = 0
    base = torch.zeros_like(ids)  # the pad token
    ours = pathattr.layer_integrated_gradients(
        model, model.emb, ids, baselines=base, target=1, forward_args=(mask,), steps=32
    )
    theirs = LayerIntegratedGradients(model, model.emb).attribute(
        ids, baselines=base, target=1, additional_forward_args=(mask,), n_steps=32
    )
    torch.testing.assert_close(ours.attributions, theirs)
    assert ours.attributions.shape == (4, 7, 6)
    # padding positions never receive attribution: the mask zeroes their effect
    assert ours.attributions[1, 5:].abs().max() == 0
    assert ours.relative_delta.max() < 1e-3


def test_several_layers_in_the_same_passes_equal_captum() -> None:
    model = TextNet().double().eval()
    ids = torch.randint(1, 20, (3, 5))
    mask = torch.ones(3, 5, dtype=D)

    class Two(nn.Module):
        """Two independent branches: layers that do not feed one another."""

        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(2)
            self.a = nn.Linear(4, 3)
            self.b = nn.Linear(4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tanh(self.a(x)) * torch.sigmoid(self.b(x))

    two = Two().double().eval()
    x = torch.randn(3, 4, dtype=D)
    ours = pathattr.layer_integrated_gradients(two, [two.a, two.b], x, target=0, steps=24)
    with pytest.warns(UserWarning):
        theirs = LayerIntegratedGradients(two, [two.a, two.b]).attribute(x, target=0, n_steps=24)
    assert isinstance(ours.attributions, list) and len(ours.attributions) == 2
    for a, t in zip(ours.attributions, theirs):
        torch.testing.assert_close(a, t)
    del model, ids, mask


def test_sequential_is_split_so_the_prefix_runs_once() -> None:
    torch.manual_seed(3)
    calls: list[int] = []

    class Counted(nn.Linear):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            calls.append(x.shape[0])
            return super().forward(x)

    prefix = Counted(5, 8)
    model = nn.Sequential(prefix, nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 2))
    model = model.double().eval()
    x = torch.randn(4, 5, dtype=D)
    split = pathattr.layer_integrated_gradients(
        model, model[2], x, target=1, steps=30, batch_size=None
    )
    assert split.extras["split"] == "suffix"
    assert sum(calls) == 8  # the prefix saw the inputs and the baselines, once each
    calls.clear()
    hooked = pathattr.layer_integrated_gradients(
        lambda t: model(t), model[2], x, target=1, steps=30, batch_size=None
    )
    assert hooked.extras["split"] == "hooks"
    assert sum(calls) >= 4 * 30  # the prefix ran at every step
    torch.testing.assert_close(split.attributions, hooked.attributions)
    torch.testing.assert_close(split.output, hooked.output)


def test_user_suffix_gives_the_hook_numbers() -> None:
    model = net()
    x = torch.randn(2, 1, 6, 6, dtype=D)

    def suffix(h: torch.Tensor) -> torch.Tensor:
        return model.head(torch.tanh(model.conv2(model.act(h))).flatten(1))

    a = pathattr.layer_integrated_gradients(model, model.conv1, x, target=4, suffix=suffix)
    b = pathattr.layer_integrated_gradients(model, model.conv1, x, target=4)
    torch.testing.assert_close(a.attributions, b.attributions)
    assert a.extras["split"] == "suffix"


def test_completeness_at_the_layer_and_auto_steps() -> None:
    model = net()
    x = torch.randn(3, 1, 6, 6, dtype=D)
    res = pathattr.layer_integrated_gradients(model, model.conv1, x, target=0, steps="auto",
                                              tol=1e-4)  # fmt: skip
    assert res.relative_delta.max() < 1e-3
    with torch.no_grad():
        torch.testing.assert_close(res.output, model(x)[:, 0])


def test_unused_layer_is_a_clear_error() -> None:
    model = net()
    with pytest.raises(ValueError, match="layer: the module was not called"):
        pathattr.layer_integrated_gradients(
            model, nn.Linear(2, 2), torch.randn(1, 1, 6, 6, dtype=D), target=0
        )


def test_integer_layer_input_is_a_clear_error() -> None:
    model = TextNet().double().eval()
    ids = torch.randint(0, 20, (2, 3))
    with pytest.raises(TypeError, match="not a floating-point tensor"):
        pathattr.layer_integrated_gradients(
            model, model.emb, ids, target=0, attribute_to="input",
            forward_args=(torch.ones(2, 3, dtype=D),),
        )  # fmt: skip


def test_train_mode_model_is_left_unchanged() -> None:
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 2)).double().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.warns(UserWarning, match="training mode") as record:
        pathattr.layer_integrated_gradients(
            model, model[2], torch.randn(5, 4, dtype=D), target=0, steps=8
        )
    # one warning, pointing at this call (not a second one from the split-off suffix)
    said = [w for w in record if "training mode" in str(w.message)]
    assert len(said) == 1 and said[0].filename == __file__
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


# --- the Captum drop-in ------------------------------------------------------------------------


def test_captum_facade_matches_captum_with_delta() -> None:
    from pathattr.captum import LayerIntegratedGradients as Ours

    model = TextNet().double().eval()
    ids = torch.randint(1, 20, (3, 6))
    mask = torch.ones(3, 6, dtype=D)
    kw = dict(baselines=0, target=[0, 2, 1], additional_forward_args=(mask,), n_steps=12,
              return_convergence_delta=True)  # fmt: skip
    a, d = Ours(model, model.emb).attribute(ids, **kw)
    b, e = LayerIntegratedGradients(model, model.emb).attribute(ids, **kw)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(d, e)
    lig = Ours(model, model.emb)
    assert lig.has_convergence_delta() and lig.multiplies_by_inputs
    assert lig.get_name() == LayerIntegratedGradients.get_name()
    with pytest.raises(NotImplementedError):
        lig.attribute_future()


def test_captum_facade_layer_input_and_layer_lists() -> None:
    from pathattr.captum import LayerIntegratedGradients as Ours

    model = net()
    x = torch.randn(2, 1, 6, 6, dtype=D)
    a = Ours(model, model.conv2).attribute(x, target=1, attribute_to_layer_input=True)
    b = LayerIntegratedGradients(model, model.conv2).attribute(
        x, target=1, attribute_to_layer_input=True
    )
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="grad_kwargs: .* unsupported keys"):
        Ours(model, model.conv2).attribute(x, target=1, grad_kwargs={"retain_graph": True})


def test_an_eval_sequential_split_raises_no_training_warning() -> None:
    """The suffix container is new; it must carry the model's eval flag, not the default."""
    import warnings

    from pathattr.engine.validate import TrainingModeWarning

    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Dropout(0.5), nn.Linear(6, 2)).eval()
    x = torch.randn(3, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainingModeWarning)
        res = pathattr.layer_integrated_gradients(model, model[0], x, target=0, steps=8)
    assert res.extras["split"] == "suffix"
    again = pathattr.layer_integrated_gradients(model, model[0], x, target=0, steps=8)
    torch.testing.assert_close(res.attributions, again.attributions)  # dropout is off
