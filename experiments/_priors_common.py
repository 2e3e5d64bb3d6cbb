"""Shared helpers of the attribution-prior experiments (priors_*.py)."""

from __future__ import annotations

import platform
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy import stats

import pathattr
from pathattr.result import CompletenessWarning, ConvergenceWarning


def machine() -> str:
    """A one-line description of where the script ran."""
    return (
        f"{platform.processor() or platform.machine()}, {platform.system()}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)"
    )


def eg(
    model: Any, x: torch.Tensor, refs: torch.Tensor, target: Any, samples: int, seed: int
) -> torch.Tensor:
    """Expected Gradients for evaluation (no graph), warnings about completeness silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompletenessWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = pathattr.expected_gradients(
            model, x, references=refs, target=target, samples=samples, seed=seed
        )
    a = res.attributions
    assert isinstance(a, torch.Tensor)
    return a.detach()


def mean_sd(values: Sequence[float], fmt: str = ".3f") -> str:
    """'mean ± sd' of a list of numbers (sample sd)."""
    v = np.asarray(values, dtype=float)
    sd = v.std(ddof=1) if len(v) > 1 else float("nan")
    return f"{v.mean():{fmt}} ± {sd:{fmt}}"


def paired(a: Sequence[float], b: Sequence[float]) -> str:
    """Paired t-test and Wilcoxon signed-rank p-values for a − b, with the mean difference."""
    a_, b_ = np.asarray(a, float), np.asarray(b, float)
    d = a_ - b_
    t = stats.ttest_rel(a_, b_)
    try:
        w = stats.wilcoxon(a_, b_).pvalue
    except ValueError:
        w = float("nan")
    return f"Δ = {d.mean():+.4f}, t = {t.statistic:.2f}, p_t = {t.pvalue:.2g}, p_Wilcoxon = {w:.2g}"


class Timer:
    """Wall-clock seconds since creation."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.t0
