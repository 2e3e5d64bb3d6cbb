"""Reference distributions for Expected Gradients and how samples are drawn from them.

* :mod:`pathattr.baselines.sources`: tensors, datasets/loaders, callable samplers, ``"batch"``;
* :mod:`pathattr.baselines.sampling`: random, stratified (Latin hypercube) and Sobol draws of
  (α, reference) pairs.
"""

from pathattr.baselines.sampling import SAMPLING_MODES, draw_uniforms, reference_indices
from pathattr.baselines.sources import (
    BATCH,
    DatasetReferences,
    SamplerReferences,
    TensorReferences,
    as_reference_source,
)

__all__ = [
    "BATCH",
    "SAMPLING_MODES",
    "DatasetReferences",
    "SamplerReferences",
    "TensorReferences",
    "as_reference_source",
    "draw_uniforms",
    "reference_indices",
]
