r"""Model-parameter randomisation sanity check (Adebayo et al. 2018).

An explanation that is faithful to the model must change when the model's weights are
destroyed.  The layers are re-initialised top-down (from the output towards the input);
after each step the attributions of the damaged model are compared with those of the trained
model by

* the Spearman rank correlation :math:`\rho_s` of the attributions (signed) and of their
  absolute values, and
* the Pearson correlation of the absolute values,

per example.  Correlations that stay near 1 while the model is destroyed reveal a method that
explains the input (e.g. edges) rather than the model.  The user's model is never modified:
layers are reset with ``reset_parameters()`` on a deep copy.  Completeness warnings are
silenced for the damaged copies (they concern the destroyed model, not the check).

Methods that multiply by :math:`x - x'` (IG, input × gradient, DeepLift) give exactly zero to
features equal to the baseline in *every* model, so their rank correlation of absolute values
stays high on inputs with many such features (e.g. the black background of digits); the
signed Spearman correlation is the informative figure there.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pathattr._calling import method_caller
from pathattr._rng import private_rng
from pathattr.engine.targets import TargetLike
from pathattr.engine.validate import as_tuple
from pathattr.metrics._common import (
    attributions_tuple,
    check_feature_dims,
    feature_scores,
    warn_constant_scores,
)
from pathattr.metrics.plots import plot_randomisation
from pathattr.result import CompletenessWarning

MethodLike = Callable[..., Any]


@dataclass
class RandomisationResult:
    """Correlations between the trained model's attributions and the randomised models'.

    Attributes:
        layers: ``["(none)", layer_1, layer_2, ...]``: the first row compares the trained model
            with an untouched copy (a check that the method is deterministic); row ``i``
            has the listed layer (and, when ``cascading``, every layer above it) re-initialised.
        spearman: ``(L+1, N)`` Spearman rank correlation of the signed attributions.
        spearman_abs: ``(L+1, N)`` Spearman rank correlation of the absolute attributions.
        pearson_abs: ``(L+1, N)`` Pearson correlation of the absolute attributions.
        cascading: whether the layers were randomised cumulatively.
        method: the method's name.
    """

    layers: list[str]
    spearman: torch.Tensor
    spearman_abs: torch.Tensor
    pearson_abs: torch.Tensor
    cascading: bool = True
    method: str = "method"
    extras: dict[str, Any] = field(default_factory=dict)

    def table(self) -> str:
        """A markdown table of the correlations averaged over examples, one row per layer."""
        head = "| randomised (top-down) | Spearman | Spearman of abs | Pearson of abs |"
        lines = [head, "| --- | ---: | ---: | ---: |"]
        for i, name in enumerate(self.layers):
            lines.append(
                f"| {name} | {float(self.spearman[i].mean()):.3f} | "
                f"{float(self.spearman_abs[i].mean()):.3f} | "
                f"{float(self.pearson_abs[i].mean()):.3f} |"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Mean correlations per layer, as plain Python values."""
        return {
            "method": self.method,
            "cascading": self.cascading,
            "layers": list(self.layers),
            "spearman": self.spearman.mean(1).tolist(),
            "spearman_abs": self.spearman_abs.mean(1).tolist(),
            "pearson_abs": self.pearson_abs.mean(1).tolist(),
        }

    def plot(self, path: str | Path | None = None, *, ax: Any = None) -> Any:
        """Plot the mean correlations per layer (:func:`~pathattr.metrics.plot_randomisation`)."""
        return plot_randomisation({self.method: self}, path, ax=ax)

    def __str__(self) -> str:
        mode = "cascading" if self.cascading else "independent"
        return f"model randomisation of {self.method} ({mode})\n{self.table()}"


def parameterised_layers(model: torch.nn.Module) -> list[str]:
    """Names of the modules holding their own parameters and a ``reset_parameters``, top-down.

    "Top-down" is the reverse of registration order, which is the forward order for
    ``nn.Sequential`` and for most models; pass ``layers=`` explicitly when it is not.
    """
    names = [
        name
        for name, m in model.named_modules()
        if any(True for _ in m.parameters(recurse=False)) and hasattr(m, "reset_parameters")
    ]
    return names[::-1]


