"""Tests of ``integrated_gradients(..., steps="auto")`` (pathattr.methods.adaptive)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import pathattr
from pathattr.methods.adaptive import adaptive_integrated_gradients
from pathattr.quadrature import adaptive as q
from pathattr.result import ConvergenceWarning

D = torch.float64


def rel_l2(a: object, b: torch.Tensor) -> torch.Tensor:
    assert isinstance(a, torch.Tensor)
    x, y = a.detach().flatten(1), b.detach().flatten(1)
    return (x - y).norm(dim=1) / y.norm(dim=1)


def gl_reference(model, x, base, target, steps: int = 4096):  # type: ignore[no-untyped-def]
    """IG with ``steps`` Gauss-Legendre nodes through the engine (scipy's O(n²) nodes: numpy's
    leggauss costs O(n³), ~40 s at 4096)."""
    from scipy.special import roots_legendre

    from pathattr.engine.core import integrate
    from pathattr.engine.targets import make_selector
    from pathattr.paths import StraightLine

    nodes, weights = roots_legendre(steps)
    n = x.shape[0]
    rows = torch.arange(n).repeat_interleave(steps)
    alphas = torch.tensor(0.5 * (nodes + 1)).repeat(n)
    w = torch.tensor(0.5 * weights).repeat(n)
    path = StraightLine((x,), (base,))
    out = integrate(model, path, make_selector(target, n), rows, alphas, w, n_examples=n)
    return out.sums[0]


def quiet(**kw):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pathattr.integrated_gradients(**kw)


# ---------------------------------------------------------------------------------------------
# accuracy against known integrals
def test_sigmoid_of_linear_closed_form() -> None:
    torch.manual_seed(0)
    w = torch.randn(12, dtype=D) * 3
    x = torch.randn(8, 12, dtype=D)
    z = x @ w
    # ∫₀¹ σ'(α z) dα = (σ(z) − σ(0)) / z, so IG_i = x_i w_i (σ(z) − ½) / z (zero baseline).
    exact = x * w * ((torch.sigmoid(z) - 0.5) / z)[:, None]
    for tol in (1e-2, 1e-4):
        r = pathattr.integrated_gradients(
            lambda t: torch.sigmoid(t @ w), x, steps="auto", tol=tol, batch_size=None
        )
        assert bool(r.extras["converged"].all())
        assert float(rel_l2(r.attributions, exact).max()) <= tol
        assert float(r.relative_delta.max()) <= tol
        assert bool((r.extras["error_estimate"] <= tol).all())


def _saturated_net() -> nn.Module:
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 4)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(4.0)  # large weights: the softmax saturates quickly along the path
    return net.eval()


def test_saturated_softmax_matches_gl4096_reference() -> None:
    net = _saturated_net()
    x = torch.randn(10, 6, dtype=D)
    target = net(x).argmax(1)

    def prob(t: torch.Tensor) -> torch.Tensor:
        return torch.softmax(net(t), 1)

    ref = gl_reference(prob, x, torch.zeros_like(x), target)
    tol = 1e-3
    r = pathattr.integrated_gradients(prob, x, target=target, steps="auto", tol=tol)
    assert bool(r.extras["converged"].all())
    assert float(rel_l2(r.attributions, ref).max()) <= tol
    # the nodes go where the path bends: fewer than 4096, and not evenly many for every example
    assert int(r.evaluations.max()) < 1024


def _relu_exact_ig(
    w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, x: np.ndarray, xb: np.ndarray
) -> np.ndarray:
    """Exact IG of f(x) = w2 · relu(W1 x + b1) from the breakpoints of the hidden units."""
    d = x - xb
    z0 = w1 @ xb + b1
    s = w1 @ d
    with np.errstate(divide="ignore", invalid="ignore"):
        brk = -z0 / s
    cuts = np.sort(np.concatenate([[0.0, 1.0], brk[(brk > 0) & (brk < 1)]]))
    avg_grad = np.zeros_like(x)
    for a, b in zip(cuts[:-1], cuts[1:]):
        active = (z0 + 0.5 * (a + b) * s) > 0
        avg_grad += (b - a) * (w1.T @ (w2 * active))
    return d * avg_grad


def test_piecewise_linear_relu_net_exact_from_breakpoints() -> None:
    rng = np.random.default_rng(2)
    w1, b1 = rng.normal(size=(24, 5)), rng.normal(size=24)
    w2 = rng.normal(size=24)
    x = rng.normal(size=(6, 5)) * 2
    xb = rng.normal(size=(6, 5)) * 0.1
    exact = np.stack([_relu_exact_ig(w1, b1, w2, x[i], xb[i]) for i in range(6)])
    tw1, tb1, tw2 = (torch.tensor(a) for a in (w1, b1, w2))

    def f(t: torch.Tensor) -> torch.Tensor:
        return torch.relu(t @ tw1.T + tb1) @ tw2

    tol = 1e-3
    r = pathattr.integrated_gradients(
        f, torch.tensor(x), baselines=torch.tensor(xb), steps="auto", tol=tol, max_steps=4096
    )
    assert bool(r.extras["converged"].all())
    # The Simpson difference alone misses much of the error at a kink (3.3e-3 here); the exact
    # panel residuals added to it keep every example within tol.
    err = rel_l2(r.attributions, torch.tensor(exact))
    assert float(err.max()) <= tol
    assert bool((r.extras["error_estimate"] >= err).all())
    # a fixed rule with as many nodes as auto's largest example is much worse on the kinks
    steps = int(r.evaluations.max())
    fixed = quiet(model=f, inputs=torch.tensor(x), baselines=torch.tensor(xb), steps=steps,
                  rule="riemann_trapezoid")  # fmt: skip
    assert float(rel_l2(fixed.attributions, torch.tensor(exact)).max()) > tol


# ---------------------------------------------------------------------------------------------
# budget and reuse
def test_never_exceeds_max_steps_and_warns() -> None:
    net = _saturated_net()
    x = torch.randn(5, 6, dtype=D)
    for max_steps in (5, 9, 40, 101, 301):
        with pytest.warns(ConvergenceWarning, match="max_steps"):
            r = pathattr.integrated_gradients(
                lambda t: torch.softmax(net(t), 1)[:, 0], x, steps="auto", tol=1e-14,
                max_steps=max_steps, warn_tol=0,
            )  # fmt: skip
        assert int(r.evaluations.max()) <= max_steps
        assert not bool(r.extras["converged"].any())
        assert bool((r.extras["error_estimate"] > 1e-14).all())


class Counting(nn.Module):
    """Records every row the model is called on."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return self.inner(x)


