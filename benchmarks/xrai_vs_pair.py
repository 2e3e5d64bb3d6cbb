"""XRAI: pathattr vs PAIR ``saliency`` 0.2.1 (the reference), time per example at equal steps.

Two cases, both with the reference's settings (black and white baselines, the ``full``
greedy ranking, Felzenszwalb at six scales) and the same IG rule (``rule="linspace"``, the
reference's), so both libraries compute the same numbers (checked: the region ranks must be
identical and the saliency maps equal to float32 rounding):

* a batch of 16 scikit-learn digits (1 x 8 x 8) through a small CNN trained in seconds;
* 4 photos through EfficientNet-Lite0 (3 x 224 x 224, from the vision extra's local wheel).

The reference explains one image per call; its IG evaluates ``batch_size`` path points per
model call (default 1; ``batch_size = steps`` is its fastest setting, both are timed).  pathattr
explains the whole batch in one call: IG for every image and baseline in one engine call, then
segmentation and ranking per image, on ``workers`` threads.  Both stages are also timed on
their own (the reference's private functions for its stages), so the table shows where the time
goes.  Each library runs on one torch thread; CPU and wall-clock times, medians over repeats
(on a shared machine the CPU time of single-threaded work is the steadier measure).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/xrai_vs_pair.py          # ~5-10 min on 2 busy cores
    OMP_NUM_THREADS=1 python benchmarks/xrai_vs_pair.py --quick  # smoke run

Writes ``benchmarks/results/xrai_vs_pair.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import pathattr
from pathattr.domains.segmentation import felzenszwalb_masks_many
from pathattr.methods.xrai_ranking import rank_images

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))


def pair_call(
    model: nn.Module, cls: int, dtype: torch.dtype = torch.float32
) -> Callable[..., dict[str, np.ndarray]]:
    """The reference's call_model_function: HWC batches in, input gradients of ``cls`` out."""
    from saliency.core.base import INPUT_OUTPUT_GRADIENTS

    def call(batch: Any, call_model_args: Any = None, expected_keys: Any = None) -> dict:
        xt = torch.tensor(np.asarray(batch), dtype=dtype).permute(0, 3, 1, 2)
        xt.requires_grad_(True)
        (g,) = torch.autograd.grad(model(xt)[:, cls].sum(), xt)
        return {INPUT_OUTPUT_GRADIENTS: g.permute(0, 2, 3, 1).numpy()}

    return call


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median CPU seconds of this process (all its threads) and the last result."""
    return timed_both(fn, repeats)[1:]


def timed_both(fn: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """Median wall-clock and CPU seconds (all threads of this process), and the last result.

    On a shared machine the wall clock includes waiting for a core; the CPU time of
    single-threaded work does not, so it is the steadier measure of work done.
    """
    walls, cpus, out = [], [], None
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus), out


def reference_runs(
    model: nn.Module, x: torch.Tensor, targets: list[int], steps: int, batch_size: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The reference's saliency maps and region ranks, one image per call."""
    from saliency.core import XRAI, XRAIParameters

    maps, ranks = [], []
    for i, t in enumerate(targets):
        params = XRAIParameters(steps=steps, return_xrai_segments=True)
        out = XRAI().GetMaskWithDetails(
            x[i].permute(1, 2, 0).numpy(), pair_call(model, t, x.dtype), batch_size=batch_size,
            extra_parameters=params,
        )  # fmt: skip
        maps.append(out.attribution_mask)
        ranks.append(out.segments)
    return maps, ranks


def reference_stages(
    model: nn.Module, x: torch.Tensor, targets: list[int], steps: int, batch_size: int,
    repeats: int,
) -> dict[str, float]:  # fmt: skip
    """Seconds per example of the reference's IG, segmentation and ranking, each on its own."""
    from saliency.core import xrai as ref

    imgs = [x[i].permute(1, 2, 0).numpy() for i in range(x.shape[0])]

    def ig() -> list[np.ndarray]:
        x_ = ref.XRAI()
        return [
            np.mean(x_._get_integrated_gradients(im, pair_call(model, t), None,
                    x_._make_baselines(im, None), steps, batch_size), 0).max(-1)
            for im, t in zip(imgs, targets)
        ]  # fmt: skip

    t_ig, attrs = timed(ig, repeats)
    t_seg, masks = timed(lambda: [ref._get_segments_felzenszwalb(im) for im in imgs], repeats)
    t_rank, _ = timed(lambda: [ref.XRAI._xrai(a, m) for a, m in zip(attrs, masks)], repeats)
    n = x.shape[0]
    return {"IG": t_ig / n, "segmentation": t_seg / n, "ranking": t_rank / n}


