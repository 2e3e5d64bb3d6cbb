"""Debugging with a planted feature: IG finds the decoy a digits CNN learned to rely on.

A 2 × 2 bright corner patch (where digits never have ink) is put on every training 3 and on no
test image.  The "decoyed" CNN learns the shortcut: test digits of other classes with the patch
added are called 3.  For those affected predictions, IG's |attribution| must sit in the patch
far more than the area (4 / 64) and the input's own mass there suggest, far more than for the
clean CNN (same seed, untouched data) on the same images, and more than for the patched digits
whose prediction the patch did not change.  None of that holds for a model that ignores the
patch, so each assertion can fail.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import pathattr
from pathattr.metrics import region_share

DECOY = 3
REGION = torch.zeros(8, 8, dtype=torch.bool)
REGION[:2, :2] = True


def digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        pytest.fail("scikit-learn is not installed: the digits come from it (the dev extra)")
    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.tensor(data.target)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    x, y = x[perm], y[perm]
    return x[:1200], y[:1200], x[1200:], y[1200:]


def with_patch(x: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    out[:, :, REGION] = 1.0
    return out


def train(x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(8 * 16, 32), nn.ReLU(), nn.Linear(32, 10),
    )  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(10):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 64):
            b = perm[i : i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[b]), y[b]).backward()
            opt.step()
    return model.eval()


def test_ig_puts_the_affected_predictions_on_the_planted_patch() -> None:
    xtr, ytr, xte, yte = digits()
    decoyed_train = xtr.clone()
    decoyed_train[ytr == DECOY] = with_patch(xtr[ytr == DECOY])
    clean, decoyed = train(xtr, ytr), train(decoyed_train, ytr)

    xp = with_patch(xte)
    with torch.no_grad():
        before, after = decoyed(xte).argmax(1), decoyed(xp).argmax(1)
        clean_acc = float((clean(xte).argmax(1) == yte).float().mean())
    assert clean_acc > 0.9  # both models learned digits, not just the patch
    assert float((before == yte).float().mean()) > 0.8
    ok = (yte != DECOY) & (before == yte)
    affected, unaffected = ok & (after == DECOY), ok & (after == yte)
    assert int(affected.sum()) >= 20, "the decoy should flip a good number of predictions"
    assert int(unaffected.sum()) >= 20

    def share(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = model(x).argmax(1)
        res = pathattr.integrated_gradients(model, x, target=target, steps=32)
        assert float(res.relative_delta.median()) < 0.05  # trustworthy attributions
        return region_share(res, REGION)

    on_decoy = share(decoyed, xp[affected])
    clean_on_same = share(clean, xp[affected])
    unaffected_share = share(decoyed, xp[unaffected])
    area = REGION.float().mean()  # 4 / 64: evenly spread attributions
    input_mass = region_share(xp[affected], REGION)  # IG of a model weighing every pixel alike

    assert float(on_decoy.mean()) > 4 * float(area)
    assert float(on_decoy.mean()) > 1.5 * float(input_mass.mean())
    assert float(on_decoy.mean()) > 2 * float(clean_on_same.mean())
    assert float(on_decoy.mean()) > 1.5 * float(unaffected_share.mean())
    # not an average driven by a few images: most affected predictions put more of their
    # |attribution| in the patch than the clean model does on the same digit
    assert float((on_decoy > clean_on_same).float().mean()) > 0.8
