"""Metrics refuse silent wrong answers: non-finite or all-zero attributions, bad feature dims,
wrong explanation shapes, zero explanations in max_sensitivity; and no import cycle."""

from __future__ import annotations

import ast
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import pathattr
import pathattr.metrics as M

METRICS_DIR = Path(M.__file__).parent


def model() -> torch.nn.Module:
    g = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 12), torch.nn.Tanh(), torch.nn.Linear(12, 3))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return net.eval()


def data(n: int = 4) -> torch.Tensor:
    return torch.randn(n, 8, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("curve", [M.deletion_curve, M.insertion_curve])
def test_curves_reject_non_finite_attributions(curve: Any, bad: float) -> None:
    x = data()
    a = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    a[1, 3] = bad
    with pytest.raises(ValueError, match=r"attributions: expected finite values, got \d NaN"):
        curve(model(), x, a, target=0, replacement="baseline", steps=4)


def test_infidelity_and_randomisation_reject_non_finite_attributions() -> None:
    x = data()
    a = torch.full_like(x, float("nan"))
    with pytest.raises(ValueError, match="attributions: expected finite values, got 32 NaN"):
        M.infidelity(model(), lambda v: (0.1 * torch.ones_like(v), v - 0.1), x, a, target=0)

    def nan_method(m: Any, xs: torch.Tensor, *, baselines: Any, target: Any) -> torch.Tensor:
        return torch.full_like(xs, float("nan"))

    with pytest.raises(ValueError, match="method output: expected finite values"):
        M.model_randomisation(nan_method, model(), x, 0)


def test_all_zero_attributions_warn_that_the_ranking_is_arbitrary() -> None:
    x, net = data(), model()
    a = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    a[2] = 0.0
    with pytest.warns(UserWarning, match=r"1 example\(s\) \(rows \[2\]\) are all zero") as rec:
        M.deletion_curve(net, x, a, target=0, steps=4)
    assert rec[0].filename == __file__  # points at the caller, not into pathattr
    with pytest.warns(UserWarning, match=r"are all equal"):
        M.insertion_curve(net, x, torch.ones_like(x), target=0, steps=4, replacement=0.0)
    # ordinary attributions (ties between some features included) do not warn
    a[2] = torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0, 2.0, 0.0, 0.0])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        M.deletion_curve(net, x, a, target=0, steps=4)
    assert not [w for w in seen if "ranking" in str(w.message)]


def test_feature_dims_out_of_range_is_an_error() -> None:
    x = torch.rand(2, 3, 4, 4)
    a = torch.rand(2, 3, 4, 4)

    def conv(v: torch.Tensor) -> torch.Tensor:
        return v.mean((1, 2, 3)).unsqueeze(1)

    for dims in [(4,), (2, 5), (-5,)]:
        # 4 % 4 = 0 and 5 % 4 = 1 used to wrap around silently
        with pytest.raises(ValueError, match=r"feature_dims: expected dims of the 4-D inputs"):
            M.deletion_curve(conv, x, a, target=0, feature_dims=dims, steps=2)
    for dims in [(1.5,), (True,), 2]:
        with pytest.raises(TypeError, match="feature_dims: expected a sequence of ints"):
            M.deletion_curve(conv, x, a, target=0, feature_dims=dims, steps=2)  # type: ignore[arg-type]
    neg = M.deletion_curve(conv, x, a, target=0, feature_dims=(-2, -1), steps=2)
    pos = M.deletion_curve(conv, x, a, target=0, feature_dims=(2, 3), steps=2)
    assert neg.n_features == pos.n_features == 16
    torch.testing.assert_close(neg.scores, pos.scores)


def test_max_sensitivity_of_a_zero_explanation_is_nan_not_the_best_score() -> None:
    x, net = data(3), model()

    def zero(v: torch.Tensor, **kw: Any) -> torch.Tensor:
        return torch.zeros_like(v)

    with pytest.warns(UserWarning, match=r"explanation of 3 example\(s\).* is 0.*NaN"):
        s = M.max_sensitivity(zero, x, seed=0)
    assert bool(s.isnan().all())  # before: 0.0, the best possible score

    def ig(v: torch.Tensor, **kw: Any) -> torch.Tensor:
        out = pathattr.integrated_gradients(net, v, target=0, steps=16, warn_tol=None)
        a = out.attributions
        # example 0's input explained as 0 (a degenerate explanation for one example only)
        return torch.where((v == x[0]).all(1, keepdim=True), torch.zeros_like(a), a)

    with pytest.warns(UserWarning, match=r"rows \[0\]"):
        mixed = M.max_sensitivity(ig, x, seed=0)
    assert bool(mixed[0].isnan()) and bool(torch.isfinite(mixed[1:]).all())
    assert bool((mixed[1:] > 0).all())


