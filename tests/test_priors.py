"""Attribution priors: the penalties' defining properties, gradients through EG/IG, errors."""

from __future__ import annotations

import functools
import sys

import pytest
import torch
from conftest import mlp

import pathattr
from pathattr import priors
from pathattr.priors import AttributionPrior, prior_loss

D = 6  # features of the tabular models


def image_model(seed: int = 0) -> torch.nn.Module:
    """A smooth (tanh) CNN on 1×6×6 images, float64, eval mode."""
    torch.manual_seed(seed)
    return (
        torch.nn.Sequential(
            torch.nn.Conv2d(1, 3, 3, padding=1),
            torch.nn.Tanh(),
            torch.nn.Flatten(),
            torch.nn.Linear(3 * 36, 4),
        )  # fmt: skip
        .double()
        .eval()
    )


def tab_model(seed: int = 0) -> torch.nn.Module:
    return mlp(seed, d_in=D, hidden=8, d_out=3, act=torch.nn.Tanh).double()


def checkerboard(n: int = 8) -> torch.Tensor:
    i = torch.arange(n)
    return ((i[:, None] + i[None, :]) % 2 * 2 - 1).double()


# --- gradients w.r.t. model parameters through the attribution (double backprop) ------------

ADJ = torch.tensor([[0, 1, 2, 4], [1, 2, 3, 5]])
MASK = torch.tensor([True, False, False, True, False, False])
TABULAR_PENALTIES = {
    "gini": priors.gini,
    "sparsity": priors.sparsity,
    "graph": functools.partial(priors.graph, adjacency=ADJ),
    "mask": functools.partial(priors.mask, mask=MASK),
    "mask_sq": functools.partial(priors.mask, mask=MASK, squared=True),
}
REFS = torch.randn(20, D, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
METHODS = {
    "eg_batch": dict(method="expected_gradients", references="batch", samples=2, seed=5),
    "eg_tensor": dict(method="expected_gradients", references=REFS, samples=3, seed=5),
    "ig": dict(method="integrated_gradients", references=None, samples=4),
    "gradients": dict(method="gradients"),
}


def directional_check(model: torch.nn.Module, loss_fn, seed: int = 0, eps: float = 1e-6) -> None:
    """Autograd's directional derivative of loss(θ) equals a central finite difference."""
    params = [p for p in model.parameters()]
    loss = loss_fn()
    # the last bias never reaches an input gradient: unused, i.e. a zero derivative
    grads = [
        torch.zeros_like(p) if gr is None else gr
        for gr, p in zip(torch.autograd.grad(loss, params, allow_unused=True), params)
    ]
    g = torch.Generator().manual_seed(seed)
    for _ in range(2):
        v = [torch.randn(p.shape, generator=g, dtype=p.dtype) for p in params]
        analytic = sum(float((gr * vi).sum()) for gr, vi in zip(grads, v))
        with torch.no_grad():
            for p, vi in zip(params, v):
                p.add_(eps * vi)
        up = loss_fn().item()
        with torch.no_grad():
            for p, vi in zip(params, v):
                p.sub_(2 * eps * vi)
        down = loss_fn().item()
        with torch.no_grad():
            for p, vi in zip(params, v):
                p.add_(eps * vi)
        numeric = (up - down) / (2 * eps)
        assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-8)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", TABULAR_PENALTIES)
def test_tabular_prior_gradient_matches_finite_differences(name: str, method: str) -> None:
    model = tab_model()
    x = torch.randn(5, D, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 1, 0])

    # a fresh prior per evaluation: the same seed, hence the same (reference, α) draws
    def loss():
        return AttributionPrior(TABULAR_PENALTIES[name], 0.7, **METHODS[method])(model, x, y)

    assert loss().item() != 0.0
    directional_check(model, loss)


