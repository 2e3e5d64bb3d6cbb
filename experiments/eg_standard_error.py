"""Does Expected Gradients' reported standard error match the spread of the estimate over seeds?

For every reference source (tensor, Dataset, callable sampler, ``"batch"``) and sampling mode
(random, stratified, Sobol), ``pathattr.expected_gradients`` runs once per seed (``--seeds``,
200 by default) on a tiny tanh MLP in float64.  Per feature of every example:

* ``sd``: the empirical standard deviation of the attribution across the seeds (the truth the
  standard error should estimate);
* ``ratio``: the mean over seeds of the reported ``extras["standard_error"]`` divided by ``sd``;
  ``rms ratio``: the root-mean-square reported SE divided by ``sd`` (what an unbiased variance
  estimate gives 1 for; the mean SE is a little lower by Jensen's inequality).

The table reports the median over features/examples (and the 10% and 90% quantiles of
``ratio``).  "rel. sd" is the mean over features of ``sd`` divided by the random mode's for the
same source and k: the price of the sampling design (< 1 = more accurate than i.i.d.).

Settings: "R=64, k=32" draws fewer samples than references (the usual case); "R=8, k=64" draws
every reference many times (stratification then balances the references, the case where the
i.i.d. formula overstated the error most); ``"batch"`` uses 40 examples as each other's
references.

A second table gives the accuracy side (``--digits``): the relative L2 error to the exact EG
of random / stratified / Sobol sampling in the setting of ``benchmarks/expected_gradients.py``
(its digits MLP, N = 32, R = 256 references, 10 seeds), since honest standard errors for
stratified and Sobol sampling need independent replicates, which cost part of their gain.

Run (about a minute on one core, two with ``--digits``):

    OMP_NUM_THREADS=1 PYTHONPATH=src python experiments/eg_standard_error.py --digits

Writes ``experiments/results/eg_standard_error.md`` (``--out`` to write elsewhere, e.g. to
measure another checkout with ``PYTHONPATH=/other/src``).
"""

from __future__ import annotations

import argparse
import inspect
import time
from pathlib import Path
from typing import Any

import torch

import pathattr

OUT = Path(__file__).parent / "results" / "eg_standard_error.md"
MODES = ("random", "stratified", "sobol")


def dataset_of(rows: torch.Tensor) -> torch.utils.data.TensorDataset:
    """A map-style dataset of (x, label) items over reference rows."""
    return torch.utils.data.TensorDataset(rows, torch.zeros(len(rows)))


def tiny_mlp(d: int = 8) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(d, 16), torch.nn.Tanh(), torch.nn.Linear(16, 16), torch.nn.Tanh(),
        torch.nn.Linear(16, 3),
    ).double().eval()  # fmt: skip


def randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def settings() -> list[tuple[str, torch.Tensor, Any, int]]:
    """(name, inputs, references, k) for every reference source measured."""
    x, x_batch = randn(4, 8, seed=1), randn(40, 8, seed=4)
    refs64, refs8 = randn(64, 8, seed=2), randn(8, 8, seed=3)

    def sampler(n: int, g: torch.Generator) -> torch.Tensor:
        # a continuous reference distribution: Gaussian rows
        return torch.randn(n, 8, generator=g, dtype=torch.float64)

    return [
        ("tensor, R=64, k=32", x, refs64, 32),
        ("tensor, R=8, k=64", x, refs8, 64),
        ("Dataset, R=64, k=32", x, dataset_of(refs64), 32),
        ("callable sampler, k=32", x, sampler, 32),
        ('"batch" (N=40), k=32', x_batch, "batch", 32),
    ]


def measure(
    model: torch.nn.Module, x: torch.Tensor, refs: Any, k: int, mode: str, seeds: int
) -> dict[str, float]:
    """Median SE/sd ratios over features for one source and sampling mode."""
    attrs, ses = [], []
    for s in range(seeds):
        r = pathattr.expected_gradients(
            model, x, references=refs, target=0, samples=k, sampling=mode, seed=s
        )
        attrs.append(r.attributions)
        ses.append(r.extras["standard_error"])
    a, se = torch.stack(attrs), torch.stack(ses)
    sd = a.std(0)
    ratio = (se.mean(0) / sd).reshape(-1)
    rms = (se.pow(2).mean(0).sqrt() / sd).reshape(-1)
    return {
        "median": float(ratio.median()),
        "q10": float(ratio.quantile(0.1)),
        "q90": float(ratio.quantile(0.9)),
        "rms": float(rms.median()),
        "sd": float(sd.mean()),
        "method": str(r.extras.get("standard_error_method", "iid (sd/sqrt k)")),
    }


