"""Plots of the faithfulness metrics (matplotlib ``Figure`` objects rendered with Agg,
without pyplot, so the user's backend is left alone)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import torch

# What the plots read, as protocols: importing Curve / RandomisationResult here (even for type
# checking only) made plots <-> randomisation an import cycle, since RandomisationResult.plot
# calls plot_randomisation.


class CurveLike(Protocol):
    """What :func:`plot_curves` reads (a :class:`~pathattr.metrics.Curve`)."""

    kind: str
    fractions: torch.Tensor

    @property
    def mean(self) -> torch.Tensor: ...  # noqa: D102

    @property
    def mean_auc(self) -> float: ...  # noqa: D102


class CorrelationsLike(Protocol):
    """What :func:`plot_randomisation` reads (a :class:`~pathattr.metrics.RandomisationResult`)."""

    layers: list[str]
    spearman: torch.Tensor
    spearman_abs: torch.Tensor
    pearson_abs: torch.Tensor


def _figure(figsize: tuple[float, float]) -> Any:
    # a bare Figure (no pyplot) renders with Agg and never touches the user's backend
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "plots need matplotlib, which is not installed; run: pip install matplotlib"
        ) from None
    return Figure(figsize=figsize)


def plot_curves(
    curves: Mapping[str, CurveLike],
    path: str | Path | None = None,
    *,
    title: str | None = None,
    ylabel: str = "score",
) -> Any:
    """Mean deletion / insertion curves of several methods, one panel per kind.

    Args:
        curves: ``{method name: Curve}``; curves of both kinds may be mixed (keys must be
            unique, e.g. ``"IG (deletion)"``); each legend entry shows the mean AUC.
        path: where to save the figure (PNG, SVG, ...); None only returns it.
        title: figure title.
        ylabel: label of the score axis.

    Returns:
        The matplotlib ``Figure``.
    """
    if not curves:
        raise ValueError("curves: expected a non-empty mapping {name: Curve}, got an empty one")
    kinds = sorted({c.kind for c in curves.values()})
    fig = _figure((5.2 * len(kinds), 4))
    axes = fig.subplots(1, len(kinds), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        for name, c in curves.items():
            if c.kind != kind:
                continue
            ax.plot(c.fractions.cpu().numpy(), c.mean.detach().cpu().numpy(),
                    label=f"{name} (AUC {c.mean_auc:.3f})")  # fmt: skip
        ax.set_xlabel(f"fraction of features {'removed' if kind == 'deletion' else 'inserted'}")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{kind} ({'lower' if kind == 'deletion' else 'higher'} AUC is better)")
        ax.set_xlim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def plot_randomisation(
    results: Mapping[str, CorrelationsLike],
    path: str | Path | None = None,
    *,
    measure: str = "spearman_abs",
    title: str | None = None,
    ax: Any = None,
) -> Any:
    """Mean correlation per randomised layer, one line per method (Adebayo et al.'s figure).

    Args:
        results: ``{method name: RandomisationResult}`` computed on the same layers.
        path: where to save the figure; None only returns it.
        measure: ``"spearman"``, ``"spearman_abs"`` or ``"pearson_abs"``.
        title: figure title.
        ax: an existing matplotlib axis to draw on.

    Returns:
        The matplotlib ``Figure``.
    """
    if measure not in ("spearman", "spearman_abs", "pearson_abs"):
        raise ValueError(
            f"measure: expected 'spearman', 'spearman_abs' or 'pearson_abs', got {measure!r}"
        )
    if not results:
        raise ValueError("results: expected a non-empty mapping {name: RandomisationResult}")
    if ax is None:
        first = next(iter(results.values()))
        fig = _figure((max(5.0, 0.5 * len(first.layers) + 2), 4))
        ax = fig.subplots()
    else:
        fig = ax.figure
    for name, r in results.items():
        vals = getattr(r, measure).mean(1).detach().cpu().numpy()
        ax.plot(range(len(r.layers)), vals, marker="o", label=name)
        ax.set_xticks(range(len(r.layers)))
        ax.set_xticklabels(r.layers, rotation=45, ha="right", fontsize=8)
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("randomised up to layer (top-down)")
    ax.set_ylabel(measure.replace("_", " "))
    ax.legend(fontsize=8)
    ax.set_title(title or "model randomisation")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
