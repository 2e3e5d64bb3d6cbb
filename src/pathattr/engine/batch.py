"""A plain, picklable per-batch callable: arrays in, arrays out.

Whole-dataset runners (a local loop, Ray Data's ``map_batches``, a process pool) need a function
of one batch that they can ship to workers.  :class:`BatchAttributor` is that function for any
pathattr method: it holds the model and the method's options, takes a dict of NumPy arrays and
returns a dict of NumPy arrays, and pickles with the model inside.

:class:`DatasetAttributor` is the unit of work of :func:`pathattr.run`: raw or preprocessed rows
in, the store's columns out (prediction, target, completeness error, attributions), with the
target resolved per batch and a per-row seed for stochastic methods.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
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
    "guided_integrated_gradients": "pathattr.methods.guided_integrated_gradients",
    "blur_integrated_gradients": "pathattr.methods.blur_integrated_gradients",
    "integrated_hessians": "pathattr.methods.interactions",
    "expected_hessians": "pathattr.methods.interactions",
    "xrai": "pathattr.methods.xrai",
}
#: methods that draw random numbers: every row is attributed with a seed derived from its id
STOCHASTIC = ("expected_gradients", "smoothgrad", "expected_hessians")
#: methods that take ``baselines`` (a batch's ``baselines`` column is passed on)
#: (Blur IG has none: its baseline is the blurred image itself)
WITH_BASELINES = ("integrated_gradients", "integrated_hessians", "guided_integrated_gradients")


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
    ``delta``, ``relative_delta`` and ``evaluations``, one row per example (for
    ``integrated_hessians`` / ``expected_hessians`` the attributions are the interactions,
    ``(batch, *features, *features)`` or ``(batch, P)`` with ``pairs=`` in ``options``).
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
        if self.method in WITH_BASELINES:
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


def row_seed(seed: int, row_id: str) -> int:
    """The seed of one row of a stochastic method: a hash of the run's seed and the row's id."""
    d = hashlib.sha256(f"{seed}:{row_id}".encode()).digest()
    return int.from_bytes(d[:7], "little")


@dataclass
class DatasetAttributor:
    """``fn(batch) -> columns``: one batch of a dataset run, picklable (model inside).

    Args:
        model: the model.
        method: a pathattr method name (``integrated_gradients``, ``expected_gradients``,
            ``smoothgrad``).
        options: the method's keyword options (``steps``, ``samples``, ``references``...).
        preprocess: raw row -> model input of that row (None: the row is the input).
        target: ``"predicted"`` (the argmax of the model output), an int class, or ``"column"``
            (the batch's ``target`` entry).
        baseline: a constant baseline value for IG (None: zeros).
        seed: base seed of stochastic methods (each row uses :func:`row_seed`).
        device: where to run.

    The batch holds ``id`` and ``items`` (raw rows) or ``inputs`` (a stacked array), plus
    ``target`` for ``target="column"``.  The result holds the store's columns
    (:data:`pathattr.store.shards.SCALAR_COLUMNS` and ``attributions``).
    """

    model: torch.nn.Module
    method: str = "integrated_gradients"
    options: dict[str, Any] = field(default_factory=dict)
    preprocess: Callable[[Any], Any] | None = None
    target: str | int = "predicted"
    baseline: float | None = None
    seed: int = 0
    device: str = "cpu"

    def inputs(self, items: list[Any]) -> np.ndarray:
        """Stack raw rows into the model's input array (applying ``preprocess``)."""
        rows = [self.preprocess(i) if self.preprocess is not None else i for i in items]
        rows = [
            r.detach().cpu().numpy() if isinstance(r, torch.Tensor) else np.asarray(r) for r in rows
        ]
        x = np.stack(rows)
        if x.dtype.kind in "iub":
            x = x.astype(np.float32)
        return x

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Attribute one batch (see the class docstring)."""
        ids = [str(i) for i in np.asarray(batch["id"]).tolist()]
        x = np.asarray(batch["inputs"]) if "inputs" in batch else self.inputs(list(batch["items"]))
        model = self.model.to(self.device).eval()
        with torch.no_grad():
            out = model(torch.as_tensor(x, device=self.device))
        out = out.detach().float().cpu()
        multi = out.dim() == 2 and out.shape[1] > 1
        pred = out.argmax(1).numpy() if multi else np.full(len(ids), -1, np.int64)
        if self.target == "predicted":
            target = pred if multi else None
        elif self.target == "column":
            target = np.asarray(batch["target"], dtype=np.int64)
        else:
            target = np.full(len(ids), int(self.target), np.int64)
        work: dict[str, Any] = {"inputs": x}
        if target is not None:
            work["target"] = target
        if self.baseline is not None and self.method in WITH_BASELINES:
            work["baselines"] = np.full_like(x, self.baseline)
        if self.method in STOCHASTIC:
            parts = []
            for r, rid in enumerate(ids):
                one = {k: v[r : r + 1] for k, v in work.items()}
                opts = {**self.options, "seed": row_seed(self.seed, rid)}
                parts.append(BatchAttributor(model, self.method, opts, self.device)(one))
            res = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        else:
            res = BatchAttributor(model, self.method, self.options, self.device)(work)
        n = len(ids)
        return {
            "id": np.asarray(ids, dtype=object),
            "target": np.full(n, -1, np.int64) if target is None else np.asarray(target, np.int64),
            "prediction": np.asarray(pred, np.int64),
            "f_x": res["output"].astype(np.float32).reshape(n),
            "f_baseline": res["baseline_output"].astype(np.float32).reshape(n),
            "delta": res["delta"].astype(np.float32).reshape(n),
            "relative_delta": res["relative_delta"].astype(np.float32).reshape(n),
            "evaluations": np.asarray(res["evaluations"], np.int64).reshape(n),
            "attributions": res["attributions"].astype(np.float32, copy=False),
        }
