"""XRAI against the reference (PAIR ``saliency`` 0.2.1) and with the rest of pathattr.

The reference is imported as installed by the dev extra; it runs unchanged on NumPy 2.4 (no
shim).  Its IG runs on float64 path points (NumPy 2 keeps ``np.linspace``'s float64 α), rounded
to float32 for the model, pathattr on float32 ones: ~1e-7 apart.  The test model is smooth
(tanh), so the IG attributions agree to float32 rounding, and so the regions; with ReLUs such a
difference can flip a unit at a path point (see benchmarks/results/xrai_vs_pair.md).  Each
segmentation costs ~0.3 s (every image is segmented at 224 x 224), so the images are few.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import pathattr
from pathattr.domains.segmentation import felzenszwalb_masks
from pathattr.methods.xrai_ranking import rank_regions
from pathattr.quadrature.rules import quadrature


def reference() -> object:
    try:
        from saliency.core import xrai as pair_xrai
    except ImportError:
        pytest.fail(
            "PAIR saliency is not installed: XRAI is checked against it; install the dev extra "
            "(`pip install -e '.[dev]'`, constraints/dev.txt pins saliency==0.2.1)"
        )
    return pair_xrai


def tiny_cnn(channels: int = 3, classes: int = 5) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(channels, 8, 3, padding=1), nn.Tanh(), nn.Conv2d(8, 8, 3, padding=1),
        nn.Tanh(), nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(128, classes),
    ).eval()  # fmt: skip


def pair_call(model: nn.Module, cls: int):  # type: ignore[no-untyped-def]
    """PAIR's call_model_function: HWC batches in, input gradients of class ``cls`` out."""
    from saliency.core.base import INPUT_OUTPUT_GRADIENTS

    def call(batch, call_model_args=None, expected_keys=None):  # type: ignore[no-untyped-def]
        xt = torch.tensor(np.asarray(batch), dtype=torch.float32).permute(0, 3, 1, 2)
        xt.requires_grad_(True)
        (g,) = torch.autograd.grad(model(xt)[:, cls].sum(), xt)
        return {INPUT_OUTPUT_GRADIENTS: g.permute(0, 2, 3, 1).numpy()}

    return call


