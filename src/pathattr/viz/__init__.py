"""pathattr.viz: pictures of attributions.

:func:`heatmap` turns image attributions into an RGB array (IG authors' style: green for
positive, red for negative, mass-percentile clipping, optional overlay and outlines);
:func:`save_heatmap` writes a photo | attribution | overlay PNG; :func:`clean_up` is the
morphological clean-up applied before outlines.  :func:`pathattr.report` (in
:mod:`pathattr.viz.report`) writes one self-contained HTML page of results.  Text lives in
:mod:`pathattr.viz.text` (tokens coloured by attribution in HTML, a source × target heat map),
imported on use.
"""

from pathattr.viz.image import (
    POLARITIES,
    clean_up,
    grayscale,
    heatmap,
    linear_transform,
    mass_threshold,
    save_heatmap,
)

__all__ = [
    "POLARITIES",
    "clean_up",
    "grayscale",
    "heatmap",
    "linear_transform",
    "mass_threshold",
    "save_heatmap",
]
