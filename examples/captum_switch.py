"""Switching from Captum is one import; the numbers are the same.

Run: python examples/captum_switch.py
"""

import torch

# from captum.attr import IntegratedGradients
from pathattr.captum import IntegratedGradients

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)).eval()
inputs = torch.randn(5, 8)

ig = IntegratedGradients(model)
attributions, delta = ig.attribute(
    inputs, baselines=0.0, target=1, n_steps=64, internal_batch_size=32,
    return_convergence_delta=True,
)  # fmt: skip
print(attributions.shape, delta)
