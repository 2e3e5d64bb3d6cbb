"""The result of every attribution method: attributions plus how far to trust them."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Union

import torch

#: one tensor, one per input (a tuple), or one entry per layer (a list; layer attribution)
Tensors = Union[torch.Tensor, tuple[torch.Tensor, ...], list[Any]]

#: the ``format`` entry of a file written by :meth:`Attribution.save`
SAVE_FORMAT = "pathattr-attribution/1"


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

    def save(self, path: str | Path, *, inputs: Tensors | None = None) -> Path:
        """Write the result (and the ``inputs`` it explains, if given) to one file.

        The file is a ``torch.save`` dict of tensors, numbers and strings (``format``
        ``pathattr-attribution/1``) that :meth:`load` reads with ``weights_only=True``, so
        loading it runs no code.  ``pathattr report FILE`` draws it; with ``inputs`` saved, image
        attributions are drawn over their images.  Entries of ``extras`` that are not tensors,
        numbers, strings or containers of them are left out, with a warning.
        """
        extras = {k: v for k, v in self.extras.items() if _storable(v)}
        left_out = sorted(set(self.extras) - set(extras))
        if left_out:
            warnings.warn(
                f"Attribution.save: extras {', '.join(left_out)} are not tensors, numbers or "
                "strings and are not saved",
                UserWarning,
                stacklevel=2,
            )
        payload: dict[str, Any] = {
            f.name: _detached(getattr(self, f.name)) for f in fields(self) if f.name != "extras"
        }
        payload.update(format=SAVE_FORMAT, extras=_detached(extras), inputs=_detached(inputs))
        out = Path(path)
        torch.save(payload, out)
        return out

    @classmethod
    def load(cls, path: str | Path) -> Attribution:
        """Read a file written by :meth:`save` (see :func:`load_attribution` for the inputs)."""
        return load_attribution(path)[0]

    @property
    def total_evaluations(self) -> int:
        """Gradient evaluations over the whole batch."""
        return int(self.evaluations.sum())

    def __repr__(self) -> str:
        shapes = ", ".join(str(tuple(a.shape)) for a in _flat(self.attributions))
        rd_all = self.relative_delta.detach()
        rd = rd_all[torch.isfinite(rd_all)]
        worst = f"{float(rd.max()):.2e}" if rd.numel() else "n/a"
        med = f"{float(rd.median()):.2e}" if rd.numel() else "n/a"
        undefined = int(rd_all.numel() - rd.numel())
        if undefined and rd_all.numel():
            worst += f" (undefined for {undefined}: F(x) = F(x') or not finite)"
        extra = "".join(f", {k}={_short(v)}" for k, v in self.extras.items() if _printable(v))
        return (
            f"Attribution(method={self.method}, shapes=[{shapes}], "
            f"examples={self.output.shape[0]}, "
            f"relative_delta median={med} max={worst}, evaluations={self.total_evaluations}{extra})"
        )


def load_attribution(path: str | Path) -> tuple[Attribution, Tensors | None]:
    """The :class:`Attribution` saved by :meth:`Attribution.save` and its inputs (or None).

    Raises:
        ValueError: the file is not a saved attribution.
    """
    try:
        data = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(
            f"path: expected a file written by Attribution.save, got {str(path)!r} "
            f"({type(e).__name__}: {e})"
        ) from e
    if not isinstance(data, dict) or data.get("format") != SAVE_FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ValueError(
            f"path: expected a saved attribution (format {SAVE_FORMAT!r}), got {got!r} in "
            f"{str(path)!r}"
        )
    kwargs = {f.name: data[f.name] for f in fields(Attribution)}
    return Attribution(**kwargs), data.get("inputs")


def _storable(v: Any) -> bool:
    if v is None or isinstance(v, (torch.Tensor, int, float, str, bool)):
        return True
    if isinstance(v, (list, tuple)):
        return all(_storable(x) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _storable(x) for k, x in v.items())
    return False


def _detached(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        return v.detach().cpu()
    if isinstance(v, (list, tuple)):
        return type(v)(_detached(x) for x in v)
    if isinstance(v, dict):
        return {k: _detached(x) for k, x in v.items()}
    return v


def _flat(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    return [t for v in value for t in _flat(v)]


def _printable(v: Any) -> bool:
    return isinstance(v, (int, float, str, bool))


def _short(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def completeness(
    attributions: tuple[torch.Tensor, ...], output: torch.Tensor, baseline_output: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Signed and relative completeness residuals per example.

    The relative residual |delta| / |F(x) − F(x')| is undefined (NaN) where F(x) and F(x')
    agree to rounding (|F(x) − F(x')| ≤ 4·eps·max(|F(x)|, |F(x')|)): dividing by a difference
    made of rounding error would print absurd percentages.  ``delta`` is still reported there.
    """
    parts = [a.detach().reshape(a.shape[0], math.prod(a.shape[1:])).sum(1) for a in attributions]
    total = parts[0] if len(parts) == 1 else torch.stack(parts).sum(0)
    out, base = output.detach(), baseline_output.detach()
    diff = out - base
    delta = total - diff
    gap = diff.abs_()
    relative = delta.abs().div_(gap)
    # in place and without a host sync: a few µs, which matter on sub-millisecond calls
    return delta, relative.masked_fill_(gap <= undefined_floor(out, base), float("nan"))


def undefined_floor(output: torch.Tensor, baseline_output: torch.Tensor) -> torch.Tensor:
    """|F(x) − F(x')| at or below which the relative residual is undefined (rounding level)."""
    eps = torch.finfo(output.dtype).eps
    return torch.maximum(output.abs(), baseline_output.abs()).mul_(4 * eps)


def warn_if_incomplete(
    result: Attribution, threshold: float | None, hint: str, stacklevel: int = 3
) -> None:
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
            stacklevel=stacklevel,
        )