def hwc(x: torch.Tensor) -> np.ndarray:
    return x.permute(1, 2, 0).numpy()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(3, 3, 24, 20, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def segs(images: torch.Tensor) -> list[np.ndarray]:
    return [felzenszwalb_masks(hwc(im)) for im in images]


@pytest.mark.parametrize("shape", [(24, 20, 3), (8, 8, 1)])
def test_regions_equal_the_reference(shape: tuple[int, ...]) -> None:
    ref = reference()
    im = np.random.default_rng(0).random(shape).astype(np.float32)
    theirs = [m for m in ref._get_segments_felzenszwalb(im) if m.any()]  # type: ignore[attr-defined]
    ours = felzenszwalb_masks(im)
    assert ours.shape == (len(theirs), *shape[:2])
    assert np.array_equal(ours, np.stack(theirs))


@pytest.mark.parametrize(
    "algorithm, area, min_diff", [("full", 1.0, 50), ("full", 0.3, 50), ("full", 1.0, 1),
                                  ("fast", 1.0, 50), ("fast", 1.0, 1)],
)  # fmt: skip
def test_ranking_equals_the_reference_on_the_same_attributions(
    images: torch.Tensor, segs: list[np.ndarray], algorithm: str, area: float, min_diff: int
) -> None:
    ref = reference()
    attr = np.random.default_rng(2).standard_normal((24, 20, 3)).astype(np.float32)
    params = ref.XRAIParameters(  # type: ignore[attr-defined]
        algorithm=algorithm, area_threshold=area, return_xrai_segments=True
    )
    params.experimental_params["min_pixel_diff"] = min_diff
    out = ref.XRAI().GetMaskWithDetails(  # type: ignore[attr-defined]
        hwc(images[0]), None, segments=list(segs[0]), base_attribution=attr,
        extra_parameters=params,
    )  # fmt: skip
    ours = rank_regions(attr.max(-1), segs[0], algorithm=algorithm, area_threshold=area,
                        min_pixel_diff=min_diff)  # fmt: skip
    assert np.array_equal(ours.ranks, out.segments)
    np.testing.assert_allclose(ours.saliency, out.attribution_mask, rtol=1e-6, atol=0)
    assert out.segments.max() > 1  # several regions: the order was really tested


@pytest.mark.parametrize("algorithm", ["full", "fast"])
def test_end_to_end_equals_the_reference(images: torch.Tensor, algorithm: str) -> None:
    ref = reference()
    model, targets = tiny_cnn(), [1, 3, 0]
    res = pathattr.xrai(model, images, target=targets, rule="linspace", algorithm=algorithm)
    for i, t in enumerate(targets):
        params = ref.XRAIParameters(  # type: ignore[attr-defined]
            algorithm=algorithm, return_ig_attributions=True, return_xrai_segments=True
        )
        out = ref.XRAI().GetMaskWithDetails(  # type: ignore[attr-defined]
            hwc(images[i]), pair_call(model, t), batch_size=100, extra_parameters=params
        )
        ig = np.mean(out.ig_attribution, 0)
        ours_ig = hwc(res.extras["pixel_attributions"][i])
        # float32 IG: agreement to a few float32 ulps of the largest attribution
        assert np.abs(ours_ig - ig).max() <= 1e-5 * np.abs(ig).max()
        assert np.array_equal(res.extras["ranks"][i].numpy(), out.segments)
        np.testing.assert_allclose(res.extras["map"][i].numpy(), out.attribution_mask,
                                   rtol=1e-5, atol=1e-6 * np.abs(ig).max())  # fmt: skip


def test_a_batch_gives_the_numbers_of_one_example_at_a_time(images: torch.Tensor) -> None:
    model = tiny_cnn()
    both = pathattr.xrai(model, images[:2], target=[4, 2], steps=16, workers=3)  # threads
    for i, t in enumerate([4, 2]):
        one = pathattr.xrai(model, images[i : i + 1], target=t, steps=16, workers=1)
        assert torch.equal(one.extras["ranks"][0], both.extras["ranks"][i])
        torch.testing.assert_close(one.attributions[0], both.attributions[i], rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(one.delta[0], both.delta[i], rtol=1e-4, atol=1e-6)


def test_the_map_keeps_the_attribution_mass_and_ranks_every_pixel(
    images: torch.Tensor, segs: list[np.ndarray]
) -> None:
    res = pathattr.xrai(tiny_cnn(), images[:2], target=1, steps=16, segments=segs[:2])
    per_pixel = res.extras["pixel_attributions"].amax(1)
    torch.testing.assert_close(res.extras["map"].sum((1, 2)), per_pixel.sum((1, 2)), rtol=1e-5,
                               atol=1e-6)  # fmt: skip
    for i in range(2):
        ranks, gains = res.extras["ranks"][i], res.extras["gains"][i]
        assert int(ranks.min()) == 1 and set(ranks.unique().tolist()) == set(
            range(1, len(gains) + 1)
        )
        for r, g in enumerate(gains.tolist()):  # every region is valued at its mean attribution
            region = ranks == r + 1
            assert abs(float(res.extras["map"][i][region].unique()) - g) <= 1e-5 * abs(g) + 1e-7
            assert abs(float(per_pixel[i][region].mean()) - g) <= 1e-4 * abs(g) + 1e-6
        assert bool((res.attributions[i] == res.extras["map"][i]).all())  # on every channel


def test_one_channel_images_keep_completeness_with_one_baseline() -> None:
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    report = pathattr.axioms.check(
        pathattr.xrai, tiny_cnn(1), x, baselines=0.0, target=2, checks=["completeness"]
    )
    assert report.results["completeness"].status == "pass", report


def test_works_with_metrics_viz_and_batch_attributor(images: torch.Tensor) -> None:
    from pathattr.engine.batch import BatchAttributor
    from pathattr.metrics.curves import deletion_curve
    from pathattr.viz.image import heatmap

    model = tiny_cnn()
    res = pathattr.xrai(model, images[:2], target=[0, 1], steps=8)
    curve = deletion_curve(model, images[:2], res, [0, 1], steps=4)
    assert curve.scores.shape == (2, 5) and bool(torch.isfinite(curve.auc).all())
    pic = heatmap(res.attributions[0], hwc(images[0]))
    assert pic.shape == (24, 20, 3)
    run = BatchAttributor(model, "xrai", {"steps": 8})
    cols = run({"inputs": images[:2].numpy(), "target": np.array([0, 1])})
    np.testing.assert_allclose(cols["attributions"], res.attributions.numpy(), rtol=1e-5,
                               atol=1e-7)  # fmt: skip
    np.testing.assert_allclose(cols["delta"], res.delta.numpy(), rtol=1e-4, atol=1e-6)


def test_any_pixel_attribution_can_be_ranked(images: torch.Tensor, segs: list[np.ndarray]) -> None:
    model = tiny_cnn()
    sal = pathattr.saliency(model, images[:1], target=3)
    res = pathattr.xrai(model, images[:1], target=3, base_attribution=sal, segments=segs[:1])
    assert res.extras["pixel_attributions"].equal(sal.attributions)
    direct = rank_regions(sal.attributions[0].amax(0).numpy(), segs[0])
    assert np.array_equal(res.extras["ranks"][0].numpy(), direct.ranks)
    plain = pathattr.xrai(model, images[:1], target=3, base_attribution=sal.attributions,
                          segments=segs[:1])  # fmt: skip
    assert plain.attributions.equal(res.attributions) and bool(plain.delta.isnan().all())


def test_bad_input_gives_clear_errors(images: torch.Tensor) -> None:
    model = tiny_cnn()
    flat = nn.Sequential(nn.Linear(64, 3))
    with pytest.raises(ValueError, match=r"inputs: XRAI .*\(N, C, H, W\), got shape \(2, 64\)"):
        pathattr.xrai(flat, torch.rand(2, 64), target=0)
    with pytest.raises(TypeError, match="inputs: XRAI"):
        pathattr.xrai(model, (images,), target=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="algorithm: expected one of full, fast"):
        pathattr.xrai(model, images, target=0, algorithm="greedy")
    with pytest.raises(ValueError, match=r"area_threshold: expected a number in \[0, 1\]"):
        pathattr.xrai(model, images, target=0, area_threshold=1.5)
    with pytest.raises(ValueError, match=r"segments\[0\]: expected \(M, 24, 20\) masks"):
        pathattr.xrai(model, images[:1], target=0, segments=[np.ones((2, 8, 8), bool)])
    with pytest.raises(ValueError, match="base_attribution: expected a tensor"):
        pathattr.xrai(model, images[:1], target=0, base_attribution=torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="workers: expected an int >= 1, got 0"):
        pathattr.xrai(model, images[:1], target=0, workers=0)
    with pytest.raises(ValueError, match=r"baselines\[1\]: expected a tensor broadcastable"):
        pathattr.xrai(model, images[:1], target=0, baselines=[0.0, torch.zeros(2, 5)])


def test_empty_batch() -> None:
    res = pathattr.xrai(tiny_cnn(), torch.zeros(0, 3, 24, 20), target=0)
    assert res.attributions.shape == (0, 3, 24, 20) and res.extras["ranks"].shape == (0, 24, 20)


def test_linspace_rule_is_the_reference_ig_rule() -> None:
    rule = quadrature("linspace", 7)
    np.testing.assert_array_equal(rule.alphas, np.linspace(0, 1, 7))
    assert np.allclose(rule.weights, 1 / 7) and rule.includes_start and rule.includes_end
    lin = nn.Linear(6, 1)
    x = torch.rand(3, 6)
    res = pathattr.integrated_gradients(lin, x, steps=7, rule="linspace")
    assert float(res.relative_delta.max()) < 1e-5  # weights sum to 1: exact on linear models


def test_one_training_mode_warning(images: torch.Tensor, segs: list[np.ndarray]) -> None:
    from pathattr.engine.validate import TrainingModeWarning

    model = nn.Sequential(tiny_cnn(), nn.Dropout(0.0)).train()
    with pytest.warns(TrainingModeWarning) as record:
        pathattr.xrai(model, images[:1], target=0, steps=4, segments=segs[:1])
    assert sum(issubclass(w.category, TrainingModeWarning) for w in record) == 1


class Scaled(nn.Module):
    """A CNN whose output is scaled by a per-example forward argument."""

    def __init__(self) -> None:
        super().__init__()
        self.net = tiny_cnn()

    def forward(self, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return self.net(x) * scale[:, None]


def test_per_example_forward_args_and_callable_targets(
    images: torch.Tensor, segs: list[np.ndarray]
) -> None:
    model, scale = Scaled().eval(), torch.tensor([0.5, 2.0])
    both = pathattr.xrai(model, images[:2], target=[1, 2], steps=8, forward_args=(scale,),
                         segments=segs[:2])  # fmt: skip
    for i in range(2):
        one = pathattr.xrai(model, images[i : i + 1], target=[1, 2][i], steps=8,
                            forward_args=(scale[i : i + 1],), segments=segs[i : i + 1])  # fmt: skip
        ours, theirs = one.extras["pixel_attributions"][0], both.extras["pixel_attributions"][i]
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-7)
    by_callable = pathattr.xrai(model, images[:2], target=lambda out: out[:, 1], steps=8,
                                forward_args=(scale,), segments=segs[:2])  # fmt: skip
    by_int = pathattr.xrai(model, images[:2], target=1, steps=8, forward_args=(scale,),
                           segments=segs[:2])  # fmt: skip
    assert torch.equal(by_callable.attributions, by_int.attributions)
