"""Check attribution methods against the IG paper's axioms on your own model.

Run:  python examples/check_axioms.py
"""

from __future__ import annotations

import torch
from captum.attr import IntegratedGradients
from torch import nn

import pathattr
from pathattr import axioms


class F(nn.Module):
    """f = ReLU(ReLU(x1) − 1 − ReLU(x2)) from the IG paper's appendix."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(torch.relu(x[:, 0]) - 1 - torch.relu(x[:, 1]))


class G(nn.Module):
    """g = ReLU(ReLU(x1 − 1) − ReLU(x2)): the same function, written differently."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(torch.relu(x[:, 0] - 1) - torch.relu(x[:, 1]))


def main() -> None:
    """Print axiom reports for a few methods."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3)).double().eval()
    x = torch.randn(4, 8, dtype=torch.float64)

    # any attribution method works: one taking baselines= and target= keywords (like
    # pathattr's) is called with them, a plain f(model, inputs, baselines, target) positionally
    def ig(m, inputs, *, baselines=None, target=None):  # noqa: ANN001, ANN202
        return pathattr.integrated_gradients(
            m, inputs, baselines=baselines, target=target, steps=128
        )

    print(axioms.check(ig, model, x, target=0))
    print(axioms.check(pathattr.saliency, model, x, target=0))
    print(axioms.check(axioms.from_captum(IntegratedGradients, n_steps=128), model, x, target=0))

    # DeepLift is not implementation invariant: f ≡ g, yet it explains them differently
    point = torch.tensor([[3.0, 1.0]])
    report = axioms.check(pathattr.deeplift, F(), point, equivalent=G())
    print(report)
    print(report.to_dict()["implementation_invariance"])


if __name__ == "__main__":
    main()
