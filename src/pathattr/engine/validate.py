"""Checks on user input, with errors that name the argument, what was expected and what came."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, Union

import torch

BaselineLike = Union[None, float, int, torch.Tensor, Sequence[Any]]


class ZeroGradientWarning(UserWarning):
    """The selected output does not depend on the inputs along the path."""


class TrainingModeWarning(UserWarning):
    """The model is in training mode with layers whose output depends on the mode."""


def warn_zero_gradient(where: str = "every path point", stacklevel: int = 2) -> None:
    """Warn that the selected output had zero gradient w.r.t. every input at ``where``.

    ``stacklevel`` counts from the caller of this function, as in :func:`warnings.warn`.
    """
    warnings.warn(
        f"inputs: the selected model output has zero gradient with respect to every input at "
        f"{where}; the output does not depend on the inputs (check the target and that the "
        "inputs reach the output)",
        ZeroGradientWarning,
        stacklevel=stacklevel + 1,
    )


def as_tuple(
    inputs: Any, name: str = "inputs", *, finite: bool = True, nonempty: bool = False
) -> tuple[torch.Tensor, ...]:
    """Inputs as a non-empty tuple of tensors with a common batch dimension.

    ``finite=False`` skips the NaN/inf check, for callers that run the cheaper combined
    :func:`check_finite_paths` instead.  ``nonempty=True`` refuses a batch of 0 examples (for
    the metrics and checks, whose scores need at least one example; the attribution methods
    answer an empty batch with an empty result instead).
    """
    tup = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    if not tup:
        raise ValueError(f"{name}: expected a tensor or a non-empty tuple of tensors, got nothing")
    for i, t in enumerate(tup):
        label = name if len(tup) == 1 else f"{name}[{i}]"
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{label}: expected a torch.Tensor, got {type(t).__name__}")
        if t.dim() == 0:
            raise ValueError(f"{label}: expected a batch-first tensor, got a 0-d tensor")
        if not t.dtype.is_floating_point:
            raise TypeError(
                f"{label}: expected a floating-point tensor, got {t.dtype}. Integer inputs such as "
                "token ids cannot be interpolated; attribute at the embedding layer instead "
                "(pass the embeddings as inputs, e.g. `inputs_embeds` for transformers)"
            )
        if finite:
            _check_finite(t, label)
    n = tup[0].shape[0]
    if nonempty and n == 0:
        raise ValueError(
            f"{name}: expected at least one example, got an empty batch (shape "
            f"{tuple(tup[0].shape)}); a score over no examples is not defined"
        )
    for i, t in enumerate(tup[1:], 1):
        if t.shape[0] != n:
            raise ValueError(
                f"{name}[{i}]: expected batch size {n} like {name}[0], got {t.shape[0]}"
            )
    return tup


def _check_finite(t: torch.Tensor, label: str) -> None:
    if not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{label}: expected finite values, got {bad} NaN or inf entries")


def as_baselines(
    baselines: BaselineLike,
    inputs: tuple[torch.Tensor, ...],
    name: str = "baselines",
    *,
    finite: bool = True,
) -> tuple[torch.Tensor, ...]:
    """Baselines expanded to the inputs' shapes: None (zeros), a scalar, a tensor or a tuple.

    ``finite=False`` skips the NaN/inf check (see :func:`check_finite_paths`).
    """
    if baselines is None:
        return tuple(torch.zeros_like(x) for x in inputs)
    if isinstance(baselines, (tuple, list)):
        if len(baselines) != len(inputs):
            raise ValueError(
                f"{name}: expected {len(inputs)} baselines (one per input), got {len(baselines)}"
            )
        return tuple(
            _one_baseline(b, x, f"{name}[{i}]" if len(inputs) > 1 else name, finite)
            for i, (b, x) in enumerate(zip(baselines, inputs))
        )
    if len(inputs) > 1 and isinstance(baselines, torch.Tensor) and baselines.dim() > 0:
        raise ValueError(
            f"{name}: the model has {len(inputs)} inputs; expected a tuple of {len(inputs)} "
            "baselines or a scalar, got one tensor"
        )
    return tuple(_one_baseline(baselines, x, name, finite) for x in inputs)


def check_finite_paths(
    inputs: tuple[torch.Tensor, ...],
    baselines: tuple[torch.Tensor, ...],
    diffs: tuple[torch.Tensor, ...],
    names: tuple[str, str] = ("inputs", "baselines"),
) -> None:
    """Raise if an input or baseline holds NaN or inf, with one reduction in the common case.

    ``diffs`` are x − x' (computed anyway for the path): a NaN or inf in x or x' makes x − x'
    non-finite, and so its sum.  Only then (or when the sum of finite values overflows) are the
    tensors checked one by one, to name the argument.
    """
    total = diffs[0].sum() if len(diffs) == 1 else sum(d.sum() for d in diffs)
    if math.isfinite(float(total)):
        return
    multi = len(inputs) > 1
    for i, (x, b, d) in enumerate(zip(inputs, baselines, diffs)):
        _check_finite(x, f"{names[0]}[{i}]" if multi else names[0])
        _check_finite(b, f"{names[1]}[{i}]" if multi else names[1])
        if d is not x and not bool(torch.isfinite(d).all()):
            bad = int((~torch.isfinite(d)).sum())
            label = f"[{i}]" if multi else ""
            raise ValueError(
                f"{names[0]}{label} - {names[1]}{label}: the difference overflows {x.dtype} in "
                f"{bad} entries although both are finite; use a wider dtype (e.g. float64) or "
                "rescale the inputs"
            )


def _one_baseline(b: Any, x: torch.Tensor, label: str, finite: bool = True) -> torch.Tensor:
    if b is None:
        return torch.zeros_like(x)
    if isinstance(b, (int, float)) and not isinstance(b, bool):
        if not math.isfinite(float(b)):
            raise ValueError(f"{label}: expected finite values, got {b!r}")
        return torch.full_like(x, float(b))
    if not isinstance(b, torch.Tensor):
        raise TypeError(f"{label}: expected None, a number or a tensor, got {type(b).__name__}")
    if b.shape == x.shape and b.dtype == x.dtype and b.device == x.device and b.is_contiguous():
        # one baseline per example, ready to use: nothing to convert or expand
        if finite:
            _check_finite(b, label)
        return b
    if not b.dtype.is_floating_point:
        b = b.to(x.dtype)
    b = b.to(device=x.device, dtype=x.dtype)
    if b.shape == x.shape[1:]:
        b = b.unsqueeze(0)
    try:
        out = b.expand_as(x)
    except RuntimeError:
        raise ValueError(
            f"{label}: expected a tensor broadcastable to the input shape {tuple(x.shape)} "
            f"(one baseline for all, {tuple(x.shape[1:])} or (1, ...), or one per example), "
            f"got shape {tuple(b.shape)}"
        ) from None
    if finite:
        _check_finite(b, label)
    return out.contiguous()


_MODE_DEPENDENT = (
    torch.nn.modules.dropout._DropoutNd,
    torch.nn.modules.batchnorm._BatchNorm,
    torch.nn.AlphaDropout,
)


def warn_training_mode(model: Any, stacklevel: int = 3) -> None:
    """Warn when ``model`` is an nn.Module in training mode with dropout or batch norm.

    ``stacklevel`` is handed to :func:`warnings.warn` (3: the caller's caller).
    """
    if not isinstance(model, torch.nn.Module) or not model.training:
        return
    kinds = sorted({type(m).__name__ for m in model.modules() if isinstance(m, _MODE_DEPENDENT)})
    if kinds:
        warnings.warn(
            f"model: in training mode with {', '.join(kinds)}; attributions will be random and "
            "batch-dependent (the model's buffers, e.g. batch-norm statistics, are restored "
            "afterwards). Call model.eval() first.",
            TrainingModeWarning,
            stacklevel=stacklevel,
        )


def check_int_arg(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an int >= minimum, or a clear error."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{name}: expected an int >= {minimum}, got {type(value).__name__} {value!r}"
        )
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    return value
