r"""Guided back-propagation and DeconvNet: gradients with a modified ReLU backward rule.

For a ReLU unit y = max(z, 0) with incoming gradient g = ∂F/∂y the backward rules are

.. math::

    \text{gradient:}\; g\,[z > 0], \qquad
    \text{guided back-propagation:}\; \max(g, 0)\,[z > 0], \qquad
    \text{deconvnet:}\; \max(g, 0)

(Springenberg et al. 2015; Zeiler & Fergus 2014).  Every other layer back-propagates its true
gradient.  Because a negative signal is never passed back through a ReLU, a feature whose only
effect lowers the output gets zero attribution: both methods break Sensitivity(a) (IG paper
App. B).  Neither claims Completeness; ``delta`` is reported but not enforced.

:func:`relu_rule` is the context manager doing the swap.  It replaces ``torch.relu``,
``Tensor.relu`` and ``torch.nn.functional.relu`` (which ``nn.ReLU`` calls) by an autograd
function with the modified backward for the duration of the block, and restores them
afterwards, also on error.  The patch is process-wide while active, so do not run other models
in other threads meanwhile.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F

from pathattr.engine.pipeline import Inputs, prepare
from pathattr.engine.targets import TargetLike
from pathattr.engine.validate import BaselineLike
from pathattr.methods.gradients import finish, gradient
from pathattr.result import Attribution

#: backward rule: (grad_output, pre-activation z) -> grad_input
Rule = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

_RULES: dict[str, Rule] = {
    "gradient": lambda g, z: g * (z > 0).to(g.dtype),
    "guided": lambda g, z: g.clamp_min(0) * (z > 0).to(g.dtype),
    "deconvnet": lambda g, z: g.clamp_min(0),
}


class _RuleReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, z: torch.Tensor, rule: Rule) -> torch.Tensor:
        ctx.save_for_backward(z)
        ctx.rule = rule
        return z.clamp_min(0)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (z,) = ctx.saved_tensors
        return ctx.rule(grad, z), None


@contextlib.contextmanager
def patched_relu(replacement: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[None]:
    """Route every ``torch.relu`` / ``F.relu`` / ``nn.ReLU`` call to ``replacement``.

    ``replacement(z)`` must return relu(z) (possibly with a different backward).  In-place
    variants are computed out of place, which keeps the recorded graph clean.
    """
    saved = (torch.relu, F.relu, torch.Tensor.relu)

    def functional(z: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        return replacement(z)

    def method(self: torch.Tensor) -> torch.Tensor:
        return replacement(self)

    try:
        torch.relu = replacement  # type: ignore[assignment]
        F.relu = functional  # type: ignore[assignment]
        torch.Tensor.relu = method  # type: ignore[method-assign,assignment]
        yield
    finally:
        torch.relu, F.relu, torch.Tensor.relu = saved  # type: ignore[assignment,method-assign]


@contextlib.contextmanager
def relu_rule(rule: str | Rule) -> Iterator[None]:
    """Use backward rule ``rule`` ("gradient", "guided", "deconvnet" or a callable) for ReLUs.

    Example::

        with relu_rule("guided"):
            out = model(x.requires_grad_()); out[:, 3].sum().backward()
    """
    if isinstance(rule, str):
        if rule not in _RULES:
            raise ValueError(f"rule: expected one of {sorted(_RULES)} or a callable, got {rule!r}")
        fn = _RULES[rule]
    elif callable(rule):
        fn = rule
    else:
        raise TypeError(f"rule: expected a rule name or a callable, got {type(rule).__name__}")

    def relu(z: torch.Tensor) -> torch.Tensor:
        return _RuleReLU.apply(z, fn)  # type: ignore[no-any-return]

    with patched_relu(relu):
        yield


def _ruled(
    name: str,
    rule: str,
    model: Callable[..., Any],
    inputs: Inputs,
    baselines: BaselineLike,
    target: TargetLike,
    forward_args: Any,
    batch_size: int | str | None,
) -> Attribution:
    p = prepare(
        model, inputs, baselines=baselines, target=target, forward_args=forward_args,
        batch_size=batch_size,
    )  # fmt: skip
    if p.empty:
        return p.empty_result(name)
    _check_has_relu(model, name)
    calls = [0]
    fn = _RULES[rule]

    def relu(z: torch.Tensor) -> torch.Tensor:
        calls[0] += 1
        return _RuleReLU.apply(z, fn)  # type: ignore[no-any-return]

    with p.running(), patched_relu(relu):
        grads, out = gradient(model, p, batch_size=batch_size)
    if calls[0] == 0:
        warn_no_relu(name)
    with p.running():
        return finish(model, p, grads, out, name, extras={"relus": calls[0]}, batch_size=batch_size)


def warn_no_relu(name: str) -> None:
    """Warn that no ReLU call was intercepted, so ``name`` equals a plain gradient method."""
    import warnings

    warnings.warn(
        f"model: {name} intercepted no ReLU call (it routes torch.relu, F.relu, Tensor.relu and "
        "nn.ReLU; a `relu` imported by name before the call, clamp or max are not seen), so "
        "the result is the plain gradient",
        stacklevel=3,
    )


def _check_has_relu(model: Any, name: str) -> None:
    if not isinstance(model, torch.nn.Module):
        return
    # ReLU6 (Hardtanh(0, 6)) matters: MobileNet / EfficientNet-Lite use it instead of ReLU
    others = sorted(
        {type(m).__name__ for m in model.modules() if isinstance(m, _OTHER_ACTIVATIONS)}
    )
    if others:
        import warnings

        warnings.warn(
            f"model: {name} only changes the backward of ReLU; the model's other activations "
            f"({', '.join(others)}) back-propagate their plain gradient",
            stacklevel=3,
        )


_OTHER_ACTIVATIONS = (
    torch.nn.GELU, torch.nn.SiLU, torch.nn.ELU, torch.nn.LeakyReLU, torch.nn.Hardtanh,
    torch.nn.Hardswish, torch.nn.Mish, torch.nn.Softplus, torch.nn.PReLU, torch.nn.SELU,
)  # fmt: skip


def guided_backprop(
    model: Callable[..., Any],
    inputs: Inputs,
    *,
    baselines: BaselineLike = None,
    target: TargetLike = None,
    forward_args: Any = (),
    batch_size: int | str | None = "auto",
) -> Attribution:
    r"""Guided back-propagation: the gradient with ReLU backward max(g, 0)·[z > 0].

    Args:
        model: callable; its ReLUs must be ``nn.ReLU``, ``F.relu`` or ``torch.relu`` calls.
        inputs: a batch-first float tensor or a tuple of them.
        baselines: only used to report F(x') and ``delta``.
        target: which output to explain (as in :func:`pathattr.integrated_gradients`).
        forward_args: extra model arguments.
        batch_size: examples per model call; None: all at once; ``"auto"`` (default): the
            engine's choice (fits memory and, on the CPU, the cache budget).

    Returns:
        An :class:`~pathattr.result.Attribution` (``delta`` is reported, not enforced).
    """
    return _ruled(
        "guided_backprop", "guided", model, inputs, baselines, target, forward_args, batch_size
    )


def deconvnet(
    model: Callable[..., Any],
    inputs: Inputs,
    *,
    baselines: BaselineLike = None,
    target: TargetLike = None,
    forward_args: Any = (),
    batch_size: int | str | None = "auto",
) -> Attribution:
    r"""DeconvNet: the gradient with ReLU backward max(g, 0), ignoring the forward mask.

    Args:
        model, inputs, baselines, target, forward_args, batch_size: as in
            :func:`guided_backprop`.

    Returns:
        An :class:`~pathattr.result.Attribution` (``delta`` is reported, not enforced).
    """
    return _ruled(
        "deconvnet", "deconvnet", model, inputs, baselines, target, forward_args, batch_size
    )
