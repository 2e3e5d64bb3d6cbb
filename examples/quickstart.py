"""Integrated Gradients in ten lines: attribute a digits classifier's prediction.

Run: python examples/quickstart.py
"""

import torch
from sklearn.datasets import load_digits

import pathattr

digits = load_digits()
x = torch.tensor(digits.data[:512] / 16.0, dtype=torch.float32)
y = torch.tensor(digits.target[:512])
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for _ in range(200):
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
model.eval()

res = pathattr.integrated_gradients(model, x[:4], baselines=0.0, target=y[:4], steps=64)
print(res)  # completeness error and evaluations are reported with every result
print("attribution sums :", res.attributions.sum(1))
print("F(x) - F(x')     :", res.output - res.baseline_output)
print("top pixels of #0 :", res.attributions[0].topk(5).indices.tolist())
