"""The engine: chunking changes nothing but memory, gradients flow to parameters, targets work."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from conftest import TwoInput, cnn, mlp

import pathattr
from pathattr.engine.batch import BatchAttributor


class CountingModel(torch.nn.Module):
    """Records how many rows each call sees."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.calls: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(x.shape[0])
        return self.inner(x)


@pytest.mark.parametrize("batch_size", [1, 3, 7, 16, 50, 1000])
def test_chunking_changes_nothing(batch_size: int) -> None:
    model = CountingModel(cnn())
    x = torch.rand(5, 1, 8, 8)
    whole = pathattr.integrated_gradients(model, x, target=2, steps=10)
    model.calls.clear()
    chunked = pathattr.integrated_gradients(model, x, target=2, steps=10, batch_size=batch_size)
    torch.testing.assert_close(chunked.attributions, whole.attributions, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(chunked.delta, whole.delta, rtol=1e-4, atol=1e-6)
    assert max(model.calls) <= batch_size  # gradient chunks and the endpoint forwards alike
    assert int(chunked.evaluations.sum()) == 50 and bool((chunked.evaluations == 10).all())


def test_chunks_split_examples_and_steps() -> None:
    """Unlike Captum, a chunk may hold fewer rows than there are examples."""
    model = CountingModel(mlp())
    x = torch.randn(8, 10)
    pathattr.integrated_gradients(model, x, target=0, steps=4, batch_size=3)
    grad_calls = model.calls[:11]  # ceil(32 / 3) gradient chunks, then F(x), F(x') forwards
    assert sum(grad_calls) == 32 and max(grad_calls) == 3


def test_endpoint_rules_reuse_forward_values() -> None:
    """Rules that evaluate α = 0 and α = 1 need no extra forward pass for the residual; the
    other rules evaluate the missing end points in the same model call as the path rows."""
    model = CountingModel(mlp())  # batch_size=None: no probe passes of "auto" in the count
    x = torch.randn(4, 10)
    pathattr.integrated_gradients(
        model, x, target=0, steps=9, rule="riemann_trapezoid", batch_size=None
    )
    assert model.calls == [36]
    model.calls.clear()
    pathattr.integrated_gradients(
        model, x, target=0, steps=9, rule="riemann_right", batch_size=None
    )
    assert model.calls == [40]  # F(x') only, in the same call
    model.calls.clear()
    pathattr.integrated_gradients(
        model, x, target=0, steps=9, rule="gausslegendre", batch_size=None
    )
    assert model.calls == [44]  # F(x) and F(x') ride along with the path rows
    model.calls.clear()
    pathattr.integrated_gradients(model, x, target=0, steps=9, rule="gausslegendre", batch_size=40)
    assert model.calls == [36, 8]  # they would not fit the one call: a separate forward


PEAK_SCRIPT = textwrap.dedent(
    """
    import json, sys, torch
    torch.set_num_threads(1)

    def hwm_kb():
        # VmHWM belongs to this process's own address space; ru_maxrss would carry the
        # parent's (pytest's) peak across exec.
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))

    import pathattr
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(32, 10)).eval()
    x = torch.rand(2, 3, 64, 64)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the high-water mark to the current RSS
    before = hwm_kb()
    bs = None if sys.argv[1] == "none" else int(sys.argv[1])
    res = pathattr.integrated_gradients(model, x, target=1, steps=64, batch_size=bs)
    after = hwm_kb()
    print(json.dumps({"peak_kb": after - before, "sum": float(res.attributions.sum())}))
    """
)


def _peak(batch_size: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, batch_size], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_peak_memory_falls_with_batch_size() -> None:
    full, small = _peak("none"), _peak("8")
    assert abs(full["sum"] - small["sum"]) <= 1e-4 * max(1.0, abs(full["sum"]))
    # 128 rows of 32x64x64 activations at once vs 8 rows: several hundred MB vs tens.
    assert small["peak_kb"] < 0.4 * full["peak_kb"], (small, full)


def test_create_graph_gradients_match_finite_differences() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    model = model.double()
    x = torch.randn(2, 3, dtype=torch.float64)

    def loss() -> torch.Tensor:
        res = pathattr.integrated_gradients(
            model, x, steps=8, batch_size=5, create_graph=True, warn_tol=0
        )
        return (res.attributions**2).sum()

    (grad,) = torch.autograd.grad(loss(), [model[0].weight])
    eps = 1e-6
    num = torch.zeros_like(grad)
    with torch.no_grad():
        for i in range(grad.shape[0]):
            for j in range(grad.shape[1]):
                model[0].weight[i, j] += eps
                up = loss()
                model[0].weight[i, j] -= 2 * eps
                down = loss()
                model[0].weight[i, j] += eps
                num[i, j] = (up - down) / (2 * eps)
    torch.testing.assert_close(grad, num, rtol=1e-5, atol=1e-8)


def test_callable_target_softmax_probability() -> None:
    model = mlp()
    x = torch.randn(3, 10)
    res = pathattr.integrated_gradients(
        model, x, target=lambda out: out.softmax(-1)[:, 2], steps=512, warn_tol=0
    )
    expected = model(x).softmax(-1)[:, 2].detach()
    torch.testing.assert_close(res.output, expected)
    assert float(res.relative_delta.max()) < 0.05


def test_per_example_target_tensor_and_sequence_agree() -> None:
    model = mlp()
    x = torch.randn(3, 10)
    a = pathattr.integrated_gradients(model, x, target=[0, 3, 1], steps=8, warn_tol=0)
    b = pathattr.integrated_gradients(model, x, target=torch.tensor([0, 3, 1]), steps=8, warn_tol=0)
    torch.testing.assert_close(a.attributions, b.attributions)
    one = pathattr.integrated_gradients(model, x[1:2], target=3, steps=8, warn_tol=0)
    torch.testing.assert_close(a.attributions[1:2], one.attributions)


def test_forward_args_are_expanded_with_inputs(two_input: TwoInput) -> None:
    img, vec = torch.rand(3, 1, 6, 6), torch.randn(3, 3)
    scale = torch.tensor([0.5, 1.0, 2.0])
    res = pathattr.integrated_gradients(
        two_input, (img, vec), target=0, forward_args=(scale,), steps=16, batch_size=7
    )
    with torch.no_grad():
        torch.testing.assert_close(res.output, two_input(img, vec, scale)[:, 0])


@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("multiply", [True, False])
def test_regular_grid_path_equals_general_path(
    two_input: TwoInput, create_graph: bool, multiply: bool
) -> None:
    """The one-call broadcast layout (``grid``) gives the numbers of the gather/scatter layout."""
    from pathattr.engine.core import integrate
    from pathattr.engine.targets import make_selector
    from pathattr.methods.integrated_gradients import _AveragedGradientPath
    from pathattr.paths.straight import StraightLine
    from pathattr.quadrature import quadrature

    torch.manual_seed(3)
    xs = (torch.rand(3, 1, 6, 6), torch.randn(3, 3))
    bs = (torch.rand(3, 1, 6, 6), torch.randn(3, 3))
    scale = torch.tensor([0.5, 1.0, 2.0])
    rule, n, k = quadrature("gausslegendre", 7), 3, 7
    rows = torch.arange(n).repeat_interleave(k)
    alphas = torch.tensor(rule.alphas, dtype=torch.float32).repeat(n)
    weights = torch.tensor(rule.weights, dtype=torch.float32).repeat(n)
    sel = make_selector(torch.tensor([0, 4, 2]), n)
    kw = dict(n_examples=n, forward_args=(scale,), create_graph=create_graph)
    path = StraightLine(xs, bs) if multiply else _AveragedGradientPath(xs, bs)
    grid = integrate(two_input, path, sel, rows, alphas, weights, grid=k, **kw)  # type: ignore[arg-type]
    general = integrate(two_input, path, sel, rows, alphas, weights, **kw)  # type: ignore[arg-type]
    for a, b in zip(grid.sums, general.sums):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
        assert a.requires_grad == create_graph
    torch.testing.assert_close(grid.row_outputs, general.row_outputs)
    assert grid.evaluations.tolist() == general.evaluations.tolist() == [k] * n
    assert grid.any_gradient and general.any_gradient
    if create_graph:  # both differentiable w.r.t. the parameters, to the same gradient
        (ga,) = torch.autograd.grad(sum(s.sum() for s in grid.sums), two_input.lin.weight)
        (gb,) = torch.autograd.grad(sum(s.sum() for s in general.sums), two_input.lin.weight)
        torch.testing.assert_close(ga, gb, rtol=1e-5, atol=1e-7)


def test_result_reports_and_repr() -> None:
    res = pathattr.integrated_gradients(mlp(), torch.randn(2, 10), target=1, steps=12)
    assert res.evaluations.tolist() == [12, 12]
    assert "relative_delta" in repr(res) and "evaluations=24" in repr(res)
    attrs, delta = res  # Captum-style unpacking
    assert attrs.shape == (2, 10) and delta.shape == (2,)


def test_large_completeness_error_warns() -> None:
    f = lambda z: torch.sigmoid(20 * z[:, 0] - 2)  # noqa: E731  steep: 2 steps are far off
    with pytest.warns(pathattr.CompletenessWarning, match="raise steps"):
        pathattr.integrated_gradients(f, torch.ones(1, 1), steps=2, rule="riemann_left")


def test_batch_attributor_is_picklable_and_matches() -> None:
    model = mlp()
    fn = BatchAttributor(model, options={"steps": 16, "warn_tol": 0})
    fn2 = pickle.loads(pickle.dumps(fn))
    x = np.random.default_rng(0).normal(size=(4, 10)).astype(np.float32)
    out = fn2({"inputs": x, "target": np.array([0, 1, 2, 3])})
    ref = pathattr.integrated_gradients(
        model, torch.from_numpy(x), target=[0, 1, 2, 3], steps=16
    ).attributions.numpy()
    np.testing.assert_allclose(out["attributions"], ref, rtol=1e-5, atol=1e-6)
    assert set(out) >= {"output", "baseline_output", "delta", "relative_delta", "evaluations"}
    with pytest.raises(ValueError, match="method"):
        BatchAttributor(model, method="nope")


def test_auto_batch_size_measures_rows_and_fits_the_budget() -> None:
    from pathattr.engine.memory import auto_batch_size, saved_bytes_per_row
    from pathattr.engine.targets import make_selector
    from pathattr.paths import StraightLine

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.Linear(16 * 16 * 16, 4),
    ).eval()  # fmt: skip
    x = torch.rand(2, 3, 16, 16)
    path = StraightLine((x,), (torch.zeros_like(x),))
    rows = torch.arange(2).repeat_interleave(100)
    alphas = torch.rand(200)
    sel = make_selector(1, 2)
    per_row = saved_bytes_per_row(model, path, sel, rows, alphas, n_examples=2)
    # conv output (16·16·16 floats) is saved by ReLU and by Linear's input: ≥ 2 × 16 KiB per row
    assert 2 * 16 * 16 * 16 * 4 <= per_row < 10 * 16 * 16 * 16 * 4
    chosen = auto_batch_size(
        model, path, sel, rows, alphas, n_examples=2, budget_bytes=20 * per_row
    )
    assert chosen == 20
    assert auto_batch_size(model, path, sel, rows, alphas, n_examples=2, budget_bytes=2**40) is None