def test_refinement_reuses_every_evaluation() -> None:
    net = Counting(_saturated_net())
    x = torch.randn(7, 6, dtype=D)
    base = torch.randn(7, 6, dtype=D) * 0.1  # distinct baselines: α = 0 rows differ too
    r = pathattr.integrated_gradients(
        lambda t: torch.softmax(net(t), 1)[:, 1], x, baselines=base, steps="auto", tol=1e-4,
        batch_size=None,
    )  # fmt: skip
    assert len(net.seen) == r.extras["rounds"] > 1  # one batched call per round
    rows = torch.cat(net.seen)
    assert rows.shape[0] == r.total_evaluations  # no evaluations beyond those reported
    # each (example, α) pair appears once: points on one straight line are distinct per α
    assert torch.unique(rows, dim=0).shape[0] == rows.shape[0]
    for e, alphas in enumerate(r.extras["alphas"]):
        assert len(alphas) == int(r.evaluations[e]) == len(set(alphas.tolist()))
        assert alphas[0] == 0.0 and alphas[-1] == 1.0


def test_spends_only_where_needed() -> None:
    # example 0 is linear along its path (x = 0 makes the logit flat), example 1 saturates
    w = torch.tensor([8.0, -6.0], dtype=D)
    x = torch.tensor([[1e-3, 0.0], [2.0, -1.5]], dtype=D)
    r = pathattr.integrated_gradients(
        lambda t: torch.sigmoid(t @ w), x, baselines=torch.tensor([[-1e-3, 0.0], [-2.0, 1.5]]),
        steps="auto", tol=1e-4,
    )  # fmt: skip
    assert int(r.evaluations[0]) == 5 < int(r.evaluations[1])  # one panel is enough


