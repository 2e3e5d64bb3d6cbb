"""XRAI's region ranking: grow the explanation region by region, densest attribution first.

Given a pixel attribution map ``a`` (H, W) and candidate regions (boolean masks), XRAI
(Kapishnikov et al. 2019) builds the explanation greedily.  With ``S`` the pixels chosen so far,
the *gain* of a region ``R`` is the mean attribution of the pixels it would add,
``mean(a[R \\ S])``:

* ``full``: at every step take the region of highest gain among those adding at least
  ``min_pixel_diff`` new pixels (the others are dropped for good), until the chosen area exceeds
  ``area_threshold`` of the image or no region is left;
* ``fast``: rank the regions once by their own gain, then add them in that order, skipping
  those that add fewer than ``min_pixel_diff`` new pixels.

Each added part ``R \\ S`` gets its gain as its value in the saliency map; pixels no region
reached form one last region valued at their mean attribution, so the map sums to ``Σ a``.
The parts are ranked by gain (ties keep the order they were added in) and the last region
comes last.  These are the rules of the reference implementation (PAIR ``saliency`` 0.2.1).

The reference rescans every remaining mask at every step (mask × pixel work per step); here
the new pixels' counts and attribution sums are subtracted from every mask's running totals,
so the whole ``full`` ranking costs one pass over the masks' pixels.  Sums are kept in float64:
the gains agree with the reference's float32 means to float32 rounding.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from pathattr.domains.segmentation import felzenszwalb_masks_many

ALGORITHMS = ("full", "fast")


@dataclass
class Ranking:
    """The regions of one image, most important first.

    Attributes:
        saliency: ``(H, W)`` float64, every pixel valued at the gain of its region.
        ranks: ``(H, W)`` int64, the rank of every pixel's region (1 = most important).
        gains: ``(R,)`` float64, the gain of each ranked region.
    """

    saliency: np.ndarray
    ranks: np.ndarray
    gains: np.ndarray


def rank_regions(
    attr: np.ndarray,
    masks: np.ndarray,
    *,
    algorithm: str = "full",
    area_threshold: float = 1.0,
    min_pixel_diff: int = 50,
) -> Ranking:
    """XRAI's ranking of ``masks`` ``(M, H, W)`` (bool) by the attributions ``attr`` ``(H, W)``."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm: expected one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
    shape = attr.shape
    a = np.asarray(attr, dtype=np.float64).reshape(-1)
    flat = np.asarray(masks, dtype=bool).reshape(masks.shape[0], -1)
    counts = flat.sum(1)
    sums = _mask_sums(flat, a)
    if algorithm == "full":
        parts = _full(a, flat, counts, sums, area_threshold, min_pixel_diff)
    else:
        parts = _fast(a, flat, counts, sums, min_pixel_diff)
    saliency = np.full(a.shape, -np.inf)
    for idx, gain in parts:
        saliency[idx] = gain
    order = sorted(range(len(parts)), key=lambda i: -parts[i][1])  # stable, as the reference's
    ranked = [parts[i] for i in order]
    rest = np.flatnonzero(saliency == -np.inf)
    if rest.size:
        gain = float(a[rest].mean())
        saliency[rest] = gain
        ranked.append((rest, gain))
    ranks = np.zeros(a.shape, dtype=np.int64)
    for r, (idx, _) in enumerate(ranked):
        ranks[idx] = r + 1
    gains = np.array([g for _, g in ranked], dtype=np.float64)
    return Ranking(saliency.reshape(shape), ranks.reshape(shape), gains)


def _mask_sums(flat: np.ndarray, a: np.ndarray, chunk: int = 64) -> np.ndarray:
    """Σ a over every mask, in float64 (chunked: a float copy of all masks can be large)."""
    out = np.empty(flat.shape[0], dtype=np.float64)
    for s in range(0, flat.shape[0], chunk):
        out[s : s + chunk] = flat[s : s + chunk].astype(np.float64) @ a
    return out


def _full(
    a: np.ndarray,
    flat: np.ndarray,
    counts: np.ndarray,
    sums: np.ndarray,
    area_threshold: float,
    min_pixel_diff: int,
) -> list[tuple[np.ndarray, float]]:
    """Greedy steps of the ``full`` algorithm: (new pixels, gain) per added region."""
    current = np.zeros(a.shape, dtype=bool)
    alive = np.ones(flat.shape[0], dtype=bool)
    parts: list[tuple[np.ndarray, float]] = []
    area = 0.0
    while area <= area_threshold:
        alive &= counts >= min_pixel_diff  # what adds too little now never adds more later
        live = np.flatnonzero(alive)
        if live.size == 0:
            break
        gains = sums[live] / counts[live]
        best = int(live[np.argmax(gains)])  # the first of equal gains, as the reference
        new = np.flatnonzero(flat[best] & ~current)
        parts.append((new, float(gains.max())))
        current[new] = True
        area = float(np.mean(current))
        alive[best] = False
        # only the new pixels change the other masks' counts and sums
        touched = flat[np.ix_(live, new)]
        counts[live] -= touched.sum(1)
        sums[live] -= touched.astype(np.float64) @ a[new]
    return parts


def _fast(
    a: np.ndarray,
    flat: np.ndarray,
    counts: np.ndarray,
    sums: np.ndarray,
    min_pixel_diff: int,
) -> list[tuple[np.ndarray, float]]:
    """The ``fast`` algorithm: masks in the order of their own gain, overlaps skipped."""
    with np.errstate(invalid="ignore", divide="ignore"):
        own = np.where(counts > 0, sums / np.maximum(counts, 1), -np.inf)
    current = np.zeros(a.shape, dtype=bool)
    parts: list[tuple[np.ndarray, float]] = []
    for m in np.argsort(-own, kind="stable"):
        new = np.flatnonzero(flat[m] & ~current)
        if new.size < min_pixel_diff:
            continue
        parts.append((new, float(a[new].mean())))
        current[new] = True
    return parts


def rank_images(
    images: np.ndarray, scores: np.ndarray, masks: list[np.ndarray] | None, algorithm: str,
    area_threshold: float, min_pixel_diff: int, workers: int,
) -> list[Ranking]:  # fmt: skip
    """Segment (unless ``masks`` are given) and rank every image, ``workers`` images at a time.

    ``images`` ``(N, H, W, C)`` are segmented by
    :func:`~pathattr.domains.segmentation.felzenszwalb_masks_many`, ``scores`` ``(N, H, W)``
    rank the regions; only ``workers`` images' masks are held at once.
    """
    out: list[Ranking] = []
    step = max(workers, 1)
    for s in range(0, images.shape[0], step):
        idx = range(s, min(s + step, images.shape[0]))
        cands = (
            [masks[i] for i in idx]
            if masks is not None
            else felzenszwalb_masks_many([images[i] for i in idx], workers=workers)
        )

        def rank(j: int, cands: list[np.ndarray] = cands, s: int = s) -> Ranking:
            return rank_regions(
                scores[s + j], cands[j], algorithm=algorithm, area_threshold=area_threshold,
                min_pixel_diff=min_pixel_diff,
            )  # fmt: skip

        if workers > 1 and len(idx) > 1:
            with ThreadPoolExecutor(min(workers, len(idx))) as pool:
                out.extend(pool.map(rank, range(len(idx))))
        else:
            out.extend(rank(j) for j in range(len(idx)))
    return out
