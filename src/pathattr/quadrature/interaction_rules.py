r"""Nodes and weights for the double integral of Integrated Hessians.

Integrated Hessians (Janizek, Sturmfels, Lee 2021) integrates over two path positions α, β:

.. math::

    \Gamma_{ij} = d_i d_j \int_0^1\!\!\int_0^1 \alpha\beta\,
        \partial_{ij} F(x' + \alpha\beta\, d)\, d\alpha\, d\beta
      + \delta_{ij}\, d_i \int_0^1\!\!\int_0^1
        \partial_i F(x' + \alpha\beta\, d)\, d\alpha\, d\beta,
    \qquad d = x - x'.

Both integrands depend on α and β only through t = αβ.  Substituting β = t / α (for fixed α,
t runs over [0, α] and dβ = dt / α) and swapping the order of integration,

.. math::

    \int_0^1\!\!\int_0^1 g(\alpha\beta)\, d\alpha\, d\beta
      = \int_0^1 g(t) \int_t^1 \frac{d\alpha}{\alpha}\, dt
      = \int_0^1 (-\ln t)\, g(t)\, dt ,

so Γ is a one-dimensional integral along the straight line with the weight −ln t (the
density of the product of two independent uniforms):

.. math::

    \Gamma_{ij} = d_i d_j \int_0^1 (-\ln t)\, t\, \partial_{ij}F(x' + t d)\, dt
      + \delta_{ij}\, d_i \int_0^1 (-\ln t)\, \partial_i F(x' + t d)\, dt .

A rule here is nodes t_k with two weights: ``w_g`` for the gradient (diagonal) term and
``w_h`` for the Hessian term.  :func:`gauss_log` is the Gauss rule of the weight −ln t: k
nodes integrate ``p(t)·(−ln t)`` exactly for every polynomial p of degree < 2k, so both
integrals converge spectrally for smooth models with k Hessian evaluations, where a product
of two 1-D rules needs about k² of them (the log singularity at t = 0 is in the weight, not
in the integrand, so it costs nothing).  :func:`product_rule` is the product of two 1-D rules
in α and β (path_explain's grid is ``"linspace"``) with equal products αβ merged into one node.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import comb

import numpy as np

from pathattr.quadrature.rules import RULES, quadrature

#: the 1-D rules a product rule can use: pathattr's IG rules and path_explain's grid
#: (``linspace``: m equally spaced nodes including both ends, each weighted 1/m)
PRODUCT_RULES = (*RULES, "linspace")

#: every rule name accepted by Integrated Hessians
INTERACTION_RULES = ("gausslog", *PRODUCT_RULES)

#: products αβ closer than this are merged into one node (exact duplicates, up to rounding)
_MERGE_TOL = 1e-13


@dataclass(frozen=True)
class InteractionRule:
    """Nodes ``t`` on [0, 1] with weights ``w_g`` (gradient term) and ``w_h`` (Hessian term)."""

    t: np.ndarray
    w_g: np.ndarray
    w_h: np.ndarray


def interaction_rule(rule: str, steps: int) -> InteractionRule:
    """The rule ``rule`` with ``steps`` nodes (``gausslog``) or nodes per axis (products)."""
    if rule not in INTERACTION_RULES:
        raise ValueError(f"rule: expected one of {', '.join(INTERACTION_RULES)}, got {rule!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps: expected an int >= 1, got {steps!r}")
    if rule == "gausslog":
        t, w = gauss_log(int(steps))
        return InteractionRule(t, w, t * w)
    return product_rule(rule, int(steps))


@lru_cache(maxsize=64)
def gauss_log(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the n-point Gauss rule for ∫₀¹ f(t) (−ln t) dt (float64).

    Built by Gautschi's modified Chebyshev algorithm from the modified moments of −ln t
    against the monic shifted Legendre polynomials π_k, which are known in closed form
    (∫₀¹ π_k(t)(−ln t) dt = (−1)^k / (k (k+1) C(2k, k)) for k ≥ 1, and 1 for k = 0) and keep
    the algorithm well conditioned (ordinary moments 1/(k+1)² would not), then Golub–Welsch.
    """
    if n < 1:
        raise ValueError(f"steps: expected an int >= 1, got {n}")
    m = 2 * n
    mom = np.array([1.0] + [(-1.0) ** k / (k * (k + 1) * comb(2 * k, k)) for k in range(1, m)])
    a = np.full(m, 0.5)  # recurrence of the monic shifted Legendre polynomials
    b = np.array([0.0] + [k * k / (4.0 * (4.0 * k * k - 1.0)) for k in range(1, m)])
    alpha, beta = np.zeros(n), np.zeros(n)
    alpha[0], beta[0] = a[0] + mom[1] / mom[0], mom[0]
    prev, cur = np.zeros(m), mom.copy()  # σ_{k-2,·}, σ_{k-1,·}
    for k in range(1, n):
        nxt = np.zeros(m)
        for j in range(k, m - k):
            nxt[j] = (
                cur[j + 1] - (alpha[k - 1] - a[j]) * cur[j] - beta[k - 1] * prev[j]
                + b[j] * cur[j - 1]
            )  # fmt: skip
        alpha[k] = a[k] + nxt[k + 1] / nxt[k] - cur[k] / cur[k - 1]
        beta[k] = nxt[k] / cur[k - 1]
        prev, cur = cur, nxt
    jacobi = np.diag(alpha) + np.diag(np.sqrt(beta[1:]), 1) + np.diag(np.sqrt(beta[1:]), -1)
    nodes, vecs = np.linalg.eigh(jacobi)
    weights = beta[0] * vecs[0] ** 2
    nodes.setflags(write=False)
    weights.setflags(write=False)
    return nodes, weights


@lru_cache(maxsize=64)
def product_rule(rule: str, steps: int) -> InteractionRule:
    """The product of the 1-D ``rule`` in α and in β, equal products αβ merged.

    Node (a, b) has t = α_a β_b, gradient weight w_a w_b and Hessian weight α_a β_b w_a w_b
    (the αβ of the integrand).  The rule is symmetric in α and β, so at most
    steps·(steps + 1)/2 distinct nodes remain (fewer for grids with many equal products:
    ``linspace`` with 10 nodes has 37 of 100).
    """
    if rule == "linspace":
        alphas = np.linspace(0.0, 1.0, steps) if steps > 1 else np.zeros(1)
        weights = np.full(steps, 1.0 / steps)
    else:
        q = quadrature(rule, steps)
        alphas, weights = np.asarray(q.alphas), np.asarray(q.weights)
    t = np.multiply.outer(alphas, alphas).ravel()
    w = np.multiply.outer(weights, weights).ravel()
    order = np.argsort(t, kind="stable")
    t, w = t[order], w[order]
    group = np.concatenate([[0], np.cumsum(np.diff(t) > _MERGE_TOL)])
    w_g = np.bincount(group, weights=w)
    w_h = np.bincount(group, weights=w * t)
    nodes = t[np.searchsorted(group, np.arange(group[-1] + 1))]  # the first t of each group
    for arr in (nodes, w_g, w_h):
        arr.setflags(write=False)
    return InteractionRule(nodes, w_g, w_h)
