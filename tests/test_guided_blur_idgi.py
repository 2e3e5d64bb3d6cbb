"""Guided IG, Blur IG and IDGI against PAIR's ``saliency`` package (the reference), batched.

PAIR's ``saliency`` 0.2.1 is a test-only dependency (the ``dev`` extra).  Its ``GuidedIG`` calls
``np.quantile(..., interpolation="lower")``, which NumPy >= 2.4 rejects (``interpolation`` was
renamed ``method``): :func:`pair_guided_ig` swaps in a NumPy namespace whose ``quantile`` maps
the old keyword to the new one, for the reference module only.

The comparisons run the torch models in float64 and hand PAIR float64 arrays, so PAIR's NumPy
code and pathattr do the same arithmetic: they agree to ~1e-12 (summation order).  The float32
comparison of Blur IG has a stated looser tolerance (see the test).
"""

from __future__ import annotations

import types
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import pathattr
from pathattr import BatchAttributor
from pathattr.axioms import check


def saliency_core():
    try:
        import saliency.core as sc
    except ImportError:
        pytest.fail(
            "PAIR's saliency package is not installed: the reference for Guided IG and Blur IG; "
            "install the dev extra (`pip install -e .[dev]`, which pins saliency==0.2.1)"
        )
    return sc


def pair_guided_ig():
    """PAIR's GuidedIG with NumPy 2.4's quantile keyword (see the module docstring)."""
    sc = saliency_core()
    from saliency.core import guided_ig

    def quantile(a, q, interpolation="linear", **kw):
        return np.quantile(a, q, method=interpolation, **kw)

    shim = types.SimpleNamespace(**{k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    shim.quantile = quantile
    guided_ig.np = shim
    return sc.GuidedIG()


def cnn(dtype=torch.float64, channels=1, size=8, classes=3, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(channels, 4, 3, padding=1), nn.Softplus(), nn.Flatten(),
        nn.Linear(4 * size * size, classes),
    ).to(dtype).eval()  # fmt: skip


def images(n=3, channels=1, size=8, dtype=torch.float64, seed=1):
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed)).to(
        dtype
    )


def grad_call(model, channels_last=False):
    """PAIR's call_model_function for a torch model: gradients of the class in call_model_args."""
    sc = saliency_core()

    def call(batch, call_model_args=None, expected_keys=None):
        arr = np.asarray(batch)
        t = torch.tensor(arr, dtype=next(model.parameters()).dtype)
        t = t.permute(0, 3, 1, 2) if channels_last else t
        t = t.contiguous().requires_grad_(True)
        (g,) = torch.autograd.grad(model(t)[:, call_model_args["c"]].sum(), t)
        g = g.permute(0, 2, 3, 1) if channels_last else g
        return {sc.base.INPUT_OUTPUT_GRADIENTS: g.detach().numpy()}

    return call


# ---------------------------------------------------------------- Guided IG


@pytest.mark.parametrize("kw", [{}, {"steps": 30, "fraction": 0.1, "max_dist": 0.1}])
def test_guided_ig_equals_pair(kw):
    model, x = cnn(), images()
    b = torch.full_like(x, 0.2)
    pair = pair_guided_ig()
    call = grad_call(model)
    pair_kw = {"x_steps": kw.get("steps", 200), **{k: v for k, v in kw.items() if k != "steps"}}
    ref = np.stack([
        pair.GetMask(x[i].numpy(), call, {"c": 1}, x_baseline=b[i].numpy(), **pair_kw)
        for i in range(len(x))
    ])  # fmt: skip
    res = pathattr.guided_integrated_gradients(model, x, baselines=b, target=1, **kw)
    np.testing.assert_allclose(res.attributions.numpy(), ref, rtol=0, atol=1e-12 * abs(ref).max())
    # the path really is guided: it differs from IG on the straight line
    ig = pathattr.integrated_gradients(model, x, baselines=b, target=1, steps=200)
    assert (res.attributions - ig.attributions).abs().max() > 1e-3 * ig.attributions.abs().max()


def test_guided_ig_torch_walk_equals_numpy_walk(monkeypatch):
    # small CPU batches walk in NumPy, large ones and GPUs in torch: the same arithmetic
    from pathattr.methods import guided_walk

    model, x = cnn(), images(4)
    b = torch.rand_like(x) * 0.3
    kw = {"baselines": b, "target": 0, "steps": 40, "fraction": 0.3, "warn_tol": None}
    in_numpy = pathattr.guided_integrated_gradients(model, x, **kw)
    monkeypatch.setattr(guided_walk, "NUMPY_MAX", 0)
    in_torch = pathattr.guided_integrated_gradients(model, x, **kw)
    torch.testing.assert_close(in_torch.attributions, in_numpy.attributions, rtol=1e-12, atol=0)