@pytest.mark.parametrize("method", ["eg_batch", "ig", "gradients"])
def test_total_variation_gradient_matches_finite_differences(method: str) -> None:
    model = image_model()
    x = torch.rand(4, 1, 6, 6, generator=torch.Generator().manual_seed(2), dtype=torch.float64)

    def loss():
        prior = AttributionPrior(priors.total_variation, 2.0, **METHODS[method])
        return prior(model, x, torch.tensor([0, 1, 2, 3]))

    directional_check(model, loss)


def test_prior_loss_matches_attribution_prior_and_is_seeded() -> None:
    model = tab_model()
    x = torch.randn(6, D, dtype=torch.float64)
    a = prior_loss(model, x, 1, penalty=priors.sparsity, weight=0.5, samples=2, seed=11)
    b = AttributionPrior(priors.sparsity, 0.5, samples=2, seed=11)(model, x, 1)
    assert a.requires_grad
    torch.testing.assert_close(a, b)


def test_prior_uses_eval_mode_and_restores_training_mode() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(D, 16), torch.nn.Tanh(), torch.nn.Dropout(0.5), torch.nn.Linear(16, 1)
    ).double()
    model.train()
    x = torch.randn(8, D, dtype=torch.float64)
    first = AttributionPrior(priors.gini, 1.0, samples=1, seed=3)(model, x)
    assert model.training
    # dropout was off: the same seed gives the same value twice
    torch.testing.assert_close(
        first, AttributionPrior(priors.gini, 1.0, samples=1, seed=3)(model, x)
    )


def test_seeded_prior_draws_fresh_samples_every_call() -> None:
    model, x = tab_model(), torch.randn(8, D, dtype=torch.float64)
    prior, twin = (AttributionPrior(priors.gini, samples=1, seed=4) for _ in range(2))
    values = [prior(model, x, 0).item() for _ in range(3)]
    assert len(set(values)) == 3
    assert values == [twin(model, x, 0).item() for _ in range(3)]
    torch.manual_seed(0)
    unseeded = [AttributionPrior(priors.gini, samples=1)(model, x, 0).item() for _ in range(2)]
    torch.manual_seed(0)
    assert unseeded == [
        AttributionPrior(priors.gini, samples=1)(model, x, 0).item() for _ in range(2)
    ]


