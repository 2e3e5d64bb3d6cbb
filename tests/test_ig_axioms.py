"""The IG paper's axioms as property-based tests on randomly drawn networks."""

from __future__ import annotations

import copy

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import pathattr

SETTINGS = settings(max_examples=12, deadline=None)


def random_net(seed: int, d_in: int, width: int, depth: int, act: str) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    acts = {"tanh": torch.nn.Tanh, "softplus": torch.nn.Softplus, "relu": torch.nn.ReLU,
            "sigmoid": torch.nn.Sigmoid}  # fmt: skip
    layers: list[torch.nn.Module] = []
    d = d_in
    for _ in range(depth):
        layers += [torch.nn.Linear(d, width), acts[act]()]
        d = width
    layers.append(torch.nn.Linear(d, 1))
    return torch.nn.Sequential(*layers).double().eval()


nets = st.builds(
    random_net,
    seed=st.integers(0, 10_000),
    d_in=st.integers(2, 8),
    width=st.integers(2, 16),
    depth=st.integers(1, 3),
    act=st.sampled_from(["tanh", "softplus", "sigmoid"]),
)


def inputs_for(
    net: torch.nn.Sequential, seed: int, n: int = 3
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    d = net[0].in_features
    x = torch.randn(n, d, generator=g, dtype=torch.float64) * 2
    b = torch.randn(n, d, generator=g, dtype=torch.float64)
    return x, b


@SETTINGS
@given(net=nets, seed=st.integers(0, 1000))
def test_completeness_residual_falls_with_steps(net, seed) -> None:
    x, b = inputs_for(net, seed)
    diff = (net(x) - net(b)).detach().squeeze(1).abs()
    if float(diff.min()) < 1e-3:  # relative error is meaningless when F(x) ≈ F(x')
        x = x + 3.0
    errs = [
        float(
            pathattr.integrated_gradients(
                net, x, baselines=b, steps=s, warn_tol=0
            ).relative_delta.max()
        )
        for s in (2, 8, 1024)
    ]
    assert errs[2] < 1e-4
    assert errs[2] <= errs[0] + 1e-12


@SETTINGS
@given(net=nets, seed=st.integers(0, 1000))
def test_completeness_float32_at_1024_gauss_legendre(net, seed) -> None:
    net32 = copy.deepcopy(net).float()
    x, b = inputs_for(net, seed)
    x, b = x.float() + 2.0, b.float()
    res = pathattr.integrated_gradients(net32, x, baselines=b, steps=1024, warn_tol=0)
    diff = (res.output - res.baseline_output).abs()
    ok = diff > 1e-2
    assert bool((res.relative_delta[ok] < 1e-4).all()), res.relative_delta


@SETTINGS
@given(net=nets, seed=st.integers(0, 1000), j=st.integers(0, 7))
def test_dummy_feature_gets_exactly_zero(net, seed, j) -> None:
    j = j % net[0].in_features
    with torch.no_grad():
        net[0].weight[:, j] = 0.0  # the function ignores feature j
    x, b = inputs_for(net, seed)
    res = pathattr.integrated_gradients(net, x, baselines=b, steps=16, warn_tol=0)
    assert bool((res.attributions[:, j] == 0).all())


@SETTINGS
@given(net=nets, seed=st.integers(0, 1000), j=st.integers(0, 7))
def test_sensitivity_a(net, seed, j) -> None:
    """Input and baseline differ in one feature and the outputs differ: that feature gets credit."""
    j = j % net[0].in_features
    x, b = inputs_for(net, seed, n=1)
    x = b.clone()
    x[0, j] += 3.0
    res = pathattr.integrated_gradients(net, x, baselines=b, steps=64, warn_tol=0)
    diff = float(res.output - res.baseline_output)
    if abs(diff) > 1e-6:
        assert abs(float(res.attributions[0, j])) > 0
        others = torch.cat([res.attributions[0, :j], res.attributions[0, j + 1 :]])
        assert bool((others == 0).all())
        assert abs(float(res.attributions[0, j]) - diff) < 1e-3 * abs(diff) + 1e-9


@SETTINGS
@given(f=nets, g=nets, a=st.floats(-3, 3), c=st.floats(-3, 3), seed=st.integers(0, 1000))
def test_linearity(f, g, a, c, seed) -> None:
    d = min(f[0].in_features, g[0].in_features)
    x, b = inputs_for(f, seed)
    x, b = x[:, :d], b[:, :d]

    def combo(z):
        return a * f(_pad(z, f)) + c * g(_pad(z, g))

    def ig(m):
        return pathattr.integrated_gradients(m, x, baselines=b, steps=32, warn_tol=0).attributions

    lhs = ig(combo)
    rhs = a * ig(lambda z: f(_pad(z, f))) + c * ig(lambda z: g(_pad(z, g)))
    torch.testing.assert_close(lhs, rhs, rtol=1e-9, atol=1e-11)


def _pad(z: torch.Tensor, net: torch.nn.Sequential) -> torch.Tensor:
    extra = net[0].in_features - z.shape[1]
    return torch.cat([z, torch.zeros(z.shape[0], extra, dtype=z.dtype)], 1) if extra else z


@SETTINGS
@given(width=st.integers(2, 12), seed=st.integers(0, 1000), v=st.floats(0.1, 3))
def test_symmetry_preservation(width, seed, v) -> None:
    """Features 0 and 1 enter only through their sum: equal values get equal attributions."""
    torch.manual_seed(seed)
    inner = torch.nn.Sequential(
        torch.nn.Linear(3, width), torch.nn.Tanh(), torch.nn.Linear(width, 1)
    )
    inner = inner.double()

    def f(z):
        return inner(torch.stack([z[:, 0] + z[:, 1], z[:, 2], z[:, 3]], 1))

    x = torch.tensor([[v, v, 0.7, -1.2]], dtype=torch.float64)
    b = torch.tensor([[0.0, 0.0, 0.1, 0.3]], dtype=torch.float64)
    res = pathattr.integrated_gradients(f, x, baselines=b, steps=32, warn_tol=0)
    assert abs(float(res.attributions[0, 0] - res.attributions[0, 1])) < 1e-12


def test_paper_sigmoid_symmetry() -> None:
    """Sigmoid(x1 + x2 - 1) at (1, 1) from 0: equal attributions 0.2311 (papers.md A4)."""
    f = lambda z: torch.sigmoid(z[:, 0] + z[:, 1] - 1)  # noqa: E731
    res = pathattr.integrated_gradients(f, torch.ones(1, 2, dtype=torch.float64), steps=64)
    torch.testing.assert_close(res.attributions[0, 0], res.attributions[0, 1])
    assert abs(float(res.attributions[0, 0]) - 0.2311) < 1e-4


@SETTINGS
@given(net=nets, seed=st.integers(0, 1000))
def test_implementation_invariance_permuted_and_split(net, seed) -> None:
    """Permuting hidden units leaves IG unchanged."""
    x, b = inputs_for(net, seed)
    ref = pathattr.integrated_gradients(net, x, baselines=b, steps=32, warn_tol=0).attributions
    perm = copy.deepcopy(net)
    first, second = perm[0], perm[2]
    p = torch.randperm(first.out_features, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        first.weight.copy_(first.weight[p])
        first.bias.copy_(first.bias[p])
        second.weight.copy_(second.weight[:, p])
    out = pathattr.integrated_gradients(perm, x, baselines=b, steps=32, warn_tol=0).attributions
    torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-11)


def test_relu_split_rewrite_is_invariant() -> None:
    """ReLU(z) rewritten as z + ReLU(−z) (the same function) gives the same IG."""
    torch.manual_seed(0)
    lin1, lin2 = torch.nn.Linear(5, 8).double(), torch.nn.Linear(8, 1).double()
    f = lambda z: lin2(torch.relu(lin1(z)))  # noqa: E731
    g = lambda z: lin2(lin1(z) + torch.relu(-lin1(z)))  # noqa: E731
    x, b = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64)
    a1 = pathattr.integrated_gradients(f, x, baselines=b, steps=40, warn_tol=0).attributions
    a2 = pathattr.integrated_gradients(g, x, baselines=b, steps=40, warn_tol=0).attributions
    torch.testing.assert_close(a1, a2, rtol=1e-9, atol=1e-11)


