"""``steps="auto"``: Integrated Gradients to a requested accuracy, nodes placed per example.

Run::

    python examples/adaptive_steps.py            # prints the diagnostics
    python examples/adaptive_steps.py --plot     # also writes docs/img/adaptive_*.png

A small softmax classifier with large weights saturates along the path from the baseline: the
predicted-class probability climbs from near 0 to near 1 over a short stretch of α.  A fixed rule
spends its nodes evenly; ``steps="auto"`` puts them on that stretch.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

import pathattr


def saturated_classifier() -> nn.Module:
    """A 6-16-4 tanh network with weights scaled ×6 (so its softmax saturates)."""
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 4)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(6.0)
    return net.eval()


def gl_reference(model: Callable[..., Any], x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """4096-node Gauss-Legendre IG (zero baseline) through the engine."""
    from scipy.special import roots_legendre

    from pathattr.engine.core import integrate
    from pathattr.engine.targets import make_selector
    from pathattr.paths import StraightLine

    nodes, weights = roots_legendre(4096)
    n = x.shape[0]
    rows = torch.arange(n).repeat_interleave(4096)
    alphas = torch.tensor(0.5 * (nodes + 1)).repeat(n)
    w = torch.tensor(0.5 * weights).repeat(n)
    path = StraightLine((x,), (torch.zeros_like(x),))
    sel = make_selector(target, n)
    return integrate(model, path, sel, rows, alphas, w, n_examples=n).sums[0]


def main() -> None:
    """Attribute a few examples with ``steps="auto"`` and compare with fixed rules."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plot", action="store_true", help="write docs/img/adaptive_*.png")
    args = ap.parse_args()

    net = saturated_classifier()
    torch.manual_seed(0)
    x = torch.randn(16, 6, dtype=torch.float64) * 4
    target = net(x).argmax(1)

    def prob(t: torch.Tensor) -> torch.Tensor:
        return torch.softmax(net(t), 1)

    res = pathattr.integrated_gradients(prob, x, target=target, steps="auto", tol=1e-3)
    ref = gl_reference(prob, x, target)
    assert isinstance(res.attributions, torch.Tensor)
    err = ((res.attributions - ref).norm(dim=1) / ref.norm(dim=1)).detach()
    print(res)
    print("evaluations per example:", res.evaluations.tolist())
    print("error estimate (max):   ", f"{float(res.extras['error_estimate'].max()):.2e}")
    print("true error vs 4096 GL:  ", f"{float(err.max()):.2e}")
    if args.plot:
        plot(net, x, target, ref)


def plot(net: nn.Module, x: torch.Tensor, target: torch.Tensor, ref: torch.Tensor) -> None:
    """Nodes along α for the most saturated example; error vs evaluations for every rule."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def prob(t: torch.Tensor) -> torch.Tensor:
        return torch.softmax(net(t), 1)

    out_dir = Path(__file__).resolve().parents[1] / "docs" / "img"
    out_dir.mkdir(parents=True, exist_ok=True)
    auto = pathattr.integrated_gradients(prob, x, target=target, steps="auto", tol=1e-3)
    e = int(auto.evaluations.argmax())
    grid = torch.linspace(0, 1, 801, dtype=torch.float64)
    with torch.no_grad():
        f = prob(grid[:, None] * x[e][None])[:, int(target[e])]
    nodes = auto.extras["alphas"][e]
    with torch.no_grad():
        fn = prob(torch.tensor(nodes)[:, None] * x[e][None])[:, int(target[e])]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.plot(grid, f, color="0.3", lw=1.2, label="F(γ(α)) (predicted-class probability)")
    ax.plot(nodes, fn, "o", ms=3.5, color="C3", label=f"auto nodes ({len(nodes)}, tol=1e-3)")
    ax.set_xlabel("α")
    ax.set_ylabel("F")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("steps='auto' puts its nodes where the path bends")
    fig.tight_layout()
    fig.savefig(out_dir / "adaptive_nodes.png", dpi=120)
    plt.close(fig)

    torch.manual_seed(2)
    relu = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                         nn.Linear(32, 4)).double().eval()  # fmt: skip
    with torch.no_grad():
        for p in relu.parameters():
            p.mul_(2.0)
    target_relu = relu(x).argmax(1)

    def prob_relu(t: torch.Tensor) -> torch.Tensor:
        return torch.softmax(relu(t), 1)

    ref_relu = gl_reference(prob_relu, x, target_relu)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    _error_curves(axes[0], prob, x, target, ref, "saturated tanh softmax (smooth)")
    _error_curves(axes[1], prob_relu, x, target_relu, ref_relu, "ReLU MLP softmax (kinks)")
    fig.tight_layout()
    fig.savefig(out_dir / "adaptive_error.png", dpi=110)
    plt.close(fig)
    print("wrote", out_dir / "adaptive_nodes.png", "and", out_dir / "adaptive_error.png")


def _error_curves(
    ax: Any, prob: Callable[..., Any], x: torch.Tensor, target: torch.Tensor,
    ref: torch.Tensor, title: str,
) -> None:  # fmt: skip
    """Median relative error vs evaluations per example: fixed GL, fixed trapezoid, auto."""

    def rel(a: object) -> float:
        assert isinstance(a, torch.Tensor)
        return float(((a - ref).norm(dim=1) / ref.norm(dim=1)).median())

    steps = [4, 8, 16, 32, 64, 128, 256, 512, 1024]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for rule, label in (("gausslegendre", "fixed Gauss-Legendre"),
                            ("riemann_trapezoid", "fixed trapezoid")):  # fmt: skip
            errs = []
            for s in steps:
                r = pathattr.integrated_gradients(prob, x, target=target, steps=s, rule=rule)
                errs.append(rel(r.attributions))
            ax.loglog(steps, errs, "o-", label=label)
        ev, errs = [], []
        for tol in (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 1e-5, 1e-6):
            r = pathattr.integrated_gradients(
                prob, x, target=target, steps="auto", tol=tol, max_steps=4096
            )
            ev.append(float(r.evaluations.double().mean()))
            errs.append(rel(r.attributions))
    ax.loglog(ev, errs, "s-", color="C3", label="steps='auto' (tol 1e-1 … 1e-6)")
    ax.axhline(1e-2, color="0.6", lw=0.8, ls="--")
    ax.set_xlabel("gradient evaluations per example (mean)")
    ax.set_ylabel("median relative L2 error vs 4096-node GL")
    ax.legend(fontsize=8)
    ax.set_title(f"{title}, {x.shape[0]} examples", fontsize=10)


if __name__ == "__main__":
    main()
