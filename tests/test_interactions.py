"""Integrated and Expected Hessians: completeness of interactions, symmetry, path_explain parity.

path_explain (``pip install path-explain``, the authors' package) imports TensorFlow in its
``__init__``; its PyTorch explainer needs only torch, numpy and tqdm, so it is loaded from its
file (``path_explain/explainers/path_explainer_torch.py``) without running the package's
``__init__``.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

import pathattr
from pathattr.quadrature.interaction_rules import gauss_log, interaction_rule
from pathattr.result import CompletenessWarning


def path_explain_torch() -> ModuleType:
    """The authors' implementation (benchmarks/_path_explain.py); a failure, never a skip."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from _path_explain import path_explain_torch as load

    try:
        return load()
    except ImportError as e:
        pytest.fail(f"the interactions are checked against the authors' implementation: {e}")


def softplus_mlp(d: int = 6, seed: int = 0, dtype: torch.dtype = torch.float64):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(d, 16), torch.nn.Softplus(), torch.nn.Linear(16, 8), torch.nn.Tanh(),
        torch.nn.Linear(8, 1),
    ).to(dtype).eval()  # fmt: skip
    return net


def scalar(net: torch.nn.Module):
    return lambda x: net(x).squeeze(-1)


def test_gauss_log_rule_is_exact_for_polynomials() -> None:
    for n in (1, 3, 8, 24):
        t, w = gauss_log(n)
        assert np.all((t > 0) & (t < 1)) and np.all(w > 0)
        moments = [(w * t**j).sum() for j in range(2 * n)]
        np.testing.assert_allclose(moments, [1 / (j + 1) ** 2 for j in range(2 * n)], rtol=1e-12)


def test_reduced_integral_equals_the_double_integral() -> None:
    # ∫∫ g(αβ) dα dβ = ∫ g(t)(−ln t) dt: the Gauss–log rule agrees with a fine product rule
    g = np.cos
    fine = interaction_rule("gausslegendre", 60)
    for rule_name, steps in (("gausslog", 12), ("gausslegendre", 12)):
        r = interaction_rule(rule_name, steps)
        np.testing.assert_allclose((r.w_g * g(3 * r.t)).sum(), (fine.w_g * g(3 * fine.t)).sum())
        np.testing.assert_allclose((r.w_h * g(3 * r.t)).sum(), (fine.w_h * g(3 * fine.t)).sum())


def test_rows_sum_to_integrated_gradients_and_delta_is_reported() -> None:
    net = softplus_mlp()
    x, b = torch.randn(5, 6, dtype=torch.float64), torch.randn(1, 6, dtype=torch.float64)
    res = pathattr.integrated_hessians(scalar(net), x, baselines=b, steps=24)
    gamma = res.attributions
    ig = pathattr.integrated_gradients(scalar(net), x, baselines=b, steps=256).attributions
    torch.testing.assert_close(gamma.sum(2), ig, rtol=0, atol=1e-10)
    torch.testing.assert_close(res.extras["row_delta"], gamma.sum(2) - res.extras["main_effects"])
    assert float(res.extras["row_delta"].abs().max()) < 1e-10
    expected = gamma.sum((1, 2)) - (res.output - res.baseline_output)
    torch.testing.assert_close(res.delta, expected)
    assert float(res.relative_delta.max()) < 1e-10


def test_interaction_matrices_are_symmetric() -> None:
    for dtype, tol in ((torch.float64, 1e-14), (torch.float32, 1e-6)):
        net = softplus_mlp(dtype=dtype)
        x = torch.randn(4, 6, dtype=dtype)
        for res in (
            pathattr.integrated_hessians(scalar(net), x),
            pathattr.expected_hessians(scalar(net), x, references=torch.randn(9, 6).to(dtype),
                                       samples=30, seed=0),
        ):  # fmt: skip
            g = res.attributions
            assert float((g - g.transpose(1, 2)).abs().max()) <= tol * float(g.abs().max())
            # off the diagonal the interactions are not all zero: the check is not vacuous
            assert float((g - torch.diag_embed(g.diagonal(dim1=1, dim2=2))).abs().max()) > 1e-4


