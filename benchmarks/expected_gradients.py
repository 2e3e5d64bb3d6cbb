"""Expected Gradients: pathattr vs SHAP GradientExplainer vs Captum GradientShap, and samplers.

Same models (an MLP and a CNN trained in seconds on scikit-learn's bundled digits), the same
N inputs, the same reference rows, the same targets (the predicted class) and the same number
of samples k per example, all in one process:

* ``pathattr``: ``pathattr.expected_gradients(model, x, refs, target, samples=k)`` with
  ``sampling`` random / stratified / sobol (it also computes F(x), the base value, the
  completeness residual and a standard error per feature);
* ``captum``: ``GradientShap(model).attribute(x, refs, n_samples=k, stdevs=0.0, target=t)`` —
  the same estimator (random reference and α per sample, one gradient each); all N·k rows go
  through the model in one call;
* ``shap``: ``shap.GradientExplainer(model, refs, batch_size=k).shap_values(x, nsamples=k,
  ranked_outputs=1)`` — explains the top class (= our target); ``local_smoothing=0`` (default),
  so it is the same estimator too.  Its per-sample Python loop builds the rows one at a time;
  ``batch_size=k`` gives it one gradient call per example (its best case).

Error: relative L2 ||A − A*|| / ||A*|| over the whole batch, where A* is the exact EG for the
finite reference set up to quadrature error: the mean over all R references of IG(x, x'_r)
with 128 Gauss-Legendre nodes, computed in one engine call by
``pathattr.noise_integrated_gradients(model, x, baselines=refs, steps=128)`` (independent of
the Monte-Carlo estimators being compared).  Times are medians over repeats; errors are means
over the repeats (each repeat uses a different seed).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/expected_gradients.py          # ~3-5 min on 2 cores
    OMP_NUM_THREADS=1 python benchmarks/expected_gradients.py --quick  # smoke run

Writes ``benchmarks/results/expected_gradients.md`` and ``docs/img/eg_error_vs_samples.png``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import pathattr

ROOT = Path(__file__).resolve().parents[1]


def digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn's bundled 8x8 digits (no download), scaled to [0, 1], split 70/30."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.data / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    cut = int(0.7 * len(x))
    return x[perm[:cut]], y[perm[:cut]], x[perm[cut:]], y[perm[cut:]]


class CNN(nn.Module):
    """conv(16) - conv(32) - pool - linear(64) - linear(10) on 1x8x8 inputs (flat 64 in)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(32 * 16, 64), nn.ReLU(), nn.Linear(64, 10),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int) -> nn.Module:
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


def rel_err(a: torch.Tensor, ref: torch.Tensor) -> float:
    return float((a - ref).norm() / ref.norm())


def timed(fn: Callable[[int], torch.Tensor], repeats: int) -> tuple[float, list[torch.Tensor]]:
    fn(10_000)  # warm-up
    times, outs = [], []
    for r in range(repeats):
        t = time.perf_counter()
        outs.append(fn(r))
        times.append(time.perf_counter() - t)
    return statistics.median(times), outs


