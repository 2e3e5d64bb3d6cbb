"""Graph attribution prior on a synthetic task with known feature groups (EG paper §2.4 analog).

The paper fine-tunes an AML drug-response MLP with ν·φ̄ᵀL_Gφ̄ (EG, k = 10) over a gene
graph and reports a higher test R² than the plain network (p = 2e-3 over 10 retrainings),
while the same prior on a randomized graph gives no significant gain (p = 0.23).  The gene
data are not available offline, so this uses a synthetic regression with known groups:

- 100 features in 10 groups of 10; each feature is its group's latent factor z_g ~ N(0, 1)
  plus N(0, 1.5²) noise, so averaging a group's members recovers z_g;
- y = Σ_g β_g z_g + N(0, 0.5²), with β_g ~ N(0, 1) for 5 random groups and 0 for the rest;
- the graph: every pair inside a group is an edge (450 edges); the random graph has 450 edges
  drawn uniformly among all pairs.

Per replicate: fresh data (100 train / 100 validation / 2000 test, standardized with training
statistics) and model seed; MLP [64] with ReLU; full-batch Adam lr 1e-3, 400 epochs; the
best-validation-MSE checkpoint.  Arms: no prior; graph prior on EG (k = 10 training references)
with the true graph; the same with the random graph; the true-graph prior on plain input
gradients.  λ of each prior arm is chosen per replicate from a grid by validation MSE.

Run:  OMP_NUM_THREADS=1 python experiments/priors_graph.py [--replicates 10]
Writes experiments/results/priors_graph.md and priors_graph.png.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from _priors_common import Timer, machine, mean_sd, paired  # noqa: E402

from pathattr import priors  # noqa: E402

RESULTS = Path(__file__).parent / "results"
P, GROUPS = 100, 10
GRID = [0.3, 1.0, 3.0, 10.0, 30.0]
ARMS = {
    "none": "no prior",
    "true": "graph prior, true graph (EG)",
    "random": "graph prior, random graph (EG)",
    "grad": "graph prior, true graph (gradients)",
}


def make_data(rep: int) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
    """[(x, y) train, validation, test] and the true graph's (2, E) edge list."""
    rng = np.random.default_rng(rep)
    n = 2200
    group = np.repeat(np.arange(GROUPS), P // GROUPS)
    z = rng.standard_normal((n, GROUPS))
    x = z[:, group] + 1.5 * rng.standard_normal((n, P))
    beta = np.zeros(GROUPS)
    active = rng.choice(GROUPS, 5, replace=False)
    beta[active] = rng.standard_normal(5)
    y = z @ beta + 0.5 * rng.standard_normal(n)
    idx = [np.arange(100), np.arange(100, 200), np.arange(200, n)]
    mu, sd = x[:100].mean(0), x[:100].std(0)
    ymu, ysd = y[:100].mean(), y[:100].std()
    parts = [
        (
            torch.tensor((x[i] - mu) / sd, dtype=torch.float32),
            torch.tensor((y[i] - ymu) / ysd, dtype=torch.float32),
        )
        for i in idx
    ]
    src, dst = np.triu_indices(P, 1)
    same = group[src] == group[dst]
    edges = torch.tensor(np.stack([src[same], dst[same]]))
    return parts, edges


def random_graph(n_edges: int, rep: int) -> torch.Tensor:
    """``n_edges`` distinct undirected edges drawn uniformly among all feature pairs."""
    rng = np.random.default_rng(10_000 + rep)
    src, dst = np.triu_indices(P, 1)
    pick = rng.choice(len(src), n_edges, replace=False)
    return torch.tensor(np.stack([src[pick], dst[pick]]))


def mlp(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(P, 64), nn.ReLU(), nn.Linear(64, 1))


def mse(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(((model(x)[:, 0] - y) ** 2).mean())


def train(data: list[Any], edges: torch.Tensor | None, lam: float, method: str, seed: int,
          epochs: int = 400) -> nn.Module:  # fmt: skip
    """Full-batch Adam; returns the best-validation-MSE checkpoint (checked every 5 epochs)."""
    (xtr, ytr), (xva, yva), _ = data
    model = mlp(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    prior = None
    if edges is not None:
        penalty = functools.partial(priors.graph, adjacency=edges)
        prior = priors.AttributionPrior(
            penalty, lam, method=method, references=xtr, samples=10, seed=seed
        )
    best, state = float("inf"), None
    for epoch in range(epochs):
        model.train()
        loss = ((model(xtr)[:, 0] - ytr) ** 2).mean()
        if prior is not None:
            loss = loss + prior(model, xtr)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if epoch % 5 == 4:
            m = mse(model.eval(), xva, yva)
            if m < best:
                best, state = m, {k: v.clone() for k, v in model.state_dict().items()}
    assert state is not None
    model.load_state_dict(state)
    return model.eval()


def run(reps: int) -> dict[str, dict[str, list[float]]]:
    res: dict[str, dict[str, list[float]]] = {a: {"r2": [], "lam": []} for a in ARMS}
    for rep in range(reps):
        data, edges = make_data(rep)
        graphs = {"true": edges, "random": random_graph(edges.shape[1], rep), "grad": edges}
        xte, yte = data[2]
        for arm in ARMS:
            if arm == "none":
                fits = [(0.0, train(data, None, 0.0, "expected_gradients", rep))]
            else:
                method = "gradients" if arm == "grad" else "expected_gradients"
                fits = [(lam, train(data, graphs[arm], lam, method, rep)) for lam in GRID]
            lam, model = min(fits, key=lambda f: mse(f[1], *data[1]))
            res[arm]["r2"].append(1 - mse(model, xte, yte) / float(yte.var(unbiased=False)))
            res[arm]["lam"].append(lam)
        print(rep, {a: round(r["r2"][-1], 3) for a, r in res.items()}, flush=True)
    return res


def report(res: dict[str, Any], reps: int, seconds: float) -> str:
    lines = [
        "# Graph attribution prior on synthetic grouped features",
        "",
        f"Command: `OMP_NUM_THREADS=1 python experiments/priors_graph.py --replicates {reps}`  ",
        f"Machine: {machine()} (shared CPU; {seconds / 60:.1f} min in total).  ",
        f"Replicates: {reps} (replicate r: data seed r, model seed r, random-graph seed "
        "10000 + r).  ",
        f"Protocol: see the script's docstring; λ grid {GRID} chosen per replicate by "
        "validation MSE; penalty `pathattr.priors.graph` = Σ over edges (φ̄_i − φ̄_j)², "
        "φ̄ = mean |attribution| over the training batch.",
        "",
        "| Arm | Test R² | median λ |",
        "|---|---|---|",
    ]
    for arm, label in ARMS.items():
        lines.append(f"| {label} | {mean_sd(res[arm]['r2'])} | {np.median(res[arm]['lam']):g} |")
    lines += ["", "Paired tests over replicates (test R²):", ""]
    for a, b in (("true", "none"), ("random", "none"), ("true", "random"), ("grad", "none")):
        lines.append(f"- {ARMS[a]} minus {ARMS[b]}: {paired(res[a]['r2'], res[b]['r2'])}")
    lines.append("")
    return "\n".join(lines)


def plot(res: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    base = np.asarray(res["none"]["r2"])
    for j, arm in enumerate(("true", "random", "grad")):
        d = np.asarray(res[arm]["r2"]) - base
        ax.scatter(np.full(len(d), j) + np.linspace(-0.15, 0.15, len(d)), d, s=16)
        ax.errorbar(j + 0.3, d.mean(), d.std(ddof=1), fmt="ko", capsize=3)
    ax.axhline(0, color="gray", lw=0.8)
    ax.set_xticks(range(3), ["true graph (EG)", "random graph (EG)", "true graph (grad)"])
    ax.set_ylabel("test R² minus no-prior R²")
    ax.set_title("Graph prior, per replicate")
    fig.tight_layout()
    fig.savefig(RESULTS / "priors_graph.png", dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replicates", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(1)
    timer = Timer()
    res = run(args.replicates)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "priors_graph.md").write_text(report(res, args.replicates, timer()))
    plot(res)
    print((RESULTS / "priors_graph.md").read_text())


if __name__ == "__main__":
    main()