def test_integrated_hessians_equal_path_explain() -> None:
    # path_explain: num_samples = 100 -> a 10 × 10 linspace grid in (α, β); float32 rounding
    pe = path_explain_torch()
    net = softplus_mlp(dtype=torch.float32)
    x, b = torch.randn(4, 6), torch.randn(1, 6)
    theirs = (
        pe.PathExplainerTorch(net)
        .interactions(
            x.clone().requires_grad_(True), b, num_samples=100, use_expectation=False, verbose=False
        )
        .detach()
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompletenessWarning)  # the coarse grid misses IG by ~5%
        ours = pathattr.integrated_hessians(
            net, x, baselines=b, target=0, rule="linspace", steps=10
        )
    assert ours.extras["nodes"] == 37  # the 100 grid products take 37 distinct values
    torch.testing.assert_close(
        ours.attributions, theirs, rtol=0, atol=1e-6 * float(theirs.abs().max())
    )


def test_expected_hessians_equal_path_explain_on_its_draws() -> None:
    # path_explain's torch explainer draws, from torch's global RNG, α (n, m) and then one β
    # (n, m) per outer α; replaying that sequence feeds the same draws to pathattr.  With one
    # reference its inner and outer references coincide (see the module docstring of
    # pathattr.methods.interactions), which is the paper's estimator.
    pe = path_explain_torch()
    net = softplus_mlp(dtype=torch.float32)
    n, m = 3, 5
    x, ref = torch.randn(n, 6), torch.randn(1, 6)
    torch.manual_seed(11)
    theirs = (
        pe.PathExplainerTorch(net)
        .interactions(
            x.clone().requires_grad_(True),
            ref,
            num_samples=m * m,
            use_expectation=True,
            verbose=False,
        )
        .detach()
    )
    torch.manual_seed(11)
    alphas = torch.FloatTensor(n, m).uniform_(0, 1)
    betas = torch.stack([torch.FloatTensor(n, m).uniform_(0, 1) for _ in range(m)], 1)
    draws = (alphas[:, :, None].expand(n, m, m).reshape(n, m * m), betas.reshape(n, m * m),
             torch.zeros(n, m * m, dtype=torch.long))  # fmt: skip
    ours = pathattr.expected_hessians(net, x, references=ref, target=0, samples=m * m, draws=draws)
    torch.testing.assert_close(
        ours.attributions, theirs, rtol=0, atol=1e-6 * float(theirs.abs().max())
    )


def test_expected_hessians_average_integrated_hessians_over_references() -> None:
    # exact: every reference with the same (α, β) grid is the mean of Integrated Hessians
    net = softplus_mlp()
    x, refs = torch.randn(2, 6, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64)
    m = 4
    grid = torch.linspace(0, 1, m, dtype=torch.float64)
    a = grid[:, None].expand(m, m).reshape(-1).repeat(4)
    bb = grid[None, :].expand(m, m).reshape(-1).repeat(4)
    idx = torch.arange(4).repeat_interleave(m * m)
    k = 4 * m * m
    draws = (a.expand(2, k), bb.expand(2, k), idx.expand(2, k))
    eh = pathattr.expected_hessians(scalar(net), x, references=refs, samples=k, draws=draws)
    ih = [
        pathattr.integrated_hessians(scalar(net), x, baselines=refs[r : r + 1], rule="linspace",
                                     steps=m, warn_tol=None).attributions
        for r in range(4)
    ]  # fmt: skip
    torch.testing.assert_close(eh.attributions, torch.stack(ih).mean(0))
    torch.testing.assert_close(eh.baseline_output, scalar(net)(refs).mean().expand(2).detach())
    # and sampled: the Monte-Carlo estimate approaches the mean of exact Integrated Hessians
    exact = torch.stack([
        pathattr.integrated_hessians(scalar(net), x, baselines=refs[r : r + 1]).attributions
        for r in range(4)
    ]).mean(0)  # fmt: skip
    mc = pathattr.expected_hessians(scalar(net), x, references=refs, samples=4000, seed=3,
                                    sampling="stratified")  # fmt: skip
    assert float((mc.attributions - exact).abs().max()) < 0.03 * float(exact.abs().max())
    assert float(mc.extras["row_delta"].abs().max()) < 0.03 * float(exact.abs().max())