def f_paper(z: torch.Tensor) -> torch.Tensor:
    x1, x2 = z[:, 0], z[:, 1]
    return torch.relu(torch.relu(x1) - 1 - torch.relu(x2))


def g_paper(z: torch.Tensor) -> torch.Tensor:
    x1, x2 = z[:, 0], z[:, 1]
    return torch.relu(torch.relu(x1 - 1) - torch.relu(x2))


def test_paper_implementation_invariance_example() -> None:
    """f and g of the paper's appendix are the same function; IG gives (1.5, -0.5) on both."""
    pts = torch.randn(100_000, 2, dtype=torch.float64) * 3
    assert float((f_paper(pts) - g_paper(pts)).abs().max()) == 0.0
    x = torch.tensor([[3.0, 1.0]], dtype=torch.float64)
    for fn in (f_paper, g_paper):
        res = pathattr.integrated_gradients(fn, x, steps=4096, rule="riemann_middle")
        torch.testing.assert_close(
            res.attributions[0], torch.tensor([1.5, -0.5], dtype=torch.float64), atol=1e-3, rtol=0
        )


def test_paper_sensitivity_example_ig_vs_gradient_times_input() -> None:
    """f(x) = 1 − ReLU(1 − x), x = 2, x' = 0: IG gives 1, gradient × input gives 0."""
    f = lambda z: 1 - torch.relu(1 - z[:, 0])  # noqa: E731
    x = torch.tensor([[2.0]], dtype=torch.float64, requires_grad=True)
    res = pathattr.integrated_gradients(f, x.detach(), steps=64)
    assert abs(float(res.attributions) - 1.0) < 1e-12
    (grad,) = torch.autograd.grad(f(x).sum(), x)
    assert float(grad * x) == 0.0