def test_training_with_the_sparsity_prior_raises_gini() -> None:
    """Minimizing −Gini(EG) alone for a few steps makes the model's mean |EG| sparser."""
    model = mlp(0, d_in=10, hidden=16, d_out=1, act=torch.nn.Tanh)
    x = torch.randn(64, 10, generator=torch.Generator().manual_seed(0))
    prior = AttributionPrior(priors.sparsity, 1.0, references=x, samples=4)
    evaluate = AttributionPrior(priors.gini, 1.0, references=x, samples=64, seed=0)
    before = evaluate(model, x).item()
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(40):
        loss = prior(model, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = evaluate(model, x).item()
    assert after > before + 0.2, (before, after)


def test_zero_weight_costs_nothing() -> None:
    calls = []
    prior = AttributionPrior(priors.gini, 0.0, method=lambda m, x, t: calls.append(1) or x)
    assert float(prior(tab_model(), torch.randn(3, D, dtype=torch.float64))) == 0.0
    assert calls == []


@pytest.mark.parametrize("references", ["batch", "tensor"])
def test_eg_prior_runs_only_the_gradient_rows(references: str) -> None:
    """No forward pass for the base value, F(x) or the reference set: only N·k gradient rows."""
    calls: list[tuple[int, bool]] = []

    class Counting(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = tab_model()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            calls.append((x.shape[0], torch.is_grad_enabled()))
            return self.net(x)

    model, x = Counting(), torch.randn(8, D, dtype=torch.float64)
    refs = torch.randn(500, D, dtype=torch.float64) if references == "tensor" else "batch"
    prior = AttributionPrior(priors.gini, 1.0, references=refs, samples=3, seed=0)
    value = prior(model, x, torch.arange(8) % 3)
    assert calls == [(8 * 3, True)]  # one model call, all rows at once (batch_size=None)
    # the same attributions as the full expected_gradients result with its diagnostics
    seed = AttributionPrior(priors.gini, references=refs, seed=0)._next_seed()  # the 1st draw
    full = pathattr.expected_gradients(
        model,
        x,
        references=refs,
        target=torch.arange(8) % 3,
        samples=3,
        seed=seed,
        create_graph=True,
    )
    assert bool(torch.isfinite(full.baseline_output).all())
    torch.testing.assert_close(value, priors.gini(full.attributions))
    (grad,) = torch.autograd.grad(value, [model.net[0].weight])
    assert bool(torch.isfinite(grad).all()) and float(grad.abs().sum()) > 0


# --- Gini / sparsity ----------------------------------------------------------------------


def gini_pairs(phi: torch.Tensor) -> float:
    """The O(p²) definition Σ_ij |φ_i − φ_j| / (2 p Σ φ)."""
    p = phi.numel()
    return float((phi[:, None] - phi[None, :]).abs().sum() / (2 * p * phi.sum()))


@pytest.mark.parametrize("p", [2, 5, 37])
def test_gini_uniform_is_zero_and_one_hot_is_maximal(p: int) -> None:
    assert float(priors.gini(torch.full((3, p), -2.5))) == pytest.approx(0.0, abs=1e-7)
    one_hot = torch.zeros(4, p)
    one_hot[:, p // 2] = torch.tensor([1.0, -3.0, 2.0, 0.5])
    assert float(priors.gini(one_hot)) == pytest.approx((p - 1) / p)
    rand = torch.rand(50, 3, p, dtype=torch.float64)
    assert float(priors.gini(rand)) < (3 * p - 1) / (3 * p)


def test_gini_matches_pairwise_definition_and_is_scale_sign_permutation_invariant() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(7, 4, 5, generator=g, dtype=torch.float64) * torch.rand(4, 5, generator=g)
    phi = a.abs().mean(0).reshape(-1)
    value = float(priors.gini(a))
    assert value == pytest.approx(gini_pairs(phi), rel=1e-12)
    assert float(priors.gini(123.0 * a)) == pytest.approx(value, rel=1e-12)
    assert float(priors.gini(-a)) == pytest.approx(value, rel=1e-12)
    perm = torch.randperm(20, generator=g)
    flat = a.reshape(7, -1)[:, perm]
    assert float(priors.gini(flat)) == pytest.approx(value, rel=1e-12)
    assert float(priors.sparsity(a)) == -value


def test_gini_of_zero_attributions_is_zero_with_finite_gradient() -> None:
    a = torch.zeros(3, 4, requires_grad=True)
    g = priors.gini(a)
    g.backward()
    assert g.item() == 0.0
    assert a.grad is not None and torch.isfinite(a.grad).all()


# --- total variation ------------------------------------------------------------------------


def test_total_variation_constant_map_is_zero_with_finite_gradient() -> None:
    for shape in [(3, 8, 8), (2, 3, 5, 7)]:
        a = torch.full(shape, 4.2, requires_grad=True)
        tv = priors.total_variation(a)
        tv.backward()
        assert tv.item() == 0.0
        assert a.grad is not None and torch.isfinite(a.grad).all()


def test_total_variation_checkerboard_is_maximal() -> None:
    cb = checkerboard(8)
    # ±1 everywhere: sd 1, every neighbour difference is 2, in both directions
    assert float(priors.total_variation(cb.expand(2, 8, 8))) == pytest.approx(4.0)
    g = torch.Generator().manual_seed(0)
    others = [
        torch.randn(16, 8, 8, generator=g, dtype=torch.float64),
        torch.rand(16, 1, 8, 8, generator=g, dtype=torch.float64),
        torch.linspace(0, 1, 64, dtype=torch.float64).reshape(1, 8, 8),
    ]
    for other in others:
        assert float(priors.total_variation(other)) < 3.0
    assert float(priors.total_variation(others[2])) < 0.5  # a smooth ramp


def test_total_variation_is_scale_invariant_and_matches_formula() -> None:
    a = torch.randn(3, 2, 5, 6, dtype=torch.float64)
    tv = float(priors.total_variation(a))
    assert float(priors.total_variation(1e-4 * a)) == pytest.approx(tv, rel=1e-10)
    expected = 0.0
    for m in a:
        m = m / m.std(unbiased=False)
        dv = (m[:, 1:, :] - m[:, :-1, :]).abs()
        dh = (m[:, :, 1:] - m[:, :, :-1]).abs()
        expected += float(dv.mean() + dh.mean()) / 3
        total = float(dv.sum() + dh.sum()) / 3
    assert tv == pytest.approx(expected, rel=1e-12)
    assert float(priors.total_variation(a[-1:], reduction="sum")) == pytest.approx(3 * total)


# --- graph ----------------------------------------------------------------------------------


def two_components() -> torch.Tensor:
    """Edge list of a 6-feature graph with components {0, 1, 2} and {3, 4} and isolated 5."""
    return torch.tensor([[0, 1, 3], [1, 2, 4]])


def test_graph_zero_when_constant_on_components() -> None:
    # the batch mean of |attr| is 2 on {0, 1, 2} and 5 on {3, 4}; signs and rows vary
    a = torch.tensor(
        [[1.0, -3.0, 2.0, 5.0, -4.0, 9.0], [-3.0, 1.0, 2.0, -5.0, 6.0, 0.0]], dtype=torch.float64
    )
    assert float(priors.graph(a, two_components())) == pytest.approx(0.0, abs=1e-12)
    dense = priors.laplacian(two_components(), 6).abs().clamp(max=1) - torch.eye(6)
    dense = dense.clamp(min=0)
    assert float(priors.graph(a, dense)) == pytest.approx(0.0, abs=1e-12)
    b = a.clone()
    b[0, 1] = 0.0  # feature 1 now averages 0.5, its neighbours 2
    assert float(priors.graph(b, two_components())) == pytest.approx(2 * 1.5**2)


def test_graph_dense_edge_list_and_laplacian_agree() -> None:
    g = torch.Generator().manual_seed(0)
    w = torch.rand(8, 8, generator=g, dtype=torch.float64)
    w = (w + w.T) * (torch.rand(8, 8, generator=g) > 0.5).double()
    w = torch.triu(w, 1) + torch.triu(w, 1).T
    a = torch.randn(5, 2, 4, generator=g, dtype=torch.float64)
    phi = a.abs().mean(0).reshape(-1)
    lap = torch.diag(w.sum(1)) - w
    expected = float(phi @ lap @ phi)
    assert float(priors.graph(a, w)) == pytest.approx(expected, rel=1e-12)
    src, dst = torch.triu_indices(8, 8, 1)
    keep = w[src, dst] != 0
    edges = torch.stack([src[keep], dst[keep]])
    assert float(priors.graph(a, edges, w[src, dst][keep])) == pytest.approx(expected, rel=1e-12)
    torch.testing.assert_close(priors.laplacian(w), lap)
    torch.testing.assert_close(priors.laplacian(edges, 8, w[src, dst][keep]), lap)


# --- mask -----------------------------------------------------------------------------------


def test_mask_zero_when_masked_features_have_zero_attribution() -> None:
    a = torch.randn(4, D, dtype=torch.float64)
    a[:, MASK] = 0.0
    assert float(priors.mask(a, MASK)) == 0.0
    b = torch.randn(4, D, dtype=torch.float64)
    assert float(priors.mask(b, MASK)) == pytest.approx(float(b[:, MASK].abs().mean()))
    assert float(priors.mask(b, MASK, squared=True)) == pytest.approx(
        float(b[:, MASK].square().mean())
    )
    per_example = torch.zeros(4, D, dtype=torch.bool)
    per_example[1, 2] = True
    assert float(priors.mask(b, per_example)) == pytest.approx(abs(float(b[1, 2])))
    assert float(priors.mask(b, torch.zeros(D, dtype=torch.bool))) == 0.0


# --- errors ---------------------------------------------------------------------------------


def test_bad_inputs_give_clear_errors() -> None:
    a = torch.randn(3, 4)
    with pytest.raises(ValueError, match=r"attr: expected \(batch, C, H, W\) or \(batch, H, W\)"):
        priors.total_variation(a)
    with pytest.raises(ValueError, match="reduction: expected 'mean' or 'sum'"):
        priors.total_variation(torch.randn(2, 4, 4), reduction="max")
    with pytest.raises(TypeError, match="attr: expected a torch.Tensor, got list"):
        priors.gini([[1.0, 2.0]])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="attr: expected a floating-point tensor"):
        priors.gini(torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="attr: expected a batch-first tensor"):
        priors.gini(torch.ones(5))
    with pytest.raises(ValueError, match="at least 2 features, got 1"):
        priors.gini(torch.ones(5, 1))
    with pytest.raises(ValueError, match=r"adjacency: expected a dense \(4, 4\) .* shape \(5, 5\)"):
        priors.graph(a, torch.zeros(5, 5))
    with pytest.raises(ValueError, match="adjacency: a dense adjacency must be symmetric"):
        priors.graph(a, torch.triu(torch.ones(4, 4), 1))
    with pytest.raises(ValueError, match="adjacency: weights must be non-negative"):
        priors.graph(a, -torch.ones(4, 4))
    with pytest.raises(ValueError, match=r"edge list indices must lie in \[0, 4\), got \[0, 7\]"):
        priors.graph(a, torch.tensor([[0, 1], [2, 7]]))
    with pytest.raises(ValueError, match=r"weights: expected a tensor of shape \(2,\)"):
        priors.graph(a, torch.tensor([[0, 1], [2, 3]]), torch.ones(3))
    with pytest.raises(ValueError, match="weights: edge weights must be non-negative"):
        priors.graph(a, torch.tensor([[0, 1], [2, 3]]), torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="weights: only allowed with an integer"):
        priors.graph(a, torch.zeros(4, 4), torch.ones(2))
    with pytest.raises(TypeError, match="adjacency: expected a dense"):
        priors.graph(a, [[0, 1]])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mask: expected a bool tensor"):
        priors.mask(a, torch.ones(4))
    with pytest.raises(ValueError, match=r"mask: expected shape \(4,\) .* got \(3,\)"):
        priors.mask(a, torch.ones(3, dtype=torch.bool))


def test_attribution_prior_argument_errors() -> None:
    with pytest.raises(TypeError, match="penalty: expected a callable"):
        AttributionPrior("gini", 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="weight: expected a number >= 0, got -1"):
        AttributionPrior(priors.gini, -1)
    with pytest.raises(ValueError, match="method: expected one of"):
        AttributionPrior(priors.gini, method="shap")
    with pytest.raises(ValueError, match="references: expected 'batch', None or a tensor"):
        AttributionPrior(priors.gini, references="train")
    with pytest.raises(ValueError, match="samples: expected an int >= 1, got 0"):
        AttributionPrior(priors.gini, samples=0)
    with pytest.raises(ValueError, match="references: Expected Gradients needs references"):
        AttributionPrior(priors.gini, references=None)


def test_lightning_missing_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathattr.priors import lightning

    # a None entry in sys.modules makes the import fail, whether Lightning is installed or not
    monkeypatch.setitem(sys.modules, "lightning", None)
    monkeypatch.setitem(sys.modules, "lightning.pytorch", None)
    monkeypatch.setitem(sys.modules, "pytorch_lightning", None)
    prior = AttributionPrior(priors.gini)
    with pytest.raises(ImportError, match=r"pip install 'pathattr\[lightning\]'"):
        lightning.PriorModule(tab_model(), torch.nn.functional.mse_loss, prior, torch.optim.Adam)
