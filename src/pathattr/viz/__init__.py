"""pathattr.viz: pictures of attributions.

:func:`heatmap` turns image attributions into an RGB array (IG authors' style: green for
positive, red for negative, mass-percentile clipping, optional overlay and outlines);
:func:`save_heatmap` writes a photo | attribution | overlay PNG.  Text lives in
:mod:`pathattr.viz.text` (tokens coloured by attribution in HTML, a source × target heat map),
imported on use.
"""

from pathattr.viz.image import (
    POLARITIES,
    grayscale,
    heatmap,
    linear_transform,
    mass_threshold,
    save_heatmap,
)

__all__ = [
    "POLARITIES",
    "grayscale",
    "heatmap",
    "linear_transform",
    "mass_threshold",
    "save_heatmap",
]
