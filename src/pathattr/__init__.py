"""pathattr: Integrated Gradients, Expected Gradients and attribution priors for PyTorch.

Every path method is a path plus quadrature nodes and weights fed to one batched gradient
engine (:mod:`pathattr.engine`).  Public entry points are re-exported here; the heavier ones are
imported on first use so that ``import pathattr`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from pathattr.methods.integrated_gradients import integrated_gradients
from pathattr.result import Attribution, CompletenessWarning, ConvergenceWarning

__version__ = "0.1.0"

# public name -> module that defines it (imported lazily)
_LAZY = {
    "expected_gradients": "pathattr.methods.expected_gradients",
    "smoothgrad": "pathattr.methods.smoothgrad",
    "layer_integrated_gradients": "pathattr.methods.layer_integrated_gradients",
    "noise_integrated_gradients": "pathattr.methods.noise_baselines",
    "saliency": "pathattr.methods.gradients",
    "input_x_gradient": "pathattr.methods.gradients",
    "guided_backprop": "pathattr.methods.backprop_rules",
    "deconvnet": "pathattr.methods.backprop_rules",
    "deeplift": "pathattr.methods.deeplift",
    "one_at_a_time": "pathattr.methods.one_at_a_time",
    "guided_integrated_gradients": "pathattr.methods.guided_integrated_gradients",
    "blur_integrated_gradients": "pathattr.methods.blur_integrated_gradients",
    "shapley_shubik": "pathattr.methods.one_at_a_time",
    "sequence_attributions": "pathattr.methods.sequence_attributions",
    "integrated_hessians": "pathattr.methods.interactions",
    "expected_hessians": "pathattr.methods.interactions",
    "xrai": "pathattr.methods.xrai",
    "BatchAttributor": "pathattr.engine.batch",
    "run": "pathattr.engine.dataset",
    "report": "pathattr.viz.report",
}
_SUBMODULES = {"axioms", "priors", "metrics", "viz", "captum", "engine", "paths", "quadrature",
               "methods", "baselines", "domains", "cli", "text", "store", "scale",
               "chem"}  # fmt: skip

__all__ = [
    "Attribution",
    "CompletenessWarning",
    "ConvergenceWarning",
    "integrated_gradients",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"pathattr.{name}")
    raise AttributeError(f"module 'pathattr' has no attribute {name!r}")