def digits_sweep(seeds: int = 10) -> list[str]:
    """Error to the exact EG per sampling mode, the benchmark's digits MLP setting."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from expected_gradients import digits, rel_err, train  # type: ignore[import-not-found]

    xtr, ytr, xte, _ = digits()
    net = torch.nn.Sequential(
        torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 10),
    )  # fmt: skip
    model = train(net, xtr, ytr, 30)
    x, refs = xte[:32], xtr[:256]
    with torch.no_grad():
        target = model(x).argmax(1)
    exact = pathattr.noise_integrated_gradients(model, x, target=target, baselines=refs, steps=128)
    variants: list[tuple[str, str, dict[str, Any]]] = [(m, m, {}) for m in MODES]
    if "replicates" in inspect.signature(pathattr.expected_gradients).parameters:
        # one design of all k samples (conservative SE): the accuracy before replicates
        variants += [(f"{m} B=1", m, {"replicates": 1}) for m in ("stratified", "sobol")]
    names = [v[0] for v in variants]
    lines = [
        "",
        f"Accuracy (`--digits`): relative L2 error to the exact EG, mean over {seeds} seeds; "
        "digits MLP 64-256-256-10 of `benchmarks/expected_gradients.py`, N = 32, R = 256 "
        "references; gain = random error / this error; B = replicates (default choice; "
        "B=1 columns: `replicates=1`, one design of all k samples).",
        "",
        "| k | B | " + " | ".join([*names, *(f"gain {v}" for v in names[1:])]) + " |",
        "| --- " * (2 + 2 * len(names) - 1) + "|",
    ]
    for k in (16, 64, 256, 1024):
        errs, reps = {}, "1"
        for name, mode, kw in variants:
            vals = []
            for s in range(seeds):
                r = pathattr.expected_gradients(
                    model, x, references=refs, target=target, samples=k, sampling=mode, seed=s,
                    **kw,
                )  # fmt: skip
                vals.append(rel_err(r.attributions, exact.attributions))
            errs[name] = sum(vals) / len(vals)
            if name == "sobol":
                reps = str(r.extras.get("replicates", 1))
        lines.append(
            f"| {k} | {reps} | "
            + " | ".join(f"{errs[v]:.4f}" for v in names)
            + " | "
            + " | ".join(f"{errs['random'] / errs[v]:.2f}" for v in names[1:])
            + " |"
        )
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--label", default="this checkout")
    ap.add_argument("--digits", action="store_true", help="also the accuracy table (digits)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = tiny_mlp()
    t0 = time.perf_counter()
    lines = [
        f"# Expected Gradients: reported standard error vs spread over {args.seeds} seeds",
        "",
        f"Code: {args.label}.  Command: `OMP_NUM_THREADS=1 PYTHONPATH=src python "
        f"experiments/eg_standard_error.py --seeds {args.seeds}"
        f"{' --digits' if args.digits else ''}`.  Tiny tanh MLP 8-16-16-3 "
        "(float64), target 0; ratio = mean reported SE / empirical sd across seeds, per feature; "
        "median (10%-90% quantiles) over features and examples.  rel. sd = mean sd / the random "
        "mode's (same source).",
        "",
        "| references | sampling | SE method | median ratio | 10%-90% | median rms ratio "
        "| rel. sd |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, x, refs, k in settings():
        rows = {mode: measure(model, x, refs, k, mode, args.seeds) for mode in MODES}
        for mode, m in rows.items():
            lines.append(
                f"| {name} | {mode} | {m['method']} | {m['median']:.2f} | "
                f"{m['q10']:.2f}-{m['q90']:.2f} | {m['rms']:.2f} | "
                f"{m['sd'] / rows['random']['sd']:.2f} |"
            )
            print(lines[-1], flush=True)
    if args.digits:
        lines += digits_sweep()
    lines += ["", f"Wall time {time.perf_counter() - t0:.0f} s, {torch.__version__}."]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
