"""Infidelity and max-sensitivity: pathattr.metrics vs captum.metrics on the same perturbations.

Models: an MLP (64-128-128-10) and a CNN on sklearn digits (1 x 8 x 8), trained here in a few
seconds (seeded).  Inputs: the first N test digits; target: the true class.

* infidelity: both get the same attributions (IG, 32 Gauss-Legendre steps) and the same
  perturbations: a stateful ``perturb_func`` that hands out consecutive rows of a precomputed
  Gaussian table.  Unchunked, both libraries see the rows in the same order, so the values must
  agree to float precision.  Chunked (``batch_size`` / ``max_examples_per_batch``), Captum
  slices by samples and pathattr by contiguous rows, so the perturbations reach different
  examples: the values then agree only in distribution (the mean is reported).
* max-sensitivity: the same explanation function (``pathattr.saliency`` or
  ``pathattr.integrated_gradients`` with 16 steps, wrapped for Captum's tuple convention) and the
  same perturbations (a precomputed table; both libraries perturb all rows in one call).

Wall time: median of ``repeats`` samples after one warm-up, each the mean of enough calls to
last ~0.2 s, libraries alternated, one process,
``OMP_NUM_THREADS`` threads.  Model rows: rows forwarded through the model (forward hook),
explain calls: calls of the explanation function.  Peak memory is not reported: both run in
the same process and torch's CPU allocations are invisible to tracemalloc.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/metrics_vs_captum.py           # ~2 min (idle machine)
    OMP_NUM_THREADS=1 python benchmarks/metrics_vs_captum.py --quick   # smoke run

Writes ``benchmarks/results/metrics_vs_captum.md`` (``--out`` to change).
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

import captum
import torch
from captum.metrics import infidelity as captum_infidelity
from captum.metrics import sensitivity_max as captum_sensitivity_max
from sklearn.datasets import load_digits
from torch import nn

import pathattr
from pathattr import metrics


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32)
    return x, torch.tensor(data.target)


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int) -> nn.Module:
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        for i in range(0, x.shape[0], 128):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[i : i + 128]), y[i : i + 128]).backward()
            opt.step()
    return model.eval()


def build(kind: str) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    x, y = digits()
    if kind == "mlp":
        model: nn.Module = nn.Sequential(
            nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10)
        )
    else:
        x = x.reshape(-1, 1, 8, 8)
        model = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 16, 64), nn.ReLU(),
            nn.Linear(64, 10),
        )  # fmt: skip
    train(model, x[:1400], y[:1400], 15)
    acc = float((model(x[1400:]).argmax(1) == y[1400:]).float().mean())
    print(f"{kind}: test accuracy {acc:.3f}")
    return model, x[1400:], y[1400:]


class Counter:
    """Counts rows through the model and calls of the explanation function."""

    def __init__(self, model: nn.Module) -> None:
        self.rows = 0
        self.calls = 0
        model.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args: Any, out: torch.Tensor) -> None:
        self.rows += out.shape[0]

    def reset(self) -> None:
        self.rows = 0
        self.calls = 0


def table_perturb(table: torch.Tensor, sensitivity: bool = False) -> Callable[..., Any]:
    pos = [0]

    def perturb(inputs: torch.Tensor) -> Any:
        n = inputs.shape[0]
        p = table[pos[0] : pos[0] + n]
        pos[0] += n
        return inputs + p if sensitivity else (p, inputs - p)

    return perturb


def timed(fn: Callable[[], torch.Tensor], loops: int) -> tuple[float, torch.Tensor]:
    """Mean seconds per call over ``loops`` back-to-back calls, and the last result."""
    t0 = time.perf_counter()
    for _ in range(loops):
        out = fn()
    return (time.perf_counter() - t0) / loops, out


def bench(kind: str, n: int, s: int, repeats: int) -> list[str]:
    """The four comparisons on one model; returns the markdown rows."""
    rows: list[str] = []
    model, x_all, y_all = build(kind)
    x, y = x_all[:n], y_all[:n]
    counter = Counter(model)
    attr = pathattr.integrated_gradients(model, x, target=y, steps=32).attributions
    g = torch.Generator().manual_seed(1)
    table = 0.1 * torch.randn(n * s, *x.shape[1:], generator=g)

    # ---- infidelity, both libraries' defaults (pathattr: perturbations in one call, model calls
    # in cache-sized chunks; Captum: one pass): identical perturbations -> identical values
    def p_inf() -> torch.Tensor:
        return metrics.infidelity(model, table_perturb(table), x, attr, target=y,
                                  n_perturb_samples=s)  # fmt: skip

    def c_inf() -> torch.Tensor:
        return captum_infidelity(model, table_perturb(table), x, attr, target=y,
                                 n_perturb_samples=s).reshape(-1)  # fmt: skip

    rows.append(compare(f"{kind} infidelity, defaults (N={n}, S={s})", p_inf, c_inf, counter,
                        repeats, exact=True))  # fmt: skip

    # ---- infidelity, chunked into 10 samples per example per call
    chunk = 10 * n

    def p_inf_c() -> torch.Tensor:
        return metrics.infidelity(model, table_perturb(table), x, attr, target=y,
                                  n_perturb_samples=s, batch_size=chunk)  # fmt: skip

    def c_inf_c() -> torch.Tensor:
        return captum_infidelity(model, table_perturb(table), x, attr, target=y,
                                 n_perturb_samples=s,
                                 max_examples_per_batch=chunk).reshape(-1)  # fmt: skip

    rows.append(compare(f"{kind} infidelity chunked {chunk} rows", p_inf_c, c_inf_c,
                        counter, repeats, exact=False))  # fmt: skip

    # ---- max-sensitivity with two explanation functions
    stab = 0.02 * torch.rand(n * s, *x.shape[1:], generator=g)
    for label, steps in (("saliency", 0), ("IG 16 steps", 16)):

        def explain(inputs: Any, target: Any = None, _steps: int = steps) -> Any:
            if isinstance(inputs, tuple):  # Captum's convention for the unperturbed call
                return (explain(inputs[0], target),)
            counter.calls += 1
            if _steps == 0:
                return pathattr.saliency(model, inputs, target=target).attributions
            with_warn = pathattr.integrated_gradients
            return with_warn(model, inputs, target=target, steps=_steps,
                             warn_tol=float("inf")).attributions  # fmt: skip

        def p_sens(e: Callable[..., Any] = explain) -> torch.Tensor:
            return metrics.max_sensitivity(e, x, perturb_func=table_perturb(stab, True),
                                           n_perturb_samples=s, target=y)  # fmt: skip

        def c_sens(e: Callable[..., Any] = explain) -> torch.Tensor:
            return captum_sensitivity_max(e, x, perturb_func=table_perturb(stab, True),
                                          n_perturb_samples=s, target=y)  # fmt: skip

        rows.append(compare(f"{kind} max-sensitivity, {label} (N={n}, S={s})", p_sens,
                            c_sens, counter, repeats, exact=True))  # fmt: skip
    return rows


def run(quick: bool, out_path: Path) -> None:
    n = 32 if quick else 64
    s = 10 if quick else 20
    repeats = 2 if quick else 5
    rows: list[str] = []
    for kind in ("mlp", "cnn"):
        rows += bench(kind, n, s, repeats)
    header = [
        "# pathattr.metrics vs captum.metrics",
        "",
        f"Generated by `benchmarks/metrics_vs_captum.py{' --quick' if quick else ''}` on "
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"captum {captum.__version__}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '?')}"
        f", median of {repeats} samples (each the mean of enough calls to last ~0.2 s).",
        "",
        "Same inputs, attributions, explanation functions and perturbations for both libraries "
        "(see the script's docstring). `max abs diff` is the largest absolute difference between "
        "the per-example values; for the chunked infidelity the two libraries hand the same "
        "perturbation table to different examples, so only the means are comparable there.",
        "",
        "| case | pathattr s | captum s | captum / pathattr | max abs diff | mean value "
        "(pathattr / captum) | model rows (pathattr / captum) | explain calls |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- | --- |",
    ]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text("\n".join(header + rows) + "\n")
    print("\n".join(header + rows))


def compare(
    name: str,
    ours: Callable[[], torch.Tensor],
    theirs: Callable[[], torch.Tensor],
    counter: Counter,
    repeats: int,
    exact: bool,
) -> str:
    counter.reset()
    ours()
    rows_p, calls_p = counter.rows, counter.calls
    counter.reset()
    theirs()
    rows_c, calls_c = counter.rows, counter.calls
    # millisecond cases: each sample averages enough calls to last ~0.2 s
    t0 = time.perf_counter()
    theirs()
    loops = max(1, min(200, int(0.2 / max(time.perf_counter() - t0, 1e-6))))
    # alternate the libraries so that drift in machine load hits both
    tp, tc, vp, vc = [], [], None, None
    for _ in range(repeats):
        t, vp = timed(ours, loops)
        tp.append(t)
        t, vc = timed(theirs, loops)
        tc.append(t)
    assert vp is not None and vc is not None
    mp, mc = statistics.median(tp), statistics.median(tc)
    diff = float((vp - vc).abs().max())
    if exact:
        scale = float(vc.abs().max())
        assert diff <= 1e-4 * scale + 1e-7, f"{name}: values differ by {diff} (scale {scale})"
    diff_s = f"{diff:.1e}" if exact else "n/a (different draws)"
    calls = "-" if calls_p == 0 else f"{calls_p} / {calls_c}"
    return (
        f"| {name} | {mp:.4f} | {mc:.4f} | {mc / mp:.2f} | {diff_s} | "
        f"{float(vp.mean()):.4g} / {float(vc.mean()):.4g} | {rows_p} / {rows_c} | {calls} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small N and S, 2 repeats")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "metrics_vs_captum.md"
    )
    args = parser.parse_args()  # fmt: skip
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    run(args.quick, args.out)


if __name__ == "__main__":
    main()
