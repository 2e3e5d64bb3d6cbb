"""Felzenszwalb over-segmentation at several scales: the candidate regions of XRAI.

XRAI (Kapishnikov et al. 2019) ranks image regions, and its regions are the segments of
Felzenszwalb and Huttenlocher's graph segmentation at six scales, each segment grown by a
disk so that it covers the edges next to it.  The settings are those of the reference
implementation (PAIR ``saliency`` 0.2.1), so the same image gives the same regions:

1. the image (all channels together) is rescaled to [-1, 1] and resized to 224 x 224 with a
   cubic spline (the scale parameter's useful range depends on the value range and size);
2. :func:`skimage.segmentation.felzenszwalb` at scales 50, 100, 150, 250, 500 and 1200,
   ``sigma=0.8``, ``min_size=150``;
3. each label map is resized back to the image's size (nearest neighbour);
4. every segment becomes a boolean mask, dilated by ``skimage.morphology.disk(5)``.

The reference dilates each mask over the whole image; here each mask is dilated inside its
bounding box grown by the radius (no pixel outside it can be reached), which gives the same
masks in a fraction of the time on large images.  Segments that vanish when a label map is
resized back (small images) give no mask: an empty mask can never be chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

#: Felzenszwalb scales of the reference, finest first (the mask order breaks ties)
SCALES: tuple[float, ...] = (50, 100, 150, 250, 500, 1200)
SIGMA = 0.8
MIN_SIZE = 150
RESIZE: tuple[int, int] = (224, 224)
VALUE_RANGE: tuple[float, float] = (-1.0, 1.0)
DILATION_RADIUS = 5


def felzenszwalb_masks(
    image: np.ndarray,
    *,
    scales: Sequence[float] = SCALES,
    sigma: float = SIGMA,
    min_size: int = MIN_SIZE,
    resize: tuple[int, int] | None = RESIZE,
    dilation_radius: int = DILATION_RADIUS,
    workers: int = 1,
) -> np.ndarray:
    """The XRAI candidate regions of one image as a ``(M, H, W)`` boolean array.

    Args:
        image: ``(H, W, C)`` or ``(H, W)`` array (any value range: it is rescaled).
        scales, sigma, min_size: Felzenszwalb's parameters (one segmentation per scale).
        resize: the size the image is segmented at (None: its own size).
        dilation_radius: radius of the disk each mask is dilated by (0: none).
        workers: threads segmenting the scales in parallel (scikit-image's Felzenszwalb loop
            and NumPy's sort release the GIL).

    Returns:
        One mask per segment, ordered by scale and, within a scale, by label.
    """
    return felzenszwalb_masks_many(
        [image], scales=scales, sigma=sigma, min_size=min_size, resize=resize,
        dilation_radius=dilation_radius, workers=workers,
    )[0]  # fmt: skip


def felzenszwalb_masks_many(
    images: Sequence[np.ndarray],
    *,
    scales: Sequence[float] = SCALES,
    sigma: float = SIGMA,
    min_size: int = MIN_SIZE,
    resize: tuple[int, int] | None = RESIZE,
    dilation_radius: int = DILATION_RADIUS,
    workers: int = 1,
) -> list[np.ndarray]:
    """:func:`felzenszwalb_masks` of several images, every (image, scale) pair a thread's job."""
    try:
        from skimage.segmentation import felzenszwalb
        from skimage.transform import resize as sk_resize
    except ImportError as e:
        raise ImportError(
            "XRAI's regions need scikit-image, which is not installed; run: pip install "
            "'pathattr[vision]' (or pass segments= to pathattr.xrai)"
        ) from e
    prepared = [_rescaled(im, resize, sk_resize) for im in images]

    def one(job: tuple[int, float]) -> np.ndarray:
        i, scale = job
        scaled, shape = prepared[i]
        seg = felzenszwalb(scaled, scale=scale, sigma=sigma, min_size=min_size)
        if resize is not None:
            seg = sk_resize(seg, shape, order=0, preserve_range=True, mode="constant",
                            anti_aliasing=False).astype(int)  # fmt: skip
        return _dilated_label_masks(seg, dilation_radius)

    jobs = [(i, s) for i in range(len(images)) for s in scales]
    if workers > 1 and len(jobs) > 1:
        with ThreadPoolExecutor(min(workers, len(jobs))) as pool:
            parts = list(pool.map(one, jobs))
    else:
        parts = [one(j) for j in jobs]
    k = len(scales)
    return [
        np.concatenate(parts[i * k : (i + 1) * k])
        if k
        else np.zeros((0, *prepared[i][1]), dtype=bool)
        for i in range(len(images))
    ]


def _rescaled(image: np.ndarray, resize: tuple[int, int] | None, sk_resize: Any) -> Any:
    """The image in [-1, 1] at the segmentation size, and its own (H, W)."""
    im = np.asarray(image)
    if im.ndim == 2:
        im = im[:, :, None]
    if im.ndim != 3:
        raise ValueError(f"image: expected an (H, W) or (H, W, C) array, got shape {im.shape}")
    # NumPy scalars, not Python floats: the arithmetic then rounds exactly as the reference's
    lo, hi = im.min(), im.max()
    # the reference divides by max - min as is (a constant image gives NaN)
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = (im - lo) / (hi - lo) * (VALUE_RANGE[1] - VALUE_RANGE[0]) + VALUE_RANGE[0]
    if resize is not None:
        scaled = sk_resize(scaled, resize, order=3, mode="constant", preserve_range=True,
                           anti_aliasing=True)  # fmt: skip
    return scaled, im.shape[:2]


def _dilated_label_masks(labels: np.ndarray, radius: int) -> np.ndarray:
    """One dilated mask per label present in ``labels``, in label order."""
    from scipy.ndimage import find_objects
    from skimage.morphology import dilation, disk

    present, dense = np.unique(labels, return_inverse=True)
    dense = dense.reshape(labels.shape)
    out = np.zeros((present.size, *labels.shape), dtype=bool)
    h, w = labels.shape
    footprint = disk(radius) if radius else None
    for k, box in enumerate(find_objects(dense + 1)):
        if box is None:
            continue
        if footprint is None:
            out[k] = dense == k
            continue
        # a pixel of the dilated mask lies within `radius` of the mask, so inside its bounding
        # box grown by `radius`; outside the image the dilation sees nothing, as in the box
        ys = slice(max(box[0].start - radius, 0), min(box[0].stop + radius, h))
        xs = slice(max(box[1].start - radius, 0), min(box[1].stop + radius, w))
        out[k, ys, xs] = dilation(dense[ys, xs] == k, footprint=footprint)
    return out
