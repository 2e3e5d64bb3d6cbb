"""XRAI (Kapishnikov, Bolukbasi, Viégas, Terry 2019): attributions of image regions.

XRAI turns a pixel attribution into a ranking of image regions:

1. pixel attributions: Integrated Gradients from a black and a white baseline (the image's
   minimum and maximum value), averaged; the maximum over colour channels scores each pixel.
   Any other pixel attribution can be passed as ``base_attribution``;
2. candidate regions: Felzenszwalb segments at six scales, dilated
   (:func:`pathattr.domains.segmentation.felzenszwalb_masks`);
3. greedy ranking: the region adding the highest mean attribution comes first
   (:mod:`pathattr.methods.xrai_ranking`).

The settings are those of the reference implementation (PAIR ``saliency`` 0.2.1,
``saliency.core.XRAI``): with ``rule="linspace"`` (its IG rule) the regions and the saliency
map equal the reference's to float32 rounding.  The default rule is Gauss-Legendre, pathattr's
IG default, far more accurate at the same 100 steps.

Speed: Integrated Gradients for every example and every baseline run in one batched engine
call (the reference runs one path at a time); the ranking scans each mask's pixels once (the
reference rescans every mask at every step).  The segmentation is the same scikit-image code
and costs the same, about 0.3 s per image (every image is segmented at 224 x 224).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from pathattr.domains.segmentation import SCALES
from pathattr.engine.pipeline import finish, prepare
from pathattr.engine.targets import TargetLike
from pathattr.engine.validate import TrainingModeWarning, as_baselines, check_int_arg
from pathattr.methods.integrated_gradients import integrated_gradients
from pathattr.methods.xrai_ranking import ALGORITHMS, rank_images
from pathattr.result import Attribution


def xrai(
    model: Callable[..., Any],
    inputs: torch.Tensor,
    *,
    baselines: Any = None,
    target: TargetLike = None,
    steps: int = 100,
    rule: str | None = None,
    algorithm: str = "full",
    area_threshold: float = 1.0,
    min_pixel_diff: int = 50,
    base_attribution: torch.Tensor | Attribution | None = None,
    segments: Sequence[Any] | None = None,
    forward_args: Any = (),
    batch_size: int | str | None = "auto",
    warn_tol: float | None = 0.05,
    progress: bool = False,
    workers: int | None = None,
) -> Attribution:
    """XRAI region attributions of a batch of images ``(N, C, H, W)``.

    Args:
        model: the network, called as ``model(inputs, *forward_args)``.
        inputs: a batch of images, ``(N, C, H, W)`` float.
        baselines: the Integrated Gradients baselines, whose attributions are averaged: None
            (the reference's black and white images, each example's minimum and maximum
            value), or a list of baselines, each a scalar or a tensor broadcastable to the
            inputs; a single scalar or tensor is one baseline.
        target: which output to explain, as in :func:`pathattr.integrated_gradients`.
        steps: Integrated Gradients nodes per path (100, the reference's default).
        rule: the quadrature rule (None: ``gausslegendre``; ``linspace`` is the reference's).
        algorithm: ``full`` (the greedy ranking, rescoring regions after each step) or
            ``fast`` (regions ranked once by their own mean attribution).
        area_threshold: ``full`` stops once this fraction of the image is ranked; the rest is
            one last region (1.0: rank everything).
        min_pixel_diff: a region must add at least this many new pixels.
        base_attribution: pixel attributions to rank regions by (a tensor shaped like the
            inputs, or an :class:`Attribution` of any method) instead of computing IG.
        segments: the candidate regions of every example instead of Felzenszwalb's: one
            ``(M, H, W)`` boolean array or tensor per example.
        forward_args, batch_size, progress: as in :func:`pathattr.integrated_gradients`.
        warn_tol: warn when the averaged IG's relative completeness error exceeds this.
        workers: threads segmenting and ranking the images (None: one per CPU, at most one
            per image and scale).  Felzenszwalb's loop, the sorts and the matrix products
            release the GIL; the results do not depend on it.

    Returns:
        An :class:`Attribution` whose ``attributions`` are the XRAI saliency map (each pixel
        valued at the mean attribution its region added), repeated over the channels so that
        it has the inputs' shape.  ``output``, ``baseline_output`` (the mean over baselines),
        ``delta`` and ``relative_delta`` describe the averaged IG, whose completeness the
        map inherits only for one-channel images.  ``extras``: ``map`` ``(N, H, W)`` (the
        reference's saliency map), ``ranks`` ``(N, H, W)`` (region rank of every pixel, 1 =
        most important: region r of example i is ``ranks[i] == r``), ``gains`` (one tensor
        of region values per example, in rank order), ``pixel_attributions`` ``(N, C, H, W)``
        (the averaged IG), ``ig_delta`` / ``ig_relative_delta`` ``(B, N)`` (per baseline).
    """
    x = _check_images(inputs)
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm: expected one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
    check_int_arg(min_pixel_diff, "min_pixel_diff")
    if (
        isinstance(area_threshold, bool)
        or not isinstance(area_threshold, (int, float))
        or not (0.0 <= float(area_threshold) <= 1.0)
    ):
        raise ValueError(f"area_threshold: expected a number in [0, 1], got {area_threshold!r}")
    p = prepare(
        model, x, target=target, forward_args=forward_args, batch_size=batch_size,
        warn_tol=warn_tol, progress=progress,
    )  # fmt: skip
    n = p.n
    masks = _check_segments(segments, x)
    threads = _check_workers(workers, n)
    extras: dict[str, Any] = {"algorithm": algorithm}
    if n == 0:
        res = p.empty_result("xrai", extras)
        res.extras.update(map=x.new_zeros(0, *x.shape[2:]), gains=[],
                          ranks=torch.zeros(0, *x.shape[2:], dtype=torch.long))  # fmt: skip
        return res
    if base_attribution is None:
        pixel, output, base_out, evals = _averaged_ig(
            model, x, baselines, target, steps, rule, forward_args, batch_size, progress, extras
        )
    else:
        pixel = _given(base_attribution, x)
    per_pixel = pixel.amax(1)  # the reference scores a pixel by its largest channel
    if not bool(torch.isfinite(per_pixel).all()):
        what = "base_attribution" if base_attribution is not None else "the IG attributions"
        raise ValueError(
            f"{what}: expected finite pixel attributions, got NaN or inf; regions cannot be "
            "ranked by them (is the model's output or gradient not finite somewhere?)"
        )
    images = x.detach().permute(0, 2, 3, 1).cpu().numpy()
    rankings = rank_images(
        images, per_pixel.cpu().numpy(), masks, algorithm, float(area_threshold), min_pixel_diff,
        threads,
    )  # fmt: skip
    maps = [r.saliency for r in rankings]
    ranks = [r.ranks for r in rankings]
    gains = [torch.from_numpy(r.gains) for r in rankings]
    saliency = torch.from_numpy(np.stack(maps)).to(dtype=x.dtype, device=x.device)
    extras.update(map=saliency, ranks=torch.from_numpy(np.stack(ranks)), gains=gains,
                  pixel_attributions=pixel)  # fmt: skip
    if base_attribution is None:
        res = finish(
            p, (pixel,), output, base_out, method="xrai", evaluations=evals, extras=extras,
            hint=f"raise steps (now {steps})",
        )  # fmt: skip
    else:
        res = _described(p, base_attribution, pixel, extras)
    res.attributions = saliency[:, None].expand_as(x).contiguous()
    return res


def _check_images(inputs: Any) -> torch.Tensor:
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(
            f"inputs: XRAI ranks regions of one image tensor (N, C, H, W), got "
            f"{type(inputs).__name__}"
        )
    if inputs.dim() != 4:
        raise ValueError(
            f"inputs: XRAI ranks image regions and needs a batch of images (N, C, H, W), got "
            f"shape {tuple(inputs.shape)}; add the missing dimensions (e.g. x.reshape(-1, 1, 8, "
            "8) for flattened 8x8 images, x.unsqueeze(1) for (N, H, W))"
        )
    if not inputs.dtype.is_floating_point:
        raise TypeError(f"inputs: expected a floating-point tensor, got {inputs.dtype}")
    return inputs


def _check_segments(segments: Any, x: torch.Tensor) -> list[np.ndarray] | None:
    if segments is None:
        return None
    if isinstance(segments, (torch.Tensor, np.ndarray)) or not isinstance(segments, Sequence):
        raise TypeError(
            "segments: expected a list with one (M, H, W) boolean mask stack per example, got "
            f"{type(segments).__name__}"
        )
    if len(segments) != x.shape[0]:
        raise ValueError(f"segments: expected one mask stack per example ({x.shape[0]}), got "
                         f"{len(segments)}")  # fmt: skip
    out = []
    for i, s in enumerate(segments):
        m = s.detach().cpu().numpy() if isinstance(s, torch.Tensor) else np.asarray(s)
        if m.ndim != 3 or m.shape[1:] != tuple(x.shape[2:]):
            raise ValueError(f"segments[{i}]: expected (M, {x.shape[2]}, {x.shape[3]}) masks, "
                             f"got shape {m.shape}")  # fmt: skip
        out.append(m.astype(bool, copy=False))
    return out


def _check_workers(workers: Any, n: int) -> int:
    if workers is None:
        return max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                          else os.cpu_count() or 1, n * len(SCALES)))  # fmt: skip
    return check_int_arg(workers, "workers")


def _baseline_list(baselines: Any, x: torch.Tensor) -> list[torch.Tensor]:
    """The IG baselines as full tensors: black and white by default."""
    if baselines is None:
        lo = x.detach().amin(dim=(1, 2, 3), keepdim=True)
        hi = x.detach().amax(dim=(1, 2, 3), keepdim=True)
        return [lo.expand_as(x), hi.expand_as(x)]
    many = isinstance(baselines, (list, tuple))
    items = list(baselines) if many else [baselines]
    if not items:
        raise ValueError("baselines: expected at least one baseline, got an empty list")
    return [
        as_baselines(b, (x,), f"baselines[{k}]" if many else "baselines")[0]
        for k, b in enumerate(items)
    ]


def _averaged_ig(
    model: Any, x: torch.Tensor, baselines: Any, target: Any, steps: int,
    rule: str | None, forward_args: Any, batch_size: Any, progress: bool, extras: dict,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """IG from every baseline for every example in one engine call, averaged over baselines."""
    bases = _baseline_list(baselines, x)
    k, n = len(bases), x.shape[0]
    fargs = forward_args if isinstance(forward_args, tuple) else (forward_args,)
    with warnings.catch_warnings():  # xrai's own prepare() has warned about training mode
        warnings.simplefilter("ignore", TrainingModeWarning)
        ig = integrated_gradients(
            model, x.repeat(k, 1, 1, 1), baselines=torch.cat(bases), target=_repeat(target, n, k),
            steps=steps, rule=rule, forward_args=tuple(_repeat_arg(a, n, k) for a in fargs),
            batch_size=batch_size, warn_tol=None, progress=progress,
        )  # fmt: skip
    per_base = ig.attributions
    assert isinstance(per_base, torch.Tensor)
    extras.update(
        steps=int(steps), rule=ig.extras["rule"], baselines=k,
        ig_delta=ig.delta.reshape(k, n), ig_relative_delta=ig.relative_delta.reshape(k, n),
    )  # fmt: skip
    pixel = per_base.detach().reshape(k, *x.shape).mean(0)
    output = ig.output.reshape(k, n)[0]
    base_out = ig.baseline_output.reshape(k, n).mean(0)
    return pixel, output, base_out, ig.evaluations.reshape(k, n).sum(0)


def _given(base: Any, x: torch.Tensor) -> torch.Tensor:
    """A user's pixel attributions (a tensor or an Attribution's), checked against the inputs."""
    attr = base.attributions if isinstance(base, Attribution) else base
    if not isinstance(attr, torch.Tensor) or attr.shape != x.shape:
        got = tuple(attr.shape) if isinstance(attr, torch.Tensor) else type(attr).__name__
        raise ValueError(
            f"base_attribution: expected a tensor (or an Attribution) of the inputs' shape "
            f"{tuple(x.shape)}, got {got}"
        )
    return attr.detach().to(device=x.device, dtype=x.dtype)


def _described(p: Any, base: Any, pixel: torch.Tensor, extras: dict) -> Attribution:
    """The result for given pixel attributions: their diagnostics when they come with them."""
    if isinstance(base, Attribution):
        return Attribution(
            attributions=pixel, output=base.output, baseline_output=base.baseline_output,
            delta=base.delta, relative_delta=base.relative_delta,
            evaluations=base.evaluations, method="xrai", extras=extras,
        )  # fmt: skip
    with p.running(), torch.no_grad():
        out = p.forward(p.inputs)
    nan = torch.full_like(out, math.nan)
    return Attribution(
        attributions=pixel, output=out, baseline_output=nan, delta=nan.clone(),
        relative_delta=nan.clone(), evaluations=torch.zeros(p.n, dtype=torch.long),
        method="xrai", extras=extras,
    )  # fmt: skip


def _repeat(target: Any, n: int, k: int) -> Any:
    """``target`` for the inputs repeated ``k`` times (baseline-major)."""
    if target is None or isinstance(target, (int, tuple)) or callable(target):
        return target
    if isinstance(target, list) and target and isinstance(target[0], tuple):
        return target * k
    t = torch.as_tensor(target)
    return t if t.numel() == 1 else t.reshape(-1).repeat(k)


def _repeat_arg(arg: Any, n: int, k: int) -> Any:
    if isinstance(arg, torch.Tensor) and arg.dim() > 0 and arg.shape[0] == n:
        return arg.repeat(k, *([1] * (arg.dim() - 1)))
    return arg