def test_batching_gives_the_numbers_of_one_at_a_time() -> None:
    net = softplus_mlp()
    x, refs = torch.randn(3, 6, dtype=torch.float64), torch.randn(5, 6, dtype=torch.float64)
    both = pathattr.integrated_hessians(scalar(net), x, steps=8)
    g = torch.Generator().manual_seed(0)
    draws = (torch.rand(3, 20, generator=g, dtype=torch.float64),
             torch.rand(3, 20, generator=g, dtype=torch.float64),
             torch.randint(0, 5, (3, 20), generator=g))  # fmt: skip
    eh = pathattr.expected_hessians(scalar(net), x, references=refs, samples=20, draws=draws)
    for e in range(3):
        one = pathattr.integrated_hessians(scalar(net), x[e : e + 1], steps=8)
        torch.testing.assert_close(one.attributions[0], both.attributions[e], rtol=0, atol=1e-14)
        d1 = tuple(d[e : e + 1] for d in draws)
        one_eh = pathattr.expected_hessians(
            scalar(net), x[e : e + 1], references=refs, samples=20, draws=d1
        )
        torch.testing.assert_close(one_eh.attributions[0], eh.attributions[e], rtol=0, atol=1e-14)


class CountRows(torch.nn.Module):
    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net, self.sizes = net, []  # type: list[int]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(int(x.shape[0]))
        return self.net(x).squeeze(-1)


def test_batch_size_bounds_the_rows_per_model_call() -> None:
    net = CountRows(softplus_mlp()).eval()
    x = torch.randn(4, 6, dtype=torch.float64)
    full = pathattr.integrated_hessians(net, x, steps=10, batch_size=None)
    assert max(net.sizes) >= 40
    net.sizes.clear()
    small = pathattr.integrated_hessians(net, x, steps=10, batch_size=7)
    assert max(net.sizes) <= 7 and small.extras["batch_size"] == 7
    torch.testing.assert_close(small.attributions, full.attributions, rtol=0, atol=1e-14)
    net.sizes.clear()
    auto = pathattr.integrated_hessians(net, x, steps=10)  # "auto": fits the measured memory
    assert auto.extras["batch_size"] is None or auto.extras["batch_size"] >= 1
    torch.testing.assert_close(auto.attributions, full.attributions, rtol=0, atol=1e-14)


def test_pairs_select_entries_of_the_full_matrix() -> None:
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Flatten(), softplus_mlp(d=6, seed=1)).eval()
    x = torch.randn(3, 2, 3, dtype=torch.float64)  # features of shape (2, 3)
    full = pathattr.integrated_hessians(scalar(net), x, steps=12)
    assert full.attributions.shape == (3, 2, 3, 2, 3)
    flat = full.attributions.reshape(3, 6, 6)
    pairs = [(0, 1), ((1, 2), (0, 0)), (4, 4), (5, 0), ((0, 2), 3)]
    sel = pathattr.integrated_hessians(scalar(net), x, steps=12, pairs=pairs)
    want = torch.stack(
        [flat[:, 0, 1], flat[:, 5, 0], flat[:, 4, 4], flat[:, 5, 0], flat[:, 2, 3]], 1
    )
    assert sel.attributions.shape == (3, 5)
    torch.testing.assert_close(sel.attributions, want, rtol=0, atol=1e-14)
    assert bool(sel.delta.isnan().all()) and sel.extras["row_delta"] is None
    # one feature against all others: one Hessian row, read from either side
    star = pathattr.integrated_hessians(scalar(net), x, steps=12, pairs=[(j, 2) for j in range(6)])
    torch.testing.assert_close(star.attributions, flat[:, :, 2], rtol=0, atol=1e-14)


