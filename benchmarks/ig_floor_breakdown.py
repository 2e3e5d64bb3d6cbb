"""Where a complete IG's cost above the ideal goes, on the small MLP of ``ig_vs_captum.py``.

Each case adds one piece of work to the one before, from the ideal (one forward + backward over
the N x steps pre-built rows) to pathattr's whole ``integrated_gradients``; all are timed
interleaved in one process (order rotated every round) and each ratio is the median over rounds
of time / ideal time of the same round, as in ``ig_vs_captum.py``.  One torch thread.

    OMP_NUM_THREADS=1 python benchmarks/ig_floor_breakdown.py [--rounds 300]

It also counts the minor page faults of each call (``getrusage``, outside the timed window): on
CPU, PyTorch allocates through ``malloc``, which can hand memory back to the kernel between calls,
so a variant that allocates more may pay for fresh zeroed pages.  Running it again with
``MALLOC_TOP_PAD_=67108864`` (glibc keeps 64 MB spare) takes those faults away and shows whether
they explain a ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

import ig_vs_captum as bench  # noqa: E402

from pathattr.engine.core import integrate  # noqa: E402
from pathattr.engine.targets import make_selector  # noqa: E402
from pathattr.paths import StraightLine  # noqa: E402
from pathattr.quadrature import quadrature  # noqa: E402
from pathattr.result import completeness  # noqa: E402

N, STEPS = 16, 50


def cases() -> dict[str, Callable[[], object]]:
    """The cumulative cases, in order; each closure runs one attribution (or its part)."""
    m, xs, bs, targets, _ = bench.build("mlp", N, 112)
    x, b = xs[0], bs[0]
    d0 = x - b
    rule = quadrature("gausslegendre", STEPS)
    al = torch.tensor(rule.alphas, dtype=torch.float32).reshape(1, STEPS, 1)
    w = torch.tensor(rule.weights, dtype=torch.float32).repeat(N)
    nk = N * STEPS
    pts800 = (b.unsqueeze(1) + al * d0.unsqueeze(1)).reshape(nk, -1).contiguous()
    pts832 = torch.cat([pts800, x, b])
    t832 = torch.cat([targets.repeat_interleave(STEPS), targets, targets]).reshape(-1, 1)

    def end_rows() -> object:
        p = pts832.requires_grad_(True)
        return torch.autograd.grad(m(p).gather(1, t832).sum(), p)

    def weights_as_cotangent() -> object:
        p = pts832.requires_grad_(True)
        s = m(p).gather(1, t832)[:, 0]
        return torch.autograd.grad(torch.dot(s[:nk], w), p)

    def rows_built() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        d = x - b
        p = torch.addcmul(b.unsqueeze(1), al, d.unsqueeze(1)).reshape(nk, -1)
        p = torch.cat([p, x, b]).requires_grad_(True)
        s = m(p).gather(1, t832)[:, 0]
        (g,) = torch.autograd.grad(torch.dot(s[:nk], w), p)
        return d, s.detach(), g

    def with_delta() -> object:
        d, s, g = rows_built()
        a = g[:nk].reshape(N, STEPS, -1).sum(1) * d
        return a, a.sum(1) - (s[nk : nk + N] - s[nk + N :])

    rows = torch.arange(N).repeat_interleave(STEPS)
    alphas = torch.tensor(rule.alphas, dtype=torch.float32).repeat(N)
    selector = make_selector(targets, N)

    def engine_call() -> object:
        path = StraightLine((x,), (b,))
        return integrate(m, path, selector, rows, alphas, w, n_examples=N, grid=STEPS,
                         ends=((x,), (b,)))  # fmt: skip

    def engine_selector_completeness() -> object:
        path = StraightLine((x,), (b,))
        r = integrate(m, path, make_selector(targets, N), rows, alphas, w, n_examples=N,
                      grid=STEPS, ends=((x,), (b,)))  # fmt: skip
        assert r.end_outputs is not None
        return completeness(r.sums, r.end_outputs[:N], r.end_outputs[N:])

    # the ideal, the complete hand-written IG and pathattr itself are ig_vs_captum's variants
    spec = {"steps": STEPS, "n": N, "chunk": None}

    def variant(name: str) -> Callable[[], object]:
        return bench.make_runner(name, m, xs, bs, targets, spec, torch.device("cpu"))

    return {
        "ideal: forward + backward over the 800 pre-built rows": variant("ideal"),
        "+ F(x), F(x') as 32 more rows (832)": end_rows,
        "+ quadrature weights as the backward's cotangent": weights_as_cotangent,
        "+ rows built per call (addcmul, cat)": rows_built,
        "+ quadrature sum, × (x − x'), delta": with_delta,
        "+ finiteness, zero-gradient and warning checks (a complete IG by hand)": variant(
            "floor_one_call"
        ),
        "pathattr engine call (`engine.core.integrate` with end rows)": engine_call,
        "+ building the selector, `completeness`": engine_selector_completeness,
        "pathattr `integrated_gradients(batch_size=None)`": variant("pathattr_none"),
        "pathattr `integrated_gradients()` (batch_size='auto')": variant("pathattr"),
    }


def main(argv: list[str] | None = None) -> int:
    """Time the cases interleaved and print a Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=300)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    runs = cases()
    names = list(runs)
    for fn in runs.values():
        for _ in range(20):
            fn()
    times, faults = bench.time_interleaved(runs, args.rounds)
    ratios = bench.ratios_to(times, names[0])
    print(f"MLP 64-128-128-10, {N} x {STEPS} Gauss-Legendre rows, {args.rounds} rounds, 1 thread\n")
    print("| case | median time (ms) | ratio vs ideal | minor page faults per call |")
    print("| --- | --- | --- | --- |")
    for k in names:
        per_call = faults[k] / args.rounds
        median_ms = statistics.median(times[k]) * 1e3
        print(f"| {k} | {median_ms:.3f} | {ratios[k]:.2f} | {per_call:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