def test_guided_ig_float32_equals_pair_within_float32_rounding():
    # PAIR keeps the path in float64 and gets float32 gradients, as pathattr does; the result is
    # cast to float32 here (PAIR returns float64): the gap is float32 rounding of the sum
    model, x = cnn(torch.float32), images(dtype=torch.float32)
    pair, call = pair_guided_ig(), grad_call(model)
    ref = np.stack([pair.GetMask(x[i].numpy(), call, {"c": 2}) for i in range(len(x))])
    res = pathattr.guided_integrated_gradients(model, x, target=2)
    assert res.attributions.dtype == torch.float32
    np.testing.assert_allclose(res.attributions.numpy(), ref, rtol=0, atol=1e-6 * abs(ref).max())


def test_guided_ig_reports_residual_and_max_dist_0_is_left_riemann_ig():
    model, x = cnn(), images()
    res = pathattr.guided_integrated_gradients(model, x, target=0, steps=50)
    fx, fb = model(x)[:, 0], model(torch.zeros_like(x))[:, 0]
    torch.testing.assert_close(res.output, fx.detach())
    torch.testing.assert_close(res.baseline_output, fb.detach())
    torch.testing.assert_close(res.delta, res.attributions.sum((1, 2, 3)) - (fx - fb).detach())
    assert (res.delta != 0).all()  # a Riemann sum: a real residual, not rescaled away
    # max_dist = 0 pins every feature to the straight line: IG with the left Riemann rule
    flat = pathattr.guided_integrated_gradients(model, x, target=0, steps=50, max_dist=0.0)
    ig = pathattr.integrated_gradients(model, x, target=0, steps=50, rule="riemann_left")
    torch.testing.assert_close(flat.attributions, ig.attributions, rtol=1e-9, atol=1e-12)


def test_guided_ig_batch_equals_one_at_a_time_and_batch_size_bounds_calls():
    model, x = cnn(), images(5)
    calls = []
    model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    whole = pathattr.guided_integrated_gradients(
        model, x, target=2, steps=20, batch_size=2, warn_tol=None
    )
    assert max(calls) <= 2
    alone = torch.cat([
        pathattr.guided_integrated_gradients(model, x[i : i + 1], target=2, steps=20,
                                              warn_tol=None).attributions
        for i in range(len(x))
    ])  # fmt: skip
    torch.testing.assert_close(whole.attributions, alone, rtol=1e-10, atol=1e-14)


def test_guided_ig_multi_input_and_equal_baseline():
    torch.manual_seed(0)
    lin_a, lin_b = nn.Linear(3, 1).double(), nn.Linear(4, 1).double()

    def two(a, b):
        return torch.tanh(lin_a(a) + lin_b(b)).squeeze(1)

    a, b = torch.rand(2, 3, dtype=torch.float64), torch.rand(2, 4, dtype=torch.float64)
    res = pathattr.guided_integrated_gradients(two, (a, b), baselines=(a * 0, b * 0), steps=64)
    assert [t.shape for t in res.attributions] == [a.shape, b.shape]
    assert (res.relative_delta.abs() < 0.05).all()
    same = pathattr.guided_integrated_gradients(two, (a, b), baselines=(a, b), steps=8)
    assert all((t == 0).all() for t in same.attributions)  # PAIR: x == x' gives zeros


# ---------------------------------------------------------------- Blur IG


def pair_blur(model, x, **kw):
    sc = saliency_core()
    call = grad_call(model, channels_last=True)
    hwc = x.permute(0, 2, 3, 1).numpy()
    masks = [sc.BlurIG().GetMask(hwc[i], call, {"c": 1}, **kw) for i in range(len(x))]
    return torch.tensor(np.stack(masks)).permute(0, 3, 1, 2)


@pytest.mark.parametrize("kw", [{}, {"steps": 20, "max_sigma": 3.0, "grad_step": 0.05}])
def test_blur_ig_equals_pair(kw):
    model, x = cnn(channels=2, size=9), images(channels=2, size=9)
    ref = pair_blur(model, x, batch_size=7, **kw)
    res = pathattr.blur_integrated_gradients(model, x, target=1, warn_tol=None, **kw)
    torch.testing.assert_close(res.attributions, ref, rtol=0, atol=1e-12 * ref.abs().max())


