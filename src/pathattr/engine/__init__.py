"""The one batched gradient engine that every path method runs on."""

from pathattr.engine.core import Chunk, Integral, evaluate_rows, forward_select, integrate
from pathattr.engine.targets import Selector, TargetLike, make_selector

__all__ = [
    "Chunk",
    "Integral",
    "Selector",
    "TargetLike",
    "evaluate_rows",
    "forward_select",
    "integrate",
    "make_selector",
]
