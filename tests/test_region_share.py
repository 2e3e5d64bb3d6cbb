"""pathattr.metrics.region_share: the share of attribution mass inside a region."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pathattr
from pathattr.metrics import region_share


def randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def patch(h: int = 6, w: int = 5) -> torch.Tensor:
    r = torch.zeros(h, w, dtype=torch.bool)
    r[:2, :3] = True
    return r


def test_matches_a_per_example_numpy_loop_for_every_sign() -> None:
    a = randn(4, 3, 6, 5, seed=0)
    r = patch()
    an = a.numpy()
    for sign, mass in (
        ("absolute", np.abs),
        ("positive", lambda v: np.clip(v, 0, None)),
        ("negative", lambda v: np.clip(-v, 0, None)),
    ):
        want = [mass(an[i])[:, r.numpy()].sum() / mass(an[i]).sum() for i in range(4)]
        got = region_share(a, r, sign=sign)  # type: ignore[arg-type]
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


def test_a_region_and_its_complement_share_everything() -> None:
    a = randn(5, 1, 6, 5, seed=1)
    r = patch()
    for sign in ("absolute", "positive", "negative"):
        s = region_share(a, r, sign=sign) + region_share(a, ~r, sign=sign)  # type: ignore[arg-type]
        torch.testing.assert_close(s, torch.ones(5, dtype=torch.float64))
    full = torch.ones(6, 5, dtype=torch.bool)
    torch.testing.assert_close(region_share(a, full), torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(region_share(a, ~full), torch.zeros(5, dtype=torch.float64))


def test_shares_are_scale_free_and_per_example() -> None:
    a = randn(3, 1, 6, 5, seed=2)
    scaled = a * torch.tensor([1.0, 10.0, 1e-3], dtype=torch.float64).reshape(3, 1, 1, 1)
    torch.testing.assert_close(region_share(scaled, patch()), region_share(a, patch()))
    # each example alone gives the same share as in the batch
    for i in range(3):
        torch.testing.assert_close(
            region_share(a[i : i + 1], patch())[0], region_share(a, patch())[i]
        )


def test_broadcast_region_equals_the_explicit_one_and_per_example_regions_work() -> None:
    a = randn(3, 2, 6, 5, seed=3)
    explicit = patch().expand(3, 2, 6, 5).clone()
    torch.testing.assert_close(region_share(a, patch()), region_share(a, explicit))
    torch.testing.assert_close(region_share(a, patch()[None, None]), region_share(a, explicit))
    # one token per text: (N, T) scores with an (N, T) region
    scores = randn(3, 7, seed=4)
    where = torch.zeros(3, 7, dtype=torch.bool)
    where[torch.arange(3), torch.tensor([0, 3, 6])] = True
    want = scores.abs()[where] / scores.abs().sum(1)
    torch.testing.assert_close(region_share(scores, where), want)


def test_tuples_pool_their_mass_and_attribution_objects_are_read() -> None:
    a, b = randn(2, 6, seed=5), randn(2, 4, seed=6)
    ra = torch.tensor([True, False, False, True, False, False])
    rb = torch.tensor([False, True, True, False])
    joined = region_share(torch.cat([a, b], 1), torch.cat([ra, rb]))
    torch.testing.assert_close(region_share((a, b), (ra, rb)), joined)

    # IG of a linear model whose weights sit only inside the region: all the mass is inside
    w = torch.zeros(6, dtype=torch.float64)
    w[ra] = torch.tensor([2.0, -1.0], dtype=torch.float64)
    model = torch.nn.Linear(6, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(w[None])
    res = pathattr.integrated_gradients(model, randn(3, 6, seed=7), target=0, steps=4)
    torch.testing.assert_close(region_share(res, ra), torch.ones(3, dtype=torch.float64))


def test_no_mass_is_nan_with_a_warning() -> None:
    a = randn(3, 4, seed=8).abs()
    a[1] = 0
    with pytest.warns(UserWarning, match=r"1 example\(s\) \(rows \[1\]\) have no absolute mass"):
        s = region_share(a, torch.tensor([True, False, False, False]))
    assert bool(s[1].isnan()) and bool(s[[0, 2]].isfinite().all())
    # all-positive attributions have no negative mass at all
    with pytest.warns(UserWarning, match="3 example"):
        assert bool(
            region_share(a + 1, torch.ones(4, dtype=torch.bool), sign="negative").isnan().all()
        )


def test_bad_arguments_are_named() -> None:
    a = randn(2, 1, 6, 5, seed=9)
    with pytest.raises(TypeError, match="region: expected a boolean tensor, got a torch.float32"):
        region_share(a, patch().float())
    with pytest.raises(TypeError, match="region: expected a boolean tensor, got ndarray"):
        region_share(a, patch().numpy())
    with pytest.raises(
        ValueError, match=r"region: expected a shape that broadcasts .* got \(5, 6\)"
    ):
        region_share(a, patch().T)
    with pytest.raises(ValueError, match="region: expected 2 boolean tensor"):
        region_share((a, a), patch())
    with pytest.raises(ValueError, match="sign: expected one of absolute, positive, negative"):
        region_share(a, patch(), sign="abs")  # type: ignore[arg-type]
    bad = a.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="attributions"):
        region_share(bad, patch())
