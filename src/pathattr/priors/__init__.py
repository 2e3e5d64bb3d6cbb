"""Attribution priors (Erion, Janizek, Sturmfels, Lundberg, Lee 2021).

Train with ``loss = task_loss + λ·Ω(Φ(θ, x))``, where Φ are differentiable attributions
(Expected Gradients by default) and Ω one of the penalties below:

- :func:`total_variation`: smoothness of std-normalized image attribution maps (pixel prior);
- :func:`graph`: φ̄ᵀ L φ̄, neighbours in a feature graph get similar mean |attribution|;
- :func:`sparsity` = −:func:`gini`: concentrate the mean |attribution| on few features;
- :func:`mask`: attributions of features declared irrelevant should vanish.

:class:`AttributionPrior` / :func:`prior_loss` compute the attributions with
``create_graph=True`` inside a training step; :mod:`pathattr.priors.lightning` (optional,
needs ``lightning``) wraps the same in a LightningModule.  See ``docs/priors.md``.
"""

from pathattr.priors.penalties import (
    gini,
    global_attribution,
    graph,
    laplacian,
    mask,
    sparsity,
    total_variation,
)
from pathattr.priors.training import (
    AttributionPrior,
    PriorBatchWarning,
    input_gradients,
    prior_loss,
)

__all__ = [
    "AttributionPrior",
    "PriorBatchWarning",
    "gini",
    "global_attribution",
    "graph",
    "input_gradients",
    "laplacian",
    "mask",
    "prior_loss",
    "sparsity",
    "total_variation",
]
