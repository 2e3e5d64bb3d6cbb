"""Turning the user's ``target`` into a function that picks one scalar per row of model output."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Union

import torch

TargetLike = Union[
    None,
    int,
    tuple[int, ...],
    Sequence[int],
    Sequence[tuple[int, ...]],
    torch.Tensor,
    Callable[[torch.Tensor], torch.Tensor],
]

#: selector(output_of_rows, example_index_of_rows) -> (rows,) tensor
Selector = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _first(output: object) -> torch.Tensor:
    """Unwrap common model return types (tuples, HF ModelOutput, dicts with ``logits``)."""
    if isinstance(output, torch.Tensor):
        return output
    if hasattr(output, "logits"):
        return output.logits  # type: ignore[no-any-return]
    if isinstance(output, dict) and "logits" in output:
        return output["logits"]  # type: ignore[no-any-return]
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(
        "model output: expected a tensor (or a tuple / ModelOutput whose first element or "
        f"`logits` is one), got {type(output).__name__}"
    )


def make_selector(target: TargetLike, n_examples: int) -> Selector:
    """Validate ``target`` against ``n_examples`` and return a row selector.

    The conventions are Captum's, and a tuple can never be mistaken for per-example indices:

    * None: the model returns one value per example;
    * an int: that output for every example (on outputs with more than two dimensions, an
      index into each example's flattened output);
    * a tuple of ints: ONE multi-index into each example's output, the same for every example
      (``(1, 2)`` picks ``out[:, 1, 2]``);
    * a list of ints or a 1-D integer tensor: one index per example;
    * a list of tuples: one multi-index per example;
    * a callable mapping the model output of a batch of rows to a ``(rows,)`` tensor.

    Args:
        target: see above.
        n_examples: the batch size of the inputs.
    """
    if target is None:

        def select_none(out: torch.Tensor, ex: torch.Tensor) -> torch.Tensor:
            out = _first(out)
            _check_batch(out, ex)
            if out.dim() == 1:
                return out
            if out.dim() == 2 and out.shape[1] == 1:
                return out[:, 0]
            raise ValueError(
                "target: the model returns shape "
                f"{tuple(out.shape)} per batch, not one value per example; pass target= "
                "(a class index, one index per example, or a callable output -> (batch,))"
            )

        return select_none

    if callable(target) and not isinstance(target, torch.Tensor):
        fn = target

        def select_callable(out: torch.Tensor, ex: torch.Tensor) -> torch.Tensor:
            val = fn(_first(out) if not _is_passthrough(out) else out)
            if not isinstance(val, torch.Tensor) or val.shape != (ex.shape[0],):
                got = tuple(val.shape) if isinstance(val, torch.Tensor) else type(val).__name__
                raise ValueError(
                    f"target: the callable must return a tensor of shape ({ex.shape[0]},) "
                    f"(one value per row of the batch it is given), got {got}"
                )
            return val

        return select_callable

    if isinstance(target, bool):
        raise TypeError("target: expected an int, a sequence of ints or a callable, got bool")
    if isinstance(target, tuple):
        return _multi_index_selector(target)
    if isinstance(target, list) and target and all(isinstance(t, tuple) for t in target):
        return _per_example_multi_index_selector(target, n_examples)
    if isinstance(target, int):
        index = int(target)

        def select_int(out: torch.Tensor, ex: torch.Tensor) -> torch.Tensor:
            out = _first(out)
            _check_batch(out, ex)
            _check_range(out, index, index)
            return out.reshape(out.shape[0], -1)[:, index]

        return select_int

    t = torch.as_tensor(target)
    if t.dtype.is_floating_point or t.dtype == torch.bool:
        raise TypeError(f"target: expected integer class indices, got dtype {t.dtype}")
    if t.dim() != 1 or t.dtype != torch.long:  # already 1-D long: two no-op calls saved
        t = t.reshape(-1).long()
    if t.numel() == 1 and n_examples != 1:
        t = t.expand(n_examples)
    if t.numel() != n_examples:
        raise ValueError(
            f"target: expected one index per example ({n_examples}), got {t.numel()} indices"
        )
    per_example = t
    # the range check needs only the extremes; finding them once saves two syncs per chunk
    lo, hi = (int(v) for v in torch.aminmax(t)) if t.numel() else (0, 0)
    on_device: dict[torch.device, torch.Tensor] = {}

    def select_tensor(out: torch.Tensor, ex: torch.Tensor) -> torch.Tensor:
        out = _first(out)
        _check_batch(out, ex)
        flat = out if out.dim() == 2 else out.reshape(out.shape[0], -1)
        if lo < 0 or hi >= flat.shape[1]:
            _check_range(flat, lo, hi)
        idx = on_device.get(flat.device)
        if idx is None:
            idx = on_device[flat.device] = per_example.to(flat.device)
        # rows live with the inputs; the output may be elsewhere (a model that moves its data)
        return flat.gather(1, idx.index_select(0, ex.to(flat.device))[:, None])[:, 0]

    return select_tensor


def _check_multi_index(index: tuple[Any, ...], label: str) -> tuple[int, ...]:
    if not index or not all(isinstance(i, int) and not isinstance(i, bool) for i in index):
        raise TypeError(
            f"{label}: a tuple target is one multi-index into each example's output (Captum's "
            f"convention) and must hold ints, got {index!r}; for one class per example pass a "
            "list or a 1-D tensor"
        )
    return tuple(int(i) for i in index)


def _index_output(out: torch.Tensor, index: tuple[int, ...], label: str) -> torch.Tensor:
    shape = tuple(out.shape[1:])
    if len(index) != len(shape) or any(not -s <= i < s for i, s in zip(index, shape)):
        raise ValueError(
            f"{label}: the multi-index {index} does not address one value of an output of shape "
            f"{shape} per example (a tuple target is one index per output dimension, Captum's "
            "convention; for one class per example pass a list or a 1-D tensor)"
        )
    return out[(slice(None),) + index]  # type: ignore[index]


def _multi_index_selector(target: tuple[Any, ...]) -> Selector:
    index = _check_multi_index(target, "target")

    def select_tuple(out: torch.Tensor, ex: torch.Tensor) -> torch.Tensor:
        out = _first(out)
        _check_batch(out, ex)
        return _index_output(out, index, "target")

    return select_tuple


def _per_example_multi_index_selector(target: list[Any], n_examples: int) -> Selector:
    if len(target) != n_examples:
        raise ValueError(
            f"target: expected one multi-index per example ({n_examples}), got {len(target)}"
        )
    indices = [_check_multi_index(t, f"target[{i}]") for i, t in enumerate(target)]
    if len({len(i) for i in indices}) > 1:
        raise ValueError("target: every per-example multi-index must have the same length")
    table = torch.tensor(indices, dtype=torch.long)  # (N, dims)

    def select_tuples(out: torch.Tensor, ex: torch.Tensor) -> torch.Tensor:
        out = _first(out)
        _check_batch(out, ex)
        shape = tuple(out.shape[1:])
        idx = table.index_select(0, ex.cpu())
        if idx.shape[1] != len(shape):
            raise ValueError(
                f"target: the multi-indices have {idx.shape[1]} entries, but the output has "
                f"shape {shape} per example"
            )
        sizes = torch.tensor(shape, dtype=torch.long)
        if bool(((idx < -sizes) | (idx >= sizes)).any()):
            raise ValueError(f"target: a multi-index is out of range for outputs of shape {shape}")
        idx = idx % sizes
        flat = torch.zeros(idx.shape[0], dtype=torch.long)
        for d, s in enumerate(shape):
            flat = flat * s + idx[:, d]
        rows = out.reshape(out.shape[0], -1)
        return rows.gather(1, flat.to(rows.device)[:, None])[:, 0]

    return select_tuples


def _is_passthrough(out: object) -> bool:
    # Structured outputs (e.g. a ModelOutput) reach a callable target unchanged.
    return not isinstance(out, torch.Tensor)


def _check_batch(out: torch.Tensor, ex: torch.Tensor) -> None:
    if out.dim() == 0 or out.shape[0] != ex.shape[0]:
        raise ValueError(
            f"model output: expected a batch dimension of {ex.shape[0]} (one row per input row), "
            f"got shape {tuple(out.shape)}; the model must keep the batch dimension first"
        )


def _check_range(out: torch.Tensor, lo: int, hi: int) -> None:
    n = out.reshape(out.shape[0], -1).shape[1]
    if lo < 0 or hi >= n:
        bad = lo if lo < 0 else hi
        raise ValueError(f"target: index {bad} is out of range for a model with {n} outputs")
