"""Where Expected Gradients' references come from: tensors, datasets, loaders or a sampler.

:func:`as_reference_source` turns the user's ``references`` argument into one of

* :class:`TensorReferences` — rows of a tensor (or tuple of tensors for multi-input models);
* :class:`DatasetReferences` — a map-style ``torch.utils.data.Dataset`` or a ``DataLoader`` over
  one; only the drawn indices are read;
* :class:`SamplerReferences` — a callable ``(n, generator) -> rows`` drawing ``n`` references;
* :data:`BATCH` (the string ``"batch"``) — the other examples of the current batch.

Indexable sources (tensor, dataset) let the sampler stratify or quasi-randomise the reference
draw; a callable sampler draws its own references and only α is stratified.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Union

import torch

BATCH = "batch"

ReferencesLike = Union[
    torch.Tensor,
    Sequence[torch.Tensor],
    torch.utils.data.Dataset,  # type: ignore[type-arg]
    torch.utils.data.DataLoader,  # type: ignore[type-arg]
    Callable[[int, torch.Generator], Any],
    str,
]


def _label(name: str, i: int, m: int) -> str:
    return name if m == 1 else f"{name}[{i}]"


def check_rows(
    rows: tuple[torch.Tensor, ...],
    inputs: tuple[torch.Tensor, ...],
    name: str,
    what: str,
    n_rows: int | None = None,
) -> tuple[torch.Tensor, ...]:
    """Rows cast to the inputs' dtype/device, with shape and finiteness checked."""
    if len(rows) != len(inputs):
        raise ValueError(
            f"{name}: expected {len(inputs)} reference tensors (one per input), got {len(rows)}"
        )
    out = []
    for i, (r, x) in enumerate(zip(rows, inputs)):
        label = _label(name, i, len(inputs))
        if not isinstance(r, torch.Tensor):
            raise TypeError(f"{label}: expected a torch.Tensor of {what}, got {type(r).__name__}")
        if tuple(r.shape[1:]) != tuple(x.shape[1:]) or r.dim() != x.dim():
            raise ValueError(
                f"{label}: expected {what} of shape (R, {', '.join(map(str, x.shape[1:]))}) "
                f"to match the inputs {tuple(x.shape)}, got shape {tuple(r.shape)}"
            )
        if r.shape[0] < 1:
            raise ValueError(f"{label}: expected at least one reference row, got none")
        if n_rows is not None and r.shape[0] != n_rows:
            raise ValueError(f"{label}: expected {n_rows} rows, got {r.shape[0]}")
        r = r.to(device=x.device, dtype=x.dtype)
        bad = ~torch.isfinite(r.detach())
        if bool(bad.any()):
            first = int(bad.reshape(r.shape[0], -1).any(1).nonzero()[0, 0])
            raise ValueError(
                f"{label}: expected finite values, got {int(bad.sum())} NaN or inf entries "
                f"(first in row {first})"
            )
        out.append(r)
    n0 = out[0].shape[0]
    for i, r in enumerate(out[1:], 1):
        if r.shape[0] != n0:
            raise ValueError(f"{name}[{i}]: expected {n0} rows like {name}[0], got {r.shape[0]}")
    return tuple(out)


