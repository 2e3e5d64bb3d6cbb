"""Integrated Gradients: pathattr vs Captum vs the ideal, on the same models, inputs, rule, steps.

For every model the same N inputs, baselines, targets, rule (Gauss-Legendre) and steps go to

* ``ideal``: one plain forward + backward over the same N x steps interpolated rows, built
  before the timer starts (the floor any IG implementation pays for its gradients);
* ``captum``: ``IntegratedGradients(model).attribute(..., return_convergence_delta=True)``;
* ``pathattr``: ``pathattr.integrated_gradients(...)`` (the delta is always computed);
* ``pathattr chunked`` (large models): the same with ``batch_size`` rows per model call.

Each (model, variant) runs in its own spawned child process, so the peak resident memory
(``VmHWM``, reset after the set-up) belongs to that run alone; the child's resident memory
after building the model and inputs is subtracted.  Wall time is the median of ``repeats``
runs after warm-ups.  For the small models the wall times come from one more process that
times every variant interleaved (round r runs all of them, order rotated by r), and the ratio
is the median over rounds of time / ideal time *of the same round*: on a shared virtual
machine whose speed drifts, variants timed one after another in separate processes saw
different machines (the same code read 1.0x-1.6x the ideal from run to run).
``--device cuda`` runs the same on a GPU (peak = allocator peak).  Gradient rows: rows
evaluated with a backward pass; both libraries also evaluate F(x) and F(x') for the
completeness delta (Captum in a separate forward of 2N rows; pathattr, with Gauss-Legendre,
as 2N zero-weight rows in the same model call when they fit it).

Usage::

    OMP_NUM_THREADS=2 python benchmarks/ig_vs_captum.py            # full (~5-8 min on 2 cores)
    OMP_NUM_THREADS=2 python benchmarks/ig_vs_captum.py --quick    # smoke run (~1 min)

Writes ``benchmarks/results/ig_vs_captum.md`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn


# ---------------------------------------------------------------------------------------------
# models (built deterministically from a seed, so every child process builds the same one)
class MLP(nn.Module):
    """A small tabular MLP: 64 -> 128 -> 128 -> 10 (digits-sized input)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DigitsCNN(nn.Module):
    """A small CNN on 1 x 8 x 8 (sklearn digits-sized) images."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )  # fmt: skip
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class MultiInput(nn.Module):
    """Two inputs: a 1 x 8 x 8 image and 16 tabular features, fused before the head."""

    def __init__(self) -> None:
        super().__init__()
        self.img = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 32)
        )
        self.tab = nn.Sequential(nn.Linear(16, 32), nn.Tanh())
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(64, 5))

    def forward(self, image: torch.Tensor, tab: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.img(image), self.tab(tab)], dim=1))


class BasicBlock(nn.Module):
    """ResNet basic block (two 3x3 convs, batch norm, identity or 1x1 projection shortcut)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.short(x))


