"""CPU chunk budget sweep: IG time against the saved-activation bytes allowed per model call.

For each (model, N, steps) the same inputs go to a bare forward+backward over pre-built rows
(*ideal*), to ``pathattr.integrated_gradients`` in one pass (``batch_size=None``), and to runs
whose ``batch_size`` gives each call at most B MiB of saved activations (equal chunks, as
``batch_size="auto"`` makes them), for B in ``--budgets``.  All variants run interleaved in one
process (round r runs every variant once, order rotated by r); the ratio is the median over
rounds of time / ideal time of the same round, which is robust to a shared machine's drift.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/cache_budget.py
    OMP_NUM_THREADS=1 python benchmarks/cache_budget.py --cases cnn:64:128 --rounds 5

This is how the 8 MiB default of ``pathattr.engine.memory.cpu_cache_bytes`` was chosen
(``benchmarks/results/chunk_size.md``, reading of 2026-12-01).  Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
import ig_vs_captum as B  # noqa: E402  (its models, variants and timing loop)

from pathattr.engine.memory import saved_bytes_per_row  # noqa: E402
from pathattr.engine.targets import make_selector  # noqa: E402
from pathattr.paths.straight import StraightLine  # noqa: E402
from pathattr.quadrature import quadrature  # noqa: E402


def sweep(name: str, n: int, steps: int, budgets: list[int], rounds: int) -> list[str]:
    """Table rows for one case."""
    m, xs, bs, targets, desc = B.build(name, n, 64)
    al = torch.tensor(quadrature("gausslegendre", steps).alphas, dtype=torch.float32)
    rows = torch.arange(n).repeat_interleave(steps)
    per_row = saved_bytes_per_row(
        m, StraightLine(xs, bs), make_selector(targets, n), rows, al.repeat(n), n_examples=n
    )
    total = n * steps

    def runner(variant: str, chunk: int | None = None) -> Any:
        # the ideal and pathattr exactly as ig_vs_captum.py times them
        spec = {"steps": steps, "n": n, "chunk": chunk}
        return B.make_runner(variant, m, xs, bs, targets, spec, torch.device("cpu"))

    fns: dict[str, Any] = {"ideal": runner("ideal"), "one pass": runner("pathattr_none")}
    for mib in budgets:
        fit = max(8, mib * 2**20 // per_row)
        if fit >= total:
            continue
        chunks = -(-total // fit)
        size = -(-total // chunks)
        fns[f"{mib} MiB ({size} rows)"] = runner("pathattr_chunked", size)
    for fn in fns.values():
        for _ in range(3):
            fn()
    times, _ = B.time_interleaved(fns, rounds)
    ratios = B.ratios_to(times, "ideal")
    out = []
    for k, t in times.items():
        out.append(
            f"| {desc} | {n} x {steps} | {per_row / 1024:.1f} | {k} | "
            f"{statistics.median(t) * 1e3:.2f} | {ratios[k]:.2f} |"
        )
    return out


def main() -> None:
    """Run the sweep and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--cases", default="mlp:16:50,multi:16:50,cnn:16:50,mlp:64:128,cnn:64:128",
        help="comma list of model:N:steps (models of ig_vs_captum.py)",
    )  # fmt: skip
    ap.add_argument("--budgets", default="1,2,4,8,16,32", help="MiB per call")
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(1)
    budgets = [int(v) for v in args.budgets.split(",")]
    print("| model | N x steps | KiB per row | variant | time (ms) | ratio vs ideal |")
    print("| --- | --- | --- | --- | --- | --- |")
    for case in args.cases.split(","):
        name, n, steps = case.split(":")
        for row in sweep(name, int(n), int(steps), budgets, args.rounds):
            print(row, flush=True)


if __name__ == "__main__":
    main()
