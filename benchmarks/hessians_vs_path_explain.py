"""Integrated / Expected Hessians: pathattr vs path_explain (the authors' PyTorch explainer).

Model: a softplus MLP 30 -> 64 -> 64 -> 1 (float32, seeded), all 30 × 30 interactions of
1 and of 16 examples, random baseline / 100 random references.  At equal samples
(path_explain's ``num_samples`` = m² (α, β) points):

* ``path_explain``: ``PathExplainerTorch(model).interactions(x, baseline, num_samples=m²,
  use_expectation=...)`` (loaded from its file: the package's ``__init__`` imports TensorFlow);
* ``pathattr linspace``: ``integrated_hessians(..., rule="linspace", steps=m)``, path_explain's
  grid, so the same numbers (column *vs path_explain*), the equal products αβ evaluated once;
* ``pathattr gausslog``: the default rule (the Gauss rule of the −ln t weight) with ``steps``
  Hessian evaluations per example;
* Expected Hessians: path_explain (``use_expectation=True``) and ``expected_hessians`` with
  ``samples=m²`` (both Monte Carlo with their own draws: only the time is comparable).

pathattr's times include its check (the first-order IG / EG it compares the rows with, and
F(x), F(x')).  *error*: max |Γ − Γ*| / max |Γ*| against Integrated Hessians converged in
float64 (gausslog, 64 nodes).  Wall time: the median over rounds, every variant timed once per
round, interleaved (the machine is shared); *speed-up*: path_explain's time / the variant's,
per round, median.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/hessians_vs_path_explain.py [--rounds 7] [--device cpu]

Writes ``benchmarks/results/hessians_vs_path_explain.md`` (``--out`` to change).
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
from _path_explain import path_explain_torch  # benchmarks/ is the script's folder

import pathattr
from pathattr.quadrature.interaction_rules import interaction_rule

FEATURES = 30

#: the reading of the committed results, written under the table
NOTES = """\
Reading: at equal samples (the same m² grid, *pathattr IH linspace*, the same numbers to
float32 rounding) Integrated Hessians is 17-19x faster than path_explain for 16 examples and
85-150x for one; the default Gauss-log rule needs m Hessian points instead of m² and is 10⁴
times more accurate than the grid (45-60x faster for 16 examples). path_explain makes
m × (m + features) autograd calls of one batch each; pathattr evaluates all rows of all
examples in a few chunks with one batched double backward per chunk. Expected Hessians at equal
samples is 6-7x faster for 16 examples: every sample is its own point, so both do the same
Hessian arithmetic (16 × m² points × 30 Hessian-vector products), pathattr in large calls. The
machine is shared (2 cores, other jobs): absolute times drift between runs, the per-round
ratios less (a run before the chunk-size change measured 20-32x for IH linspace at 16
examples: the load of the machine moves these numbers).
"""


def model(dtype: torch.dtype, device: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(FEATURES, 64), torch.nn.Softplus(), torch.nn.Linear(64, 64),
        torch.nn.Softplus(), torch.nn.Linear(64, 1),
    ).to(device=device, dtype=dtype).eval()  # fmt: skip


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main(argv: list[str] | None = None) -> int:
    """Run the comparison, print the table and write the Markdown results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--m", default="7,10", help="grid sizes m (num_samples = m²)")
    ap.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "hessians_vs_path_explain.md")
    )
    args = ap.parse_args(argv)
    dev = args.device
    pe = path_explain_torch()
    net = model(torch.float32, dev)
    net64 = model(torch.float64, dev)
    torch.manual_seed(1)
    x_all = torch.randn(16, FEATURES, device=dev)
    base = torch.randn(1, FEATURES, device=dev)
    refs = torch.randn(100, FEATURES, device=dev)
    rows = []
    for n in (1, 16):
        x = x_all[:n]
        exact = pathattr.integrated_hessians(
            net64, x.double(), baselines=base.double(), target=0, steps=64
        ).attributions
        for m in (int(v) for v in args.m.split(",")):
            variants: dict[str, Callable[[], torch.Tensor]] = {
                "path_explain IH": lambda x=x, m=m: (
                    pe.PathExplainerTorch(net)
                    .interactions(
                        x.clone().requires_grad_(True),
                        base,
                        num_samples=m * m,
                        use_expectation=False,
                        verbose=False,
                    )
                    .detach()
                ),  # fmt: skip
                "pathattr IH linspace": lambda x=x, m=m: (
                    pathattr.integrated_hessians(
                        net, x, baselines=base, target=0, rule="linspace", steps=m, warn_tol=None
                    ).attributions
                ),
                "pathattr IH gausslog": lambda x=x, m=m: (
                    pathattr.integrated_hessians(
                        net, x, baselines=base, target=0, steps=m, warn_tol=None
                    ).attributions
                ),
                "path_explain EH": lambda x=x, m=m: (
                    pe.PathExplainerTorch(net)
                    .interactions(
                        x.clone().requires_grad_(True),
                        refs,
                        num_samples=m * m,
                        use_expectation=True,
                        verbose=False,
                    )
                    .detach()
                ),  # fmt: skip
                "pathattr EH": lambda x=x, m=m: (
                    pathattr.expected_hessians(
                        net, x, references=refs, target=0, samples=m * m, seed=0
                    ).attributions
                ),
            }
            times: dict[str, list[float]] = {k: [] for k in variants}
            outs: dict[str, Any] = {}
            for fn in variants.values():
                fn()  # warm-up
            for r in range(args.rounds):
                names = list(variants)
                names = names[r % len(names) :] + names[: r % len(names)]
                for name in names:
                    sync(dev)
                    t0 = time.perf_counter()
                    outs[name] = variants[name]()
                    sync(dev)
                    times[name].append(time.perf_counter() - t0)
            for name in variants:
                ih = "IH" in name
                pe_name = "path_explain IH" if ih else "path_explain EH"
                speed = statistics.median(a / b for a, b in zip(times[pe_name], times[name]))
                scale = float(exact.abs().max())
                err = float((outs[name].double() - exact).abs().max()) / scale if ih else None
                agree = (
                    float((outs[name] - outs["path_explain IH"]).abs().max()) / scale
                    if name == "pathattr IH linspace" else None
                )  # fmt: skip
                points = {"pathattr IH linspace": len(interaction_rule("linspace", m).t),
                          "pathattr IH gausslog": m}.get(name, m * m)  # fmt: skip
                rows.append((n, m, name, points, statistics.median(times[name]), speed, err, agree))
                print(rows[-1], flush=True)
    write(args, rows)
    return 0