def test_auto_batch_size_gives_the_same_attributions() -> None:
    model = CountingModel(cnn())
    x = torch.rand(3, 1, 8, 8)
    auto = pathattr.integrated_gradients(model, x, target=2, steps=40, batch_size="auto")
    whole = pathattr.integrated_gradients(model, x, target=2, steps=40, batch_size=None)
    torch.testing.assert_close(auto.attributions, whole.attributions, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="batch_size: expected an int >= 1, None or 'auto'"):
        pathattr.integrated_gradients(model, x, target=2, batch_size=0)


def test_auto_batch_size_probes_once_per_model_and_shape() -> None:
    model = CountingModel(cnn())
    x = torch.rand(3, 1, 8, 8)
    pathattr.integrated_gradients(model, x, target=2, steps=40, batch_size="auto")
    assert model.calls[:2] == [2, 4]  # the probe: two rows, then four
    model.calls.clear()
    pathattr.integrated_gradients(model, x + 0.1, target=1, steps=40, batch_size="auto")
    assert 1 not in model.calls and 2 not in model.calls  # cached: no probe
    model.calls.clear()
    model.eval()  # an eval-mode model: a new signature, so a new probe
    pathattr.integrated_gradients(model, x, target=2, steps=40, batch_size="auto")
    assert model.calls[:2] == [2, 4]


