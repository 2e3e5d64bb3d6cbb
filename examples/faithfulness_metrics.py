"""Faithfulness metrics on a digits MLP: curves, infidelity, max-sensitivity, randomisation.

Run: ``python examples/faithfulness_metrics.py`` (about 10 s on a laptop CPU; writes two PNGs
to the current directory).
"""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits

import pathattr
from pathattr import metrics

# a small MLP on sklearn digits, trained in a second
data = load_digits()
x_all = torch.tensor(data.data / 16.0, dtype=torch.float32)
y_all = torch.tensor(data.target)
torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)
)  # fmt: skip
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for _ in range(200):
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(x_all[:1400]), y_all[:1400]).backward()
    opt.step()
model.eval()

x = x_all[1400:1464]
with torch.no_grad():
    pred = model(x).argmax(1)

ig = pathattr.integrated_gradients(model, x, target=pred, steps=32)
sal = pathattr.saliency(model, x, target=pred, absolute=True)

# 1. deletion / insertion curves of the predicted class's probability (pixels set to 0)
prob = torch.nn.Sequential(model, torch.nn.Softmax(dim=1)).eval()
curves = {}
for name, attr in (("IG", ig), ("saliency", sal), ("random", torch.rand_like(x))):
    curves[f"{name} deletion"] = metrics.deletion_curve(prob, x, attr, pred, steps=32)
    curves[f"{name} insertion"] = metrics.insertion_curve(
        prob, x, attr, pred, replacement="baseline", steps=32
    )
    print(f"{name:9s} deletion AUC {curves[f'{name} deletion'].mean_auc:.3f}   "
          f"insertion AUC {curves[f'{name} insertion'].mean_auc:.3f}")  # fmt: skip
metrics.plot_curves(curves, "faithfulness_curves.png", ylabel="probability")


# 2. infidelity with Captum's protocol: perturbations I and perturbed inputs x - I
def perturb(inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    noise = 0.1 * torch.randn_like(inputs)
    return noise, inputs - noise


for name, attr in (("IG", ig), ("saliency", sal)):
    inf = metrics.infidelity(model, perturb, x, attr, target=pred, n_perturb_samples=20, seed=0)
    print(f"{name:9s} infidelity (mean over digits) {float(inf.mean()):.4f}")


# 3. max-sensitivity of IG: how much does the explanation move in a 0.02 L-inf ball?
def explain(inputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return pathattr.integrated_gradients(model, inputs, target=target, steps=32).attributions


sens = metrics.max_sensitivity(explain, x, target=pred, n_perturb_samples=10, seed=0)
print(f"IG max-sensitivity: median {float(sens.median()):.4f}")

# 4. model randomisation: attributions must change when the layers are re-initialised
result = metrics.model_randomisation(pathattr.integrated_gradients, model, x, pred)
print(result)
result.plot("faithfulness_randomisation.png")
