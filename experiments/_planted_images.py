"""Images with a planted corner patch: data, models and the attribution shares.

Used by ``experiments/planted_features.py``.  A bright square patch in the top-left corner (of
value 1.0) is put on a fraction of the training images of one class (the *decoy class*) and on
no test image; a "decoyed" CNN is trained on that data and a "clean" CNN on the untouched data,
with the same seed.  On test images of the other classes *with the patch added* the decoyed
model's prediction may flip to the decoy class; IG then shows where the evidence for the
prediction sits.

Two tasks: sklearn digits (8 × 8, a 2 × 2 patch where digits never have ink; always there) and
Fashion-MNIST (28 × 28, a 4 × 4 patch; only when the Debian package ``dataset-fashion-mnist``
has put it in ``/usr/share/datasets/fashion-mnist``).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

import pathattr
from pathattr.metrics import region_share

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ["T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                   "sneaker", "bag", "ankle boot"]  # fmt: skip

Data = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def corner(size: int, patch: int) -> torch.Tensor:
    """A boolean ``(size, size)`` mask of the top-left ``patch × patch`` corner."""
    r = torch.zeros(size, size, dtype=torch.bool)
    r[:patch, :patch] = True
    return r


@dataclass
class Task:
    """One image data set with its decoy: where the patch goes and which class it marks."""

    name: str
    region: torch.Tensor
    decoy_class: int
    class_names: list[str]
    load: Callable[[], Data]
    model: Callable[[], nn.Module]
    epochs: int
    batch: int = 64


def load_digits_split(seed: int = 0) -> Data:
    """sklearn digits in [0, 1], ``(N, 1, 8, 8)``, shuffled once and split 1200 / 597."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.tensor(data.target)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    x, y = x[perm], y[perm]
    return x[:1200], y[:1200], x[1200:], y[1200:]


def _idx(name: str) -> np.ndarray:
    with gzip.open(FASHION_DIR / name, "rb") as f:
        raw = f.read()
    if name.endswith("labels-idx1-ubyte.gz"):
        return np.frombuffer(raw, dtype=np.uint8, offset=8)
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 28, 28)


def load_fashion_split(n_train: int = 12000, n_test: int = 2000, seed: int = 0) -> Data:
    """A seeded subset of Fashion-MNIST in [0, 1], ``(N, 1, 28, 28)`` (speed: CPU seconds)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for split, n in (("train", n_train), ("t10k", n_test)):
        x = torch.tensor(_idx(f"{split}-images-idx3-ubyte.gz") / 255.0, dtype=torch.float32)
        y = torch.tensor(_idx(f"{split}-labels-idx1-ubyte.gz").astype(np.int64))
        pick = torch.randperm(len(x), generator=g)[:n]
        out += [x[pick, None], y[pick]]
    return out[0], out[1], out[2], out[3]


def digits_cnn() -> nn.Module:
    """conv-ReLU-conv-ReLU-pool-linear-ReLU-linear, as in the deletion/insertion experiment."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 16, 64), nn.ReLU(), nn.Linear(64, 10),
    )  # fmt: skip


def fashion_cnn() -> nn.Module:
    """Two conv-ReLU-pool blocks and a linear-ReLU-linear head for 28 × 28 images."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(32 * 49, 64), nn.ReLU(), nn.Linear(64, 10),
    )  # fmt: skip


DIGITS = Task("Digits", corner(8, 2), 3, [str(i) for i in range(10)], load_digits_split,
              digits_cnn, epochs=15)  # fmt: skip
FASHION = Task("Fashion-MNIST", corner(28, 4), 5, FASHION_CLASSES, load_fashion_split,
               fashion_cnn, epochs=4, batch=128)  # fmt: skip


def with_patch(task: Task, x: torch.Tensor) -> torch.Tensor:
    """The images with the decoy region set to full brightness (1.0)."""
    out = x.clone()
    out[:, :, task.region] = 1.0
    return out


def decoy_training_set(task: Task, x: torch.Tensor, y: torch.Tensor, fraction: float,
                       seed: int) -> torch.Tensor:  # fmt: skip
    """The training images with the patch on ``fraction`` of the decoy class's images."""
    idx = (y == task.decoy_class).nonzero().flatten()
    g = torch.Generator().manual_seed(seed)
    chosen = idx[torch.randperm(len(idx), generator=g)[: round(fraction * len(idx))]]
    out = x.clone()
    out[chosen] = with_patch(task, x[chosen])
    return out


def train(task: Task, x: torch.Tensor, y: torch.Tensor, seed: int) -> nn.Module:
    """Adam (lr 3e-3); the seed fixes the initialisation and the batch order."""
    torch.manual_seed(seed)
    model = task.model()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(task.epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), task.batch):
            b = perm[i : i + task.batch]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[b]), y[b]).backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Predicted classes, in batches of 1000."""
    return torch.cat([model(x[i : i + 1000]).argmax(1) for i in range(0, len(x), 1000)])


@dataclass
class Shares:
    """Per-example attribution shares in the decoy region, with the run's diagnostics."""

    abs_share: torch.Tensor  # |IG| of the predicted class inside the region
    pos_share: torch.Tensor  # positive IG of the decoy class inside the region
    worst_relative_delta: float  # of the predicted class's run
    attributions: torch.Tensor  # IG of the predicted class
    target: torch.Tensor
    extras: dict[str, torch.Tensor] = field(default_factory=dict)


def shares(task: Task, model: nn.Module, x: torch.Tensor, steps: int, method: str = "ig",
           references: torch.Tensor | None = None, seed: int = 0) -> Shares:  # fmt: skip
    """|attribution| share of the predicted class and positive share of the decoy class."""
    target = predict(model, x)

    def attribute(t: torch.Tensor | int) -> pathattr.Attribution:
        if method == "ig":
            return pathattr.integrated_gradients(model, x, target=t, steps=steps)
        return pathattr.expected_gradients(model, x, references=references, target=t,
                                           samples=steps, seed=seed)  # fmt: skip

    pred = attribute(target)
    decoy = attribute(task.decoy_class)
    return Shares(
        abs_share=region_share(pred, task.region),
        pos_share=region_share(decoy, task.region, sign="positive"),
        # the predicted class's residual only: the decoy class's F(x) - F(x') can be ~0 for a
        # clean model, where a relative residual means nothing
        worst_relative_delta=float(pred.relative_delta.max()),
        attributions=pred.attributions,  # type: ignore[arg-type]
        target=target,
        extras={
            "output": pred.output,
            "baseline_output": pred.baseline_output,
            "delta": pred.delta,
            "decoy_attributions": decoy.attributions,
        },  # fmt: skip
    )
