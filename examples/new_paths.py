"""Guided IG, Blur IG and IDGI: three more path methods on the same engine.

python examples/new_paths.py            # a small CNN on sklearn digits (seconds)
python examples/new_paths.py --photo    # EfficientNet-Lite0 on a bundled photo: writes
                                        # new_paths.png, the picture of docs/paths.md (~2 min)
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

import pathattr


def digits_demo() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.Softplus(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10)
    ).eval()  # fmt: skip
    x = torch.tensor(load_digits().images[:8] / 16.0, dtype=torch.float32)[:, None]
    target = model(x).argmax(1)

    runs = {
        "IG": pathattr.integrated_gradients(model, x, target=target, steps=64),
        "Guided IG": pathattr.guided_integrated_gradients(model, x, target=target),
        "Blur IG": pathattr.blur_integrated_gradients(model, x, target=target, warn_tol=None),
        "IG + IDGI": pathattr.integrated_gradients(model, x, target=target, steps=64, idgi=True),
        "Guided IG + IDGI": pathattr.guided_integrated_gradients(
            model, x, target=target, idgi=True
        ),
        "Blur IG + IDGI": pathattr.blur_integrated_gradients(model, x, target=target, idgi=True),
    }
    # every result reports its completeness residual; IDGI's is rounding only.  Blur IG's
    # ΔF = F(x) − F(blurred x) can be tiny on 8x8 digits, so its relative residual can be huge
    for name, res in runs.items():
        rel = res.relative_delta.abs()
        print(
            f"{name:18s} |Σφ − ΔF| / |ΔF|: median {float(rel.median()):.1e}, worst "
            f"{float(rel.max()):.1e}  ({int(res.evaluations[0])} gradients per example)"
        )

    # dataset runs: BatchAttributor takes the new methods by name
    fn = pathattr.BatchAttributor(model, "guided_integrated_gradients", {"steps": 50, "idgi": True})
    out = fn({"inputs": x.numpy(), "target": target.numpy()})
    print("BatchAttributor:", out["attributions"].shape, "max |delta|", np.abs(out["delta"]).max())


def photo_figure(path: str = "new_paths.png") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pathattr import viz
    from pathattr.domains import vision

    model = vision.load_efficientnet_lite0()
    shown, x = vision.preprocess(vision.load_photo("chelsea"))
    with torch.no_grad():
        cls = int(model(x).argmax(1)[0])
    black = vision.black_baseline(x)
    common = {"target": cls, "batch_size": 32}
    rows = []
    for idgi in (False, True):
        rows.append([
            ("IG", pathattr.integrated_gradients(model, x, baselines=black, steps=64,
                                                 idgi=idgi, **common)),
            ("Guided IG", pathattr.guided_integrated_gradients(model, x, baselines=black,
                                                               idgi=idgi, **common)),
            ("Blur IG", pathattr.blur_integrated_gradients(model, x, idgi=idgi, **common)),
        ])  # fmt: skip
    fig, axes = plt.subplots(2, 4, figsize=(8, 4.3), dpi=80)
    axes[0, 0].imshow(shown)
    axes[0, 0].set_title(vision.class_name(cls).split(",")[0], fontsize=8)
    axes[1, 0].axis("off")
    for r, row in enumerate(rows):
        for c, (name, res) in enumerate(row, start=1):
            heat = viz.heatmap(res.attributions[0], shown, polarity="positive",
                               clip_above_percentile=99, clip_below_percentile=30)  # fmt: skip
            axes[r, c].imshow(heat)
            rel = float(res.relative_delta.abs().max())
            label = f"{name}{' + IDGI' if r else ''}\nresidual {rel:.1e}"
            axes[r, c].set_title(label, fontsize=8)
            print(label.replace("\n", ": "))
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path)
    from PIL import Image  # a matplotlib dependency: 256 colours keep the PNG under 200 kB

    Image.open(path).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(
        path, optimize=True
    )
    print("wrote", path)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--photo", action="store_true", help="EfficientNet-Lite0 heat maps (slow)")
    if ap.parse_args().photo:
        photo_figure()
    else:
        digits_demo()