def ours_stages(
    model: nn.Module, x: torch.Tensor, targets: list[int], steps: int, workers: int,
    repeats: int,
) -> dict[str, float]:  # fmt: skip
    """Seconds per example of pathattr's IG, segmentation and ranking, each on its own."""
    imgs = x.permute(0, 2, 3, 1).numpy()
    lo = x.amin((1, 2, 3), keepdim=True).expand_as(x)
    hi = x.amax((1, 2, 3), keepdim=True).expand_as(x)

    def ig() -> np.ndarray:
        r = pathattr.integrated_gradients(
            model, x.repeat(2, 1, 1, 1), baselines=torch.cat([lo, hi]), target=targets * 2,
            steps=steps, rule="linspace", warn_tol=None,
        )  # fmt: skip
        assert isinstance(r.attributions, torch.Tensor)
        return r.attributions.reshape(2, *x.shape).mean(0).amax(1).numpy()

    t_ig, scores = timed(ig, repeats)
    t_seg, masks = timed(lambda: felzenszwalb_masks_many(list(imgs), workers=workers), repeats)
    t_rank, _ = timed(lambda: rank_images(imgs, scores, masks, "full", 1.0, 50, workers), repeats)
    n = x.shape[0]
    return {"IG": t_ig / n, "segmentation": t_seg / n, "ranking": t_rank / n}


