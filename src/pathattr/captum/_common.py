"""What every Captum-compatible class shares: argument formats, the base class, the delta."""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import torch

from pathattr.engine.core import forward_select
from pathattr.engine.targets import TargetLike, make_selector
from pathattr.engine.validate import TrainingModeWarning, ZeroGradientWarning
from pathattr.result import CompletenessWarning

Inputs = torch.Tensor | tuple[torch.Tensor, ...]

F = TypeVar("F", bound=Callable[..., Any])


def captum_api(fn: F) -> F:
    """Wrap an ``attribute`` method so that it carries ``__wrapped__`` like Captum's.

    Captum decorates ``attribute`` with ``log_usage``, and its ``NoiseTunnel`` and
    ``GradientShap`` call ``attribute.__wrapped__(self, ...)``; this wrapper makes pathattr's
    facades callable the same way, so Captum's own wrappers accept them.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence pathattr's own diagnostics (Captum raises none of them)."""
    with warnings.catch_warnings():
        for category in (TrainingModeWarning, ZeroGradientWarning, CompletenessWarning):
            warnings.simplefilter("ignore", category)
        warnings.filterwarnings("ignore", message="model: .* intercepted no ReLU call")
        warnings.filterwarnings("ignore", message="model: .* only changes the backward of ReLU")
        yield


def as_inputs(inputs: Inputs) -> tuple[torch.Tensor, ...]:
    """Inputs as a tuple of tensors (Captum's ``_format_tensor_into_tuples``)."""
    if isinstance(inputs, torch.Tensor):
        return (inputs,)
    if isinstance(inputs, tuple) and all(isinstance(x, torch.Tensor) for x in inputs):
        return inputs
    raise TypeError(f"inputs: expected a tensor or a tuple of tensors, got {type(inputs).__name__}")


def forward_args(additional_forward_args: Any) -> tuple[Any, ...]:
    """Captum's ``additional_forward_args`` (None, a tuple or one value) as a tuple."""
    if additional_forward_args is None:
        return ()
    if isinstance(additional_forward_args, tuple):
        return additional_forward_args
    return (additional_forward_args,)


def captum_target(target: Any) -> TargetLike:
    """Captum's target (None, int, tuple, tensor, list of ints or of tuples) for the engine.

    A one-element tensor is one class index for all examples, a 1-D tensor and a list of ints
    one index per example, a tuple one multi-index into every example's output, and a list of
    tuples one multi-index per example (see :func:`pathattr.engine.targets.make_selector`).
    """
    if isinstance(target, torch.Tensor):
        if target.numel() == 1:
            return int(target.reshape(-1)[0])
        return target.reshape(-1)
    return target  # type: ignore[no-any-return]


def expand_baselines(
    baselines: Any, inputs: tuple[torch.Tensor, ...]
) -> tuple[torch.Tensor | int | float, ...]:
    """Captum's ``_format_baseline``: None → zeros, one per input, as given otherwise."""
    if baselines is None:
        return tuple(torch.zeros_like(x[:1]) for x in inputs)
    if not isinstance(baselines, tuple):
        baselines = (baselines,)
    for b in baselines:
        assert isinstance(b, (torch.Tensor, int, float)), (
            f"baselines: expected tensors or numbers, got {type(b).__name__}"
        )
    return baselines


def check_baselines(
    inputs: tuple[torch.Tensor, ...], baselines: tuple[torch.Tensor | int | float, ...]
) -> None:
    """Captum's ``_validate_input``: one baseline per input, each with 1 or N rows or a scalar.

    Raises AssertionError, as Captum does.
    """
    assert len(inputs) == len(baselines), (
        f"Input and baseline must have the same dimensions, {len(baselines)} baselines for "
        f"{len(inputs)} inputs"
    )
    for x, b in zip(inputs, baselines):
        if isinstance(b, torch.Tensor):
            assert b.shape[0] in (1, x.shape[0]) or b.dim() == 0, (
                "Baseline can be provided as a tensor for just one input and broadcasted to "
                f"the batch or input and baseline must have the same shape or the baseline "
                f"corresponding to the input tensor must be a scalar. Found baseline: "
                f"{tuple(b.shape)} and input: {tuple(x.shape)}"
            )


def full_baselines(
    inputs: tuple[torch.Tensor, ...], baselines: tuple[torch.Tensor | int | float, ...]
) -> tuple[torch.Tensor, ...]:
    """Baselines as tensors shaped like the inputs (scalars filled, one row broadcast)."""
    out = []
    for x, b in zip(inputs, baselines):
        if isinstance(b, torch.Tensor):
            out.append(b.to(device=x.device, dtype=x.dtype).expand_as(x))
        else:
            out.append(torch.full_like(x, float(b)))
    return tuple(out)


