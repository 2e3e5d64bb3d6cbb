"""Feature interactions on the diabetes data: Integrated and Expected Hessians.

Run:
    python examples/feature_interactions.py          # a few seconds on a CPU
    python examples/feature_interactions.py --plot   # writes docs/img/interactions_diabetes.png
"""

import argparse
from pathlib import Path

import torch
from sklearn.datasets import load_diabetes

import pathattr

ap = argparse.ArgumentParser()
ap.add_argument("--plot", action="store_true", help="write docs/img/interactions_diabetes.png")
args = ap.parse_args()

# 442 patients, 10 standardised features, disease progression after one year (ships with sklearn)
data = load_diabetes()
names = list(data.feature_names)
x = torch.tensor(data.data, dtype=torch.float32)
x = (x - x.mean(0)) / x.std(0)
y = torch.tensor(data.target, dtype=torch.float32)
y = (y - y.mean()) / y.std()
torch.manual_seed(0)
# softplus, not ReLU: a ReLU network's Hessian is zero almost everywhere, so it has no
# interactions for Integrated Hessians to find
model = torch.nn.Sequential(
    torch.nn.Linear(10, 32), torch.nn.Softplus(), torch.nn.Linear(32, 32), torch.nn.Softplus(),
    torch.nn.Linear(32, 1),
)  # fmt: skip
opt = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
train, test = slice(0, 350), slice(350, None)
for _ in range(300):
    opt.zero_grad()
    torch.nn.functional.mse_loss(model(x[train]).squeeze(1), y[train]).backward()
    opt.step()
model.eval()
f = torch.nn.Sequential(model, torch.nn.Flatten(0))  # one output per patient
with torch.no_grad():
    print("test R^2:", float(1 - ((f(x[test]) - y[test]) ** 2).mean() / y[test].var()))

# 1. Integrated Hessians against the average patient (all zeros after standardising)
patients = x[test][:4]
ih = pathattr.integrated_hessians(f, patients, baselines=0.0)
print(ih)
gamma = ih.attributions  # (4, 10, 10): interactions; rows sum to the IG attributions
ig = ih.extras["main_effects"]
print("rows vs IG, worst |row sum - IG|:", float((gamma.sum(2) - ig).abs().max()))
print("symmetric to", float((gamma - gamma.transpose(1, 2)).abs().max()))
off = gamma[0] - torch.diag(gamma[0].diagonal())
i, j = divmod(int(off.abs().argmax()), 10)
print(f"patient 0: strongest interaction {names[i]} x {names[j]} = {float(off[i, j]):+.3f}")

# 2. only the pairs you need: bmi with every feature (one Hessian row per point)
bmi = names.index("bmi")
pairs = [(bmi, k) for k in range(10)]
sel = pathattr.integrated_hessians(f, patients, baselines=0.0, pairs=pairs)
print("bmi row (patient 0):", [round(float(v), 3) for v in sel.attributions[0]])

# 3. Expected Hessians over the training patients (rows sum to Expected Gradients)
eh = pathattr.expected_hessians(f, x[test], references=x[train], samples=128, seed=0)
mean_abs = eh.attributions.abs().mean(0)
print(eh)
print("mean |interaction| bmi x bp:", float(mean_abs[bmi, names.index("bp")]))

if args.plot:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.3))
    lim = float(gamma[0].abs().max())
    im0 = axes[0].imshow(gamma[0].numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
    axes[0].set_title("Integrated Hessians, one patient\n(rows sum to its IG attributions)")
    shown = mean_abs - torch.diag(mean_abs.diagonal())
    im1 = axes[1].imshow(shown.numpy(), cmap="viridis")
    axes[1].set_title(
        f"Expected Hessians, mean |interaction|\n(off-diagonal, {len(eh.output)} test patients)"
    )
    for ax, im in ((axes[0], im0), (axes[1], im1)):
        ax.set_xticks(range(10), names, rotation=90)
        ax.set_yticks(range(10), names)
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    out = Path(__file__).resolve().parents[1] / "docs" / "img" / "interactions_diabetes.png"
    fig.savefig(out, dpi=90)
    print("wrote", out)