def compare(
    name: str, model: nn.Module, x: torch.Tensor, steps: int, repeats: int, lines: list[str]
) -> None:
    with torch.no_grad():
        targets = model(x).argmax(1).tolist()
    n = x.shape[0]
    cpus = len(os.sched_getaffinity(0))
    print(f"{name}: {n} images, steps={steps}", flush=True)
    rows: list[tuple[str, dict[str, float], float, float]] = []
    ref_maps: list[np.ndarray] = []
    ref_ranks: list[np.ndarray] = []
    for bs in (1, steps):
        wall, cpu, (ref_maps, ref_ranks) = timed_both(
            lambda bs=bs: reference_runs(model, x, targets, steps, bs), repeats
        )
        stages = reference_stages(model, x, targets, steps, bs, repeats)
        rows.append((f"PAIR saliency, batch_size={bs}", stages, cpu / n, wall / n))
        print(rows[-1], flush=True)
    for w in sorted({1, cpus}):
        wall, cpu, res = timed_both(
            lambda w=w: pathattr.xrai(
                model, x, target=targets, steps=steps, rule="linspace", workers=w
            ),  # fmt: skip
            repeats,
        )
        stages = ours_stages(model, x, targets, steps, w, repeats)
        rows.append((f"pathattr.xrai, workers={w}", stages, cpu / n, wall / n))
        print(rows[-1], flush=True)
    same, err = agreement(res, ref_maps, ref_ranks)
    differ = [i for i in range(n) if not np.array_equal(res.extras["ranks"][i], ref_ranks[i])]
    base_cpu, base_wall = rows[0][2], rows[0][3]
    lines += [
        f"## {name}",
        "",
        f"{n} images, steps = {steps} per baseline (2 baselines), targets = the predicted "
        f"classes. Same results: region ranks identical for {same} of {n} images, saliency "
        f"maps within {err:.1e} of the largest value (relative).",
        "",
        *float64_check(model, x, targets, steps, differ),
        "CPU seconds per example (all threads of the process), stage by stage and in total; "
        "wall-clock seconds per example in total; speed-ups against the reference's default "
        "(one example per call, `batch_size=1`).",
        "",
        "| library | IG (CPU) | segmentation (CPU) | ranking (CPU) | total CPU | speed-up "
        "(CPU) | total wall | speed-up (wall) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, st, cpu, wall in rows:
        lines.append(
            f"| {label} | {st['IG']:.4f} | {st['segmentation']:.4f} | {st['ranking']:.4f} | "
            f"{cpu:.4f} | {base_cpu / cpu:.2f}x | {wall:.4f} | {base_wall / wall:.2f}x |"
        )
    lines.append("")


def agreement(
    res: Any, ref_maps: list[np.ndarray], ref_ranks: list[np.ndarray]
) -> tuple[int, float]:
    """Images with identical region ranks, and the largest relative gap between the maps."""
    n = len(ref_maps)
    same = sum(np.array_equal(res.extras["ranks"][i].numpy(), ref_ranks[i]) for i in range(n))
    err = max(
        float(np.abs(res.extras["map"][i].numpy() - ref_maps[i]).max() / np.abs(ref_maps[i]).max())
        for i in range(n)
    )
    return same, err


def float64_check(
    model: nn.Module, x: torch.Tensor, targets: list[int], steps: int, differ: list[int]
) -> list[str]:
    """Rerun the images whose ranks differ with the model and the inputs in float64.

    The reference builds its path points in float64 (NumPy 2 keeps ``np.linspace``'s float64
    α) and the model sees them rounded to float32; pathattr builds them in float32.  The two
    differ by ~1e-7, which is enough to flip ReLU6 units of a deep network at a few path
    points and change some pixels' IG by ~1% of the largest: regions whose gains are that close
    swap ranks.  In float64 both build the same points.
    """
    if not differ:
        return []
    m64, x64 = model.double(), x[differ].double()
    t = [targets[i] for i in differ]
    maps, ranks = reference_runs(m64, x64, t, steps, steps)
    res = pathattr.xrai(m64, x64, target=t, steps=steps, rule="linspace", warn_tol=None)
    model.float()
    same, err = agreement(res, maps, ranks)
    return [
        f"The {len(differ)} images with different ranks, rerun with the model and the inputs in "
        f"float64 (the reference's path points are float64, rounded to float32 for the model; "
        f"pathattr's are float32: ~1e-7 apart, enough to flip ReLU6 units of a deep network "
        f"at a few path points and move near-tied regions): ranks identical for {same} of "
        f"{len(differ)}, maps within {err:.1e}.",
        "",
    ]


def digits_case() -> tuple[nn.Module, torch.Tensor]:
    from expected_gradients import CNN, digits, train

    xtr, ytr, xte, _ = digits()
    cnn = train(CNN(), xtr, ytr, epochs=15)
    model = nn.Sequential(nn.Flatten(), cnn).eval()
    return model, xte[:16].reshape(16, 1, 8, 8)


def effnet_case(count: int) -> tuple[nn.Module, torch.Tensor]:
    from pathattr.domains.vision import load_efficientnet_lite0, load_photo, preprocess

    photos = ("coffee", "chelsea", "rocket", "astronaut")[:count]
    return load_efficientnet_lite0(), torch.cat([preprocess(load_photo(p))[1] for p in photos])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--effnet-steps", type=int, default=16)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/xrai_vs_pair.md"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    lines = [
        "# XRAI: pathattr vs PAIR saliency 0.2.1",
        "",
        f"Command: `OMP_NUM_THREADS=1 python benchmarks/xrai_vs_pair.py"
        f"{' --quick' if args.quick else ''}`",
        "",
        f"Machine: {platform.machine()}, 1 torch thread, {len(os.sched_getaffinity(0))} CPU "
        f"cores shared with other jobs (times are noisy; compare within a table only), torch "
        f"{torch.__version__}, Python {platform.python_version()}. Medians over repeats; the "
        "stage columns time each stage on its own.",
        "",
    ]
    model, x = digits_case()
    compare("Digits CNN (1 x 8 x 8)", model, x[:4] if args.quick else x, 100,
            1 if args.quick else 3, lines)  # fmt: skip
    model, x = effnet_case(1 if args.quick else 4)
    compare("EfficientNet-Lite0 (3 x 224 x 224)", model, x, args.effnet_steps, 1, lines)
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
