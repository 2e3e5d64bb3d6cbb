"""Optional Lightning integration: a LightningModule that adds an attribution prior.

Needs ``lightning`` (``pip install "pathattr[lightning]"``); importing this module without it
works, calling :func:`PriorModule` raises an ImportError that says what to install.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from pathattr.priors.training import AttributionPrior

__all__ = ["PriorModule"]


def _lightning() -> Any:
    try:
        import lightning.pytorch as pl
    except ImportError:
        try:
            import pytorch_lightning as pl
        except ImportError as err:
            raise ImportError(
                "pathattr.priors.lightning needs Lightning, which is not installed: "
                "pip install 'pathattr[lightning]' (lightning>=2.0)"
            ) from err
    return pl


def PriorModule(  # noqa: N802 - a class factory, used like a class
    model: torch.nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    prior: AttributionPrior,
    optimizer: Callable[[Any], torch.optim.Optimizer],
) -> Any:
    """A ``LightningModule`` training ``model`` on ``loss_fn(model(x), y) + prior(model, x, y)``.

    Batches must be ``(x, y)``; ``y`` is also the attribution target (pass a prior whose
    model has one output and a ``loss_fn`` that ignores it otherwise).  The task loss and the
    prior term are logged as ``train/task_loss`` and ``train/prior``.

    Args:
        model: the network.
        loss_fn: task loss, e.g. ``torch.nn.functional.cross_entropy``.
        prior: an :class:`~pathattr.priors.AttributionPrior`.
        optimizer: ``params -> optimizer``, e.g. ``lambda p: torch.optim.Adam(p, 1e-3)``.
    """
    pl = _lightning()

    class _PriorModule(pl.LightningModule):  # type: ignore[misc,name-defined]
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