# ---------------------------------------------------------------------------------------------
# API coverage
def test_tuples_per_example_baselines_callable_target_chunking() -> None:
    torch.manual_seed(3)
    lin_a, lin_b = nn.Linear(4, 3).double(), nn.Linear(5, 3).double()

    def model(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.tanh(lin_a(a) * 2) + torch.sigmoid(lin_b(b) * 3)

    xa, xb = torch.randn(6, 4, dtype=D), torch.randn(6, 5, dtype=D)
    ba, bb = torch.randn(6, 4, dtype=D) * 0.1, torch.randn(6, 5, dtype=D) * 0.1

    def target(out: torch.Tensor) -> torch.Tensor:
        return out[:, 0] - out[:, 2]

    kw = dict(model=model, inputs=(xa, xb), baselines=(ba, bb), target=target)
    ref = pathattr.integrated_gradients(**kw, steps=512)  # type: ignore[arg-type]
    r1 = pathattr.integrated_gradients(**kw, steps="auto", tol=1e-4, batch_size=None)  # type: ignore[arg-type]
    r2 = pathattr.integrated_gradients(**kw, steps="auto", tol=1e-4, batch_size=5)  # type: ignore[arg-type]
    assert isinstance(r1.attributions, tuple) and len(r1.attributions) == 2
    both = [torch.cat([a.flatten(1) for a in r.attributions], 1) for r in (ref, r1)]  # type: ignore[union-attr]
    assert float(rel_l2(both[1], both[0]).max()) <= 1e-4
    for a1, a2 in zip(r1.attributions, r2.attributions):  # type: ignore[arg-type]
        # same nodes and summation order; only the model's own batch-size rounding (BLAS) remains
        torch.testing.assert_close(a1, a2, rtol=1e-12, atol=1e-14)
    assert torch.equal(r1.evaluations, r2.evaluations)
    torch.testing.assert_close(r1.output, ref.output)
    torch.testing.assert_close(r1.baseline_output, ref.baseline_output)


def test_forward_args_and_direct_call() -> None:
    w = torch.randn(3, 4, dtype=D)

    def model(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return torch.tanh((x @ w.T) * scale[:, None])

    x, scale = torch.randn(5, 4, dtype=D), torch.rand(5, dtype=D) * 3
    r = adaptive_integrated_gradients(
        model, x, baselines=None, target=1, tol=1e-5, max_steps=1024, forward_args=(scale,),
        batch_size=None, create_graph=False, warn_tol=0.05, progress=False,
    )  # fmt: skip
    ref = pathattr.integrated_gradients(model, x, target=1, forward_args=(scale,), steps=256)
    assert float(rel_l2(r.attributions, ref.attributions).max()) <= 1e-5  # type: ignore[arg-type]


def test_create_graph_gradient_matches_fixed_rule() -> None:
    torch.manual_seed(4)
    first = nn.Linear(3, 8).double()
    net = nn.Sequential(first, nn.Softplus(), nn.Linear(8, 1)).double()
    x = torch.randn(4, 3, dtype=D)

    def grad_of(steps: int | str) -> torch.Tensor:
        net.zero_grad()
        tol = {"tol": 1e-7} if steps == "auto" else {}
        r = pathattr.integrated_gradients(
            lambda t: net(t)[:, 0], x, steps=steps, create_graph=True, **tol
        )
        assert isinstance(r.attributions, torch.Tensor) and r.attributions.requires_grad
        (r.attributions**2).sum().backward()
        g = first.weight.grad
        assert g is not None
        return g.clone()

    torch.testing.assert_close(grad_of("auto"), grad_of(256), rtol=1e-6, atol=1e-9)


def test_bad_arguments_name_themselves() -> None:
    x = torch.randn(2, 3)
    f = lambda t: t.sum(1)  # noqa: E731
    with pytest.raises(ValueError, match="tol"):
        pathattr.integrated_gradients(f, x, steps="auto", tol=0.0)
    with pytest.raises(TypeError, match="tol"):
        pathattr.integrated_gradients(f, x, steps="auto", tol="small")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_steps"):
        pathattr.integrated_gradients(f, x, steps="auto", max_steps=4)
    with pytest.raises(TypeError, match="max_steps"):
        pathattr.integrated_gradients(f, x, steps="auto", max_steps=10.0)  # type: ignore[arg-type]


def test_linear_model_exact_at_minimum_cost() -> None:
    w = torch.randn(5, dtype=D)
    x = torch.randn(3, 5, dtype=D)
    r = pathattr.integrated_gradients(lambda t: t @ w, x, steps="auto")
    torch.testing.assert_close(r.attributions, x * w)
    assert r.evaluations.tolist() == [5, 5, 5]  # the first panel's estimate is exactly 0
    assert float(r.extras["error_estimate"].max()) <= 1e-12


def test_composite_boole_of_the_running_code_is_exact_on_quintics() -> None:
    """F = (w·x)**6 from a zero baseline: the integrand along the path is a quintic in α, which
    every composite Boole sum over the dyadic panels integrates exactly, however the refinement
    went; the panel weights that _final_sums applies must add up to 1 per example."""
    w = torch.randn(4, dtype=D)
    x = torch.randn(6, 4, dtype=D)
    z = x @ w
    exact = x * w * (6 * z**5 / 6)[:, None]  # ∫₀¹ 6 (α z)**5 dα · x_i w_i = x_i w_i z**5
    r = pathattr.integrated_gradients(lambda t: (t @ w) ** 6, x, steps="auto", tol=1e-6)
    torch.testing.assert_close(r.attributions, exact, rtol=1e-11, atol=1e-13)
    assert int(r.evaluations.min()) > 5  # Simpson is not exact there: it had to refine
    for alphas in r.extras["alphas"]:  # the dyadic grid: every node is a multiple of 2**-DEPTH
        assert np.array_equal(alphas * q.ONE, np.round(alphas * q.ONE))


def test_auto_chunks_are_sized_for_the_largest_round(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first round of one example has 5 rows; later rounds must still be chunked."""
    from pathattr.engine import memory

    monkeypatch.setattr(memory, "cpu_cache_bytes", lambda: 1)  # cap = MIN_CPU_CHUNK_ROWS
    calls: list[int] = []
    w = torch.randn(12, dtype=D) * 40  # a sharp sigmoid: many panels near its front

    def f(t: torch.Tensor) -> torch.Tensor:
        calls.append(t.shape[0])
        return torch.sigmoid(t @ w)

    x = torch.randn(1, 12, dtype=D)
    r = pathattr.integrated_gradients(f, x, steps="auto", tol=1e-6, max_steps=512)
    assert int(r.evaluations[0]) > 4 * memory.MIN_CPU_CHUNK_ROWS  # several refinement rounds
    assert max(calls) <= memory.MIN_CPU_CHUNK_ROWS


def _choose_by_loop(e, lo, hi, indicator, active, goal, budget, ok):  # type: ignore[no-untyped-def]
    """The selection rule written plainly, one example at a time."""
    chosen = []
    for ex in np.flatnonzero(active):
        mine = [p for p in np.flatnonzero(e == ex) if (hi[p] - lo[p]) % 8 == 0 and ok[p]]
        mine.sort(key=lambda p: -indicator[p])  # stable: ties keep panel order
        mine = mine[: max(int(budget[ex]), 0)]
        covered = 0.0
        for p in mine:
            if covered >= goal[ex]:
                break
            chosen.append(p)
            covered += indicator[p]
    return np.sort(np.array(chosen, dtype=np.int64))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 6), st.integers(1, 40), st.integers(0, 2**31 - 1))
def test_vectorised_panel_choice_matches_the_plain_rule(n: int, p: int, seed: int) -> None:
    from pathattr.methods.adaptive import _choose, _Panels

    rng = np.random.default_rng(seed)
    e = rng.integers(0, n, p)
    width = rng.choice([4, 8, 16, 2**40], p)  # width 4 cannot be split
    lo = rng.integers(0, 2**20, p) * 8
    hi = lo + width
    indicator = rng.choice([0.0, 0.5, 1.0, rng.random()], p) * rng.random(p)  # with ties
    active = rng.random(n) < 0.8
    goal = rng.random(n) * indicator.sum()
    budget = rng.integers(-1, 5, n)
    panels = _Panels(e, lo, hi, np.zeros((p, 5), dtype=np.int64))
    ok = rng.random(p) < 0.8  # panels above their rounding floor
    got = _choose(panels, indicator, active, goal, budget, ok)
    want = _choose_by_loop(e, lo, hi, indicator, active, goal, budget, ok)
    np.testing.assert_array_equal(got, want)


def test_children_increments_replace_their_parent_exactly() -> None:
    """The running Σ_p B_p (the scale of the per-feature estimate) is kept by adding each new
    panel's increment; a split's two increments must equal B_left + B_right − B_parent."""
    from pathattr.methods.adaptive import _PARENT_SHARE

    rng = np.random.default_rng(0)
    g = rng.standard_normal(9)  # an integrand at the 9 nodes of a parent's two children
    left, right, parent = g[0:5], g[4:9], g[0:9:2]
    h_child = 0.125
    boole = lambda v, h: float(q.BOOLE @ v) * h  # noqa: E731
    inc = lambda v, side: float((q.BOOLE - _PARENT_SHARE[side]) @ v) * h_child  # noqa: E731
    want = boole(left, h_child) + boole(right, h_child) - boole(parent, 2 * h_child)
    assert abs(inc(left, 1) + inc(right, 2) - want) < 1e-14
    assert not _PARENT_SHARE[0].any()  # a panel without a parent adds its Boole value


def test_panels_evaluated_in_blocks_give_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathattr.methods import adaptive as ad

    torch.manual_seed(5)
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3)).double()
    x = torch.randn(4, 6, dtype=D)
    kw = dict(model=lambda t: torch.softmax(net(t), 1)[:, 0], inputs=x, steps="auto", tol=1e-4)
    whole = quiet(**kw)
    monkeypatch.setattr(ad, "_PANEL_BLOCK_BYTES", 5 * 8 * 6 * 3)  # three panels per block
    blocks = quiet(**kw)
    assert torch.equal(whole.evaluations, blocks.evaluations)
    assert whole.extras["rounds"] == blocks.extras["rounds"] > 2
    torch.testing.assert_close(blocks.attributions, whole.attributions, rtol=0, atol=0)
