"""Image attribution heatmaps in the style of the IG authors' ``VisualizationLibrary``.

The recipe (Sundararajan et al., ``ankurtaly/Integrated-Gradients``):

1. keep one sign of the attributions (``polarity``) and sum them over colour channels,
2. scale linearly between two thresholds chosen by *attribution mass*: ``clip_above_percentile``
   = 99.9 means the brightest level is where the top 0.1% of the total mass begins, so a few
   extreme pixels cannot wash the map out; ``clip_below_percentile`` = 70 hides the weakest
   pixels that together hold 70% of the mass (0 hides nothing),
3. optionally clean the map up morphologically (a grey closing fills pin-holes, then a grey
   opening removes isolated specks, both 3 × 3) and keep only the outlines of the connected
   regions holding most mass (``outlines``; the clean-up is on by default with outlines),
4. paint positive mass green and negative mass red, and optionally overlay on the photo made
   grey and dimmed: ``0.7 * grey photo + 0.5 * heat``, so the heat stands out on any picture.

Only numpy is needed for the arrays; :func:`save_heatmap` uses matplotlib (Agg, no display),
``outlines=True`` uses scipy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

Polarity = Literal["positive", "negative", "both", "absolute"]
POLARITIES = ("positive", "negative", "both", "absolute")
GREEN = np.array([0.0, 1.0, 0.0])
RED = np.array([1.0, 0.0, 0.0])


def _to_hwc(attr: Any, name: str) -> np.ndarray:
    """Accept (H, W), (H, W, C), (C, H, W) or (1, C, H, W) arrays/tensors -> (H, W, C) float64."""
    if hasattr(attr, "detach"):
        attr = attr.detach().cpu().numpy()
    a = np.asarray(attr, dtype=np.float64)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise ValueError(
            f"{name}: expected an image-shaped array (H, W), (H, W, C), (C, H, W) or "
            f"(1, C, H, W), got shape {a.shape}"
        )
    # channels-first when the first axis is small and the last is not (PyTorch layout)
    if a.shape[0] in (1, 3, 4) and a.shape[2] not in (1, 3, 4):
        a = np.transpose(a, (1, 2, 0))
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: expected finite values, got NaN or inf")
    return a


def mass_threshold(values: np.ndarray, percentage: float) -> float:
    """The value above which the largest entries of |values| hold ``percentage``% of the mass.

    ``percentage=0`` returns the maximum |value|; ``percentage=100`` returns the minimum.
    """
    if not 0.0 <= percentage <= 100.0:
        raise ValueError(f"percentage: expected a number in [0, 100], got {percentage}")
    flat = np.sort(np.abs(values).ravel())[::-1]
    total = flat.sum()
    if flat.size == 0 or total <= 0:
        return 0.0
    if percentage <= 0:
        return float(flat[0])
    if percentage >= 100:
        return float(flat[-1])
    cum = np.cumsum(flat) / total * 100.0
    idx = int(np.searchsorted(cum, percentage, side="left"))
    return float(flat[min(idx, flat.size - 1)])


def linear_transform(
    values: np.ndarray,
    clip_above_percentile: float = 99.9,
    clip_below_percentile: float = 0.0,
    lower_end: float = 0.2,
) -> np.ndarray:
    """Map non-negative ``values`` to [0, 1] between mass thresholds (see the module docstring).

    Values holding the top ``100 - clip_above_percentile``% of the mass map to 1; those below the
    ``clip_below_percentile`` threshold map to 0; the rest map linearly onto [lower_end, 1].
    """
    for arg, v in (
        ("clip_above_percentile", clip_above_percentile),
        ("clip_below_percentile", clip_below_percentile),
    ):
        if not 0.0 <= v <= 100.0:
            raise ValueError(f"{arg}: expected a number in [0, 100], got {v}")
    if clip_below_percentile > clip_above_percentile:
        raise ValueError(
            "clip_below_percentile: expected at most clip_above_percentile "
            f"({clip_above_percentile}), got {clip_below_percentile}"
        )
    top = mass_threshold(values, 100.0 - clip_above_percentile)
    bottom = mass_threshold(values, 100.0 - clip_below_percentile) if clip_below_percentile else 0.0
    if top <= 0:
        return np.zeros_like(values)
    if top <= bottom:
        return (values >= top).astype(np.float64)
    out = (1.0 - lower_end) * (np.abs(values) - bottom) / (top - bottom) + lower_end
    out = np.where(np.abs(values) > bottom, out, 0.0)
    return np.clip(out, 0.0, 1.0)


def _ndimage() -> Any:
    try:
        from scipy import ndimage
    except ImportError as e:
        raise ImportError(
            "outlines and morphological clean-up need scipy: pip install scipy"
        ) from e
    return ndimage


def clean_up(level: np.ndarray, size: int = 3) -> np.ndarray:
    """Grey closing then grey opening of a (H, W) map with a ``size`` × ``size`` square.

    The closing fills pin-holes inside bright regions, the opening removes specks smaller than
    the square, so outlines trace regions rather than single noisy pixels.
    """
    ndimage = _ndimage()
    closed = ndimage.grey_closing(level, size=(size, size))
    out: np.ndarray = ndimage.grey_opening(closed, size=(size, size))
    return out


def _outline(mask_values: np.ndarray, component_percentage: float) -> np.ndarray:
    """Boundary pixels of the largest-mass connected regions holding ``component_percentage``%."""
    ndimage = _ndimage()
    mask = ndimage.binary_fill_holes(mask_values > 0)
    labels, n = ndimage.label(mask)
    if n == 0:
        return np.zeros(mask_values.shape, dtype=bool)
    masses = ndimage.sum(mask_values, labels, index=np.arange(1, n + 1))
    order = np.argsort(masses)[::-1]
    cum = np.cumsum(masses[order]) / max(float(masses.sum()), 1e-300) * 100.0
    keep = order[: int(np.searchsorted(cum, component_percentage)) + 1] + 1
    region = np.isin(labels, keep)
    # lines 3 px wide on a 224 px photo, 2 px at 150 px, 1 px on small images
    width = max(1, round(min(mask_values.shape) / 75))
    return region & ~ndimage.binary_erosion(region, iterations=width)


def grayscale(image: Any) -> np.ndarray:
    """A (H, W, 3) float image in [0, 1] made grey (channel mean), still 3 channels."""
    img = _to_hwc(image, "image")
    if img.max() > 1.0 + 1e-6:  # uint8-style 0..255 input
        img = img / 255.0
    g = img[:, :, :3].mean(axis=2, keepdims=True)
    return np.repeat(g, 3, axis=2)


def heatmap(
    attr: Any,
    image: Any = None,
    *,
    polarity: Polarity = "positive",
    clip_above_percentile: float = 99.9,
    clip_below_percentile: float = 0.0,
    outlines: bool = False,
    outlines_component_percentage: float = 90.0,
    overlay: bool = True,
    morphological_cleanup: bool | None = None,
) -> np.ndarray:
    """An RGB heatmap of image attributions, ``(H, W, 3)`` float in [0, 1].

    Args:
        attr: attributions of one image: (H, W), (H, W, C), (C, H, W) or (1, C, H, W).
        image: the photo (same H, W; floats in [0, 1] or 0..255); with ``overlay`` the heat is
            drawn on its grey, dimmed version as ``clip(0.7 * grey photo + 0.5 * heat, 0, 1)``.
        polarity: ``positive`` (green: pixels raising the output), ``negative`` (red: pixels
            lowering it), ``both`` (green and red together) or ``absolute`` (green, |attr|).
        clip_above_percentile: mass percentile mapped to full brightness (99.9: the top 0.1% of
            the mass saturates).
        clip_below_percentile: mass percentile below which pixels are hidden (0: none hidden).
        outlines: draw only the outlines of the regions holding
            ``outlines_component_percentage``% of the mass.
        overlay: draw on the photo (ignored when ``image`` is None).
        morphological_cleanup: close then open the clipped map (3 × 3) before outlining;
            None (default) cleans up exactly when ``outlines`` is on.
    """
    if polarity not in POLARITIES:
        raise ValueError(f"polarity: expected one of {', '.join(POLARITIES)}, got {polarity!r}")
    a = _to_hwc(attr, "attr")
    if polarity == "both":
        kw: dict[str, Any] = dict(
            clip_above_percentile=clip_above_percentile,
            clip_below_percentile=clip_below_percentile,
            outlines=outlines,
            outlines_component_percentage=outlines_component_percentage,
            overlay=False,
            morphological_cleanup=morphological_cleanup,
        )
        heat = heatmap(a, polarity="positive", **kw) + heatmap(a, polarity="negative", **kw)
    else:
        if polarity == "positive":
            per_pixel = np.clip(a, 0.0, None).sum(axis=2)
        elif polarity == "negative":
            per_pixel = np.clip(-a, 0.0, None).sum(axis=2)
        else:
            per_pixel = np.abs(a).sum(axis=2)
        colour = RED if polarity == "negative" else GREEN
        level = linear_transform(per_pixel, clip_above_percentile, clip_below_percentile)
        cleanup = outlines if morphological_cleanup is None else morphological_cleanup
        if cleanup:
            level = clean_up(level)
        if outlines:
            level = _outline(level, outlines_component_percentage).astype(np.float64)
        heat = level[:, :, None] * colour
    if overlay and image is not None:
        grey = grayscale(image)
        if grey.shape[:2] != heat.shape[:2]:
            raise ValueError(
                f"image: expected height and width {heat.shape[:2]} like attr, got {grey.shape[:2]}"
            )
        heat = 0.7 * grey + 0.5 * heat
    return np.clip(heat, 0.0, 1.0)


def save_heatmap(
    path: str | Path,
    attr: Any,
    image: Any,
    *,
    title: str | None = None,
    polarity: Polarity = "positive",
    clip_above_percentile: float = 99.9,
    clip_below_percentile: float = 0.0,
    dpi: int = 100,
) -> Path:
    """Write a side-by-side PNG: photo | attribution | overlay; returns the path.

    The middle panel shows the heat on black; the right panel overlays it on the grey photo.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img = _to_hwc(image, "image")
    if img.max() > 1.0 + 1e-6:
        img = img / 255.0
    kw: dict[str, Any] = dict(
        polarity=polarity,
        clip_above_percentile=clip_above_percentile,
        clip_below_percentile=clip_below_percentile,
    )
    panels = [
        ("photo", np.clip(img[:, :, :3], 0.0, 1.0)),
        (f"attribution ({polarity})", heatmap(attr, None, overlay=False, **kw)),
        ("overlay", heatmap(attr, img, overlay=True, **kw)),
    ]
    h, w = img.shape[:2]
    lines = title.count("\n") + 1 if title else 0
    top = 0.4 + (0.3 + 0.18 * (lines - 1) if title else 0.0)  # inches for the (multi-line) title
    fig, axes = plt.subplots(1, 3, figsize=(3 * w / dpi + 0.4, h / dpi + top))
    for ax, (name, arr) in zip(axes, panels):
        ax.imshow(arr, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(pad=0.3)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out