class ResNet18(nn.Module):
    """ResNet-18 layout (torchvision's, built here without torchvision), 1000 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(3, 2, 1),
        )
        layers: list[nn.Module] = []
        cin = 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(
            torch.flatten(nn.functional.adaptive_avg_pool2d(self.layers(self.stem(x)), 1), 1)
        )


@dataclass
class Spec:
    """One benchmark case."""

    name: str
    n: int
    steps: int
    repeats: int
    chunk: int | None  # batch_size for the chunked pathattr run (None: no chunked run)
    warmups: int = 3
    threads: int = 1
    device: str = "cpu"
    interleave: bool = False  # time all variants interleaved in one process (small models)


def build(
    name: str, n: int, size: int
) -> tuple[nn.Module, tuple[torch.Tensor, ...], tuple[torch.Tensor, ...], torch.Tensor, str]:
    """Model (eval), inputs, baselines, targets and a description; deterministic."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    if name == "mlp":
        m: nn.Module = MLP()
        xs: tuple[torch.Tensor, ...] = (torch.rand(n, 64, generator=g),)
        desc = "MLP 64-128-128-10"
    elif name == "cnn":
        m = DigitsCNN()
        xs = (torch.rand(n, 1, 8, 8, generator=g),)
        desc = "CNN, 1x8x8 input"
    elif name == "multi":
        m = MultiInput()
        xs = (torch.rand(n, 1, 8, 8, generator=g), torch.randn(n, 16, generator=g))
        desc = "2 inputs: 1x8x8 + 16"
    elif name == "resnet18":
        m = ResNet18()
        xs = (torch.randn(n, 3, size, size, generator=g),)
        desc = f"ResNet-18 layout, 3x{size}x{size}"
    elif name == "effnet":
        from pathattr.domains import vision

        m = vision.load_efficientnet_lite0()
        photos = ["chelsea", "coffee", "rocket", "flower", "china", "astronaut"]
        xs = (torch.cat([vision.preprocess(vision.load_photo(p))[1] for p in photos[:n]]),)
        desc = "EfficientNet-Lite0, 3x224x224 photos"
    else:
        raise ValueError(f"model: unknown {name!r}")
    m.eval()
    # per-example baselines (random, fixed) and per-example targets
    bs = tuple(0.1 * torch.randn(x.shape, generator=g) for x in xs)
    if name == "effnet":
        from pathattr.domains.vision import black_baseline

        bs = (black_baseline(xs[0]),)
    with torch.no_grad():
        out = m(*xs)
    targets = out.argmax(dim=1)
    return m, xs, bs, targets, desc


