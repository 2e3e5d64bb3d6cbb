"""Guided IG, Blur IG and IDGI: pathattr (batched) vs PAIR's ``saliency`` 0.2.1 (one example).

For every model the same N inputs, targets (the predicted class), baselines (zeros for Guided
IG; Blur IG has none) and step counts go to

* ``PAIR``: ``saliency.core.GuidedIG`` / ``BlurIG`` ``.GetMask`` once per example (the
  reference is a one-example NumPy loop), with a ``call_model_function`` that runs the torch
  model and returns its input gradients.  Blur IG also with ``batch_size=steps`` (PAIR's own
  batching of one example's steps; its default is 1);
* ``pathattr``: ``pathattr.guided_integrated_gradients`` / ``blur_integrated_gradients`` on the
  whole batch (``batch_size="auto"``), and the same with ``idgi=True``.  IDGI has no batched
  reference (its reference, ``idgi.py``, is the formula applied to one example's saved
  gradients), so its row gives its cost over the plain method and its residual.

Time per example is the median over ``repeats`` rounds (each round runs every variant, order
rotated) divided by N.  *vs PAIR*: ||A − A_PAIR|| / ||A_PAIR|| over the batch (float32 models:
PAIR blurs in float32 and differences two blurs 0.01 apart, and Guided IG's selection of the
smallest gradients can flip on float32 rounding; PAIR's own batched Blur IG row shows the size
of float32 noise alone).  *floor*: the same number of batched gradient calls of the bare model
(no path, no bookkeeping): what any batched implementation pays.  *max rel. delta*: worst
|Σφ − (F(x) − F(x'))| / |F(x) − F(x')|, with F(x') the blurred image's output for Blur IG.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/paths_vs_pair.py            # digits CNN + EfficientNet
    OMP_NUM_THREADS=1 python benchmarks/paths_vs_pair.py --quick    # digits CNN only, 1 round
    python benchmarks/paths_vs_pair.py --device cuda                 # the same on a GPU

Prints the table of ``benchmarks/results/paths_vs_pair.md`` (``--out FILE`` also writes it).
PAIR's ``GuidedIG`` needs the NumPy >= 2.4 ``quantile`` shim of ``tests/test_guided_blur_idgi.py``
(applied here too).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ig_vs_captum import DigitsCNN  # the same small CNN (benchmarks/ is the script's folder)
from torch import nn

import pathattr


def pair_modules() -> Any:
    import saliency.core as sc
    from saliency.core import guided_ig

    def quantile(a: Any, q: Any, interpolation: str = "linear", **kw: Any) -> Any:
        return np.quantile(a, q, method=interpolation, **kw)

    shim = types.SimpleNamespace(**{k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    shim.quantile = quantile
    guided_ig.np = shim  # NumPy 2.4 renamed quantile's interpolation= to method=
    return sc


def digits(n: int) -> tuple[nn.Module, torch.Tensor, str]:
    from sklearn.datasets import load_digits

    torch.manual_seed(0)
    model = DigitsCNN().eval()
    x = torch.tensor(load_digits().images[:n] / 16.0, dtype=torch.float32)[:, None]
    return model, x, "digits CNN, 1x8x8 (random weights, sklearn digits)"


def efficientnet(n: int) -> tuple[nn.Module, torch.Tensor, str]:
    from pathattr.domains import vision

    model = vision.load_efficientnet_lite0()
    x = torch.cat([vision.preprocess(vision.load_photo(p))[1] for p in vision.PHOTOS[:n]])
    return model, x, "EfficientNet-Lite0, 3x224x224 (ImageNet weights, bundled photos)"


def x_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def pair_call(model: nn.Module, sc: Any, channels_last: bool) -> Callable[..., dict[str, Any]]:
    def call(batch: Any, call_model_args: Any = None, expected_keys: Any = None) -> Any:
        t = torch.tensor(np.asarray(batch), dtype=torch.float32, device=x_device(model))
        t = t.permute(0, 3, 1, 2) if channels_last else t
        t = t.contiguous().requires_grad_(True)
        (g,) = torch.autograd.grad(model(t)[:, call_model_args["c"]].sum(), t)
        g = g.permute(0, 2, 3, 1) if channels_last else g
        return {sc.base.INPUT_OUTPUT_GRADIENTS: g.cpu().numpy()}

    return call


def variants(
    model: nn.Module, x: torch.Tensor, targets: torch.Tensor, gsteps: int, bsteps: int
) -> dict[str, tuple[str, Callable[[], Any]]]:
    sc = pair_modules()
    call = pair_call(model, sc, channels_last=False)
    call_hwc = pair_call(model, sc, channels_last=True)
    xn, hwc, t = x.cpu().numpy(), x.permute(0, 2, 3, 1).cpu().numpy(), targets.tolist()

    def pair_guided() -> Any:
        return np.stack([
            sc.GuidedIG().GetMask(xn[i], call, {"c": t[i]}, x_steps=gsteps)
            for i in range(len(t))
        ])  # fmt: skip

    def pair_blur(batch: int) -> Callable[[], Any]:
        def run() -> Any:
            masks = [
                sc.BlurIG().GetMask(hwc[i], call_hwc, {"c": t[i]}, steps=bsteps, batch_size=batch)
                for i in range(len(t))
            ]
            return np.stack(masks).transpose(0, 3, 1, 2)

        return run

    def ours(fn: Callable[..., Any], **kw: Any) -> Callable[[], Any]:
        return lambda: fn(model, x, target=targets, warn_tol=None, **kw)

    g, b = pathattr.guided_integrated_gradients, pathattr.blur_integrated_gradients
    rows = torch.arange(len(x), device=x.device)

    def floor(calls: int) -> Callable[[], Any]:
        def run() -> None:
            for _ in range(calls):
                xx = x.clone().requires_grad_(True)
                torch.autograd.grad(model(xx)[rows, targets].sum(), xx)

        return run

    return {
        "guided/floor": (f"floor: {gsteps} bare gradient calls of N rows", floor(gsteps)),
        "guided/PAIR": ("PAIR GuidedIG, one example at a time", pair_guided),
        "guided/ours": ("pathattr, batched", ours(g, steps=gsteps)),
        "guided/idgi": ("pathattr, batched, idgi=True", ours(g, steps=gsteps, idgi=True)),
        "blur/PAIR": ("PAIR BlurIG, one example at a time (batch_size=1)", pair_blur(1)),
        "blur/PAIRb": (
            f"PAIR BlurIG, one example, its steps batched (batch_size={bsteps})",
            pair_blur(bsteps),
        ),  # fmt: skip
        "blur/ours": ("pathattr, batched", ours(b, steps=bsteps)),
        "blur/idgi": ("pathattr, batched, idgi=True", ours(b, steps=bsteps, idgi=True)),
        "ig/ours": (
            "pathattr IG (Gauss-Legendre), batched",
            ours(pathattr.integrated_gradients, steps=gsteps),
        ),  # fmt: skip
        "ig/idgi": (
            "pathattr IG, batched, idgi=True (riemann_left)",
            ours(pathattr.integrated_gradients, steps=gsteps, idgi=True),
        ),  # fmt: skip
    }


def measure(model: nn.Module, x: torch.Tensor, gsteps: int, bsteps: int, repeats: int) -> list[Any]:
    with torch.no_grad():
        targets = model(x).argmax(1)
    runs = variants(model, x, targets, gsteps, bsteps)
    names = list(runs)
    times: dict[str, list[float]] = {k: [] for k in names}
    results: dict[str, Any] = {}
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            t0 = time.perf_counter()
            results[name] = runs[name][1]()
            sync(x.device)
            times[name].append(time.perf_counter() - t0)
    n = len(x)
    rows = []
    for name in names:
        family, kind = name.split("/")
        per = statistics.median(times[name]) / n
        ref_name = f"{family}/PAIR"
        ref_per = statistics.median(times[ref_name]) / n if ref_name in times else None
        res = results[name]
        if res is None:  # the floor
            rows.append(
                (runs[name][0], family, gsteps, per * 1e3, f"{ref_per / per:.1f}x", "-", "-")
            )
            continue
        attr = res if isinstance(res, np.ndarray) else res.attributions.detach().cpu().numpy()
        vs = "-"
        if ref_name in results and kind in ("ours", "PAIRb"):
            ref = results[ref_name]
            vs = f"{np.linalg.norm(attr - ref) / np.linalg.norm(ref):.1e}"
        delta = "-" if isinstance(res, np.ndarray) else f"{res.relative_delta.abs().max():.1e}"
        steps = gsteps if family in ("guided", "ig") else bsteps
        speed = f"{ref_per / per:.1f}x" if ref_per is not None else "-"
        rows.append((runs[name][0], family, steps, per * 1e3, speed, vs, delta))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--models", default="digits,efficientnet", help="comma-separated subset")
    ap.add_argument("--out", default=None, help="also write the table to this file")
    ap.add_argument("--effnet-steps", default="20,20",
                    help="Guided IG and Blur IG steps on EfficientNet-Lite0 (PAIR: 200,100)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    wanted = set(args.models.split(","))
    setups = [(digits, 16, 200, 100, 1 if args.quick else 3)] if "digits" in wanted else []
    if not args.quick and "efficientnet" in wanted:
        # equal steps on both sides; fewer than the defaults (200 / 100) so that the one-thread
        # CPU run stays in minutes: time per example scales with the steps on both sides
        g_steps, b_steps = (int(v) for v in args.effnet_steps.split(","))
        setups.append((efficientnet, 4, g_steps, b_steps, 2))
    lines = [
        "| model | N | method | implementation | steps | ms / example | speed-up vs PAIR "
        "| vs PAIR | max rel. delta |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for build, n, gsteps, bsteps, repeats in setups:
        model, x, label = build(n)
        model, x = model.to(args.device), x.to(args.device)
        for impl, family, steps, ms, speed, vs, delta in measure(model, x, gsteps, bsteps, repeats):
            lines.append(f"| {label} | {n} | {family} | {impl} | {steps} | {ms:.1f} | {speed} "
                         f"| {vs} | {delta} |")  # fmt: skip
            print(lines[-1], flush=True)
    head = (
        f"Machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s), device {args.device}."
    )
    print(head)
    if args.out:
        Path(args.out).write_text(head + "\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
