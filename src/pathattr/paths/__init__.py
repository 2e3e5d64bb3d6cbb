"""Paths γ(α) from a baseline to an input, with their derivatives γ'(α)."""

from pathattr.paths.base import Path
from pathattr.paths.straight import StraightLine

__all__ = ["Path", "StraightLine"]