@pytest.mark.parametrize("n", [7, 300, 4096])
def test_gauss_legendre_nodes_integrate_polynomials_exactly(n: int) -> None:
    from pathattr.quadrature import quadrature

    rule = quadrature("gausslegendre", n)
    assert rule.alphas.shape == (n,) and bool(((rule.alphas > 0) & (rule.alphas < 1)).all())
    for degree in (0, 3, 2 * min(n, 7) - 1):
        assert abs(float((rule.weights * rule.alphas**degree).sum()) - 1 / (degree + 1)) < 1e-13


def test_host_memory_reading_is_reused_briefly(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathattr.engine import memory

    reads: list[int] = []

    def fake() -> int:
        reads.append(1)
        return 1000 * len(reads)

    monkeypatch.setattr(memory, "_host_available_bytes", fake)
    monkeypatch.setattr(memory, "_host_reading", [-1.0, 0.0])
    cpu = torch.device("cpu")
    assert memory.available_bytes(cpu) == 1000
    assert memory.available_bytes(cpu) == 1000 and len(reads) == 1  # within the TTL
    monkeypatch.setattr(memory, "HOST_MEMORY_TTL_S", 0.0)
    assert memory.available_bytes(cpu) == 2000 and len(reads) == 2  # expired: read again


def test_auto_batch_size_caps_cpu_chunks_at_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathattr.engine import memory
    from pathattr.engine.targets import make_selector
    from pathattr.paths import StraightLine

    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 3))
    x = torch.rand(4, 64)
    path = StraightLine((x,), (torch.zeros_like(x),))
    rows = torch.arange(4).repeat_interleave(500)
    alphas = torch.rand(2000)
    sel = make_selector(1, 4)
    per_row = memory.saved_bytes_per_row(model, path, sel, rows, alphas, n_examples=4)

    def auto() -> int | None:
        return memory.auto_batch_size(model, path, sel, rows, alphas, n_examples=4)

    monkeypatch.setattr(memory, "cpu_cache_bytes", lambda: 100 * per_row)
    assert auto() == 100  # the cache, not the (large) free memory, sets the chunk
    monkeypatch.setattr(memory, "cpu_cache_bytes", lambda: 2 * per_row)
    assert auto() == memory.MIN_CPU_CHUNK_ROWS  # never below the floor
    monkeypatch.setattr(memory, "cpu_cache_bytes", lambda: 10**6 * per_row)
    assert auto() is None  # everything fits: one pass
    # an explicit budget is the user's: no cache cap
    monkeypatch.setattr(memory, "cpu_cache_bytes", lambda: 100 * per_row)
    got = memory.auto_batch_size(
        model, path, sel, rows, alphas, n_examples=4, budget_bytes=1000 * per_row
    )
    assert got == 1000


