"""Cost of one attribution-prior step and of one ``create_graph`` Expected Gradients call.

A 32-64-64-4 tanh MLP (float32), a batch of N = 64 rows with integer labels, R random reference
rows, k (reference, α) samples per example, one CPU thread.  Medians over 100 repeats of:

* ``prior()``: ``AttributionPrior(priors.sparsity, references=refs, samples=k)(model, x, y)``;
* ``prior()+backward``: the same plus ``backward()`` (the double backward);
* ``EG default``: ``expected_gradients(..., batch_size=None, create_graph=True)`` with all its
  diagnostics (F(x), base value, residual, standard error, ``reference_set_output``);
* ``diagnostics=False``: the same call returning only the attributions (what the prior uses).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/prior_step.py      # about 20 s

Run it against another checkout with ``PYTHONPATH=OTHER/src`` to compare versions (an older
one without ``diagnostics`` prints nan in that column).
"""

from __future__ import annotations

import inspect
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

import pathattr
from pathattr import priors


def bench(fn: Callable[[], Any], reps: int = 100, warm: int = 10) -> float:
    """Median wall time of ``fn()`` in milliseconds."""
    for _ in range(warm):
        fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    torch.set_num_threads(1)
    d, h, c, n = 32, 64, 4, 64
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(d, h), torch.nn.Tanh(), torch.nn.Linear(h, h), torch.nn.Tanh(),
        torch.nn.Linear(h, c),
    )  # fmt: skip
    x, y = torch.randn(n, d), torch.randint(0, c, (n,))
    has_diagnostics = "diagnostics" in inspect.signature(pathattr.expected_gradients).parameters
    print(f"pathattr from {pathattr.__file__}; torch {torch.__version__}")
    print("| R | k | prior() ms | prior()+backward ms | EG default ms | diagnostics=False ms |")
    print("|---|---|---|---|---|---|")
    for r in (256, 10_000):
        refs = torch.randn(r, d)
        for k in (1, 10):
            prior = priors.AttributionPrior(priors.sparsity, 0.1, references=refs, samples=k)
            model.train()
            t_prior = bench(lambda prior=prior: prior(model, x, y))
            t_step = bench(lambda prior=prior: prior(model, x, y).backward())
            model.eval()

            def eg(k: int = k, refs: torch.Tensor = refs, **kw: Any) -> Any:
                return pathattr.expected_gradients(
                    model, x, references=refs, target=y, samples=k, seed=0, batch_size=None,
                    create_graph=True,
                    **kw,
                )  # fmt: skip

            t_eg = bench(eg)
            t_lean = bench(lambda: eg(diagnostics=False)) if has_diagnostics else float("nan")
            print(f"| {r} | {k} | {t_prior:.2f} | {t_step:.2f} | {t_eg:.2f} | {t_lean:.2f} |")
    prior = priors.AttributionPrior(priors.sparsity, 0.1, references="batch", samples=1)
    model.train()
    t_prior = bench(lambda: prior(model, x, y))
    t_step = bench(lambda: prior(model, x, y).backward())
    print(f"| batch | 1 | {t_prior:.2f} | {t_step:.2f} | | |")


if __name__ == "__main__":
    main()