def test_blur_ig_float32_equals_pair_within_forward_difference_rounding():
    # PAIR blurs in float32 (SciPy returns the input's dtype) and then divides the difference of
    # two float32 blurs by grad_step = 0.01: that difference loses ~2 digits, so PAIR's ∂x/∂σ
    # carries a relative error of ~1e-5; pathattr blurs in float64.  Tolerance: 1e-4 of the max.
    model, x = cnn(torch.float32), images(dtype=torch.float32)
    ref = pair_blur(model, x, steps=40)
    res = pathattr.blur_integrated_gradients(model, x, target=1, steps=40, warn_tol=None)
    assert res.attributions.dtype == torch.float32
    torch.testing.assert_close(res.attributions, ref.float(), rtol=0, atol=1e-4 * ref.abs().max())


def test_blur_ig_residual_against_the_blurred_image_and_exact_derivative():
    model, x = cnn(size=16), images(size=16)
    coarse = pathattr.blur_integrated_gradients(model, x, target=0, steps=20, max_sigma=4.0,
                                                warn_tol=None)  # fmt: skip
    blurred = pathattr.paths.blur.gaussian_blur(x, torch.full((3,), 4.0, dtype=x.dtype))
    torch.testing.assert_close(coarse.baseline_output, model(blurred)[:, 0].detach())
    torch.testing.assert_close(coarse.output, model(x)[:, 0].detach())
    assert (coarse.delta != 0).all()
    fine = pathattr.blur_integrated_gradients(model, x, target=0, steps=400, max_sigma=4.0,
                                              grad_step=None, rule="gausslegendre")  # fmt: skip
    # the exact ∂x/∂σ with a fine rule: small, but not 0: the kernel's radius int(4σ + 0.5)
    # jumps with σ, so the path has jumps (new taps of weight ~e^-8) that no derivative sees
    assert (fine.relative_delta.abs() < 5e-3).all()
    assert (fine.relative_delta.abs() < coarse.relative_delta.abs()).all()