def model_randomisation(
    method: MethodLike,
    model: torch.nn.Module,
    inputs: torch.Tensor | tuple[torch.Tensor, ...],
    target: TargetLike = None,
    *,
    baselines: Any = None,
    layers: Sequence[str] | None = None,
    cascading: bool = True,
    seed: int = 0,
    feature_dims: Sequence[int] | None = None,
) -> RandomisationResult:
    """Re-initialise layers top-down and correlate the attributions with the trained model's.

    Args:
        method: returns finite attributions shaped like ``inputs`` (or an
            :class:`Attribution`): every pathattr method, or an adapter around another
            library's.  Called as ``method(model, inputs, baselines=..., target=...)`` when it
            takes those keywords (Expected Gradients gets ``references=baselines``, a method
            without baselines, like SmoothGrad, none), else as ``method(model, inputs,
            baselines, target)``.
        model: the trained ``nn.Module`` (left untouched: a deep copy is randomised).
        inputs: a batch-first float tensor or a tuple of them.
        target: as for :func:`pathattr.integrated_gradients`.  Keep it fixed (e.g. the
            trained model's predicted class): the check asks whether the explanation of the
            same output changes.
        baselines: passed to ``method``.
        layers: module names (as in ``model.named_modules()``) in the order to randomise;
            default: :func:`parameterised_layers` (top-down).
        cascading: True re-initialises each layer on top of the previous ones; False
            re-initialises one layer at a time on a fresh copy.
        seed: seed of the re-initialisation.
        feature_dims: dims indexing the compared features; the other dims are summed (as in
            :func:`~pathattr.metrics.deletion_curve`: pixels for 4-D images).

    Returns:
        A :class:`RandomisationResult`.  An example whose trained-model attributions are all
        equal (e.g. all zero) has no ranking to compare: its correlations are NaN, with a
        UserWarning (a constant row would otherwise correlate 0 with everything, which reads
        as a method that passes the check).
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if not callable(method):
        raise TypeError(f"method: expected a callable, got {type(method).__name__}")
    xs = as_tuple(inputs, nonempty=True)
    call = method_caller(method)
    modules = dict(model.named_modules())
    names = parameterised_layers(model) if layers is None else list(layers)
    if not names:
        raise ValueError("layers: the model has no parameterised layer with reset_parameters()")
    for name in names:
        if name not in modules:
            raise ValueError(
                f"layers: expected names from model.named_modules(), got {name!r} "
                f"(available: {', '.join(n for n in modules if n)[:300]})"
            )
        if not hasattr(modules[name], "reset_parameters"):
            raise ValueError(f"layers: module {name!r} has no reset_parameters()")

    def attribute(m: torch.nn.Module, quiet: bool = True) -> torch.Tensor:
        with warnings.catch_warnings():
            if quiet:
                # completeness residuals of a destroyed model say nothing about the method
                warnings.simplefilter("ignore", CompletenessWarning)
            out = call(m, inputs, baselines, target)
        a = attributions_tuple(out, xs, name="method output")
        parts = [feature_scores(t, check_feature_dims(feature_dims, t)).float() for t in a]
        return torch.cat(parts, dim=1)

    reference = attribute(model, quiet=False)
    warn_constant_scores(reference, "method output")
    undefined = (reference == reference[:, :1]).all(1)
    rows = [attribute(copy.deepcopy(model))]
    work = copy.deepcopy(model)
    # the user's global RNGs are restored afterwards (reset_parameters draws from them)
    with private_rng(seed):
        for name in names:
            if not cascading:
                work = copy.deepcopy(model)
            dict(work.named_modules())[name].reset_parameters()
            rows.append(attribute(work))
    rho, rho_abs, r_abs = [], [], []
    for a in rows:
        rho.append(spearman(reference, a))
        rho_abs.append(spearman(reference.abs(), a.abs()))
        r_abs.append(pearson(reference.abs(), a.abs()))

    def stacked(values: list[torch.Tensor]) -> torch.Tensor:
        t = torch.stack(values)
        return torch.where(undefined.to(t.device)[None, :], torch.full_like(t, float("nan")), t)

    return RandomisationResult(
        layers=["(none)", *names],
        spearman=stacked(rho),
        spearman_abs=stacked(rho_abs),
        pearson_abs=stacked(r_abs),
        cascading=cascading,
        method=getattr(method, "__name__", type(method).__name__),
    )


def rankdata(x: torch.Tensor) -> torch.Tensor:
    """Ranks along the last dim, ties given their average rank (``scipy.stats.rankdata``)."""
    flat = x.reshape(-1, x.shape[-1])
    out = torch.empty(flat.shape, dtype=torch.float64, device=x.device)
    for i, row in enumerate(flat):
        sorted_vals, order = torch.sort(row, stable=True)
        _, inverse, counts = torch.unique_consecutive(
            sorted_vals, return_inverse=True, return_counts=True
        )
        ends = counts.cumsum(0).double()
        avg = ends - (counts.double() - 1) / 2  # 1-based average rank of each tie group
        out[i, order] = avg[inverse]
    return out.reshape(x.shape)


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation per row of two ``(N, D)`` tensors (0 where a row is constant)."""
    a = a.double() - a.double().mean(1, keepdim=True)
    b = b.double() - b.double().mean(1, keepdim=True)
    den = a.norm(dim=1) * b.norm(dim=1)
    num = (a * b).sum(1)
    return torch.where(den > 0, num / torch.where(den > 0, den, 1.0), torch.zeros_like(num))


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation per row of two ``(N, D)`` tensors (ties: average ranks)."""
    return pearson(rankdata(a), rankdata(b))