def sum_rows(t: torch.Tensor) -> torch.Tensor:
    """Captum's ``_sum_rows``: the sum of each row."""
    return t.reshape(t.shape[0], -1).sum(1)


def compute_gradients(
    forward_fn: Callable[..., Any],
    inputs: Inputs,
    target_ind: Any = None,
    additional_forward_args: Any = None,
) -> tuple[torch.Tensor, ...]:
    """Captum's ``gradient_func``: ∂F/∂inputs of the target output (one pass, no rules)."""
    xs = tuple(x.detach().requires_grad_(True) for x in as_inputs(inputs))
    n = xs[0].shape[0]
    selector = make_selector(captum_target(target_ind), n)
    rows = torch.arange(n, device=xs[0].device)
    with torch.enable_grad():
        out = selector(forward_fn(*xs, *forward_args(additional_forward_args)), rows)
        grads = torch.autograd.grad(out.sum(), xs, allow_unused=True)
    return tuple(torch.zeros_like(x) if g is None else g for g, x in zip(grads, xs))


class Attribution:
    """The members Captum's ``Attribution`` / ``GradientAttribution`` classes share.

    Subclasses set :attr:`_delta` (whether the method has a convergence delta) and
    :attr:`_multiply_by_inputs`, and implement ``attribute``.
    """

    _delta = False
    _multiply_by_inputs = False

    def __init__(self, forward_func: Callable[..., Any]) -> None:
        """Wrap ``forward_func`` (a model or any callable with a batch-first output).

        ``gradient_func`` is Captum's gradient helper, for code that calls it; pathattr's
        ``attribute`` runs on its own engine and does not use it.
        """
        self.forward_func = forward_func
        self.gradient_func: Callable[..., tuple[torch.Tensor, ...]] = compute_gradients

    attribute: Callable[..., Any]

    def attribute_future(self) -> Callable[..., Any]:
        """Not implemented, as in Captum: raises NotImplementedError."""
        raise NotImplementedError(f"attribute_future is not implemented for {type(self).__name__}")

    def has_convergence_delta(self) -> bool:
        """Whether ``attribute`` can return a convergence delta (Captum API)."""
        return self._delta

    @property
    def multiplies_by_inputs(self) -> bool:
        """Whether attributions are multiplied by the inputs (or inputs − baselines)."""
        return self._multiply_by_inputs

    @classmethod
    def get_name(cls) -> str:
        """The class name split into words, as Captum's ``get_name`` ("Integrated Gradients")."""
        return "".join(
            ch if ch.islower() or i == 0 else " " + ch for i, ch in enumerate(cls.__name__)
        )

    def compute_convergence_delta(
        self,
        attributions: torch.Tensor | tuple[torch.Tensor, ...],
        start_point: Any,
        end_point: torch.Tensor | tuple[torch.Tensor, ...],
        target: Any = None,
        additional_forward_args: Any = None,
    ) -> torch.Tensor:
        """Σ attributions − (F(end_point) − F(start_point)) per example, as Captum computes it.

        Args:
            attributions: a tensor or a tuple shaped like ``end_point``.
            start_point: the baselines (None, scalars, tensors with 1 or N rows, or a tuple).
            end_point: the inputs.
            target, additional_forward_args: as in ``attribute``.

        Raises AssertionError when shapes do not match (as Captum does).
        """
        ends = as_inputs(end_point)
        starts = expand_baselines(start_point, ends)
        attrs = as_inputs(attributions)
        for a, e in zip(attrs, ends):
            assert e.shape[0] == a.shape[0], (
                "Attributions tensor and the end_point must match on the first dimension but "
                f"found attribution: {a.shape[0]} and end_point: {e.shape[0]}"
            )
        check_baselines(ends, starts)
        n = ends[0].shape[0]
        selector = make_selector(captum_target(target), n)
        fargs = forward_args(additional_forward_args)
        with torch.no_grad():
            start_out = forward_select(
                self.forward_func, full_baselines(ends, starts), selector, forward_args=fargs
            )
            end_out = forward_select(self.forward_func, ends, selector, forward_args=fargs)
            row_sums = [sum_rows(a) for a in attrs]
            attr_sum = torch.stack([sum(rs) for rs in zip(*row_sums)])  # type: ignore[misc]
            return attr_sum - (end_out - start_out)


def format_output(
    was_tuple: bool,
    attributions: tuple[torch.Tensor, ...],
    delta: torch.Tensor | None = None,
    return_delta: bool = False,
) -> Any:
    """Captum's return convention: a tensor or a tuple, paired with ``delta`` when asked."""
    out: Any = attributions if was_tuple else attributions[0]
    return (out, delta) if return_delta else out
