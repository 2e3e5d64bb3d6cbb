"""A plain, picklable per-batch callable: arrays in, arrays out.

Whole-dataset runners (a local loop, Ray Data's ``map_batches``, a process pool) need a function
of one batch that they can ship to workers.  :class:`BatchAttributor` is that function for any
pathattr method: it holds the model and the method's options, takes a dict of NumPy arrays and
returns a dict of NumPy arrays, and pickles with the model inside.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

#: method name -> module path (the function has the same name as the method)
_METHODS = {
    "integrated_gradients": "pathattr.methods.integrated_gradients",
    "expected_gradients": "pathattr.methods.expected_gradients",
    "smoothgrad": "pathattr.methods.smoothgrad",
    "saliency": "pathattr.methods.gradients",
    "input_x_gradient": "pathattr.methods.gradients",
}


@dataclass
class BatchAttributor:
    """``fn(batch) -> outputs`` for dataset runs.

    Args:
        model: the model (moved to ``device`` and put in eval mode on first call).
        method: a pathattr method name (``integrated_gradients`` by default).
        options: keyword options passed to the method (``steps``, ``rule``, ``batch_size``...).
        device: where to run.

    The batch dict holds ``inputs`` (required), and optionally ``baselines`` and ``target``
    (per-example ints).  The result holds ``attributions``, ``output``, ``baseline_output``,
    ``delta``, ``relative_delta`` and ``evaluations``, one row per example.
    """

    model: torch.nn.Module
    method: str = "integrated_gradients"
    options: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.method not in _METHODS:
            raise ValueError(
                f"method: expected one of {', '.join(sorted(_METHODS))}, got {self.method!r}"
            )

    def __call__(self, batch: dict[str, Any]) -> dict[str, np.ndarray]:
        """Attribute one batch (see the class docstring for the keys)."""
        if "inputs" not in batch:
            raise KeyError(f"batch: expected an 'inputs' column, got columns {sorted(batch)}")
        fn = getattr(importlib.import_module(_METHODS[self.method]), self.method)
        model = self.model.to(self.device).eval()
        x = torch.as_tensor(np.asarray(batch["inputs"]), device=self.device)
        if not x.dtype.is_floating_point:
            x = x.float()
        kwargs: dict[str, Any] = {}
        if self.method in ("integrated_gradients",):
            b = batch.get("baselines")
            kwargs["baselines"] = (
                None if b is None else torch.as_tensor(np.asarray(b), device=self.device)
            )
        t = batch.get("target")
        target = None if t is None else torch.as_tensor(np.asarray(t)).long()
        res = fn(model, x, target=target, **kwargs, **self.options)
        attrs = res.attributions
        if isinstance(attrs, tuple):
            attrs = attrs[0]
        return {
            "attributions": attrs.detach().cpu().numpy(),
            "output": res.output.detach().cpu().numpy(),
            "baseline_output": res.baseline_output.detach().cpu().numpy(),
            "delta": res.delta.detach().cpu().numpy(),
            "relative_delta": res.relative_delta.detach().cpu().numpy(),
            "evaluations": res.evaluations.cpu().numpy(),
        }