@pytest.mark.parametrize(
    ("pairs", "error", "message"),
    [
        ([(0, 6)], IndexError, r"pairs\[0\]: flat feature index 6 out of range \[0, 6\)"),
        ([(0, 1), (-1, 2)], IndexError, r"pairs\[1\]: flat feature index -1"),
        (
            [((0, 3), 1)],
            IndexError,
            r"pairs\[0\]: multi-index \(0, 3\) out of range .*\(batch, 2, 3\)",
        ),
        ([((0,), 1)], IndexError, r"pairs\[0\]: multi-index \(0,\) out of range"),
        ([(0, 1, 2)], ValueError, r"pairs\[0\]: expected a pair"),
        ([(True, 1)], TypeError, r"pairs\[0\]: expected feature indices, got the bool"),
        ([], ValueError, r"at least one"),
        (torch.zeros(3, 3, dtype=torch.long), ValueError, r"\(P, 2\) integer tensor"),
        ("01", TypeError, r"pairs: expected None, a sequence"),
    ],
)
def test_bad_pairs_are_clear_errors(pairs, error, message) -> None:
    net = torch.nn.Sequential(torch.nn.Flatten(), softplus_mlp(d=6)).eval()
    with pytest.raises(error, match=message):
        pathattr.integrated_hessians(
            scalar(net), torch.randn(2, 2, 3, dtype=torch.float64), pairs=pairs
        )


def test_bad_arguments_are_clear_errors() -> None:
    net = softplus_mlp()
    x = torch.randn(2, 6, dtype=torch.float64)
    with pytest.raises(TypeError, match="inputs: expected one batch-first tensor"):
        pathattr.integrated_hessians(scalar(net), (x, x))
    with pytest.raises(ValueError, match="rule: expected one of gausslog"):
        pathattr.integrated_hessians(scalar(net), x, rule="simpson")
    with pytest.raises(ValueError, match="steps: expected an int >= 1"):
        pathattr.integrated_hessians(scalar(net), x, steps=0)
    refs = torch.randn(3, 6, dtype=torch.float64)
    bad = (torch.rand(2, 4), torch.rand(2, 4), torch.full((2, 4), 3))
    with pytest.raises(ValueError, match=r"draws: indices must be ints in \[0, 3\)"):
        pathattr.expected_hessians(scalar(net), x, references=refs, samples=4, draws=bad)
    with pytest.raises(ValueError, match=r"draws: alphas must have shape \(2, 5\)"):
        pathattr.expected_hessians(scalar(net), x, references=refs, samples=5, draws=bad)


def test_linear_model_has_no_interactions_and_ig_on_the_diagonal() -> None:
    torch.manual_seed(0)
    lin = torch.nn.Linear(5, 1).double()
    x = torch.randn(3, 5, dtype=torch.float64)
    res = pathattr.integrated_hessians(lin, x, target=0, steps=4)
    g = res.attributions
    diag = g.diagonal(dim1=1, dim2=2)
    torch.testing.assert_close(g, torch.diag_embed(diag), rtol=0, atol=0)
    torch.testing.assert_close(diag, x * lin.weight.detach()[0])


def test_coarse_rule_warns_with_the_row_residual() -> None:
    net = softplus_mlp()
    x = 3 * torch.randn(3, 6, dtype=torch.float64)
    with pytest.warns(CompletenessWarning, match="interaction rows that miss"):
        pathattr.integrated_hessians(scalar(net), x, rule="linspace", steps=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompletenessWarning)
        pathattr.integrated_hessians(scalar(net), x, steps=16)


