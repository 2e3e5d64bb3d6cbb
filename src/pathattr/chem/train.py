"""A short, size-bucketed training loop for the molecule networks (CPU, minutes)."""

from __future__ import annotations

import math

import torch
from torch import nn

from pathattr.chem.featurize import MoleculeBatch


def fit(
    model: nn.Module,
    batch: MoleculeBatch,
    targets: torch.Tensor,
    *,
    epochs: int = 30,
    lr: float = 3e-3,
    batch_size: int = 64,
    seed: int = 0,
) -> list[float]:
    """Train ``model`` to regress ``targets`` (MSE, Adam with cosine decay); eval mode after.

    Molecules are sorted by size and cut into minibatches trimmed to their largest member, so
    little time goes to padding; the order of the minibatches is shuffled every epoch.

    Returns:
        The mean training loss of every epoch.
    """
    if targets.shape[0] != len(batch):
        raise ValueError(
            f"targets: expected one value per molecule ({len(batch)}), got {targets.shape[0]}"
        )
    gen = torch.Generator().manual_seed(seed)
    order = torch.argsort(batch.n_atoms, stable=True)
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    y = targets.to(batch.atoms.dtype)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * len(chunks)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))
    )
    model.train()
    history = []
    for _ in range(epochs):
        total = 0.0
        for k in torch.randperm(len(chunks), generator=gen).tolist():
            idx = chunks[k]
            atoms, bonds, mask = trimmed(batch, idx)
            loss = nn.functional.mse_loss(model(atoms, bonds, mask), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        history.append(total / len(batch))
    model.eval()
    return history


def trimmed(
    batch: MoleculeBatch, idx: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(atoms, bonds, mask)`` of the molecules ``idx``, cut to the largest of them."""
    n = int(batch.n_atoms[idx].max()) if len(idx) else 0
    return batch.atoms[idx, :n], batch.bonds[idx, :n, :n], batch.mask[idx, :n]


@torch.no_grad()
def predict(model: nn.Module, batch: MoleculeBatch, batch_size: int = 256) -> torch.Tensor:
    """The model's output for every molecule of ``batch`` (size-bucketed, no gradients)."""
    order = torch.argsort(batch.n_atoms, stable=True)
    out = torch.empty(len(batch), dtype=batch.atoms.dtype)
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        out[idx] = model(*trimmed(batch, idx))
    return out
