"""Tiny seeded models for the dataset-run tests (importable as ``dataset_models:tiny_cnn``)."""

from __future__ import annotations

import numpy as np
import torch


def tiny_cnn() -> torch.nn.Module:
    """A 3x8x8 -> 4 classes CNN, seeded."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.Linear(4 * 8 * 8, 4),
    ).eval()  # fmt: skip


def tiny_mlp() -> torch.nn.Module:
    """A 6 features -> 3 classes MLP, seeded."""
    torch.manual_seed(1)
    return torch.nn.Sequential(
        torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)
    ).eval()  # fmt: skip


def image_cnn():
    """(model, preprocess) for 8x8 RGB images: uint8 HWC -> float CHW in [0, 1]."""

    def preprocess(img: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(img[:8, :8].transpose(2, 0, 1), dtype=np.float32) / 255.0

    return tiny_cnn(), preprocess


class CrashOnce(torch.nn.Module):
    """Wraps a model; the first forward in any process kills that process (``os._exit``) and
    leaves ``marker`` behind, so a retried call succeeds."""

    def __init__(self, inner: torch.nn.Module, marker: str):
        super().__init__()
        self.inner = inner
        self.marker = marker

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import os

        if not os.path.exists(self.marker):
            with open(self.marker, "w") as f:
                f.write(str(os.getpid()))
            os._exit(1)
        return self.inner(x)


def tiny_text():
    """(model, tokenizer): a tiny random BERT classifier (3 classes) and a word tokenizer."""
    from test_text import bert, word_tokenizer

    torch.manual_seed(0)
    return bert().float(), word_tokenizer(eos=True)
