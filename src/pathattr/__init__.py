"""pathattr: Integrated Gradients, Expected Gradients and attribution priors for PyTorch."""

from pathattr.methods.integrated_gradients import integrated_gradients
from pathattr.result import Attribution, CompletenessWarning, ConvergenceWarning

__version__ = "0.1.0"

__all__ = [
    "Attribution",
    "CompletenessWarning",
    "ConvergenceWarning",
    "integrated_gradients",
]
