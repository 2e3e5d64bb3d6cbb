"""Rows per model call on the CPU: time per IG call against the chunk size, and what "auto" picks.

For each model the same inputs, baselines, targets and Gauss-Legendre steps go to
``pathattr.integrated_gradients`` with ``batch_size`` = None (one pass), several fixed chunk sizes,
and ``"auto"`` (the default: fit a quarter of free memory, and on the CPU also the cache budget of
``memory.cpu_cache_bytes``, never below 8 rows); and to Captum's ``IntegratedGradients.attribute``
with its default (``internal_batch_size=None``: all N x steps rows at once). One process, runs
interleaved, median of ``--repeats`` after a warm-up.  The *MB* column is the chunk's saved
activations (rows x bytes autograd keeps per row, measured by the probe).

Usage::

    OMP_NUM_THREADS=2 python benchmarks/chunk_size.py            # ~4 min on 2 cores

Writes ``benchmarks/results/chunk_size.md`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from ig_vs_captum import build  # same models as the IG benchmark

import pathattr
from pathattr.engine import memory
from pathattr.engine.targets import make_selector
from pathattr.paths import StraightLine

# name, examples, steps, input size, fixed chunk sizes to try
CASES = [
    ("mlp", 64, 128, 0, [4096, 1024, 256]),
    ("cnn", 64, 128, 0, [4096, 2048, 1024, 256]),
    ("resnet18", 4, 32, 112, [64, 32, 16, 8]),
    ("effnet", 2, 16, 224, [16, 8, 4, 2]),
]


def per_row_bytes(model: Any, x: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> int:
    path = StraightLine((x,), (b,))
    rows = torch.arange(x.shape[0])
    return memory.saved_bytes_per_row(
        model, path, make_selector(t, x.shape[0]), rows, torch.rand(x.shape[0]),
        n_examples=x.shape[0],
    )  # fmt: skip


def auto_choice(model: Any, x: torch.Tensor, b: torch.Tensor, t: torch.Tensor, steps: int) -> Any:
    n = x.shape[0]
    rows = torch.arange(n).repeat_interleave(steps)
    return memory.auto_batch_size(
        model, StraightLine((x,), (b,)), make_selector(t, n), rows, torch.rand(n * steps),
        n_examples=n,
    )  # fmt: skip


def median_time(fn: Callable[[], Any], repeats: int) -> float:
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def run_case(name: str, n: int, steps: int, size: int, chunks: list[int], repeats: int) -> list:
    from captum.attr import IntegratedGradients

    model, xs, bs, targets, desc = build(name, n, size or 64)
    x, b = xs[0], bs[0]
    per_row = per_row_bytes(model, x, b, targets)
    chosen = auto_choice(model, x, b, targets, steps)
    total = n * steps

    def ours(bsz: Any) -> Callable[[], Any]:
        return lambda: pathattr.integrated_gradients(
            model,
            x,
            baselines=b,
            target=targets,
            steps=steps,
            batch_size=bsz,
            warn_tol=float("inf"),
        )

    ig = IntegratedGradients(model)
    variants: dict[str, tuple[Callable[[], Any], int]] = {
        "captum (default: one pass)": (
            lambda: ig.attribute(x, b, target=targets, n_steps=steps, method="gausslegendre"),
            total,
        ),
        "pathattr batch_size=None (one pass)": (ours(None), total),
    }
    for c in chunks:
        if c < total:
            variants[f"pathattr batch_size={c}"] = (ours(c), c)
    variants[f"pathattr 'auto' (picks {chosen or 'one pass'})"] = (ours("auto"), chosen or total)
    for fn, _ in variants.values():  # warm-up (and the probe of "auto")
        fn()
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeats):  # interleaved
        for k, (fn, _rows) in variants.items():
            times[k].append(median_time(fn, 1))
    base = statistics.median(times["captum (default: one pass)"])
    out = []
    for k, (_fn, rows) in variants.items():
        t = statistics.median(times[k])
        out.append((desc, f"{n} x {steps}", k, rows, rows * per_row / 2**20, t, base / t))
        print(f"{desc:40s} {k:40s} rows/call {rows:6d} {rows * per_row / 2**20:8.1f} MB "
              f"{t:8.3f}s captum/this {base / t:5.2f}", flush=True)  # fmt: skip
    return out


def main() -> int:
    """Run the cases and write the results table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default=",".join(c[0] for c in CASES))
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "chunk_size.md"))
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    wanted = set(args.models.split(","))
    rows = []
    for name, n, steps, size, chunks in CASES:
        if name in wanted:
            rows += run_case(name, n, steps, size, chunks, args.repeats)
    head = (
        "# Rows per model call on the CPU\n\n"
        f"Command: `OMP_NUM_THREADS={torch.get_num_threads()} python benchmarks/chunk_size.py`  \n"
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, chunk cache budget "
        f"{memory.cpu_cache_bytes() / 2**20:.0f} MiB; torch {torch.__version__}. "
        f"Median of {args.repeats} interleaved runs after a warm-up.\n\n"
        "*MB*: saved activations of one chunk (rows per call x bytes autograd keeps per row). "
        "*captum / this*: Captum's default time over this variant's time (above 1: faster "
        "than Captum's default).\n\n"
        "| model | N x steps | variant | rows per call | MB per call | time (s) | captum / this |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n"
    )
    body = "".join(
        f"| {d} | {ns} | {k} | {r} | {mb:.1f} | {t:.3f} | {ratio:.2f} |\n"
        for d, ns, k, r, mb, t, ratio in rows
    )
    Path(args.out).write_text(head + body)
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
