"""Digits with a planted corner patch: data, models and the attribution shares.

Used by ``experiments/planted_features.py``.  A 2 × 2 bright patch in the top-left corner of the
8 × 8 sklearn digits (where the digits themselves are always dark) is put on a fraction of the
training images of one class (the *decoy class*) and on no test image; a "decoyed" CNN is
trained on that data and a "clean" CNN on the untouched data, with the same seed.  On test
digits of the other classes *with the patch added* the decoyed model's prediction may flip to
the decoy class; IG then shows where the evidence for the prediction sits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

import pathattr
from pathattr.metrics import region_share

DECOY_CLASS = 3
REGION = torch.zeros(8, 8, dtype=torch.bool)
REGION[:2, :2] = True  # the top-left 2 x 2 corner: 4 of 64 pixels
N_TRAIN = 1200


def load_split(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """sklearn digits in [0, 1], ``(N, 1, 8, 8)``, shuffled once and split 1200 / 597."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.tensor(data.target)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    x, y = x[perm], y[perm]
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


def with_patch(x: torch.Tensor) -> torch.Tensor:
    """The images with the decoy region set to full brightness (1.0)."""
    out = x.clone()
    out[:, :, REGION] = 1.0
    return out


def decoy_training_set(
    x: torch.Tensor, y: torch.Tensor, fraction: float, seed: int
) -> torch.Tensor:
    """The training images with the patch on ``fraction`` of the decoy class's images."""
    idx = (y == DECOY_CLASS).nonzero().flatten()
    g = torch.Generator().manual_seed(seed)
    chosen = idx[torch.randperm(len(idx), generator=g)[: round(fraction * len(idx))]]
    out = x.clone()
    out[chosen] = with_patch(x[chosen])
    return out


def cnn() -> nn.Module:
    """conv-ReLU-conv-ReLU-pool-linear-ReLU-linear, as in the deletion/insertion experiment."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 16, 64), nn.ReLU(), nn.Linear(64, 10),
    )  # fmt: skip


def train(x: torch.Tensor, y: torch.Tensor, seed: int, epochs: int = 15) -> nn.Module:
    """Adam, batch 64; the seed fixes the initialisation and the batch order."""
    torch.manual_seed(seed)
    model = cnn()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 64):
            b = perm[i : i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[b]), y[b]).backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Predicted classes."""
    return model(x).argmax(1)


@dataclass
class Shares:
    """Per-example attribution shares in the decoy region, with the run's diagnostics."""

    abs_share: torch.Tensor  # |IG| of the predicted class inside the region
    pos_share: torch.Tensor  # positive IG of the decoy class inside the region
    worst_relative_delta: float  # of the predicted class's run
    attributions: torch.Tensor  # IG of the predicted class
    target: torch.Tensor
    extras: dict[str, torch.Tensor] = field(default_factory=dict)


def shares(model: nn.Module, x: torch.Tensor, steps: int, method: str = "ig",
           references: torch.Tensor | None = None, seed: int = 0) -> Shares:  # fmt: skip
    """|attribution| share of the predicted class and positive share of the decoy class."""
    target = predict(model, x)

    def attribute(t: torch.Tensor | int) -> pathattr.Attribution:
        if method == "ig":
            return pathattr.integrated_gradients(model, x, target=t, steps=steps)
        return pathattr.expected_gradients(model, x, references=references, target=t,
                                           samples=steps, seed=seed)  # fmt: skip

    pred = attribute(target)
    decoy = attribute(DECOY_CLASS)
    # the residual of the predicted class only: class 3's F(x) - F(x') can be ~0 for a clean
    # model, where a relative residual means nothing
    worst = float(pred.relative_delta.max())
    return Shares(
        abs_share=region_share(pred, REGION),
        pos_share=region_share(decoy, REGION, sign="positive"),
        worst_relative_delta=worst,
        attributions=pred.attributions,  # type: ignore[arg-type]
        target=target,
        extras={
            "output": pred.output,
            "baseline_output": pred.baseline_output,
            "delta": pred.delta,
            "decoy_attributions": decoy.attributions,
        },  # fmt: skip
    )
