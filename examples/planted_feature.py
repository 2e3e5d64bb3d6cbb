"""Is my model using a shortcut? Plant one, and let IG find it (the IG paper's debugging use).

A 2 × 2 bright patch is put in the top-left corner of every training image of the digit 3
(sklearn digits, 8 × 8) and of no test image.  A small CNN learns the shortcut: test digits of
other classes with the patch added are called 3.  :func:`pathattr.metrics.region_share` then
measures how much of IG's |attribution| sits in the patch, for those flipped predictions and for
a model trained on the clean data.  About 10 s on one CPU thread.

    python examples/planted_feature.py
"""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits
from torch import nn

import pathattr
from pathattr.metrics import region_share

PATCH = torch.zeros(8, 8, dtype=torch.bool)
PATCH[:2, :2] = True  # where digits never have ink


def with_patch(x: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    out[:, :, PATCH] = 1.0
    return out


def train(x: torch.Tensor, y: torch.Tensor) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(8 * 16, 32), nn.ReLU(), nn.Linear(32, 10),
    )  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    for _ in range(10):
        for i in range(0, len(x), 64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[i : i + 64]), y[i : i + 64]).backward()
            opt.step()
    return model.eval()


def main() -> None:
    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.tensor(data.target)
    xtr, ytr, xte, yte = x[:1200], y[:1200], x[1200:], y[1200:]
    decoyed_data = torch.where((ytr == 3).reshape(-1, 1, 1, 1), with_patch(xtr), xtr)
    clean, decoyed = train(xtr, ytr), train(decoyed_data, ytr)

    patched = with_patch(xte)
    with torch.no_grad():
        before, after = decoyed(xte).argmax(1), decoyed(patched).argmax(1)
    flipped = (yte != 3) & (before == yte) & (after == 3)
    print(f"the patch turns {int(flipped.sum())} of {int((yte != 3).sum())} test digits "
          "into a 3 for the decoyed model")  # fmt: skip

    x_flip = patched[flipped]
    print(f"chance: the patch is {PATCH.float().mean():.0%} of the area and holds "
          f"{region_share(x_flip, PATCH).mean():.0%} of these inputs' ink")  # fmt: skip
    for name, model in (("clean", clean), ("decoyed", decoyed)):
        with torch.no_grad():
            target = model(x_flip).argmax(1)
        ig = pathattr.integrated_gradients(model, x_flip, target=target, steps=32)
        share = region_share(ig, PATCH)  # per example: |IG| in the patch / total |IG|
        print(f"{name:>7} model: {share.mean():.0%} of |IG| of its prediction in the patch "
              f"(median {share.median():.0%}; worst completeness residual "
              f"{ig.relative_delta.max():.1%})")  # fmt: skip


if __name__ == "__main__":
    main()
