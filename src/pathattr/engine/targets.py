"""Turning the user's ``target`` into a function that picks one scalar per row of model output."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Union

import torch

TargetLike = Union[None, int, Sequence[int], torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]

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

    Args:
        target: None (the model returns one value per example), an int class index, one index
            per example (sequence or 1-D tensor), or a callable mapping the model output of a
            batch of rows to a ``(rows,)`` tensor.
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