def test_max_sensitivity_rejects_wrong_shapes_and_non_finite_explanations() -> None:
    x = data(3)
    with pytest.raises(ValueError, match=r"explain_func: expected .* got \[\(33, 7\)\]"):
        M.max_sensitivity(lambda v: v[:, :-1], x)
    with pytest.raises(
        ValueError, match=r"explain_func: expected attributions .* got \[\(33, 2, 4\)\]"
    ):
        M.max_sensitivity(lambda v: v.reshape(-1, 2, 4), x)  # same count, not the inputs' shape
    with pytest.raises(
        ValueError, match="explain_func: expected finite values, got 0 NaN and 1 inf"
    ):
        M.max_sensitivity(lambda v: torch.where(v == v.max(), float("inf"), v), x)


def test_seeded_metrics_leave_the_global_rngs_alone() -> None:
    x, net = data(3), model()
    torch.manual_seed(5)
    random.seed(5)
    np.random.seed(5)
    state, py, npy = torch.get_rng_state(), random.getstate(), np.random.get_state()
    a = M.max_sensitivity(lambda v: v**2, x, seed=3)
    b = M.max_sensitivity(lambda v: v**2, x, seed=3)
    torch.testing.assert_close(a, b)
    M.infidelity(net, lambda v: (0.1 * torch.randn_like(v), v - 0.1), x, x, target=0, seed=3)
    M.model_randomisation(pathattr.saliency, net, x, 0, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert random.getstate() == py
    assert all(np.array_equal(u, v) for u, v in zip(np.random.get_state(), npy))
    # unseeded: the global stream is used, so two calls differ
    assert not torch.equal(
        M.max_sensitivity(lambda v: v**2, x), M.max_sensitivity(lambda v: v**2, x)
    )


def test_model_randomisation_calls_by_keyword_and_flags_constant_attributions() -> None:
    x, net = data(3), model()
    seen: list[Any] = []

    def keyword_only(m: Any, xs: torch.Tensor, *, baselines: Any, target: Any) -> Any:
        seen.append((baselines, target))
        return pathattr.integrated_gradients(m, xs, baselines=baselines, target=target, steps=8)

    res = M.model_randomisation(keyword_only, net, x, 1, baselines=0.5)
    assert seen and all(b == 0.5 and t == 1 for b, t in seen)
    assert bool(torch.isfinite(res.spearman).all())

    def zero_for_first(m: Any, xs: torch.Tensor, baselines: Any, t: Any) -> torch.Tensor:
        a = pathattr.saliency(m, xs, target=t).attributions.clone()
        a[0] = 0.0
        return a

    with pytest.warns(UserWarning, match=r"method output: .*rows \[0\]\) are all zero"):
        flagged = M.model_randomisation(zero_for_first, net, x, 1)
    # before: row 0 correlated 0 with everything, i.e. a perfect pass of the sanity check
    for t in (flagged.spearman, flagged.spearman_abs, flagged.pearson_abs):
        assert bool(t[:, 0].isnan().all()) and bool(torch.isfinite(t[:, 1:]).all())


def _metrics_imports(path: Path) -> set[str]:
    """pathattr.metrics modules imported anywhere in ``path`` (functions, TYPE_CHECKING too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n.split(".")[2] for n in names if n.startswith("pathattr.metrics.")}
    return found


def test_no_import_cycle_between_metrics_modules() -> None:
    modules = {p.stem: p for p in METRICS_DIR.glob("*.py") if p.stem != "__init__"}
    graph = {m: _metrics_imports(p) & set(modules) - {m} for m, p in modules.items()}
    assert "plots" in graph["randomisation"]  # the edge that stays
    assert "randomisation" not in graph["plots"]

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n}))
                   for n in graph[start])  # fmt: skip

    cycles = [m for m in graph if reaches(m, m, {m})]
    assert not cycles, graph