def write(args: Any, rows: list[tuple[Any, ...]]) -> None:
    def f(v: float | None, fmt: str) -> str:
        return "" if v is None else format(v, fmt)

    lines = [
        "| examples | m (num_samples = m²) | variant | Hessian points / example | time (s) "
        "| speed-up vs path_explain | error vs converged IH | vs path_explain |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for n, m, name, pts, t, s, err, agree in rows:
        lines.append(
            f"| {n} | {m} ({m * m}) | {name} | {pts} | {t:.4f} | {s:.1f}x | {f(err, '.1e')} "
            f"| {f(agree, '.1e')} |"
        )
    table = "\n".join(lines)
    print(table)
    head = (
        "# Integrated / Expected Hessians: pathattr vs path_explain\n\n"
        "Script: `benchmarks/hessians_vs_path_explain.py` (see its docstring for the variants).\n"
        f"Machine: {platform.machine()}, torch {torch.__version__}, device {args.device}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, {args.rounds} rounds.\n\n"
        f"Command: `OMP_NUM_THREADS=1 python benchmarks/hessians_vs_path_explain.py "
        f"--rounds {args.rounds} --device {args.device}`\n\n"
    )
    Path(args.out).write_text(head + table + "\n\n" + NOTES)


if __name__ == "__main__":
    raise SystemExit(main())