def _reset_peak() -> None:
    # Reset this process's RSS high-water mark (VmHWM) to its current RSS.  ru_maxrss cannot be
    # used: a spawned child inherits its parent's peak across fork + exec.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _rss_mb() -> float:
    """Peak resident memory (VmHWM) since the last ``_reset_peak``, in MiB."""
    with open("/proc/self/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
    return kb / 1024.0


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def make_runner(
    variant: str,
    m: nn.Module,
    xs: tuple[torch.Tensor, ...],
    bs: tuple[torch.Tensor, ...],
    targets: torch.Tensor,
    spec: dict[str, Any],
    dev: torch.device,
) -> Any:
    """The timed closure of one variant: returns (attributions, delta, gradient rows)."""
    from captum.attr import IntegratedGradients

    import pathattr
    from pathattr.quadrature import quadrature

    steps = spec["steps"]
    rule = quadrature("gausslegendre", steps)
    if variant == "ideal":
        alphas = torch.tensor(rule.alphas, dtype=torch.float32, device=dev)
        rows_t = torch.cat([targets.repeat_interleave(steps)])
        points = tuple(
            (b.repeat_interleave(steps, 0)
             + alphas.repeat(x.shape[0]).reshape((-1,) + (1,) * (x.dim() - 1))
             * (x - b).repeat_interleave(steps, 0)).detach()
            for x, b in zip(xs, bs)
        )  # fmt: skip

        def run() -> tuple[Any, Any, int]:
            pts = tuple(p.requires_grad_(True) for p in points)
            out = m(*pts)
            sel = out.gather(1, rows_t.reshape(-1, 1)).sum()
            grads = torch.autograd.grad(sel, pts)
            return None, float("nan"), grads[0].shape[0]
    elif variant == "floor":
        # The cheapest complete IG one can write by hand for this one case (one tensor
        # input, int targets, everything in one pass): build the rows by broadcasting, one
        # forward + backward, one forward over [x; x'] for the delta.  No argument checks,
        # no chunking, no generality: what any IG with a completeness check must pay.
        k_alphas = torch.tensor(rule.alphas, dtype=torch.float32, device=dev)
        k_weights = torch.tensor(rule.weights, dtype=torch.float32, device=dev)
        t_rows = targets.repeat_interleave(steps).reshape(-1, 1)
        t_ends = torch.cat([targets, targets]).reshape(-1, 1)

        def run() -> tuple[Any, Any, int]:
            x, b = xs[0], bs[0]
            d = x - b
            shape = (-1, steps) + (1,) * (x.dim() - 1)
            pts = torch.addcmul(b.unsqueeze(1), k_alphas.reshape(shape), d.unsqueeze(1))
            pts = pts.reshape((-1,) + tuple(x.shape[1:])).requires_grad_(True)
            (g,) = torch.autograd.grad(m(pts).gather(1, t_rows).sum(), pts)
            g = g.reshape((x.shape[0], steps) + tuple(x.shape[1:]))
            attr = (g * k_weights.reshape(shape)).sum(1) * d
            with torch.no_grad():
                ends = m(torch.cat([x, b])).gather(1, t_ends)[:, 0]
            diff = ends[: x.shape[0]] - ends[x.shape[0] :]
            delta = attr.reshape(x.shape[0], -1).sum(1) - diff
            return attr, float((delta.abs() / diff.abs()).max()), x.shape[0] * steps
    elif variant == "floor_one_call":
        # The same, with F(x) and F(x') as zero-weight rows of the one model call (as pathattr
        # does for Gauss-Legendre), the weights as the backward's cotangent, and the checks a
        # complete IG makes: finite inputs, a non-zero gradient, the delta and its warning.
        k_alphas = torch.tensor(rule.alphas, dtype=torch.float32, device=dev)
        n = xs[0].shape[0]
        w_rows = torch.tensor(rule.weights, dtype=torch.float32, device=dev).repeat(n)
        t_all = torch.cat([targets.repeat_interleave(steps), targets, targets]).reshape(-1, 1)

        def run() -> tuple[Any, Any, int]:
            x, b = xs[0], bs[0]
            d = x - b
            if not math.isfinite(float(d.sum())):
                raise ValueError("inputs: expected finite values")
            shape = (-1, steps) + (1,) * (x.dim() - 1)
            pts = torch.addcmul(b.unsqueeze(1), k_alphas.reshape(shape), d.unsqueeze(1))
            pts = torch.cat([pts.reshape((-1,) + tuple(x.shape[1:])), x, b]).requires_grad_(True)
            sel = m(pts).gather(1, t_all)[:, 0]
            (g,) = torch.autograd.grad(torch.dot(sel[: n * steps], w_rows), pts)
            summed = g[: n * steps].reshape((n, steps) + tuple(x.shape[1:])).sum(1)
            if not bool(summed.any()):
                raise ValueError("zero gradient")
            attr = summed * d
            diff = (sel[n * steps : n * steps + n] - sel[n * steps + n :]).detach()
            delta = attr.reshape(n, -1).sum(1) - diff
            rel = delta.abs() / diff.abs().clamp_min(1e-30)
            _ = bool((rel > 0.05).any())  # the completeness warning's test
            return attr, float(rel.max()), n * steps
    elif variant == "captum":
        ig = IntegratedGradients(m)

        def run() -> tuple[Any, Any, int]:
            attr, delta = ig.attribute(
                xs if len(xs) > 1 else xs[0], bs if len(bs) > 1 else bs[0], target=targets,
                n_steps=steps, method="gausslegendre", return_convergence_delta=True,
            )  # fmt: skip
            return attr, delta, spec["n"] * steps
    else:
        # default: the library default (batch_size="auto"); none: one pass, no probe
        chunk: Any = {"pathattr": "auto", "pathattr_none": None}.get(variant, spec["chunk"])

        def run() -> tuple[Any, Any, int]:
            res = pathattr.integrated_gradients(
                m, xs if len(xs) > 1 else xs[0], baselines=bs if len(bs) > 1 else bs[0],
                target=targets,
                steps=steps, rule="gausslegendre", batch_size=chunk, warn_tol=float("inf"),
            )  # fmt: skip
            return res.attributions, float(res.relative_delta.max()), res.total_evaluations

    return run


def child(name: str, variant: str, spec: dict[str, Any], size: int, q: Any) -> None:
    """Run one (model, variant) measurement and put a result dict on ``q``."""
    try:
        torch.set_num_threads(spec["threads"])
        m, xs, bs, targets, desc = build(name, spec["n"], size)
        dev = torch.device(spec["device"])
        cuda = dev.type == "cuda"
        m = m.to(dev)
        xs, bs = tuple(x.to(dev) for x in xs), tuple(b.to(dev) for b in bs)
        targets = targets.to(dev)
        run = make_runner(variant, m, xs, bs, targets, spec, dev)

        base_rss = _current_rss_mb()
        _reset_peak()
        if cuda:
            torch.cuda.synchronize()
            base_gpu = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
        # warm-ups: first calls of a shape pay for allocator growth and oneDNN primitive set-up
        for _ in range(spec["warmups"]):
            attr, rel, evals = run()
        times = []
        for _ in range(spec["repeats"]):
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            attr, rel, evals = run()
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        if cuda:  # GPU memory is what runs out on a GPU: report the allocator's peak
            peak = (torch.cuda.max_memory_allocated() - base_gpu) / 2**20
        else:
            peak = _rss_mb() - base_rss
        if variant == "captum":  # relative delta from Captum's signed delta, outside the timer
            with torch.no_grad():
                fx = m(*xs).gather(1, targets.reshape(-1, 1))[:, 0]
                fb = m(*bs).gather(1, targets.reshape(-1, 1))[:, 0]
            rel = float((rel.abs() / (fx - fb).abs()).max())  # type: ignore[attr-defined]
        if attr is not None:
            attr = tuple(
                a.detach().cpu().numpy() for a in (attr if isinstance(attr, tuple) else (attr,))
            )
        q.put(
            dict(name=name, variant=variant, desc=desc, time=statistics.median(times),
                 times=times, peak_mb=peak, rel=rel, evals=evals, attr=attr, error=None)
        )  # fmt: skip
    except Exception as e:  # report, do not hang the parent
        import traceback

        q.put(dict(name=name, variant=variant, error=f"{e!r}\n{traceback.format_exc()}"))


def time_interleaved(
    fns: dict[str, Callable[[], Any]], rounds: int, sync: Callable[[], None] | None = None
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Wall time of every call of every function, interleaved: round r runs each once, in an
    order rotated by r, so that all of them see the same (drifting) machine.  Also returns the
    minor page faults each function took in all (``getrusage``, outside the timed window).
    ``sync`` runs inside the timed window after each call (``torch.cuda.synchronize``)."""
    names = list(fns)
    times: dict[str, list[float]] = {k: [] for k in names}
    faults = dict.fromkeys(names, 0)
    for r in range(rounds):
        for k in names[r % len(names) :] + names[: r % len(names)]:
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t0 = time.perf_counter()
            fns[k]()
            if sync is not None:
                sync()
            times[k].append(time.perf_counter() - t0)
            faults[k] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    return times, faults


def ratios_to(times: dict[str, list[float]], base: str) -> dict[str, float]:
    """Median over rounds of time / ``base``'s time in the same round."""
    return {k: statistics.median(t / b for t, b in zip(v, times[base])) for k, v in times.items()}


def timing_child(name: str, variants: list[str], spec: dict[str, Any], size: int, q: Any) -> None:
    """Time all ``variants`` in one process, interleaved: round r runs every variant once, in an
    order rotated by r.  On a shared (virtual) machine the speed drifts over seconds; variants
    timed in separate processes one after another see different machines, variants timed in
    the same round see the same one.  Puts {variant: median time} and {variant: median over
    rounds of time / ideal time of that round} on ``q``."""
    try:
        torch.set_num_threads(spec["threads"])
        m, xs, bs, targets, _ = build(name, spec["n"], size)
        dev = torch.device(spec["device"])
        m = m.to(dev)
        xs, bs = tuple(x.to(dev) for x in xs), tuple(b.to(dev) for b in bs)
        runs = {v: make_runner(v, m, xs, bs, targets.to(dev), spec, dev) for v in variants}
        for fn in runs.values():
            for _ in range(spec["warmups"]):
                fn()
        sync = torch.cuda.synchronize if dev.type == "cuda" else None
        times, _ = time_interleaved(runs, spec["repeats"], sync)
        ratios = ratios_to(times, "ideal")
        q.put(dict(times={v: statistics.median(t) for v, t in times.items()}, ratios=ratios))
    except Exception as e:  # report, do not hang the parent
        import traceback

        q.put(dict(error=f"{e!r}\n{traceback.format_exc()}"))


def _spawn(target: Any, args: tuple[Any, ...], label: str) -> dict[str, Any]:
    """Run ``target(*args, queue)`` in a fresh spawned process and return what it put."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    res: dict[str, Any] = q.get()
    p.join()
    if res.get("error"):
        raise RuntimeError(f"{label} failed:\n{res['error']}")
    return res


def measure_interleaved(name: str, variants: list[str], spec: Spec, size: int) -> dict[str, Any]:
    """Run ``timing_child`` in a fresh spawned process and return its result."""
    args = (name, variants, spec.__dict__, size)
    return _spawn(timing_child, args, f"{name}/interleaved timing")


def measure(name: str, variant: str, spec: Spec, size: int) -> dict[str, Any]:
    """Run ``child`` in a fresh spawned process and return its result."""
    return _spawn(child, (name, variant, spec.__dict__, size), f"{name}/{variant}")


def agreement(a: Any, b: Any) -> float:
    """Relative L2 difference ||a - b|| / ||b|| over all inputs together."""
    num = float(np.sqrt(sum(float(((x - y) ** 2).sum()) for x, y in zip(a, b))))
    den = float(np.sqrt(sum(float((y**2).sum()) for y in b)))
    return num / den if den else num


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table and write the Markdown results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes and few repeats (~1 min)")
    ap.add_argument("--size", type=int, default=112, help="ResNet-18 input size (default 112)")
    ap.add_argument("--models", default="mlp,cnn,multi,resnet18,effnet")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "ig_vs_captum.md"))
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    ap.add_argument("--note", default="", help="a sentence about the machine for the header")
    ap.add_argument(
        "--examples", type=int, default=None,
        help="examples N for the small models (mlp, cnn, multi; default 16)",
    )  # fmt: skip
    args = ap.parse_args(argv)

    if args.quick:
        specs = {
            "mlp": Spec("mlp", 16, 50, 10, None, interleave=True),
            "cnn": Spec("cnn", 16, 50, 10, None, interleave=True),
            "multi": Spec("multi", 16, 50, 10, None, interleave=True),
            "resnet18": Spec("resnet18", 2, 32, 1, 16, warmups=1, threads=2),
            "effnet": Spec("effnet", 1, 16, 1, 8, warmups=1, threads=2),
        }
        size = 64
    else:
        specs = {
            "mlp": Spec("mlp", 16, 50, 301, None, warmups=30, interleave=True),
            "cnn": Spec("cnn", 16, 50, 61, None, warmups=10, interleave=True),
            "multi": Spec("multi", 16, 50, 201, None, warmups=30, interleave=True),
            "resnet18": Spec("resnet18", 4, 128, 2, 64, warmups=1, threads=2),
            "effnet": Spec("effnet", 4, 32, 3, 16, warmups=1, threads=2),
        }
        size = args.size
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    for spec in specs.values():
        spec.device = args.device
        if args.examples is not None and spec.interleave:
            # more rows per call: keep the timed work per variant about the same
            spec.repeats = max(31, spec.repeats * spec.n // args.examples) | 1
            spec.n = args.examples
    rows = []
    for name in names:
        spec = specs[name]
        ideal = measure(name, "ideal", spec, size)
        variants = ["captum", "pathattr", "pathattr_none"]
        # the hand-written floors take one tensor input
        variants = (["floor", "floor_one_call"] if name != "multi" else []) + variants
        variants += ["pathattr_chunked"] if spec.chunk else []
        results = {v: measure(name, v, spec, size) for v in variants}
        interleaved = None
        if spec.interleave:
            # wall times from one process, interleaved (peak memory and deltas stay per process)
            interleaved = measure_interleaved(name, ["ideal", *variants], spec, size)
            ideal["time"] = interleaved["times"]["ideal"]
        labels = {
            "pathattr": "pathattr (default batch_size='auto')",
            "pathattr_none": "pathattr (batch_size=None)",
            "pathattr_chunked": f"pathattr (batch_size={spec.chunk})",
            "floor": "hand-written minimal IG (floor)",
            "floor_one_call": "hand-written complete IG, one call",
        }
        for v in variants:
            r = results[v]
            chunk = ""
            rows.append(
                dict(
                    model=r["desc"], n=spec.n, steps=spec.steps, variant=labels.get(v, v) + chunk,
                    threads=spec.threads,
                    time=interleaved["times"][v] if interleaved else r["time"],
                    ideal=ideal["time"],
                    ratio=interleaved["ratios"][v] if interleaved else r["time"] / ideal["time"],
                    evals=r["evals"], peak=r["peak_mb"], ideal_peak=ideal["peak_mb"], rel=r["rel"],
                    agree=agreement(r["attr"], results["captum"]["attr"]) if v != "captum" else 0.0,
                )
            )  # fmt: skip
            print(_line(rows[-1]), flush=True)
    table = _markdown(rows)
    print("\n" + table)
    cmd = (
        "OMP_NUM_THREADS=2 python benchmarks/ig_vs_captum.py"
        + (" " + " ".join(argv or sys.argv[1:])).rstrip()
    )
    header = (
        "# Integrated Gradients: pathattr vs Captum vs the ideal\n\n"
        f"Command: `{cmd}`\n\n"
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, "
        f"device {_device(args.device)}; "
        f"torch {torch.__version__}, captum {_captum_version()}, Python "
        f"{platform.python_version()}. {args.note} Times are medians of repeats after warm-ups. "
        "On the CPU small models run with 1 torch thread, ResNet and EfficientNet with 2. "
        "pathattr's batch_size='auto' probes a model once (two passes of 1 and 2 rows) and "
        "caches the figure, so the warm-ups absorb the probe.\n\n"
        "Rule: Gauss-Legendre for all; same inputs, per-example random baselines (black image for "
        "EfficientNet) and per-example targets (the predicted class). *ideal*: one plain "
        "forward+backward over the same N x steps rows, pre-built. *ratio*: time / ideal time. "
        "*peak MB*: child-process peak RSS (VmHWM) above its RSS after building the model and "
        "inputs, or on a GPU the allocator's peak above what was allocated before the runs "
        "(ideal's own peak in brackets). *grad rows*: gradient evaluations (both libraries also "
        "run 2N forward-only rows for F(x), F(x') with Gauss-Legendre). *max rel. delta*: "
        "worst |Σattr − (F(x) − F(x'))| / |F(x) − F(x')|. *vs Captum*: "
        "||A − A_captum|| / ||A_captum|| (L2 over all inputs).\n\n"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(header + table + "\n")
    print(f"\nwrote {args.out}")
    return 0


def _device(name: str) -> str:
    if name.startswith("cuda"):
        return f"{name} ({torch.cuda.get_device_name()})"
    return "cpu (no GPU)"


def _captum_version() -> str:
    import captum

    return str(captum.__version__)


def _line(r: dict[str, Any]) -> str:
    return (
        f"{r['model']:<40} {r['variant']:<30} {r['time']:8.3f}s ideal {r['ideal']:8.3f}s "
        f"ratio {r['ratio']:6.2f} evals {r['evals']:6d} peak {r['peak']:8.1f}MB rel {r['rel']:.2e} "
        f"agree {r['agree']:.1e}"
    )


def _markdown(rows: list[dict[str, Any]]) -> str:
    head = (
        "| model | N x steps | library | time (s) | ideal (s) | ratio vs ideal | grad rows | "
        "peak MB (ideal) | max rel. delta | vs Captum |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    body = [
        f"| {r['model']} | {r['n']} x {r['steps']} | {r['variant']} | {r['time']:.4f} | "
        f"{r['ideal']:.4f} | {r['ratio']:.2f} | {r['evals']} | "
        f"{r['peak']:.0f} ({r['ideal_peak']:.0f}) | "
        f"{r['rel']:.2e} | {r['agree']:.1e} |"
        for r in rows
    ]
    return "\n".join([head, *body])


if __name__ == "__main__":
    raise SystemExit(main())
