"""Function-preserving rewrites of ``nn.Sequential`` networks, for Implementation Invariance.

Each rewrite returns a new model computing the same function with a different implementation,
or None when it does not apply to the model:

* ``permute_hidden``: permute the units between a Linear, elementwise activations and the next
  Linear (rows of the first, columns of the second).
* ``split_relu``: replace every ``nn.ReLU`` by :class:`SplitReLU`, ReLU(z) = z + ReLU(−z).
* ``unfuse_linear``: replace the first Linear y = Wx + b by two, y = (W Qᵀ)(Q x) + b with a
  random orthogonal Q.
* ``fuse_linear``: merge two adjacent Linear layers into one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

_ELEMENTWISE = (
    nn.ReLU, nn.Tanh, nn.Sigmoid, nn.Softplus, nn.GELU, nn.SiLU, nn.ELU, nn.LeakyReLU,
    nn.Identity, nn.Dropout,
)  # fmt: skip


class SplitReLU(nn.Module):
    """ReLU written as z + ReLU(−z): the same function, a different graph."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z + ReLU(−z) (= ReLU(z))."""
        return z + torch.relu(-z)


def _layers(model: nn.Module) -> list[nn.Module] | None:
    return list(model) if isinstance(model, nn.Sequential) else None


def permute_hidden(model: nn.Module, seed: int = 0) -> nn.Module | None:
    """Permute the hidden units between the first Linear → activations → Linear block."""
    layers = _layers(model)
    if layers is None:
        return None
    for i, first in enumerate(layers):
        if not isinstance(first, nn.Linear):
            continue
        j = i + 1
        while j < len(layers) and isinstance(layers[j], _ELEMENTWISE):
            j += 1
        if j < len(layers) and isinstance(layers[j], nn.Linear):
            new = copy.deepcopy(model)
            a, b = new[i], new[j]  # type: ignore[index]
            g = torch.Generator().manual_seed(seed)
            perm = torch.randperm(a.out_features, generator=g).to(a.weight.device)
            with torch.no_grad():
                a.weight.copy_(a.weight[perm])
                if a.bias is not None:
                    a.bias.copy_(a.bias[perm])
                b.weight.copy_(b.weight[:, perm])
            return new
    return None


def split_relu(model: nn.Module) -> nn.Module | None:
    """Replace every top-level ``nn.ReLU`` of a Sequential by :class:`SplitReLU`."""
    layers = _layers(model)
    if layers is None or not any(isinstance(m, nn.ReLU) for m in layers):
        return None
    return nn.Sequential(
        *(SplitReLU() if isinstance(m, nn.ReLU) else copy.deepcopy(m) for m in layers)
    ).train(model.training)


def unfuse_linear(model: nn.Module, seed: int = 0) -> nn.Module | None:
    """Replace the first Linear by an orthogonal map followed by a compensating Linear."""
    layers = _layers(model)
    if layers is None:
        return None
    for i, lin in enumerate(layers):
        if isinstance(lin, nn.Linear):
            d = lin.in_features
            g = torch.Generator().manual_seed(seed)
            w = lin.weight.detach()
            q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
            rot = nn.Linear(d, d, bias=False).to(w.device, w.dtype)
            rest = copy.deepcopy(lin)
            with torch.no_grad():
                rot.weight.copy_(q.to(w.dtype))
                rest.weight.copy_((w.double() @ q.T.to(w.device)).to(w.dtype))
            new = [copy.deepcopy(m) for m in layers]
            new[i : i + 1] = [rot, rest]
            return nn.Sequential(*new).train(model.training)
    return None


def fuse_linear(model: nn.Module) -> nn.Module | None:
    """Merge the first pair of adjacent Linear layers into one."""
    layers = _layers(model)
    if layers is None:
        return None
    for i in range(len(layers) - 1):
        a, b = layers[i], layers[i + 1]
        if isinstance(a, nn.Linear) and isinstance(b, nn.Linear):
            w = b.weight.detach().double() @ a.weight.detach().double()
            bias = b.weight.detach().double() @ (
                a.bias.detach().double() if a.bias is not None else torch.zeros(a.out_features)
            )
            if b.bias is not None:
                bias = bias + b.bias.detach().double()
            fused = nn.Linear(a.in_features, b.out_features).to(a.weight.device, a.weight.dtype)
            with torch.no_grad():
                fused.weight.copy_(w.to(a.weight.dtype))
                fused.bias.copy_(bias.to(a.weight.dtype))
            new = [copy.deepcopy(m) for m in layers]
            new[i : i + 2] = [fused]
            return nn.Sequential(*new).train(model.training)
    return None


#: name -> rewrite(model) -> equivalent model or None
REWRITES: dict[str, Callable[[nn.Module], nn.Module | None]] = {
    "permute_hidden": permute_hidden,
    "split_relu": split_relu,
    "unfuse_linear": unfuse_linear,
    "fuse_linear": fuse_linear,
}
