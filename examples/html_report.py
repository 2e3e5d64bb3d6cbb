"""One self-contained HTML report of IG and EG on scikit-learn's 8 × 8 digits.

pip install 'pathattr[vision]'          # scikit-learn (the digits ship with it), matplotlib
python examples/html_report.py          # writes digits_report.html and digits_ig.pt
pathattr report digits_ig.pt --out digits_ig.html   # the same page for the saved IG results

Open digits_report.html in any browser (no network needed): the heat maps over the dimmed
digits, the completeness table (click a header to sort), the axiom matrix and the deletion /
insertion curves.
"""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits
from torch import nn

import pathattr
from pathattr import axioms
from pathattr.metrics import deletion_curve, insertion_curve

torch.manual_seed(0)
digits = load_digits()
x_all = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (1797, 1, 8, 8)
y_all = torch.tensor(digits.target)

# a small CNN, trained for a few seconds on 1500 digits
model = nn.Sequential(
    nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10)
)  # fmt: skip
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for _ in range(80):
    opt.zero_grad()
    nn.functional.cross_entropy(model(x_all[:1500]), y_all[:1500]).backward()
    opt.step()
model.eval()
x, y = x_all[1500:1512], y_all[1500:1512]  # 12 held-out digits
with torch.no_grad():
    pred = model(x).argmax(1)
print(f"held-out accuracy on these 12: {(pred == y).float().mean():.0%}")

ig = pathattr.integrated_gradients(model, x, target=pred, steps=32)
eg = pathattr.expected_gradients(model, x, references=x_all[:200], target=pred, samples=64, seed=0)
curves = {
    f"{name} {kind.__name__.split('_')[0]}": kind(model, x, res, pred, steps=16)
    for name, res in (("IG", ig), ("EG", eg))
    for kind in (deletion_curve, insertion_curve)
}


# the axioms on two digits of the same model (class 0's logit); IG with 128 nodes
def ig_128(m, inputs, *, baselines=None, target=None):  # noqa: ANN001, ANN202
    return pathattr.integrated_gradients(m, inputs, baselines=baselines, target=target, steps=128)


checks = [
    axioms.check(ig_128, model, x[:2], target=0, name="IG"),
    axioms.check(pathattr.saliency, model, x[:2], target=0, name="saliency"),
]
page = pathattr.report(
    {"Integrated Gradients": (ig, x), "Expected Gradients": (eg, x), "axioms": checks, **curves},
    "digits_report.html",
    title="Digits: Integrated Gradients and Expected Gradients",
)
print(f"wrote {page} ({page.stat().st_size / 1e3:.0f} kB)")
saved = ig.save("digits_ig.pt", inputs=x)  # `pathattr report digits_ig.pt --out ...` draws it
print(f"saved the IG results with their inputs to {saved}")
