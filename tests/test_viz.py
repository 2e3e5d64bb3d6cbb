"""pathattr.viz heatmaps: polarity, mass-percentile clipping, overlay and input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pathattr import viz
from pathattr.viz.image import linear_transform, mass_threshold


def _attr() -> np.ndarray:
    """A (3, 8, 8) attribution: left half positive, right half negative, one extreme pixel."""
    a = np.zeros((3, 8, 8))
    a[:, :, :4] = 1.0
    a[:, :, 4:] = -1.0
    a[0, 0, 0] = 1000.0
    return a


def test_positive_polarity_is_green_on_positive_pixels_only() -> None:
    h = viz.heatmap(_attr(), polarity="positive", overlay=False)
    assert h.shape == (8, 8, 3)
    assert np.all(h[:, :, 0] == 0) and np.all(h[:, :, 2] == 0)
    assert np.all(h[:, :4, 1] > 0)
    assert np.all(h[:, 4:, 1] == 0)


def test_negative_polarity_is_red_on_negative_pixels_only() -> None:
    h = viz.heatmap(_attr(), polarity="negative", overlay=False)
    assert np.all(h[:, :, 1] == 0) and np.all(h[:, :, 2] == 0)
    assert np.all(h[:, 4:, 0] > 0)
    assert np.all(h[:, :4, 0] == 0)


def test_both_is_the_sum_of_positive_and_negative() -> None:
    a = _attr()
    both = viz.heatmap(a, polarity="both", overlay=False)
    pos = viz.heatmap(a, polarity="positive", overlay=False)
    neg = viz.heatmap(a, polarity="negative", overlay=False)
    np.testing.assert_allclose(both, np.clip(pos + neg, 0, 1))
    assert np.all(both[:, :4, 1] > 0) and np.all(both[:, 4:, 0] > 0)


def test_absolute_ignores_sign() -> None:
    a = _attr()
    np.testing.assert_allclose(
        viz.heatmap(a, polarity="absolute", overlay=False),
        viz.heatmap(np.abs(a), polarity="positive", overlay=False),
    )


def test_clip_above_keeps_one_outlier_from_washing_out_the_map() -> None:
    a = np.ones((3, 64, 64))
    a[0, 0, 0] = 30.0  # one pixel with 32 of 12320 units of mass (0.26%)
    unclipped = viz.heatmap(a, polarity="positive", clip_above_percentile=100.0, overlay=False)
    clipped = viz.heatmap(a, polarity="positive", clip_above_percentile=99.5, overlay=False)
    assert unclipped[0, 0, 1] == pytest.approx(1.0)
    # without clipping the ordinary pixels are dim; clipping the top 0.5% of mass saturates them
    assert unclipped[1, 1, 1] < 0.3
    assert clipped[1, 1, 1] == pytest.approx(1.0)
    assert clipped[0, 0, 1] == pytest.approx(1.0)


def test_clip_below_hides_the_weakest_mass() -> None:
    a = np.zeros((8, 8))
    a[0, :] = 10.0  # strong row: 80 of 88 units of mass
    a[1, :] = 1.0  # weak row: 8 units (9%)
    shown = viz.heatmap(a, polarity="positive", clip_below_percentile=0.0, overlay=False)
    hidden = viz.heatmap(a, polarity="positive", clip_below_percentile=20.0, overlay=False)
    assert np.all(shown[1, :, 1] > 0)
    assert np.all(hidden[1, :, 1] == 0)
    assert np.all(hidden[0, :, 1] > 0)


def test_mass_threshold_matches_cumulative_mass() -> None:
    v = np.array([4.0, 3.0, 2.0, 1.0])  # total 10
    assert mass_threshold(v, 0) == 4.0
    assert mass_threshold(v, 40) == 4.0  # 4 alone holds 40%
    assert mass_threshold(v, 50) == 3.0  # 4 + 3 = 70% >= 50%
    assert mass_threshold(v, 100) == 1.0
    t = linear_transform(v, clip_above_percentile=100, clip_below_percentile=0, lower_end=0.0)
    np.testing.assert_allclose(t, v / 4.0)


def test_overlay_uses_grey_photo_and_keeps_range() -> None:
    img = np.zeros((8, 8, 3))
    img[..., 0] = 1.0  # pure red photo -> grey 1/3
    h = viz.heatmap(np.zeros((3, 8, 8)), img, polarity="positive")
    np.testing.assert_allclose(h, 0.7 / 3)
    h2 = viz.heatmap(_attr(), img * 255, polarity="both")  # uint8-range photo accepted
    assert h2.min() >= 0 and h2.max() <= 1


def test_accepts_torch_and_batch_of_one() -> None:
    a = torch.as_tensor(_attr()).unsqueeze(0)
    np.testing.assert_allclose(viz.heatmap(a, overlay=False), viz.heatmap(_attr(), overlay=False))


def test_outlines_trace_region_boundary() -> None:
    a = np.zeros((20, 20))
    a[5:15, 5:15] = 1.0
    h = viz.heatmap(a, polarity="positive", outlines=True, overlay=False)
    assert h[5, 10, 1] == 1.0  # boundary
    assert h[10, 10, 1] == 0.0  # interior
    assert h[0, 0, 1] == 0.0  # outside


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"polarity": "up"}, "polarity"),
        ({"clip_above_percentile": 120.0}, "clip_above_percentile"),
        ({"clip_below_percentile": 99.95}, "clip_below_percentile"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        viz.heatmap(_attr(), overlay=False, **kwargs)


def test_bad_arrays_are_named() -> None:
    with pytest.raises(ValueError, match="attr: expected an image-shaped"):
        viz.heatmap(np.zeros(5))
    with pytest.raises(ValueError, match="attr: expected finite"):
        viz.heatmap(np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="image: expected height and width"):
        viz.heatmap(np.ones((4, 4)), np.ones((5, 5, 3)))


def test_save_heatmap_writes_png(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import matplotlib.pyplot as plt

    img = np.random.default_rng(0).random((32, 40, 3))
    path = viz.save_heatmap(
        tmp_path / "h.png", np.transpose(_attr_like(32, 40), (2, 0, 1)), img, title="t"
    )
    arr = plt.imread(path)
    assert arr.ndim == 3 and arr.shape[1] > arr.shape[0]  # three panels side by side


def _attr_like(h: int, w: int) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((h, w, 3))


def test_outlines_clean_up_specks_before_tracing() -> None:
    a = np.zeros((30, 30))
    a[5:20, 5:20] = 1.0  # a region
    a[26, 26] = 1.0  # an isolated speck with the same strength
    a[12, 12] = 0.0  # a pin-hole inside the region
    kw = dict(polarity="positive", outlines=True, overlay=False, outlines_component_percentage=100)
    clean = viz.heatmap(a, **kw)[:, :, 1]
    raw = viz.heatmap(a, morphological_cleanup=False, **kw)[:, :, 1]
    assert raw[26, 26] == 1.0 and clean[26, 26] == 0.0  # the speck is outlined only without
    assert clean[5, 10] == 1.0 and clean[12, 12] == 0.0  # the region's edge, not the pin-hole
    # the clean-up: closing fills the pin-hole, opening removes the speck
    level = viz.clean_up(a)
    assert level[12, 12] == 1.0 and level[26, 26] == 0.0 and level[10, 10] == 1.0


def test_overlay_dims_the_photo() -> None:
    photo = np.ones((8, 8, 3))  # white
    out = viz.heatmap(np.zeros((8, 8)), photo, overlay=True)
    np.testing.assert_allclose(out, 0.7)  # no heat: the grey photo at 70%
