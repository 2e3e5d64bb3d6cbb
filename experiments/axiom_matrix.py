"""The "method × axiom" matrix, produced by ``pathattr.axioms.check`` itself.

Run:  OMP_NUM_THREADS=1 python experiments/axiom_matrix.py  (about half a minute on a laptop CPU)
Writes experiments/results/axiom_matrix.md.  Blur IG and XRAI are not in it: they need image
inputs (Blur IG also has no baseline), which these settings are not; their faithfulness is in
experiments/deletion_insertion.py.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from captum.attr import IntegratedGradients
from torch import nn

import pathattr
from pathattr import axioms

OUT = Path(__file__).parent / "results" / "axiom_matrix.md"


class PaperF(nn.Module):
    """f = ReLU(ReLU(x1) − 1 − ReLU(x2)) (IG paper, App. B)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(F.relu(x[:, 0]) - 1 - F.relu(x[:, 1]))


class PaperG(nn.Module):
    """g = ReLU(ReLU(x1 − 1) − ReLU(x2)) ≡ f."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(F.relu(x[:, 0] - 1) - F.relu(x[:, 1]))


class Product(nn.Module):
    """x1·x2: the App. A function of Theorem 1 with a = 0, b = 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0] * x[:, 1]


def ig(model: Any, x: torch.Tensor, b: Any, t: Any) -> pathattr.Attribution:
    """Integrated Gradients, 256 Gauss–Legendre nodes."""
    return pathattr.integrated_gradients(model, x, baselines=b, target=t, steps=256, warn_tol=0)


def oat(model: Any, x: torch.Tensor, b: Any, t: Any) -> pathattr.Attribution:
    """One feature at a time in index order, 64 midpoint nodes per feature."""
    return pathattr.one_at_a_time(model, x, baselines=b, target=t, warn_tol=None)


def deeplift(model: Any, x: torch.Tensor, b: Any, t: Any) -> pathattr.Attribution:
    """DeepLift-Rescale without completeness warnings."""
    return pathattr.deeplift(model, x, baselines=b, target=t, warn_tol=None)


def ig_idgi(model: Any, x: torch.Tensor, b: Any, t: Any) -> pathattr.Attribution:
    """IG with IDGI's important-direction correction, 256 left-Riemann nodes."""
    return pathattr.integrated_gradients(model, x, baselines=b, target=t, steps=256, idgi=True,
                                         warn_tol=None)  # fmt: skip


def guided(model: Any, x: torch.Tensor, b: Any, t: Any) -> pathattr.Attribution:
    """Guided IG at PAIR's defaults (200 steps, fraction 0.25, max_dist 0.02)."""
    return pathattr.guided_integrated_gradients(model, x, baselines=b, target=t, warn_tol=None)


def guided_idgi(model: Any, x: torch.Tensor, b: Any, t: Any) -> pathattr.Attribution:
    """Guided IG with IDGI."""
    return pathattr.guided_integrated_gradients(model, x, baselines=b, target=t, idgi=True,
                                                warn_tol=None)  # fmt: skip


METHODS: dict[str, Callable[..., Any]] = {
    "IG (pathattr)": ig,
    "IG (Captum, via from_captum)": axioms.from_captum(IntegratedGradients, n_steps=256),
    "saliency": pathattr.saliency,
    "input × gradient": pathattr.input_x_gradient,
    "guided backprop": pathattr.guided_backprop,
    "deconvnet": pathattr.deconvnet,
    "DeepLift-Rescale": deeplift,
    "one-at-a-time path": oat,
    "IG + IDGI": ig_idgi,
    "Guided IG": guided,
    "Guided IG + IDGI": guided_idgi,
}


def random_mlp() -> nn.Module:
    """Random ReLU MLP 6-16-8-3; feature 5 ignored, features 0 and 1 exchangeable."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    first = net[0]
    assert isinstance(first, nn.Linear)
    with torch.no_grad():
        first.weight[:, 5] = 0
        first.weight[:, 1] = first.weight[:, 0]
    return net.double().eval()


def digits_mlp() -> tuple[nn.Module, torch.Tensor, float]:
    """A 64-32-10 ReLU MLP trained for a few seconds on sklearn digits; 4 test images."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float64)
    y = torch.tensor(data.target)
    torch.manual_seed(0)
    perm = torch.randperm(len(x))
    tr, te = perm[:1500], perm[1500:]
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)).double()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(300):
        opt.zero_grad()
        F.cross_entropy(net(x[tr]), y[tr]).backward()
        opt.step()
    net.eval()
    acc = float((net(x[te]).argmax(1) == y[te]).double().mean())
    return net, x[te[:4]], acc


def settings() -> list[dict[str, Any]]:
    """The models, inputs and options the matrix is measured on."""
    net, xd, acc = digits_mlp()
    g = torch.Generator().manual_seed(1)
    xr = 2 * torch.randn(4, 6, generator=g, dtype=torch.float64)
    return [
        {"name": "paper f, equivalent g, x = (3, 1), x' = 0", "model": PaperF(),
         "x": torch.tensor([[3.0, 1.0]]), "b": None, "t": None, "equivalent": PaperG()},
        {"name": "paper f, x = (3, 1), x' = (3, 0)", "model": PaperF(),
         "x": torch.tensor([[3.0, 1.0]]), "b": torch.tensor([[3.0, 0.0]]), "t": None},
        {"name": "x1·x2 (Thm 1), x = (1, 1), x' = 0", "model": Product(),
         "x": torch.ones(1, 2, dtype=torch.float64), "b": None, "t": None},
        {"name": "random ReLU MLP 6-16-8-3 (1 dummy, 1 symmetric pair), 4 inputs", "model":
         random_mlp(), "x": xr, "b": None, "t": 0},
        {"name": f"digits ReLU MLP 64-32-10 (test acc {acc:.1%}), 4 test images, predicted class",
         "model": net, "x": xd, "b": None, "t": net(xd).argmax(1)},
    ]  # fmt: skip


def cell(r: axioms.CheckResult) -> str:
    """One table cell: ✓/✗ with the measured figure."""
    mark = {"pass": "✓", "fail": "✗", "n/a": "n/a"}[r.status]
    return mark if r.value is None else f"{mark} {r.value:.2g}"


def main() -> None:
    """Run every method on every setting and write the markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    lines = [
        "# Method × axiom matrix",
        "",
        "Generated by `experiments/axiom_matrix.py` with `pathattr.axioms.check` (defaults: "
        "rtol 1e-3, completeness_tol 5%, sensitivity_tol 1e-3, seed 0). Cells: ✓ pass, ✗ fail, "
        "n/a not applicable, followed by the measured figure (see docs/axioms.md for what each "
        "figure measures).",
        "",
    ]
    start = time.perf_counter()
    for s in settings():
        head = ["method", *axioms.CHECKS]
        lines += [f"## {s['name']}", "", "| " + " | ".join(head) + " |",
                  "|" + "---|" * len(head)]  # fmt: skip
        for label, method in METHODS.items():
            report = axioms.check(method, s["model"], s["x"], s["b"], s["t"],
                                  equivalent=s.get("equivalent"), name=label)  # fmt: skip
            cells = [cell(report[c]) for c in axioms.CHECKS]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
            print(f"{s['name'][:40]:40s} {label:30s} {' '.join(cells)}", flush=True)
        lines.append("")
    lines.append(f"Total time {time.perf_counter() - start:.1f} s (torch {torch.__version__}, CPU, "
                 "1 thread).")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