def methods(model: nn.Module, x: torch.Tensor, refs: torch.Tensor, t: torch.Tensor) -> dict:
    from captum.attr import GradientShap

    gs = GradientShap(model)

    def ours(k: int, sampling: str) -> Callable[[int], torch.Tensor]:
        return lambda seed: (
            pathattr.expected_gradients(
                model, x, references=refs, target=t, samples=k, sampling=sampling, seed=seed
            ).attributions
        )

    def captum(k: int) -> Callable[[int], torch.Tensor]:
        def run(seed: int) -> torch.Tensor:
            torch.manual_seed(seed)
            np.random.seed(seed)
            return gs.attribute(x, refs, n_samples=k, stdevs=0.0, target=t).detach()

        return run

    def shap_(k: int) -> Callable[[int], torch.Tensor]:
        import shap

        def run(seed: int) -> torch.Tensor:
            expl = shap.GradientExplainer(model, refs, batch_size=k)
            vals, ranks = expl.shap_values(x, nsamples=k, ranked_outputs=1, rseed=seed)
            assert bool((torch.as_tensor(np.asarray(ranks))[:, 0] == t).all())
            return torch.as_tensor(np.asarray(vals)).reshape(x.shape).float()

        return run

    return {
        "pathattr random": lambda k: ours(k, "random"),
        "pathattr stratified": lambda k: ours(k, "stratified"),
        "pathattr sobol": lambda k: ours(k, "sobol"),
        "captum GradientShap": captum,
        "shap GradientExplainer": shap_,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/expected_gradients.md"))
    ap.add_argument("--plot", default=str(ROOT / "docs/img/eg_error_vs_samples.png"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    n, r_count = (8, 64) if args.quick else (32, 256)
    ks = [50, 200] if args.quick else [50, 200, 800]
    repeats = 3 if args.quick else 5
    sweep_ks = [16, 64] if args.quick else [16, 64, 256, 1024]
    seeds = 3 if args.quick else 10

    xtr, ytr, xte, yte = digits()
    lines = [
        "# Expected Gradients: pathattr vs SHAP GradientExplainer vs Captum GradientShap",
        "",
        f"Command: `OMP_NUM_THREADS=1 python benchmarks/expected_gradients.py"
        f"{' --quick' if args.quick else ''}`",
        "",
        f"Machine: {platform.machine()}, {torch.get_num_threads()} torch thread "
        f"(2 CPU cores shared with other jobs: times are noisy; compare within a table only), "
        f"torch {torch.__version__}, Python {platform.python_version()}.",
        "",
        f"Setup: N = {n} test digits, R = {r_count} training digits as references, target = the "
        "predicted class, k samples per example for every library. Error: ||A − A*|| / ||A*|| "
        "(L2 over the batch) against A* = mean over all R references of IG with 128 "
        "Gauss-Legendre nodes (`pathattr.noise_integrated_gradients(..., baselines=refs)`). "
        f"Time: median of {repeats} runs; error: mean over the same runs (different seeds).",
        "",
    ]
    plot_data: dict[str, dict[str, tuple[list[int], list[float]]]] = {}
    for name, model, epochs in (
        ("MLP 64-256-256-10", nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256),
                                            nn.ReLU(), nn.Linear(256, 10)), 30),
        ("CNN 16c-32c-pool-64-10", CNN(), 15),
    ):  # fmt: skip
        t0 = time.perf_counter()
        model = train(model, xtr, ytr, epochs if not args.quick else 3)
        with torch.no_grad():
            acc = float((model(xte).argmax(1) == yte).float().mean())
        x, refs = xte[:n], xtr[:r_count]
        with torch.no_grad():
            target = model(x).argmax(1)
        exact = pathattr.noise_integrated_gradients(
            model, x, target=target, baselines=refs, steps=128, warn_tol=0.0
        )
        a_star = exact.attributions
        assert isinstance(a_star, torch.Tensor)
        lines += [
            f"## {name} (test accuracy {acc:.1%}, trained in {time.perf_counter() - t0:.0f} s)",
            "",
            f"A*: max relative completeness residual {float(exact.relative_delta.max()):.1e} "
            "(quadrature error of the reference itself).",
            "",
            "| k | library | time (s) | vs pathattr random | rel. error to A* |",
            "| --- | --- | --- | --- | --- |",
        ]
        table = methods(model, x, refs, target)
        results: dict[tuple[str, int], tuple[float, float]] = {}
        for k in ks:
            for label, make in table.items():
                reps = repeats if "shap" not in label or k <= 200 else 3
                sec, outs = timed(make(k), reps)
                err = float(np.mean([rel_err(o, a_star) for o in outs]))
                results[(label, k)] = (sec, err)
            base = results[("pathattr random", k)][0]
            for label in table:
                sec, err = results[(label, k)]
                lines.append(f"| {k} | {label} | {sec:.4f} | {sec / base:.2f}x | {err:.4f} |")
        # error at equal time: the largest pathattr k whose time fits the peer's time
        lines += ["", "Error at equal time (pathattr stratified, largest k tried that is no "
                  "slower than the peer):", ""]  # fmt: skip
        extra_ks = sorted({*ks, *(4 * k for k in ks), *(16 * k for k in ks)})
        ours_at: dict[int, tuple[float, float]] = {}
        for k in extra_ks:
            sec, outs = timed(table["pathattr stratified"](k), 3)
            ours_at[k] = (sec, float(np.mean([rel_err(o, a_star) for o in outs])))
        lines += ["| peer | peer k | peer time (s) | peer error | pathattr k | pathattr time (s) "
                  "| pathattr error |", "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for peer in ("captum GradientShap", "shap GradientExplainer"):
            for k in ks:
                sec, err = results[(peer, k)]
                fit = [kk for kk, (s, _) in ours_at.items() if s <= sec]
                if fit:
                    kk = max(fit)
                    s2, e2 = ours_at[kk]
                    lines.append(f"| {peer} | {k} | {sec:.4f} | {err:.4f} | {kk} | {s2:.4f} | "
                                 f"{e2:.4f} |")  # fmt: skip
                else:
                    lines.append(f"| {peer} | {k} | {sec:.4f} | {err:.4f} | — | — | — |")
        # samplers
        lines += ["", f"Samplers (pathattr, mean ± sd of the relative error over {seeds} seeds; "
                  "ratio = random error / this error):", "",
                  "| k | random | stratified | sobol | ratio stratified | ratio sobol |",
                  "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        curves: dict[str, tuple[list[int], list[float]]] = {}
        for k in sweep_ks:
            row = {}
            for mode in ("random", "stratified", "sobol"):
                errs = [
                    rel_err(
                        pathattr.expected_gradients(
                            model,
                            x,
                            references=refs,
                            target=target,
                            samples=k,
                            sampling=mode,
                            seed=s,
                        ).attributions,  # type: ignore[arg-type]
                        a_star,
                    )
                    for s in range(seeds)
                ]
                row[mode] = (float(np.mean(errs)), float(np.std(errs)))
                curves.setdefault(mode, ([], []))[0].append(k)
                curves[mode][1].append(row[mode][0])
            lines.append(
                f"| {k} | " + " | ".join(f"{m:.4f} ± {s:.4f}" for m, s in row.values())
                + f" | {row['random'][0] / row['stratified'][0]:.2f} | "
                f"{row['random'][0] / row['sobol'][0]:.2f} |"
            )  # fmt: skip
        plot_data[name] = curves
        lines.append("")
    _plot(plot_data, args.plot)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _plot(data: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(data), figsize=(5 * len(data), 3.6))
    for ax, (name, curves) in zip(np.atleast_1d(axes), data.items()):
        for mode, (ks, errs) in curves.items():
            ax.loglog(ks, errs, "o-", label=mode)
        k0, e0 = curves["random"][0][0], curves["random"][1][0]
        kk = np.array(curves["random"][0], dtype=float)
        ax.loglog(kk, e0 * np.sqrt(k0 / kk), "k:", label="1/√k")
        ax.set_title(name)
        ax.set_xlabel("samples per example k")
        ax.set_ylabel("relative L2 error to exact EG")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
