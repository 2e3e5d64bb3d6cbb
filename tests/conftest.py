"""Shared fixtures: small seeded models of the kinds the tests need."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)


class TwoInput(torch.nn.Module):
    """A model with an image-like input, a vector input and an extra forward argument."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.lin = torch.nn.Linear(3, 8)
        self.head = torch.nn.Linear(4 * 6 * 6 + 8, 5)

    def forward(self, img: torch.Tensor, vec: torch.Tensor, scale: torch.Tensor | None = None):
        h = torch.relu(self.conv(img)).flatten(1)
        v = torch.tanh(self.lin(vec))
        if scale is not None:
            v = v * scale[:, None]
        return self.head(torch.cat([h, v], 1))


def mlp(seed: int = 0, d_in: int = 10, hidden: int = 32, d_out: int = 4, act=torch.nn.ReLU):
    """A small seeded MLP in eval mode."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(d_in, hidden), act(), torch.nn.Linear(hidden, hidden), act(),
        torch.nn.Linear(hidden, d_out),
    ).eval()  # fmt: skip


def cnn(seed: int = 0):
    """A small seeded CNN on 1×8×8 inputs."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(6, 8, 3, padding=1), torch.nn.Softplus(), torch.nn.Flatten(),
        torch.nn.Linear(8 * 4 * 4, 10),
    ).eval()  # fmt: skip


@pytest.fixture
def small_mlp():
    return mlp()


@pytest.fixture
def small_cnn():
    return cnn()


@pytest.fixture
def two_input():
    torch.manual_seed(0)
    return TwoInput().eval()
