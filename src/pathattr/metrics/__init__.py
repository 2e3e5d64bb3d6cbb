"""Faithfulness metrics: do the attributions say what the model does?

* :func:`deletion_curve` / :func:`insertion_curve`: remove (insert) the most important features
  first and follow the output; :class:`Curve` holds the curves and their AUC.
* :func:`infidelity` and :func:`max_sensitivity`: Yeh et al. (2019), with Captum's definitions
  (``captum.metrics.infidelity`` / ``sensitivity_max`` give the same values on the same
  perturbations).
* :func:`model_randomisation`: Adebayo et al.'s (2018) sanity check.
* :func:`region_share`: the share of each example's attribution mass inside a region (a
  planted patch or token: "is the model using the decoy?").
* :func:`plot_curves` / :func:`plot_randomisation`: matplotlib figures.

All of them are batched: every model call evaluates up to ``batch_size`` rows across examples.
"""

from __future__ import annotations

from pathattr.metrics.curves import (
    Curve,
    auc,
    deletion_curve,
    gaussian_blur,
    insertion_curve,
    make_replacement,
)
from pathattr.metrics.infidelity import infidelity
from pathattr.metrics.plots import plot_curves, plot_randomisation
from pathattr.metrics.randomisation import (
    RandomisationResult,
    model_randomisation,
    parameterised_layers,
    pearson,
    rankdata,
    spearman,
)
from pathattr.metrics.region import region_share
from pathattr.metrics.sensitivity import default_perturb_func, max_sensitivity

__all__ = [
    "Curve",
    "RandomisationResult",
    "auc",
    "default_perturb_func",
    "deletion_curve",
    "gaussian_blur",
    "infidelity",
    "insertion_curve",
    "make_replacement",
    "max_sensitivity",
    "model_randomisation",
    "parameterised_layers",
    "pearson",
    "plot_curves",
    "plot_randomisation",
    "rankdata",
    "region_share",
    "spearman",
]