def test_cpu_cache_size_is_read_or_defaults() -> None:
    from pathattr.engine import memory

    size = memory.cpu_cache_bytes()
    assert 2**18 <= size <= 2**33  # a plausible chunk budget (256 KiB .. 8 GiB)
    sizes = memory._cache_sizes()
    if sizes:  # never above the last-level cache, at least 8 MiB where that cache allows
        assert size <= max(sizes.values())
        assert size >= min(memory.DEFAULT_CACHE_BYTES, max(sizes.values()))
    assert memory._parse_size("32768K") == 32 * 2**20 and memory._parse_size("2M") == 2 * 2**20


def test_end_rows_do_not_poison_parameter_gradients() -> None:
    """F(x') at a zero baseline can have an infinite derivative (sqrt at 0).  With
    ``create_graph`` the end points must stay out of the graph of the attributions: riding along
    in the path's call, their zero cotangent times inf would turn every weight gradient to NaN."""

    class SqrtNorm(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(torch.sqrt(x.abs().sum(1, keepdim=True)) * x)

    torch.manual_seed(0)
    model = SqrtNorm().eval()
    x = torch.rand(2, 4)
    res = pathattr.integrated_gradients(model, x, target=0, steps=8, create_graph=True, warn_tol=0)
    (g,) = torch.autograd.grad(res.attributions.sum(), model.lin.weight)
    assert bool(torch.isfinite(g).all())
    plain = pathattr.integrated_gradients(model, x, target=0, steps=8, warn_tol=0)
    torch.testing.assert_close(res.attributions.detach(), plain.attributions)
    torch.testing.assert_close(res.output, plain.output)
    torch.testing.assert_close(res.baseline_output, plain.baseline_output)
