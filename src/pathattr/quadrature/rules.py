"""Fixed quadrature rules on [0, 1], with Captum's names and node placement.

Every rule returns float64 nodes and weights whose weights sum to exactly 1, so every
rule integrates a constant exactly and therefore gives exact Integrated Gradients on a
linear model.  Captum's ``riemann_trapezoid`` uses step sizes that sum to ``1 - 1/n``
(its attributions on a linear model add up to 0.875 of F(x) - F(x') at n = 8); pathattr
uses the textbook trapezoid weights ``1/(n-1)`` with halved end weights instead.

``linspace`` is the rule of PAIR's ``saliency`` package (its Integrated Gradients, hence its
XRAI): ``n`` evenly spaced nodes from 0 to 1, both ends included, each weighted ``1/n``.  Its
weights sum to 1 too, but it over-weights the two ends (a first-order rule, less accurate than
the trapezoid at the same cost); it is here to reproduce PAIR's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

RULES = (
    "riemann_left",
    "riemann_right",
    "riemann_middle",
    "riemann_trapezoid",
    "gausslegendre",
    "linspace",
)


@dataclass(frozen=True)
class Rule:
    """Nodes ``alphas`` in [0, 1] and their ``weights`` (both float64 arrays of equal length)."""

    alphas: np.ndarray
    weights: np.ndarray

    # cached: rules are immutable and shared (see _cached), and IG asks on every call
    @cached_property
    def includes_start(self) -> bool:
        """Whether the rule evaluates the path at α = 0 (the baseline)."""
        return bool(np.any(self.alphas == 0.0))

    @cached_property
    def includes_end(self) -> bool:
        """Whether the rule evaluates the path at α = 1 (the input)."""
        return bool(np.any(self.alphas == 1.0))


def quadrature(rule: str, steps: int) -> Rule:
    """Nodes and weights of ``rule`` with ``steps`` nodes on [0, 1].

    Args:
        rule: one of :data:`RULES`.
        steps: number of nodes (at least 1; at least 2 for ``riemann_trapezoid``).
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise TypeError(f"steps: expected a positive int, got {type(steps).__name__} {steps!r}")
    n = int(steps)
    if n < 1:
        raise ValueError(f"steps: expected an int >= 1, got {n}")
    return _cached(rule, n)


@lru_cache(maxsize=256)
def _cached(rule: str, n: int) -> Rule:
    # Gauss–Legendre nodes cost an eigenvalue problem; rules are immutable, so compute each once.
    if rule == "riemann_left":
        alphas = np.arange(n, dtype=np.float64) / n
        weights = np.full(n, 1.0 / n)
    elif rule == "riemann_right":
        alphas = np.arange(1, n + 1, dtype=np.float64) / n
        weights = np.full(n, 1.0 / n)
    elif rule == "riemann_middle":
        alphas = (np.arange(n, dtype=np.float64) + 0.5) / n
        weights = np.full(n, 1.0 / n)
    elif rule == "riemann_trapezoid":
        if n < 2:
            raise ValueError(f"steps: riemann_trapezoid needs at least 2 nodes, got {n}")
        alphas = np.linspace(0.0, 1.0, n)
        weights = np.full(n, 1.0 / (n - 1))
        weights[0] *= 0.5
        weights[-1] *= 0.5
    elif rule == "linspace":
        alphas = np.linspace(0.0, 1.0, n)
        weights = np.full(n, 1.0 / n)
    elif rule == "gausslegendre":
        x, w = _legendre(n)
        alphas = 0.5 * (x + 1.0)
        weights = 0.5 * w
    else:
        raise ValueError(f"rule: expected one of {', '.join(RULES)}, got {rule!r}")
    alphas.setflags(write=False)
    weights.setflags(write=False)
    return Rule(alphas=alphas, weights=weights)


def _legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    # numpy's leggauss (Captum's choice, so small n match Captum bit for bit) solves an n×n
    # eigenproblem: about 40 s at n = 4096.  SciPy's roots_legendre is O(n) there.
    if n > 256:
        try:
            from scipy.special import roots_legendre
        except ImportError:
            pass
        else:
            x, w = roots_legendre(n)
            return np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    x, w = np.polynomial.legendre.leggauss(n)
    return x, w
