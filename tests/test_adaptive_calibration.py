"""Calibration of ``steps="auto"``: an example flagged converged is within ``tol``.

Over 50 seeded examples per tiny network (ReLU MLP logit, ReLU MLP softmax probability, a
saturating tanh MLP's softmax probability, a GELU MLP logit, a ReLU conv net logit), at
``tol`` 1e-2 and 1e-3, every example with ``extras["converged"]`` has a true relative L2 error
‖a − a_ref‖ / ‖a_ref‖ <= tol.  References are independent of pathattr (plain autograd):
Gauss-Legendre with 32 nodes on every piece between the exact ReLU breakpoints (the integrand
is analytic on each piece, so this is exact to rounding), or composite Gauss-Legendre with
128 × 32 = 4096 nodes on the smooth nets.  Also: the absolute floor when F(x) = F(x'), and
the rounding floor of float16 / bfloat16 models.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest
import torch
from scipy.special import roots_legendre
from torch import nn

import pathattr
from pathattr.result import ConvergenceWarning

D = torch.float64
N = 50
Model = Callable[[torch.Tensor], torch.Tensor]


def _piecewise_gl(f: Model, x: torch.Tensor, base: torch.Tensor, cuts: list[np.ndarray]):  # type: ignore[no-untyped-def]
    """IG by 32-node Gauss-Legendre on every piece between ``cuts`` (per example)."""
    t, w = roots_legendre(32)
    out = []
    for i in range(x.shape[0]):
        a, b = cuts[i][:-1], cuts[i][1:]
        alpha = torch.tensor((a[:, None] + (b - a)[:, None] * 0.5 * (t + 1)).ravel(), dtype=D)
        weight = torch.tensor(((b - a)[:, None] * 0.5 * w).ravel(), dtype=D)
        d = x[i] - base[i]
        shape = (-1,) + (1,) * d.dim()
        pts = (base[i] + alpha.reshape(shape) * d).requires_grad_(True)
        (g,) = torch.autograd.grad(f(pts).sum(), pts)
        out.append(d * (weight.reshape(shape) * g).sum(0))
    return torch.stack(out)


def _relu_cuts(pre: nn.Module, x: torch.Tensor, base: torch.Tensor) -> list[np.ndarray]:
    """The exact breakpoints of relu(pre(γ(α))) for an affine ``pre``: z(α) = z0 + α (z1 − z0)."""
    with torch.no_grad():
        z0, z1 = pre(base).flatten(1).numpy(), pre(x).flatten(1).numpy()
    cuts = []
    for i in range(x.shape[0]):
        with np.errstate(divide="ignore", invalid="ignore"):
            brk = -z0[i] / (z1[i] - z0[i])
        brk = brk[np.isfinite(brk) & (brk > 0) & (brk < 1)]
        cuts.append(np.unique(np.concatenate([[0.0, 1.0], brk])))
    return cuts


def _nets() -> list[tuple[str, Model, torch.Tensor, torch.Tensor, list[np.ndarray]]]:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    nets = []
    smooth = [np.linspace(0.0, 1.0, 129)] * N  # 128 pieces × 32 nodes = 4096 nodes

    l1, l2 = nn.Linear(8, 32).double(), nn.Linear(32, 3).double()
    x = torch.randn(N, 8, dtype=D, generator=g) * 1.5
    z = torch.zeros_like(x)
    nets.append(
        ("relu mlp logit", lambda t: l2(torch.relu(l1(t)))[:, 0], x, z, _relu_cuts(l1, x, z))
    )

    l3, l4 = nn.Linear(8, 32).double(), nn.Linear(32, 4).double()
    with torch.no_grad():
        l4.weight.mul_(4)  # a saturating softmax
    x = torch.randn(N, 8, dtype=D, generator=g) * 1.5
    z = torch.zeros_like(x)
    prob: Model = lambda t: torch.softmax(l4(torch.relu(l3(t))), 1)[:, 0]  # noqa: E731
    nets.append(("relu mlp softmax prob", prob, x, z, _relu_cuts(l3, x, z)))

    t1, t2 = nn.Linear(6, 16).double(), nn.Linear(16, 4).double()
    with torch.no_grad():
        t1.weight.mul_(6)  # tanh units and softmax saturate within a short stretch of the path
        t2.weight.mul_(6)
    x = torch.randn(N, 6, dtype=D, generator=g)
    tanh_prob: Model = lambda t: torch.softmax(t2(torch.tanh(t1(t))), 1)[:, 2]  # noqa: E731
    nets.append(("tanh mlp softmax prob", tanh_prob, x, torch.zeros_like(x), smooth))

    k1, k2 = nn.Linear(8, 32).double(), nn.Linear(32, 1).double()
    with torch.no_grad():
        k1.weight.mul_(5)
        k1.bias.mul_(3)
    x = torch.randn(N, 8, dtype=D, generator=g)
    gelu: Model = lambda t: k2(nn.functional.gelu(k1(t)))[:, 0]  # noqa: E731
    nets.append(("gelu mlp logit", gelu, x, torch.zeros_like(x), smooth))

    conv, lin = nn.Conv2d(1, 4, 3).double(), nn.Linear(4 * 4 * 4, 3).double()
    x = torch.rand(N, 1, 6, 6, dtype=D, generator=g) * 2
    z = torch.zeros_like(x)
    conv_logit: Model = lambda t: lin(torch.relu(conv(t)).flatten(1))[:, 1]  # noqa: E731
    nets.append(("relu conv logit", conv_logit, x, z, _relu_cuts(conv, x, z)))
    return nets


NETS = _nets()


@pytest.mark.parametrize("tol", [1e-2, 1e-3])
@pytest.mark.parametrize("index", range(len(NETS)), ids=[n[0] for n in NETS])
def test_every_converged_example_is_within_tol(index: int, tol: float) -> None:
    name, f, x, base, cuts = NETS[index]
    ref = _piecewise_gl(f, x, base, cuts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = pathattr.integrated_gradients(f, x, baselines=base, steps="auto", tol=tol)
    assert isinstance(r.attributions, torch.Tensor)
    err = (r.attributions - ref).flatten(1).norm(dim=1) / ref.flatten(1).norm(dim=1)
    converged = r.extras["converged"]
    assert converged.dtype == torch.bool and converged.shape == (N,)
    assert int(converged.sum()) >= 0.9 * N, name  # the default max_steps mostly suffices
    assert float(err[converged].max()) <= tol, name
    # the flag is what the estimate says, and the estimate is reported per example
    assert torch.equal(converged, r.extras["error_estimate"] <= tol)
    assert all(s == "converged" for s, c in zip(r.extras["stop_reason"], converged) if c)


def test_equal_outputs_stop_early_with_a_finite_estimate() -> None:
    """F(x) = F(x') with large attributions of opposite signs: F = tanh(3 u·t) − tanh(3 v·t)
    with u·x = v·x and a zero baseline, so ΔF = 0 and A_i = x_i (u_i − v_i) tanh(3s)/s
    (s = u·x).  The completeness residual has nothing to be relative to; the example must
    still stop after few evaluations with a sensible estimate (it used to run to max_steps
    with an estimate near 1e293)."""
    g = torch.Generator().manual_seed(3)
    u, v = torch.randn(10, dtype=D, generator=g), torch.randn(10, dtype=D, generator=g)
    p = v - u
    x = torch.randn(4, 10, dtype=D, generator=g)
    x = x - ((x @ p) / (p @ p))[:, None] * p  # x ⟂ v − u: v·x = u·x
    s = x @ u

    def f(t: torch.Tensor) -> torch.Tensor:
        return torch.tanh(3 * (t @ u)) - torch.tanh(3 * (t @ v))

    exact = x * (u - v) * (torch.tanh(3 * s) / s)[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # completeness: ΔF = 0 makes the relative delta moot
        r = pathattr.integrated_gradients(f, x, steps="auto", tol=1e-3, max_steps=1024)
    assert torch.allclose(r.output, r.baseline_output, atol=1e-12)
    err = (r.attributions - exact).norm(dim=1) / exact.norm(dim=1)
    assert bool(r.extras["converged"].all())
    assert float(err.max()) <= 1e-3
    assert int(r.evaluations.max()) <= 200
    assert float(r.extras["error_estimate"].max()) <= 1e-3


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_model_stops_at_its_rounding_floor(dtype: torch.dtype) -> None:
    torch.manual_seed(6)
    net = nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Linear(32, 1)).to(dtype)
    x = torch.randn(8, 6).to(dtype)
    with pytest.warns(ConvergenceWarning, match="rounding floor"):
        r = pathattr.integrated_gradients(
            lambda t: net(t)[:, 0], x, steps="auto", tol=1e-6, max_steps=1024, warn_tol=0
        )
    assert int(r.evaluations.max()) <= 256  # not max_steps: rounding noise is not chased
    assert not bool(r.extras["converged"].any())  # 1e-6 is below what these dtypes resolve
    assert set(r.extras["stop_reason"]) == {"rounding_floor"}
    assert bool(torch.isfinite(r.extras["error_estimate"]).all())
