"""pathattr.metrics: deletion/insertion curves, infidelity, max-sensitivity, randomisation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from conftest import cnn, mlp

import pathattr
from pathattr import metrics as M
from pathattr.metrics.curves import feature_ranks, masked_inputs

captum_metrics = pytest.importorskip("captum.metrics")

# IG on untrained / randomised models with few steps is inaccurate by design here; the metrics,
# not the attributions, are under test
pytestmark = pytest.mark.filterwarnings("ignore::pathattr.CompletenessWarning")


class Linear(torch.nn.Module):
    """f(x) = w · x, one output per example."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1) @ self.w.reshape(-1)


class Recorder(torch.nn.Module):
    """Sums its inputs and remembers every batch it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.clone())
        return x.reshape(x.shape[0], -1).sum(1)


# ---------------------------------------------------------------- deletion / insertion


def test_deletion_on_linear_model_is_exact_monotone_and_beats_every_random_order():
    torch.manual_seed(0)
    d = 12
    w = torch.rand(d) + 0.1
    x = torch.rand(3, d) + 0.1  # all contributions w_i x_i > 0
    model = Linear(w)
    ig = pathattr.integrated_gradients(model, x, steps=8)
    curve = M.deletion_curve(model, x, ig, steps=d)
    # exact: removing the k largest contributions (to a zero baseline)
    contrib = torch.sort(w * x, dim=1, descending=True).values
    expected = model(x)[:, None] - torch.cat([torch.zeros(3, 1), contrib.cumsum(1)], 1)
    torch.testing.assert_close(curve.scores, expected, rtol=1e-5, atol=1e-5)
    diffs = curve.scores.diff(dim=1)
    assert bool((diffs < 0).all())  # monotone: every deleted feature lowers the output
    assert bool((diffs.diff(dim=1) >= -1e-5).all())  # convex: largest drops first
    for seed in range(20):
        g = torch.Generator().manual_seed(seed)
        rand = M.deletion_curve(model, x, torch.rand(x.shape, generator=g), steps=d)
        assert bool((curve.scores <= rand.scores + 1e-5).all())
        assert bool((curve.auc <= rand.auc + 1e-6).all())
    assert curve.auc.shape == (3,)
    torch.testing.assert_close(curve.auc, torch.trapezoid(curve.scores, curve.fractions.float()))


def test_insertion_on_linear_model_with_mixed_signs_is_pointwise_best_order():
    torch.manual_seed(1)
    d = 6
    w = torch.randn(d)
    x = torch.randn(2, d)
    model = Linear(w)
    attr = pathattr.integrated_gradients(model, x, steps=4).attributions
    ins = M.insertion_curve(model, x, attr, replacement="baseline", steps=d)
    dele = M.deletion_curve(model, x, attr, replacement="baseline", steps=d)
    # IG ordering is the best of all d! orderings at every point for insertion and deletion
    for perm in itertools.permutations(range(d)):
        order_attr = torch.empty(d)
        order_attr[list(perm)] = torch.arange(d, 0, -1).float()
        a = order_attr.expand(2, d)
        assert bool((ins.scores >= M.insertion_curve(model, x, a, replacement="baseline",
                                                     steps=d).scores - 1e-5).all())  # fmt: skip
        if perm[0] % 3 == 0:  # a third of them is enough for deletion
            other = M.deletion_curve(model, x, a, replacement="baseline", steps=d)
            assert bool((dele.scores <= other.scores + 1e-5).all())
    torch.testing.assert_close(ins.scores[:, 0], torch.zeros(2))
    torch.testing.assert_close(ins.scores[:, -1], model(x))


def test_replacements_produce_the_expected_values():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 9, 9)
    base = torch.rand(1, 3, 9, 9)
    torch.testing.assert_close(M.make_replacement(x, "baseline", base), base.expand_as(x))
    torch.testing.assert_close(M.make_replacement(x, "baseline"), torch.zeros_like(x))
    mean = M.make_replacement(x, "mean")
    torch.testing.assert_close(mean[:, :, 4, 4], x.mean(dim=(2, 3)))
    assert bool((mean == mean[:, :, :1, :1]).all())
    torch.testing.assert_close(M.make_replacement(x, 0.5), torch.full_like(x, 0.5))
    # blur: constants are fixed points; an impulse spreads into a symmetric kernel of mass 1
    const = torch.full((1, 2, 9, 9), 3.0)
    torch.testing.assert_close(M.make_replacement(const, "blur", blur_sigma=1.0), const)
    imp = torch.zeros(1, 1, 21, 21)
    imp[0, 0, 10, 10] = 1.0
    b = M.gaussian_blur(imp, 1.5)
    torch.testing.assert_close(b.sum(), torch.tensor(1.0))
    torch.testing.assert_close(b, b.flip(-1))
    torch.testing.assert_close(b, b.transpose(-1, -2))
    assert float(b[0, 0, 10, 10]) == pytest.approx(float(b.max()))
    assert 0 < float(b[0, 0, 10, 10]) < 1
    # 2-D inputs blur along the feature dimension
    v = torch.zeros(1, 15)
    v[0, 7] = 1.0
    assert float(M.gaussian_blur(v, 1.0)[0, 6]) > 0


@pytest.mark.parametrize("replacement", ["baseline", "mean", "blur"])
def test_curves_feed_the_model_exactly_the_masked_images(replacement):
    torch.manual_seed(0)
    x = torch.rand(2, 3, 4, 4)
    attr = torch.randn(2, 3, 4, 4)
    rec = Recorder()
    repl = M.make_replacement(x, replacement, blur_sigma=1.0)
    # batch_size=None: the probe rows of "auto" would show up among the recorded batches
    M.deletion_curve(rec, x, attr, replacement=replacement, steps=4, blur_sigma=1.0,
                     batch_size=None)  # fmt: skip
    seen = torch.cat(rec.seen).reshape(2, 5, 3, 4, 4)
    torch.testing.assert_close(seen[:, 0], x)
    torch.testing.assert_close(seen[:, -1], repl)
    # at 1/4 the 4 pixels with the largest channel-summed attribution are gone, all channels
    pix = attr.sum(1).reshape(2, -1)
    top = torch.topk(pix, 4, dim=1).indices
    for e in range(2):
        gone = torch.zeros(16, dtype=torch.bool)
        gone[top[e]] = True
        gone_img = gone.reshape(1, 4, 4).expand(3, 4, 4)
        torch.testing.assert_close(seen[e, 1][gone_img], repl[e][gone_img])
        torch.testing.assert_close(seen[e, 1][~gone_img], x[e][~gone_img])
    rec.seen.clear()
    M.insertion_curve(rec, x, attr, replacement=replacement, steps=4, blur_sigma=1.0,
                      batch_size=None)  # fmt: skip
    seen = torch.cat(rec.seen).reshape(2, 5, 3, 4, 4)
    torch.testing.assert_close(seen[:, 0], repl)
    torch.testing.assert_close(seen[:, -1], x)


def test_feature_dims_and_batching():
    torch.manual_seed(0)
    model = cnn()
    x = torch.rand(3, 1, 8, 8)
    a = torch.randn(3, 1, 8, 8)
    full = M.deletion_curve(model, x, a, target=[0, 3, 7], steps=8)
    chunked = M.deletion_curve(model, x, a, target=[0, 3, 7], steps=8, batch_size=5)
    torch.testing.assert_close(full.scores, chunked.scores)
    assert full.n_features == 64
    elem = M.deletion_curve(model, x, a, target=2, feature_dims=(1, 2, 3), steps=[0, 0.5, 1])
    assert elem.fractions.tolist() == [0, 0.5, 1]
    ranks = feature_ranks(a, (2, 3))
    out = masked_inputs("deletion", x, torch.zeros_like(x), ranks, torch.tensor([64]),
                        torch.tensor([1]), (2, 3))  # fmt: skip
    assert bool((out == 0).all())


# ---------------------------------------------------------------- Captum agreement


def _table_perturb(table: torch.Tensor):
    """A stateful perturb_func reading consecutive rows of a precomputed table."""
    pos = [0]

    def perturb(inputs):
        n = inputs.shape[0]
        p = table[pos[0] : pos[0] + n]
        pos[0] += n
        return p, inputs - p

    return perturb


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("normalize", [False, True])
def test_infidelity_matches_captum(kind, normalize):
    torch.manual_seed(0)
    model = mlp() if kind == "mlp" else cnn()
    x = torch.randn(5, 10) if kind == "mlp" else torch.rand(5, 1, 8, 8)
    target = [0, 1, 2, 3, 1]
    attr = pathattr.integrated_gradients(model, x, target=target, steps=32).attributions
    s = 7
    table = 0.1 * torch.randn(5 * s, *x.shape[1:])
    ours = M.infidelity(model, _table_perturb(table), x, attr, target=target,
                        n_perturb_samples=s, normalize=normalize)  # fmt: skip
    theirs = captum_metrics.infidelity(model, _table_perturb(table), x, attr, target=target,
                                       n_perturb_samples=s, normalize=normalize)  # fmt: skip
    torch.testing.assert_close(ours, theirs.reshape(-1), rtol=1e-5, atol=1e-7)
    # chunks are contiguous slices of the same rows: a stateful perturb_func sees the same
    chunked = M.infidelity(model, _table_perturb(table), x, attr, target=target,
                           n_perturb_samples=s, normalize=normalize, batch_size=4)  # fmt: skip
    torch.testing.assert_close(chunked, ours, rtol=1e-5, atol=1e-7)


def test_infidelity_with_baselines_and_random_perturbations_matches_captum():
    torch.manual_seed(0)
    model = mlp()
    x = torch.randn(4, 10)
    base = torch.randn(1, 10)
    attr = torch.randn(4, 10)

    def perturb(inputs, baselines):
        mask = (torch.rand(inputs.shape) > 0.5).float()
        p = mask * (inputs - baselines)
        return p, inputs - p

    ours = M.infidelity(model, perturb, x, attr, base, 2, n_perturb_samples=6, seed=11)
    torch.manual_seed(11)
    theirs = captum_metrics.infidelity(model, perturb, x, attr, base, target=2,
                                       n_perturb_samples=6)  # fmt: skip
    torch.testing.assert_close(ours, theirs.reshape(-1), rtol=1e-5, atol=1e-7)
    # the seed makes it reproducible and leaves the global generator alone
    state = torch.get_rng_state()
    again = M.infidelity(model, perturb, x, attr, base, 2, n_perturb_samples=6, seed=11)
    assert torch.equal(state, torch.get_rng_state())
    torch.testing.assert_close(again, ours)


def test_infidelity_multi_input_with_forward_args_matches_captum(two_input):
    torch.manual_seed(0)
    img, vec, scale = torch.rand(3, 1, 6, 6), torch.randn(3, 3), torch.rand(3)
    attrs = (torch.randn(3, 1, 6, 6), torch.randn(3, 3))
    tables = (0.1 * torch.randn(12, 1, 6, 6), 0.1 * torch.randn(12, 3))

    def perturb(inputs):
        p = tuple(t[: x.shape[0]] for t, x in zip(tables, inputs))
        return p, tuple(x - q for x, q in zip(inputs, p))

    ours = M.infidelity(two_input, perturb, (img, vec), attrs, target=[0, 2, 4],
                        n_perturb_samples=4, forward_args=(scale,))  # fmt: skip
    theirs = captum_metrics.infidelity(two_input, perturb, (img, vec), attrs, target=[0, 2, 4],
                                       n_perturb_samples=4,
                                       additional_forward_args=(scale,))  # fmt: skip
    torch.testing.assert_close(ours, theirs.reshape(-1), rtol=1e-5, atol=1e-7)


def test_infidelity_is_zero_for_exact_linear_attributions():
    # for a linear model the gradient explains every perturbation exactly
    torch.manual_seed(0)
    model = Linear(torch.randn(8))
    x = torch.randn(3, 8)

    def perturb(inputs):
        p = torch.randn(inputs.shape)
        return p, inputs - p

    grad = model.w.expand(3, 8)
    assert float(M.infidelity(model, perturb, x, grad, n_perturb_samples=5, seed=0).max()) < 1e-8
    wrong = M.infidelity(model, perturb, x, -grad, n_perturb_samples=5, seed=0)
    assert float(wrong.min()) > 1e-2


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_max_sensitivity_matches_captum_on_the_same_perturbations(kind):
    torch.manual_seed(0)
    model = mlp() if kind == "mlp" else cnn()
    x = torch.randn(4, 10) if kind == "mlp" else torch.rand(4, 1, 8, 8)
    target = [0, 1, 2, 3]
    s = 5
    noise = 0.05 * torch.randn(4 * s, *x.shape[1:])

    def perturb(inputs):  # deterministic: the precomputed noise for the repeated rows
        return inputs + noise

    def explain(inputs, target=None):
        # Captum passes (and expects back) a tuple for the unperturbed inputs
        if isinstance(inputs, tuple):
            return (explain(inputs[0], target),)
        return pathattr.integrated_gradients(model, inputs, target=target, steps=32).attributions

    ours = M.max_sensitivity(explain, x, perturb_func=perturb, n_perturb_samples=s,
                             target=target)  # fmt: skip
    theirs = captum_metrics.sensitivity_max(explain, x, perturb_func=perturb,
                                            n_perturb_samples=s, target=target)  # fmt: skip
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-6)
    chunked = M.max_sensitivity(explain, x, perturb_func=perturb, n_perturb_samples=s,
                                target=target, batch_size=3)  # fmt: skip
    torch.testing.assert_close(chunked, ours, rtol=1e-4, atol=1e-6)


def test_max_sensitivity_default_perturbation_matches_captum_with_the_same_seed():
    torch.manual_seed(0)
    model = mlp()
    x = torch.randn(3, 10)

    def explain(inputs, target=None):
        if isinstance(inputs, tuple):
            return (explain(inputs[0], target),)
        return pathattr.saliency(model, inputs, target=target).attributions

    ours = M.max_sensitivity(explain, x, n_perturb_samples=6, target=1, seed=5,
                             perturb_radius=0.1)  # fmt: skip
    torch.manual_seed(5)
    theirs = captum_metrics.sensitivity_max(explain, x, n_perturb_samples=6, target=1,
                                            perturb_radius=0.1)  # fmt: skip
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-7)
    assert bool((ours > 0).all())
    # a linear model's gradient does not move at all
    lin = Linear(torch.randn(10))
    flat = M.max_sensitivity(lambda v: pathattr.saliency(lin, v), x, seed=0)
    assert float(flat.max()) == 0.0


# ---------------------------------------------------------------- randomisation


@pytest.fixture(scope="module")
def digits_mlp():
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32)
    y = torch.tensor(data.target)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32), torch.nn.ReLU(),
        torch.nn.Linear(32, 10),
    )  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    acc = float((model(x).argmax(1) == y).float().mean())
    assert acc > 0.95
    return model, x[:16], model(x[:16]).argmax(1)


@pytest.mark.parametrize("method", ["integrated_gradients", "saliency"])
def test_randomisation_decorrelates_trained_model_attributions(digits_mlp, method):
    model, x, pred = digits_mlp
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fn = getattr(pathattr, method)
    res = M.model_randomisation(fn, model, x, pred)
    assert res.layers == ["(none)", "4", "2", "0"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])  # the user's model is untouched
    torch.testing.assert_close(res.spearman[0], torch.ones(16, dtype=torch.float64))
    # randomising the top layer already destroys most of the rank agreement
    assert float(res.spearman[1].mean()) < 0.5
    assert float(res.spearman[-1].mean()) < 0.5
    assert res.spearman.shape == (4, 16)
    assert "| (none) | 1.000" in res.table()
    independent = M.model_randomisation(fn, model, x, pred, cascading=False, layers=["0"])
    assert independent.layers == ["(none)", "0"]
    assert float(independent.spearman[1].mean()) < 0.9


def test_randomisation_is_seeded():
    model = mlp()
    x = torch.randn(4, 10)
    a = M.model_randomisation(pathattr.integrated_gradients, model, x, 0, seed=3)
    b = M.model_randomisation(pathattr.integrated_gradients, model, x, 0, seed=3)
    torch.testing.assert_close(a.spearman, b.spearman)


def test_spearman_and_pearson_match_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, size=(3, 40)).astype(float)  # many ties
    b = a + rng.normal(size=(3, 40))
    ours = M.spearman(torch.tensor(a), torch.tensor(b))
    for i in range(3):
        assert float(ours[i]) == pytest.approx(stats.spearmanr(a[i], b[i]).statistic, abs=1e-10)
        assert float(M.pearson(torch.tensor(a), torch.tensor(b))[i]) == pytest.approx(
            stats.pearsonr(a[i], b[i]).statistic, abs=1e-10
        )
    np.testing.assert_allclose(M.rankdata(torch.tensor(a)).numpy(),
                               stats.rankdata(a, axis=1))  # fmt: skip


# ---------------------------------------------------------------- plots


def test_plots_write_png(tmp_path, digits_mlp):
    model, x, pred = digits_mlp
    ig = pathattr.integrated_gradients(model, x, target=pred, steps=8)
    curves = {
        "IG deletion": M.deletion_curve(model, x, ig, pred, steps=8),
        "IG insertion": M.insertion_curve(model, x, ig, pred, steps=8, replacement="mean"),
    }
    M.plot_curves(curves, tmp_path / "curves.png", title="digits")
    res = M.model_randomisation(pathattr.saliency, model, x, pred)
    res.plot(tmp_path / "rand.png")
    for name in ("curves.png", "rand.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    d = curves["IG deletion"].to_dict()
    assert d["kind"] == "deletion" and len(d["auc"]) == 16


# ---------------------------------------------------------------- errors


def test_bad_input_errors_name_the_argument():
    model = mlp()
    x = torch.randn(2, 10)
    a = torch.randn(2, 10)
    with pytest.raises(ValueError, match="attributions: expected the input's shape"):
        M.deletion_curve(model, x, torch.randn(2, 9), 0)
    with pytest.raises(ValueError, match="replacement: expected one of baseline, blur, mean"):
        M.deletion_curve(model, x, a, 0, replacement="zeros")
    with pytest.raises(ValueError, match="steps: expected at least two strictly increasing"):
        M.insertion_curve(model, x, a, 0, steps=[0.5, 0.2])
    with pytest.raises(ValueError, match="steps: expected an int >= 1"):
        M.deletion_curve(model, x, a, 0, steps=0)
    with pytest.raises(TypeError, match="inputs: expected one batch-first tensor"):
        M.deletion_curve(model, (x, x), (a, a), 0)
    with pytest.raises(ValueError, match="feature_dims: expected non-batch dimensions"):
        M.deletion_curve(model, x, a, 0, feature_dims=(0,))
    with pytest.raises(ValueError, match="blur_sigma"):
        M.deletion_curve(model, x, a, 0, replacement="blur", blur_sigma=0)
    with pytest.raises(ValueError, match="target: index 12 is out of range"):
        M.deletion_curve(model, x, a, 12)
    with pytest.raises(TypeError, match="perturb_func: expected it to return"):
        M.infidelity(model, lambda v: v, x, a, target=0)
    with pytest.raises(ValueError, match="perturb_func: expected perturbed inputs"):
        M.infidelity(model, lambda v: (v, v[:1]), x, a, target=0)
    with pytest.raises(ValueError, match="n_perturb_samples: expected an int >= 1"):
        M.infidelity(model, lambda v: (v, v), x, a, target=0, n_perturb_samples=0)
    with pytest.raises(ValueError, match="norm_ord"):
        M.max_sensitivity(lambda v: v, x, norm_ord="nuc")
    with pytest.raises(ValueError, match="explain_func: expected attributions with a batch"):
        M.max_sensitivity(lambda v: v[:1], x)
    with pytest.raises(ValueError, match="layers: expected names from model.named_modules"):
        M.model_randomisation(pathattr.saliency, model, x, 0, layers=["nope"])
    with pytest.raises(ValueError, match="layers: module '1' has no reset_parameters"):
        M.model_randomisation(pathattr.saliency, model, x, 0, layers=["1"])
    with pytest.raises(TypeError, match="model: expected a torch.nn.Module"):
        M.model_randomisation(pathattr.saliency, lambda v: v, x, 0)
    with pytest.raises(ValueError, match="curves: expected a non-empty mapping"):
        M.plot_curves({}, None)


def test_auto_batch_size_chunks_model_calls_and_keeps_the_draws(monkeypatch):
    """ "auto" (the default) splits the model calls at the engine's CPU cap; the perturbations
    are still drawn in one call, so a seeded random perturb_func gives exactly the unchunked
    values (and Captum's)."""
    from pathattr.engine import memory

    monkeypatch.setattr(memory, "cpu_cache_bytes", lambda: 1)  # cap = MIN_CPU_CHUNK_ROWS
    torch.manual_seed(0)
    inner = mlp()
    calls: list[int] = []

    def model(x):
        calls.append(x.shape[0])
        return inner(x)

    x, attr = torch.randn(5, 10), torch.randn(5, 10)

    def perturb(inputs):
        p = 0.1 * torch.randn(inputs.shape)
        return p, inputs - p

    auto = M.infidelity(model, perturb, x, attr, target=1, n_perturb_samples=6, seed=3)
    assert max(calls) <= memory.MIN_CPU_CHUNK_ROWS and sum(calls) >= 5 + 30
    calls.clear()
    one = M.infidelity(model, perturb, x, attr, target=1, n_perturb_samples=6, seed=3,
                       batch_size=None)  # fmt: skip
    assert calls == [35]
    torch.testing.assert_close(auto, one, rtol=1e-6, atol=1e-8)

    calls.clear()
    curve = M.deletion_curve(model, x, attr, target=1, steps=10, replacement="mean")
    assert max(calls) <= memory.MIN_CPU_CHUNK_ROWS
    whole = M.deletion_curve(model, x, attr, target=1, steps=10, replacement="mean",
                             batch_size=None)  # fmt: skip
    torch.testing.assert_close(curve.scores, whole.scores)
    with pytest.raises(ValueError, match="batch_size"):
        M.deletion_curve(model, x, attr, target=1, batch_size="big")