class TensorReferences:
    """References stored as rows of tensors, one tensor per model input."""

    def __init__(self, rows: tuple[torch.Tensor, ...], inputs: tuple[torch.Tensor, ...], name: str):
        self.tensors = check_rows(rows, inputs, name, "reference rows")
        self.size = int(self.tensors[0].shape[0])

    def rows(self, index: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The references at ``index``."""
        return tuple(t[index.to(t.device)] for t in self.tensors)


class DatasetReferences:
    """References read one item at a time from a map-style dataset (or a loader's dataset).

    An item may be a tensor (single-input models) or a tuple/list whose first ``m`` entries are
    the ``m`` model inputs (so ``(x, y)`` datasets work as they are; labels are ignored).
    """

    def __init__(self, dataset: Any, inputs: tuple[torch.Tensor, ...], name: str):
        if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise TypeError(
                f"{name}: expected a map-style Dataset (with __len__ and __getitem__) so that "
                f"references can be drawn by index, got {type(dataset).__name__}; for an "
                "iterable dataset pass a callable sampler (n, generator) -> rows instead"
            )
        self.dataset = dataset
        self.inputs = inputs
        self.name = name
        self.size = len(dataset)
        if self.size < 1:
            raise ValueError(f"{name}: expected a non-empty dataset, got length 0")

    def _item(self, i: int) -> tuple[torch.Tensor, ...]:
        try:
            item = self.dataset[i]
        except Exception as err:
            raise RuntimeError(
                f"{self.name}: could not read reference {i} from the dataset "
                f"({type(err).__name__}: {err})"
            ) from err
        m = len(self.inputs)
        if isinstance(item, torch.Tensor):
            parts: tuple[Any, ...] = (item,)
        elif isinstance(item, (tuple, list)):
            parts = tuple(item[:m])
        else:
            raise TypeError(
                f"{self.name}: dataset item {i} is a {type(item).__name__}; expected a tensor or "
                f"a tuple whose first {m} entries are the model inputs"
            )
        if len(parts) < m or not all(isinstance(p, torch.Tensor) for p in parts):
            raise TypeError(
                f"{self.name}: dataset item {i} does not start with {m} tensors (one per input)"
            )
        return parts

    def rows(self, index: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The references at ``index`` (each item read once, stacked, checked)."""
        items = [self._item(int(i)) for i in index.tolist()]
        stacked = tuple(torch.stack([it[j] for it in items]) for j in range(len(self.inputs)))
        try:
            return check_rows(stacked, self.inputs, self.name, "dataset items")
        except ValueError as err:
            raise ValueError(f"{err} (dataset indices {index.tolist()[:8]}...)") from None


class SamplerReferences:
    """References drawn by a user callable ``sampler(n, generator) -> rows``."""

    def __init__(self, sampler: Callable[[int, torch.Generator], Any], name: str):
        self.sampler = sampler
        self.name = name
        self.size = None

    def sample(
        self, n: int, generator: torch.Generator, inputs: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, ...]:
        """``n`` references drawn with ``generator``."""
        got = self.sampler(n, generator)
        rows = tuple(got) if isinstance(got, (tuple, list)) else (got,)
        return check_rows(rows, inputs, self.name, f"the sampler's rows (asked for {n})", n)


ReferenceSource = Union[TensorReferences, DatasetReferences, SamplerReferences, str]


def as_reference_source(
    references: Any, inputs: tuple[torch.Tensor, ...], name: str = "references"
) -> ReferenceSource:
    """Classify and validate ``references`` (see the module docstring)."""
    if isinstance(references, str):
        if references != BATCH:
            raise ValueError(
                f"{name}: the only string accepted is 'batch' (references from the current "
                f"batch), got {references!r}"
            )
        return BATCH
    if isinstance(references, torch.Tensor):
        if len(inputs) > 1:
            raise ValueError(
                f"{name}: the model has {len(inputs)} inputs; expected a tuple of "
                f"{len(inputs)} reference tensors, got one tensor"
            )
        return TensorReferences((references,), inputs, name)
    if isinstance(references, (tuple, list)):
        return TensorReferences(tuple(references), inputs, name)
    if isinstance(references, torch.utils.data.DataLoader):
        return DatasetReferences(references.dataset, inputs, name)
    if isinstance(references, torch.utils.data.Dataset):
        return DatasetReferences(references, inputs, name)
    if callable(references):
        return SamplerReferences(references, name)
    raise TypeError(
        f"{name}: expected a tensor of reference rows (or a tuple of them), a Dataset or "
        f"DataLoader, a callable (n, generator) -> rows, or 'batch', "
        f"got {type(references).__name__}"
    )
