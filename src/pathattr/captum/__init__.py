"""Captum-compatible classes computed by pathattr: switch with one import.

    # from captum.attr import IntegratedGradients, NoiseTunnel
    from pathattr.captum import IntegratedGradients, NoiseTunnel

Each class takes Captum's constructor and ``attribute`` arguments, has Captum's public members
(``attribute``, ``attribute_future``, ``compute_convergence_delta``, ``has_convergence_delta``,
``multiplies_by_inputs``, ``get_name``, ``forward_func``) and returns Captum's numbers; the
differences are listed in each class's docstring and in ``docs/captum.md``.  Captum itself is
not needed.
"""

from pathattr.captum._common import Attribution
from pathattr.captum.deep_lift import DeepLift
from pathattr.captum.gradient_shap import GradientShap
from pathattr.captum.gradients import Deconvolution, GuidedBackprop, InputXGradient, Saliency
from pathattr.captum.integrated_gradients import IntegratedGradients
from pathattr.captum.layer_integrated_gradients import LayerIntegratedGradients
from pathattr.captum.noise_tunnel import NoiseTunnel

__all__ = [
    "Attribution",
    "Deconvolution",
    "DeepLift",
    "GradientShap",
    "GuidedBackprop",
    "InputXGradient",
    "IntegratedGradients",
    "LayerIntegratedGradients",
    "NoiseTunnel",
    "Saliency",
]
