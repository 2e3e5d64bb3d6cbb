"""Optional Lightning integration: a LightningModule that adds an attribution prior.

Needs ``lightning`` (``pip install "pathattr[lightning]"``); importing this module without it
works, calling :func:`PriorModule` raises an ImportError that says what to install.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import torch

from pathattr.priors.training import AttributionPrior

__all__ = ["PriorModule"]


def _lightning() -> Any:
    """``lightning.pytorch``, else the standalone ``pytorch_lightning``, else an ImportError."""
    error: ImportError | None = None
    for name in ("lightning.pytorch", "pytorch_lightning"):
        try:
            return importlib.import_module(name)
        except ImportError as err:
            error = err
    raise ImportError(
        "pathattr.priors.lightning needs Lightning, which is not installed: "
        "pip install 'pathattr[lightning]' (lightning>=2.0)"
    ) from error


def PriorModule(  # noqa: N802 - a class factory, used like a class
    model: torch.nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    prior: AttributionPrior,
    optimizer: Callable[[Any], torch.optim.Optimizer],
    *,
    base: type | None = None,
) -> Any:
    """A ``LightningModule`` training ``model`` on ``loss_fn(model(x), y) + prior(model, x, y)``.

    Batches must be ``(x, y)``; ``y`` is also the attribution target when it holds integer
    class labels of shape ``(batch,)``.  Any other ``y`` (float regression targets, one-hot
    rows, ...) is not a target: the prior then attributes the model's single output, so the
    model must return one value per example (shape ``(batch,)`` or ``(batch, 1)``).  The task
    loss and the (weighted) prior term are logged as ``train/task_loss`` and ``train/prior``;
    ``training_step`` returns their sum.  A batch the prior cannot use (one example with
    ``references="batch"``, e.g. the last batch of an epoch) trains on the task loss alone and
    logs a prior term of 0, with a :class:`~pathattr.priors.PriorBatchWarning`.

    Args:
        model: the network.
        loss_fn: task loss, e.g. ``torch.nn.functional.cross_entropy``.
        prior: an :class:`~pathattr.priors.AttributionPrior`.
        optimizer: ``params -> optimizer``, e.g. ``lambda p: torch.optim.Adam(p, 1e-3)``.
        base: the ``LightningModule`` class to subclass.  Default:
            ``lightning.pytorch.LightningModule`` (``pytorch_lightning.LightningModule`` when only
            the standalone package is installed).  The two packages' classes are distinct and
            each ``Trainer`` accepts only its own, so pass
            ``pytorch_lightning.LightningModule`` to train with ``pytorch_lightning.Trainer``.
    """
    if base is None:
        base = _lightning().LightningModule
    elif not isinstance(base, type):
        raise TypeError(f"base: expected a LightningModule class, got {type(base).__name__}")

    class _PriorModule(base):  # type: ignore[misc,valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.model(x)  # type: ignore[no-any-return]

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            task = loss_fn(self.model(x), y)
            reg = prior(self.model, x, y if y.dim() == 1 and not y.is_floating_point() else None)
            self.log("train/task_loss", task)
            self.log("train/prior", reg)
            return task + reg

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return optimizer(self.model.parameters())

    return _PriorModule()
