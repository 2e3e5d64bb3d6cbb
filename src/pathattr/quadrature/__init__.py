"""Quadrature rules on [0, 1]: nodes α_k and weights w_k with Σ_k w_k g(α_k) ≈ ∫₀¹ g(α) dα."""

from pathattr.quadrature.rules import RULES, Rule, quadrature

__all__ = ["RULES", "Rule", "quadrature"]