def test_empty_batch_and_batch_attributor() -> None:
    net = softplus_mlp(dtype=torch.float32)
    empty = pathattr.integrated_hessians(net, torch.zeros(0, 6), target=0)
    assert empty.attributions.shape == (0, 6, 6)
    x = torch.randn(3, 6)
    attributor = pathattr.BatchAttributor(net, "integrated_hessians", {"steps": 8})
    out = attributor({"inputs": x.numpy(), "baselines": np.ones((3, 6), np.float32),
                      "target": np.zeros(3, np.int64)})  # fmt: skip
    direct = pathattr.integrated_hessians(net, x, baselines=torch.ones(3, 6), target=0, steps=8)
    np.testing.assert_allclose(out["attributions"], direct.attributions.numpy(), rtol=0, atol=1e-7)
    assert out["delta"].shape == (3,)
    eh = pathattr.BatchAttributor(
        net, "expected_hessians", {"references": torch.randn(5, 6), "samples": 8, "seed": 1}
    )({"inputs": x.numpy(), "target": np.zeros(3, np.int64)})  # fmt: skip
    assert eh["attributions"].shape == (3, 6, 6) and np.isfinite(eh["attributions"]).all()


def test_dataset_run_stores_interaction_maps(tmp_path) -> None:
    import sys
    from pathlib import Path

    from pathattr.store import attributions_array, read_output

    sys.path.insert(0, str(Path(__file__).parent))
    from dataset_models import tiny_mlp

    x = np.random.default_rng(0).normal(size=(30, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    pathattr.run(tmp_path / "x.npy", "dataset_models:tiny_mlp", tmp_path / "ih", method="ih",
                 steps=8, shard_rows=20, batch_size=7)  # fmt: skip
    stored = attributions_array(read_output(tmp_path / "ih"))
    assert stored.shape == (30, 6, 6)
    model = tiny_mlp()
    with torch.no_grad():
        pred = model(torch.as_tensor(x)).argmax(1)
    direct = pathattr.integrated_hessians(model, torch.as_tensor(x), target=pred, steps=8)
    np.testing.assert_allclose(stored, direct.attributions.numpy(), rtol=0, atol=1e-6)
    # Expected Hessians: seeded per row, so a row's map does not depend on the batching
    for bs, name in ((7, "a"), (16, "b")):
        pathattr.run(tmp_path / "x.npy", "dataset_models:tiny_mlp", tmp_path / name, method="eh",
                     samples=6, reference_rows=8, batch_size=bs)  # fmt: skip
    a = attributions_array(read_output(tmp_path / "a"))
    b = attributions_array(read_output(tmp_path / "b"))
    assert a.shape == (30, 6, 6) and np.array_equal(a, b)
    with pytest.raises(ValueError, match="steps: integrated_hessians takes a positive integer"):
        pathattr.run(tmp_path / "x.npy", "dataset_models:tiny_mlp", tmp_path / "c", method="ih",
                     steps="auto")  # fmt: skip


def test_expected_hessians_standard_error_matches_the_spread_over_seeds() -> None:
    net = softplus_mlp()
    x, refs = torch.randn(2, 6, dtype=torch.float64), torch.randn(30, 6, dtype=torch.float64)
    runs = [
        pathattr.expected_hessians(scalar(net), x, references=refs, samples=64, seed=s)
        for s in range(12)
    ]
    spread = torch.stack([r.attributions for r in runs]).std(0)
    se = torch.stack([r.extras["standard_error"] for r in runs]).mean(0)
    assert runs[0].extras["standard_error_method"] == "iid"
    ratio = float((spread / se).median())
    assert 0.7 < ratio < 1.4, ratio


def test_the_report_draws_interaction_matrices(tmp_path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Softplus(), torch.nn.Linear(6, 1))
    res = pathattr.integrated_hessians(model, torch.randn(2, 4), steps=6)
    page = pathattr.report({"IH": res}, tmp_path / "ih.html").read_text()
    assert page.count('alt="interaction matrix"') == 2
    assert "4 features" in page and "main effects" in page