def test_blur_ig_batch_equals_one_at_a_time_and_batch_size_bounds_calls():
    model, x = cnn(), images(4)
    calls = []
    model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    whole = pathattr.blur_integrated_gradients(model, x, target=1, steps=30, batch_size=16,
                                               warn_tol=None)  # fmt: skip
    assert max(calls) <= 16
    alone = torch.cat([
        pathattr.blur_integrated_gradients(model, x[i : i + 1], target=1, steps=30,
                                           batch_size=None, warn_tol=None).attributions
        for i in range(len(x))
    ])  # fmt: skip
    torch.testing.assert_close(whole.attributions, alone, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("shape", [(4, 10), (2, 1, 3, 4, 4), (3,)])
def test_blur_ig_refuses_non_images(shape):
    model = nn.Flatten()
    with pytest.raises(ValueError, match=r"inputs: Blur IG blurs images.*got shape"):
        pathattr.blur_integrated_gradients(lambda t: model(t).sum(1), torch.rand(shape))


def test_blur_ig_refuses_tuples_and_bad_options():
    x = images()
    with pytest.raises(ValueError, match="inputs: Blur IG blurs images.*tuple of 2"):
        pathattr.blur_integrated_gradients(lambda a, b: a.sum((1, 2, 3)), (x, x))
    with pytest.raises(ValueError, match="max_sigma"):
        pathattr.blur_integrated_gradients(cnn(), x, target=0, max_sigma=0)
    with pytest.raises(ValueError, match="grad_step"):
        pathattr.blur_integrated_gradients(cnn(), x, target=0, grad_step=-1.0)


# ---------------------------------------------------------------- IDGI


def reference_idgi(gradients, predictions):
    """The IDGI paper's algorithm as its reference states it (written here from the paper)."""
    out = np.zeros_like(gradients[0])
    for i in range(len(gradients) - 1):
        sq = gradients[i] ** 2
        out += sq * (predictions[i + 1] - predictions[i]) / sq.sum()
    return out


def test_idgi_on_ig_equals_the_reference_algorithm():
    # riemann_left with k steps: the reference's points linspace(0, 1, k + 1), the gradient at
    # each point but the last
    model, x = cnn(), images(2)
    k = 16
    res = pathattr.integrated_gradients(model, x, target=2, steps=k,
                                        idgi=True)  # fmt: skip
    for e in range(len(x)):
        pts = torch.stack([a * x[e] for a in np.linspace(0, 1, k + 1)]).requires_grad_(True)
        f = model(pts)[:, 2]
        (g,) = torch.autograd.grad(f.sum(), pts)
        ref = reference_idgi(list(g.numpy()), list(f.detach().numpy()))
        np.testing.assert_allclose(res.attributions[e].numpy(), ref, rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("method", ["ig", "guided", "blur"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_idgi_complete_by_construction(method, dtype):
    model, x = cnn(dtype), images(4, dtype=dtype)
    kw = {"target": 1, "steps": 6, "idgi": True}
    fns = {
        "ig": lambda: pathattr.integrated_gradients(model, x, **kw),
        "guided": lambda: pathattr.guided_integrated_gradients(model, x, **kw),
        "blur": lambda: pathattr.blur_integrated_gradients(model, x, **kw),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no completeness warning, even at 6 steps
        res = fns[method]()
    # exact up to rounding: the sum telescopes to F(x) − F(x'), whatever the step count
    eps = torch.finfo(dtype).eps
    change = (res.output - res.baseline_output).abs()
    assert (res.delta.abs() <= 64 * eps * (change + res.output.abs())).all(), res.delta
    # and without IDGI at 6 steps the same paths are far from complete
    plain = {**kw, "idgi": False, "warn_tol": None}
    off = {
        "ig": lambda: pathattr.integrated_gradients(model, x, **{**plain, "rule": "riemann_left"}),
        "guided": lambda: pathattr.guided_integrated_gradients(model, x, **plain),
        "blur": lambda: pathattr.blur_integrated_gradients(model, x, **plain),
    }[method]()
    assert off.relative_delta.abs().max() > 1e3 * res.relative_delta.abs().max()


@pytest.mark.parametrize("rule", ["riemann_left", "riemann_right", "riemann_middle",
                                  "gausslegendre", "riemann_trapezoid"])  # fmt: skip
def test_idgi_on_any_rule_is_complete_and_chunking_changes_nothing(rule):
    # Riemann left/right: the cell edges are nodes, F comes with the gradients (no extra call);
    # other rules evaluate F at their inner edges first.  batch_size=3 cuts examples (7 nodes)
    # mid-way, so rows wait for their neighbour's F across chunks.
    model, x = cnn(), images(3)
    whole = pathattr.integrated_gradients(model, x, target=1, steps=7, rule=rule, idgi=True,
                                          batch_size=None)  # fmt: skip
    chunked = pathattr.integrated_gradients(model, x, target=1, steps=7, rule=rule, idgi=True,
                                            batch_size=3)  # fmt: skip
    torch.testing.assert_close(chunked.attributions, whole.attributions, rtol=1e-12, atol=1e-15)
    assert (whole.relative_delta.abs() < 1e-12).all()
    free = rule in ("riemann_left", "riemann_right")
    assert whole.extras["idgi_forward_passes"] == (0 if free else 6)


def test_idgi_batch_equals_one_at_a_time_and_errors():
    model, x = cnn(), images(3)
    for fn in (pathattr.integrated_gradients, pathattr.blur_integrated_gradients,
               pathattr.guided_integrated_gradients):  # fmt: skip
        whole = fn(model, x, target=0, steps=10, idgi=True, batch_size=4)
        alone = torch.cat([fn(model, x[i : i + 1], target=0, steps=10, idgi=True).attributions
                           for i in range(len(x))])  # fmt: skip
        torch.testing.assert_close(whole.attributions, alone, rtol=1e-10, atol=1e-14)
    with pytest.raises(ValueError, match="idgi: needs a fixed step count"):
        pathattr.integrated_gradients(model, x, target=0, steps="auto", idgi=True)
    with pytest.raises(ValueError, match="idgi"):
        pathattr.integrated_gradients(model, x, target=0, idgi=True, multiply_by_inputs=False)
    with pytest.raises(TypeError, match="idgi: expected True or False"):
        pathattr.guided_integrated_gradients(model, x, target=0, idgi="yes")


# ---------------------------------------------------------------- the rest of the library


def test_batch_attributor_runs_the_new_methods():
    model, x = cnn(torch.float32), images(3, dtype=torch.float32)
    batch = {"inputs": x.numpy(), "target": np.array([0, 1, 2])}
    for method, opts in [
        ("guided_integrated_gradients", {"steps": 16}),
        ("blur_integrated_gradients", {"steps": 16, "warn_tol": None}),
        ("guided_integrated_gradients", {"steps": 16, "idgi": True}),
    ]:
        out = BatchAttributor(model, method, opts)(batch)
        fn = getattr(pathattr, method)
        direct = fn(model, x, target=torch.tensor([0, 1, 2]), **opts)
        np.testing.assert_allclose(out["attributions"], direct.attributions.numpy(), rtol=1e-6)
        np.testing.assert_allclose(out["delta"], direct.delta.numpy(), rtol=1e-6, atol=1e-7)


def test_axioms_check_on_the_new_methods():
    torch.manual_seed(0)
    lin = nn.Linear(6, 1).double()
    with torch.no_grad():
        lin.weight[0, 5] = 0.0  # feature 5 is a dummy

    def model(t):
        return torch.nn.functional.softplus(lin(t)).squeeze(1)

    x = torch.rand(3, 6, dtype=torch.float64) + 0.5

    def guided(m, inputs, *, baselines=None, target=None):
        return pathattr.guided_integrated_gradients(m, inputs, baselines=baselines, target=target,
                                                    steps=128)  # fmt: skip

    def guided_idgi(m, inputs, *, baselines=None, target=None):
        return pathattr.guided_integrated_gradients(m, inputs, baselines=baselines, target=target,
                                                    steps=16, idgi=True)  # fmt: skip

    checks = ("completeness", "sensitivity", "dummy")
    report = check(guided, model, x, checks=checks, dummy=[5])
    assert {k: r.status for k, r in report.results.items()} == dict.fromkeys(checks, "pass"), report
    # IDGI: complete and dummy-preserving, but it spends each step's change along the gradient,
    # so a feature equal to its baseline still gets a share: on inputs that differ from the
    # baseline in one feature, that feature gets only its gradient share (Sensitivity(a) fails)
    report = check(guided_idgi, model, x, checks=checks, dummy=[5])
    statuses = {k: r.status for k, r in report.results.items()}
    assert statuses == {"completeness": "pass", "sensitivity": "fail", "dummy": "pass"}, report
    one = x.clone()
    one[:, 1:] = 0.0
    res = guided_idgi(model, one)
    assert (res.attributions[:, 1:5].abs() > 1e-6).all()  # unchanged features, non-zero shares

    # Blur IG on images: its baseline is the blurred image, so it is checked on dummy features
    # (a pixel the model ignores) and on implementation invariance
    conv = cnn(torch.float64, size=6)
    with torch.no_grad():
        conv[3].weight.view(-1, 4, 6, 6)[:, :, 0, 0] = 0.0  # pixel (0, 0) feeds nothing...
        conv[0].weight[:, :, 0, 0] = 0.0  # ...and no conv tap reads it into (1, 1)
        conv[0].weight[:, :, :, 0] = 0.0
        conv[0].weight[:, :, 0, :] = 0.0

    def blur(m, inputs, *, target=None):
        return pathattr.blur_integrated_gradients(m, inputs, target=target, steps=16,
                                                  max_sigma=2.0, warn_tol=None)  # fmt: skip

    img = images(2, size=6)
    report = check(blur, conv, img, target=0, checks=("dummy", "implementation_invariance"),
                   dummy=[0])  # fmt: skip
    statuses = {k: r.status for k, r in report.results.items()}
    assert statuses["dummy"] == "pass", report
    assert statuses["implementation_invariance"] in ("pass", "n/a"), report


def test_metrics_take_the_new_methods():
    from pathattr import metrics

    model, x = cnn(torch.float32), images(2, dtype=torch.float32)
    for fn in (pathattr.guided_integrated_gradients, pathattr.blur_integrated_gradients):
        res = fn(model, x, target=0, steps=8, warn_tol=None)
        assert torch.isfinite(metrics.deletion_curve(model, x, res, target=0).auc).all()

        def method(m, inputs, *, target=None, fn=fn):
            return fn(m, inputs, target=target, steps=8, warn_tol=None)

        rnd = metrics.model_randomisation(method, model, x, target=0)
        # the untouched copy first: both methods are deterministic, so it correlates perfectly
        assert rnd.layers[0] == "(none)" and bool((rnd.spearman[0] > 0.999).all())
