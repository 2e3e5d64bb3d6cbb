"""The result of every attribution method: attributions plus how far to trust them."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Union

import torch

Tensors = Union[torch.Tensor, tuple[torch.Tensor, ...]]


class CompletenessWarning(UserWarning):
    """Attributions do not add up to F(x) − F(x') within the tolerance."""


class ConvergenceWarning(UserWarning):
    """An adaptive or sampled estimate stopped before reaching its requested accuracy."""


@dataclass
class Attribution:
    """Attributions and their diagnostics.

    Attributes:
        attributions: one tensor per input, same structure and shapes as ``inputs``.
        output: F(x), per example.
        baseline_output: F(x') per example (for Expected Gradients, the mean over references).
        delta: signed completeness residual Σ attributions − (F(x) − F(x')), per example.
        relative_delta: |delta| / |F(x) − F(x')| per example.
        evaluations: gradient evaluations spent, per example.
        method: the method's name.
        extras: method-specific diagnostics (error estimates, standard errors, ...).
    """

    attributions: Tensors
    output: torch.Tensor
    baseline_output: torch.Tensor
    delta: torch.Tensor
    relative_delta: torch.Tensor
    evaluations: torch.Tensor
    method: str = "integrated_gradients"
    extras: dict[str, Any] = field(default_factory=dict)

    def __iter__(self):  # type: ignore[no-untyped-def]
        """Unpack as ``attributions, delta`` (Captum's ``return_convergence_delta`` order)."""
        yield self.attributions
        yield self.delta

    @property
    def total_evaluations(self) -> int:
        """Gradient evaluations over the whole batch."""
        return int(self.evaluations.sum())

    def __repr__(self) -> str:
        attrs = self.attributions if isinstance(self.attributions, tuple) else (self.attributions,)
        shapes = ", ".join(str(tuple(a.shape)) for a in attrs)
        rd = self.relative_delta.detach()
        rd = rd[torch.isfinite(rd)]
        worst = f"{float(rd.max()):.2e}" if rd.numel() else "n/a"
        med = f"{float(rd.median()):.2e}" if rd.numel() else "n/a"
        extra = "".join(f", {k}={_short(v)}" for k, v in self.extras.items() if _printable(v))
        return (
            f"Attribution(method={self.method}, shapes=[{shapes}], "
            f"examples={self.output.shape[0]}, "
            f"relative_delta median={med} max={worst}, evaluations={self.total_evaluations}{extra})"
        )


def _printable(v: Any) -> bool:
    return isinstance(v, (int, float, str, bool))


def _short(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def completeness(
    attributions: tuple[torch.Tensor, ...], output: torch.Tensor, baseline_output: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Signed and relative completeness residuals per example."""
    parts = [a.detach().reshape(a.shape[0], -1).sum(1) for a in attributions]
    total = parts[0] if len(parts) == 1 else torch.stack(parts).sum(0)
    diff = (output - baseline_output).detach()
    delta = total - diff
    relative = delta.abs().div_(diff.abs().clamp_min_(torch.finfo(diff.dtype).tiny))
    return delta, relative


def warn_if_incomplete(result: Attribution, threshold: float, hint: str) -> None:
    """Warn when any example's relative completeness error exceeds ``threshold``."""
    if threshold is None or threshold <= 0 or threshold == float("inf"):
        return
    rd = result.relative_delta.detach()
    bad = rd > threshold  # NaN (no completeness defined) compares False
    if bool(bad.any()):
        warnings.warn(
            f"{int(bad.sum())} of {rd.numel()} examples have a relative completeness error above "
            f"{threshold:.0%} (worst {float(rd[bad].max()):.1%}): {hint}",
            CompletenessWarning,
            stacklevel=3,
        )
