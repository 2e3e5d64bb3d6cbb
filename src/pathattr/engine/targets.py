"""Turning the user's ``target`` into a function that picks one scalar per row of model output."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Union

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
    multi = _multi_index(target, n_examples)
    if multi is not None:
        return _select_multi_index(multi)
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


def _multi_index(target: object, n_examples: int) -> torch.Tensor | None:
    """``(N, d)`` multi-indices for a tuple target (one for all) or a list of tuples, else None.

    As in Captum: a tuple ``(i, j)`` picks ``out[e, i, j]`` for every example ``e``; a list of
    tuples holds one multi-index per example.
    """
    if isinstance(target, tuple) and target and all(_is_int(v) for v in target):
        return torch.tensor([list(target)], dtype=torch.long).expand(n_examples, -1)
    if (
        isinstance(target, list)
        and target
        and all(isinstance(t, tuple) and t and all(_is_int(v) for v in t) for t in target)
    ):
        if len({len(t) for t in target}) != 1:
            raise ValueError("target: the per-example tuples must all have the same length")
        if len(target) != n_examples:
            raise ValueError(
                f"target: expected one tuple per example ({n_examples}), got {len(target)}"
            )
        return torch.tensor([list(t) for t in target], dtype=torch.long)
    return None


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _select_multi_index(index: torch.Tensor) -> Selector:
    """Selector for per-example multi-indices ``index`` (N, d) into each example's output."""
    d = int(index.shape[1])

    def select_multi(out: torch.Tensor, ex: torch.Tensor) -> torch.Tensor:
        out = _first(out)
        _check_batch(out, ex)
        shape = tuple(out.shape[1:])
        if len(shape) < d:
            raise ValueError(
                f"target: a {d}-part index needs an output with {d} dimensions per example, "
                f"got shape {tuple(out.shape)}"
            )
        idx = index.to(out.device).index_select(0, ex.to(out.device))
        for k, size in enumerate(shape[:d]):
            lo, hi = int(idx[:, k].min()), int(idx[:, k].max())
            if lo < -size or hi >= size:
                bad = lo if lo < -size else hi
                raise ValueError(f"target: index {bad} is out of range for dimension {k + 1} "
                                 f"of size {size}")  # fmt: skip
        idx = torch.remainder(idx, torch.tensor(shape[:d], device=out.device))
        rest = out.reshape(out.shape[0], *shape[:d], -1)
        picked = rest[(torch.arange(out.shape[0], device=out.device),) + tuple(idx.unbind(1))]
        if picked.shape[1] != 1:
            raise ValueError(
                f"target: index {tuple(index[0].tolist())} leaves {picked.shape[1]} values per "
                f"example of the output of shape {tuple(out.shape)}, not one"
            )
        return picked[:, 0]

    return select_multi


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