def test_min_function_ig_is_not_shapley() -> None:
    """IG of min(x1, x2) at (1, 3) from 0 is (1, 0) (Shapley would give (0.5, 0.5))."""
    f = lambda z: torch.minimum(z[:, 0], z[:, 1])  # noqa: E731
    res = pathattr.integrated_gradients(
        f, torch.tensor([[1.0, 3.0]], dtype=torch.float64), steps=64
    )
    torch.testing.assert_close(res.attributions[0], torch.tensor([1.0, 0.0], dtype=torch.float64))


@SETTINGS
@given(net=nets, seed=st.integers(0, 1000), unit=st.integers(0, 15))
def test_implementation_invariance_split_hidden_unit(net, seed, unit) -> None:
    """Duplicating a hidden unit and halving its outgoing weights keeps the function and IG."""
    x, b = inputs_for(net, seed)
    ref = pathattr.integrated_gradients(net, x, baselines=b, steps=32, warn_tol=0).attributions
    first, second = net[0], net[2]
    u = unit % first.out_features
    wide_in = torch.nn.Linear(first.in_features, first.out_features + 1).double()
    wide_out = torch.nn.Linear(first.out_features + 1, second.out_features).double()
    with torch.no_grad():
        wide_in.weight.copy_(torch.cat([first.weight, first.weight[u : u + 1]]))
        wide_in.bias.copy_(torch.cat([first.bias, first.bias[u : u + 1]]))
        w = second.weight.clone()
        w[:, u] /= 2
        wide_out.weight.copy_(torch.cat([w, w[:, u : u + 1]], 1))
        wide_out.bias.copy_(second.bias)
    split = torch.nn.Sequential(wide_in, copy.deepcopy(net[1]), wide_out, *net[3:]).eval()
    torch.testing.assert_close(split(x), net(x), rtol=1e-12, atol=1e-12)
    out = pathattr.integrated_gradients(split, x, baselines=b, steps=32, warn_tol=0).attributions
    torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-11)
