"""Is path_explain's PyTorch Expected Hessians the paper's Expected Hessians?

path_explain's ``PathExplainerTorch.interactions(use_expectation=True)`` draws the outer
reference r (with α) and, for the inner Expected Gradients, a second independent reference r'
(with β).  The paper's estimator (and pathattr's, and path_explain's TensorFlow explainer) uses
one reference per sample.  With three references the paper's value is exact: the mean of
Integrated Hessians over them (converged Gauss-log rule).  path_explain's expectation is
estimated by averaging ``--seeds`` runs of 3600 samples each, with its standard error.

Usage::

    OMP_NUM_THREADS=1 python experiments/path_explain_eh_estimator.py   # about a minute

Writes ``experiments/results/path_explain_eh_estimator.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

import pathattr

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _path_explain import path_explain_torch  # noqa: E402


def fmt(m: torch.Tensor) -> str:
    return "<br>".join(" ".join(f"{float(v):+.4f}" for v in row) for row in m)


def main() -> None:
    """Run the comparison and write the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "path_explain_eh_estimator.md")
    )
    args = ap.parse_args()
    pe = path_explain_torch()
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 8), torch.nn.Softplus(), torch.nn.Linear(8, 1)
    ).eval()
    x, refs = 2 * torch.randn(1, 3), 2 * torch.randn(3, 3)
    paper = torch.stack([
        pathattr.integrated_hessians(net, x, baselines=refs[r : r + 1], target=0).attributions
        for r in range(3)
    ]).mean(0)[0]  # fmt: skip
    runs = []
    for s in range(args.seeds):
        torch.manual_seed(s)
        np.random.seed(s)
        runs.append(pe.PathExplainerTorch(net).interactions(
            x.clone().requires_grad_(True), refs, num_samples=3600, use_expectation=True,
            verbose=False).detach()[0])  # fmt: skip
    stack = torch.stack(runs)
    mean, se = stack.mean(0), stack.std(0) / np.sqrt(args.seeds)
    z = ((mean - paper) / se).abs()
    lines = [
        "# path_explain's PyTorch Expected Hessians vs the paper's",
        "",
        "Script: `experiments/path_explain_eh_estimator.py` (see its docstring). Softplus MLP "
        f"3-8-1, one input, 3 references; path_explain: mean of {args.seeds} runs of 3600 "
        "samples.",
        "",
        "| | paper (mean of IH over the references) | path_explain torch (mean) "
        "| its standard error | \\|difference\\| / SE |",
        "| --- | --- | --- | --- | --- |",
        f"| interactions | {fmt(paper)} | {fmt(mean)} | {fmt(se)} | {fmt(z)} |",
        f"| row sums | {fmt(paper.sum(1)[None])} | {fmt(mean.sum(1)[None])} | | |",
        "",
        f"Largest |difference| / SE over the entries: {float(z.max()):.1f}; the row sums agree "
        f"(max |difference| {float((paper.sum(1) - mean.sum(1)).abs().max()):.4f}). The two "
        "estimators share the row sums (EG, in expectation) but not the matrix.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
