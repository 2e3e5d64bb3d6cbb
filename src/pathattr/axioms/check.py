"""Run the IG paper's axioms against any attribution method, model and inputs.

Every check builds the inputs (or models) the axiom talks about, calls the method on them and
measures how far the result is from what the axiom demands:

* **completeness**: max_e |Σ_i φ_ei − ΔF_e| / |ΔF_e| ≤ ``completeness_tol``, ΔF = F(x) − F(x').
* **sensitivity** (a): inputs equal to the baseline except in feature i, with F(x̃) ≠ F(x'),
  must give |φ_i| > ``sensitivity_tol``·|F(x̃) − F(x')|.
* **dummy**: features F ignores (declared, or found by probing: changing them at many points
  never changes F) get |φ_j| ≤ ``rtol``·max|φ|.
* **linearity**: on h = a·f + b·g (g given, or a copy of f with perturbed weights),
  |φ(h) − a·φ(f) − b·φ(g)| ≤ ``rtol``·scale.
* **symmetry**: for features i, j that F treats symmetrically (declared, or found by probing:
  swapping them never changes F), inputs with x_i = x_j and x'_i = x'_j give |φ_i − φ_j| ≤
  ``rtol``·scale.
* **implementation_invariance**: φ on ``equivalent`` (when given) and on function-preserving
  rewrites of the model (:mod:`pathattr.axioms.rewrites`) equals φ on the model within
  ``rtol``·scale.

A check that cannot be set up (no dummy feature, no symmetric pair, no applicable rewrite, a
model that cannot be copied) is reported as ``n/a``.  The checks cannot be passed by returning
nothing useful: NaN or infinite attributions fail every check that computes them, with the count
in the detail; when every attribution a relative check compares is exactly 0 (dummy, linearity,
symmetry, implementation invariance measure gaps relative to the largest attribution) the check
is ``n/a`` ("every attribution is 0 ...") rather than a vacuous pass (completeness and
sensitivity fail such a method whenever F changes).  Non-finite model outputs make a check
``n/a``.

Probing finds dependence, never proves independence: declare ``dummy`` / ``symmetric`` when you
know them.  Inputs must be a single batch-first tensor; features are its entries per example,
flattened.
"""

from __future__ import annotations

import copy
import inspect
import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn

from pathattr._calling import method_caller
from pathattr._rng import private_rng
from pathattr.axioms.report import CHECKS, AxiomReport, CheckResult, Status
from pathattr.axioms.rewrites import REWRITES
from pathattr.engine.targets import TargetLike, make_selector
from pathattr.engine.validate import BaselineLike, as_baselines, as_tuple
from pathattr.result import Attribution

#: every check, in report order
ALL: tuple[str, ...] = CHECKS

Method = Callable[..., Any]


def check(
    method: Method,
    model: Callable[..., Any],
    inputs: torch.Tensor,
    baselines: BaselineLike = None,
    target: TargetLike = None,
    *,
    equivalent: Callable[..., Any] | Sequence[Callable[..., Any]] | None = None,
    checks: Iterable[str] = ALL,
    dummy: Sequence[int] | None = None,
    symmetric: Sequence[tuple[int, int]] | None = None,
    linear_with: Callable[..., Any] | None = None,
    coefficients: tuple[float, float] = (0.7, -1.3),
    rtol: float = 1e-3,
    completeness_tol: float = 0.05,
    sensitivity_tol: float = 1e-3,
    max_features: int = 32,
    seed: int = 0,
    name: str | None = None,
) -> AxiomReport:
    """Check ``method`` against the IG paper's axioms on ``model`` at ``inputs``.

    Args:
        method: an attribution method returning an attributions tensor shaped like ``inputs``
            or an :class:`Attribution`: pathattr's methods, a user's, Captum's through
            :func:`from_captum`.  It is called as ``method(model, inputs, baselines=...,
            target=...)`` when it takes ``baselines`` and ``target`` by keyword (pathattr's
            methods; Expected Gradients gets the baselines as ``references=``; a method
            with ``target`` but no baselines parameter, like SmoothGrad, gets none), and as
            ``method(model, inputs, baselines, target)`` otherwise (e.g. ``def m(model, x,
            b, t)``).
        model: the network; a callable with a batch-first output.
        inputs: a batch-first float tensor (a few examples are enough).
        baselines: None (zeros), a scalar or a tensor broadcastable to ``inputs``.
        target: which output to explain (None, an int, one int per example, or a callable).
        equivalent: one or more models computing the same function as ``model`` (checked on
            probes; an error if they differ).
        checks: names of the checks to run (default: all six).
        dummy: flattened indices of features the model ignores (None: detect by probing).
        symmetric: pairs of flattened feature indices the model treats symmetrically
            (None: detect by probing).
        linear_with: the second model g for Linearity (None: a copy of ``model`` with
            perturbed weights; n/a when ``model`` is not an ``nn.Module``).
        coefficients: (a, b) of a·f + b·g.
        rtol: relative tolerance of the equality checks (dummy, linearity, symmetry,
            implementation invariance), relative to the largest attribution.
        completeness_tol: the largest relative completeness residual that passes.
        sensitivity_tol: |φ_i| must exceed this fraction of |ΔF| for one-feature changes.
        max_features: features tried per example for sensitivity (sampled when more).
        seed: seed of every random draw (probes, sampled features, perturbed weights), and of
            the global torch, Python and NumPy generators while the method runs, so a method
            drawing from those gives the same report for the same seed.  The caller's global
            generator states are restored afterwards: ``check`` does not advance them.
        name: the method's name in the report (default: its ``__name__``).

    Returns:
        An :class:`~pathattr.axioms.report.AxiomReport`.
    """
    if not callable(method):
        raise TypeError(f"method: expected a callable (model, inputs, baselines, target), got "
                        f"{type(method).__name__}")  # fmt: skip
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(
            f"inputs: expected one batch-first tensor (axioms.check does not take tuples), got "
            f"{type(inputs).__name__}"
        )
    wanted = list(checks)
    unknown = [c for c in wanted if c not in CHECKS]
    if unknown:
        raise ValueError(f"checks: expected names from {list(CHECKS)}, got unknown {unknown}")
    x = as_tuple(inputs, nonempty=True)[0]
    b = as_baselines(baselines, (x,))[0]
    ctx = _Context(method, model, x, b, target, seed)
    runners: dict[str, tuple[Callable[[], CheckResult], float]] = {
        "completeness": (lambda: _completeness(ctx, completeness_tol), completeness_tol),
        "sensitivity": (lambda: _sensitivity(ctx, sensitivity_tol, max_features), sensitivity_tol),
        "dummy": (lambda: _dummy(ctx, dummy, rtol), rtol),
        "linearity": (lambda: _linearity(ctx, linear_with, coefficients, rtol), rtol),
        "symmetry": (lambda: _symmetry(ctx, symmetric, rtol), rtol),
        "implementation_invariance": (lambda: _invariance(ctx, equivalent, rtol), rtol),
    }
    report = AxiomReport(name or str(getattr(method, "__name__", type(method).__name__)))
    # the user's global RNGs are saved and restored: the rewrites create layers (nn.Linear
    # initialises from the global generator) and stochastic methods draw from it
    with private_rng(seed):
        for c in CHECKS:
            if c in wanted:
                run, threshold = runners[c]
                try:
                    report.results[c] = run()
                except _Unusable as u:
                    report.results[c] = CheckResult(c, u.status, None, threshold, u.detail)
    return report


def from_captum(cls: type, **attribute_kwargs: Any) -> Method:
    """Adapt a Captum attribution class to ``method(model, inputs, baselines=..., target=...)``.

    ``cls(model).attribute(inputs, baselines=..., target=..., **attribute_kwargs)`` is called;
    ``baselines`` is dropped for classes whose ``attribute`` takes none (e.g. Saliency).  The
    adapter takes ``baselines`` and ``target`` by keyword (as :func:`check` passes them) or by
    position.
    """
    if not isinstance(cls, type) or not hasattr(cls, "attribute"):
        raise TypeError(f"cls: expected a Captum attribution class (with .attribute), got {cls!r}")
    takes_baselines = "baselines" in inspect.signature(cls.attribute).parameters

    def attribute(
        model: Any, inputs: torch.Tensor, baselines: Any = None, target: Any = None
    ) -> Any:
        kwargs = dict(attribute_kwargs)
        if takes_baselines:
            kwargs["baselines"] = baselines
        return cls(model).attribute(inputs, target=target, **kwargs)

    attribute.__name__ = f"captum.{cls.__name__}"
    return attribute


# ----------------------------------------------------------------------------------------------


class _Unusable(Exception):
    """A check cannot give a pass: ``status`` ("fail" or "n/a") and why, for the report."""

    def __init__(self, status: Status, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _Context:
    """The method, model and inputs, with helpers to evaluate F and φ on derived batches."""

    def __init__(
        self, method: Method, model: Any, x: torch.Tensor, b: torch.Tensor, target: Any, seed: int
    ):
        self.method, self.model, self.x, self.b, self.target = method, model, x, b, target
        self.call = method_caller(method)
        self.n = x.shape[0]
        self.shape = x.shape[1:]
        self.d = int(x[0].numel())
        self.gen = torch.Generator().manual_seed(seed)
        self.seed = seed
        self._phi: torch.Tensor | None = None

    def target_for(self, idx: torch.Tensor) -> Any:
        """The target for a batch whose row r comes from example idx[r]."""
        t = self.target
        if t is None or isinstance(t, int) or (callable(t) and not isinstance(t, torch.Tensor)):
            return t
        tt = torch.as_tensor(t).reshape(-1).long()
        if tt.numel() == 1:
            return int(tt)
        return tt[idx.cpu()]

    def flat(self, t: torch.Tensor) -> torch.Tensor:
        return t.reshape(t.shape[0], -1)

    def unflat(self, t: torch.Tensor) -> torch.Tensor:
        return t.reshape((t.shape[0],) + tuple(self.shape))

    def F(self, model: Any, flat_x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Selected output per row, no gradient."""
        sel = make_selector(self.target_for(idx), flat_x.shape[0])
        with torch.no_grad():
            out = model(self.unflat(flat_x.to(self.x.dtype)))
            f = sel(out, torch.arange(flat_x.shape[0])).detach().double()
        bad = int((~torch.isfinite(f)).sum())
        if bad:
            # NaN compares unequal to everything: probing would find every feature a dummy
            raise _Unusable("n/a", f"the model's output is NaN or infinite at {bad} of "
                                   f"{f.numel()} evaluated points")  # fmt: skip
        return f

    def phi(
        self,
        model: Any,
        flat_x: torch.Tensor,
        flat_b: torch.Tensor,
        idx: torch.Tensor,
        where: str = "the inputs",
    ) -> torch.Tensor:
        """The method's attributions, flattened, float64; non-finite ones fail the check."""
        res = self.call(
            model, self.unflat(flat_x.to(self.x.dtype)), self.unflat(flat_b.to(self.x.dtype)),
            self.target_for(idx),
        )  # fmt: skip
        phi = _as_flat(res, flat_x.shape[0], self.d)
        finite = torch.isfinite(phi)
        if not bool(finite.all()):
            nan = int(phi.isnan().sum())
            inf = int((~finite).sum()) - nan
            # NaN fails every comparison, so unguarded it would pass "<= tol"-style checks
            raise _Unusable("fail", f"the method returned non-finite attributions on {where}: "
                                    f"{nan} NaN and {inf} inf of {phi.numel()}")  # fmt: skip
        return phi

    def base_phi(self) -> torch.Tensor:
        """φ at the given inputs and baselines (computed once)."""
        if self._phi is None:
            self._phi = self.phi(self.model, self.flat(self.x), self.flat(self.b), self.all())
        return self._phi

    def all(self) -> torch.Tensor:
        return torch.arange(self.n)

    def probes(self, per_example: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Points on and around the segments x' → x: (rows, d) and their example index."""
        x, b = self.flat(self.x).double(), self.flat(self.b).double()
        pts, idx = [x, b], [self.all(), self.all()]
        for a in (0.25, 0.5, 0.75):
            pts.append(b + a * (x - b))
            idx.append(self.all())
        scale = (x - b).abs() + x.abs() + 1.0
        for _ in range(max(0, per_example - 5)):
            pts.append(x + scale * torch.randn(x.shape, generator=self.gen, dtype=x.dtype))
            idx.append(self.all())
        return torch.cat(pts), torch.cat(idx)


def _as_flat(res: Any, n: int, d: int) -> torch.Tensor:
    if isinstance(res, Attribution):
        res = res.attributions
    if isinstance(res, (tuple, list)) and res and all(isinstance(t, torch.Tensor) for t in res):
        res = torch.cat([t.reshape(t.shape[0], -1) for t in res], 1)
    if not isinstance(res, torch.Tensor):
        raise TypeError(f"method: expected it to return a tensor or an Attribution, got "
                        f"{type(res).__name__}")  # fmt: skip
    if res.dim() == 0 or res.shape[0] != n:
        rows = res.shape[0] if res.dim() else "0-d tensor"
        raise ValueError(f"method: returned {rows} rows of attributions for {n} inputs")
    if res[0].numel() != d:
        raise ValueError(f"method: expected {d} attributions per example (the inputs' shape), "
                         f"got {res[0].numel()} (shape {tuple(res.shape)})")  # fmt: skip
    return res.detach().reshape(n, -1).double()


def _all_zero(ctx: _Context, where: str) -> _Unusable:
    """n/a for a relative check whose attributions are all exactly 0: the ratio is 0/0."""
    fx = ctx.F(ctx.model, ctx.flat(ctx.x), ctx.all())
    fb = ctx.F(ctx.model, ctx.flat(ctx.b), ctx.all())
    change = float((fx - fb).abs().max())
    why = (f"although F(x) - F(x') reaches {change:.3g}" if change > 0
           else "and F(x) = F(x')")  # fmt: skip
    return _Unusable("n/a", f"every attribution on {where} is 0 {why}: nothing to compare")


def _changes(df: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Output differences that are real rather than rounding."""
    return df.abs() > 1e-6 * (1.0 + ref.abs())


def _completeness(ctx: _Context, tol: float) -> CheckResult:
    # F first: a model that is NaN at x makes the check n/a, not the method's NaN a failure
    fx = ctx.F(ctx.model, ctx.flat(ctx.x), ctx.all())
    fb = ctx.F(ctx.model, ctx.flat(ctx.b), ctx.all())
    phi = ctx.base_phi()
    diff = fx - fb
    ok = _changes(diff, fb)
    if not bool(ok.any()):
        return CheckResult("completeness", "n/a", None, tol, "F(x) = F(x') for every example")
    rel = ((phi.sum(1) - diff).abs() / diff.abs())[ok]
    value = float(rel.max())
    return CheckResult("completeness", "pass" if value <= tol else "fail", value, tol,
                       f"{int(ok.sum())} examples")  # fmt: skip


def _sensitivity(ctx: _Context, tol: float, max_features: int) -> CheckResult:
    x, b = ctx.flat(ctx.x).double(), ctx.flat(ctx.b).double()
    feats = torch.arange(ctx.d)
    if ctx.d > max_features:
        feats = torch.randperm(ctx.d, generator=ctx.gen)[:max_features].sort().values
    ex, fe = (t.reshape(-1) for t in torch.meshgrid(ctx.all(), feats, indexing="ij"))
    keep = x[ex, fe] != b[ex, fe]
    ex, fe = ex[keep], fe[keep]
    if ex.numel() == 0:
        return CheckResult("sensitivity", "n/a", None, tol, "inputs equal the baselines")
    xt = b[ex].clone()
    xt[torch.arange(ex.numel()), fe] = x[ex, fe]
    df = ctx.F(ctx.model, xt, ex) - ctx.F(ctx.model, b[ex], ex)
    real = _changes(df, df)
    if not bool(real.any()):
        return CheckResult("sensitivity", "n/a", None, tol,
                           "no one-feature change moves the output")  # fmt: skip
    ex, fe, xt, df = ex[real], fe[real], xt[real], df[real]
    phi = ctx.phi(ctx.model, xt, b[ex], ex, "the one-feature changes")
    ratio = phi[torch.arange(ex.numel()), fe].abs() / df.abs()
    bad = int((ratio <= tol).sum())
    value = float(ratio.min())
    return CheckResult("sensitivity", "fail" if bad else "pass", value, tol,
                       f"{bad} of {ex.numel()} one-feature changes got ~0")  # fmt: skip


#: probing tries at most this many features for dummies, and finds symmetric pairs only below
#: this many features (beyond, declare them)
PROBE_FEATURES = 256
PAIR_FEATURES = 1024


def _detect_dummy(ctx: _Context) -> list[int]:
    pts, idx = ctx.probes(9)
    fp = ctx.F(ctx.model, pts, idx)
    found = []
    feats: list[int] = list(range(ctx.d))
    if ctx.d > PROBE_FEATURES:
        feats = torch.randperm(ctx.d, generator=ctx.gen)[:PROBE_FEATURES].sort().values.tolist()
    for j in feats:
        moved = []
        for _ in range(2):
            q = pts.clone()
            q[:, j] = q[:, j] + (q[:, j].abs() + 1.0) * torch.randn(
                q.shape[0], generator=ctx.gen, dtype=q.dtype
            )
            moved.append(q)
        fq = ctx.F(ctx.model, torch.cat(moved), torch.cat([idx, idx]))
        if not bool(_changes(fq - fp.repeat(2), fp.repeat(2)).any()):
            found.append(j)
    return found


def _dummy(ctx: _Context, declared: Sequence[int] | None, rtol: float) -> CheckResult:
    how = "declared"
    if declared is None:
        declared, how = _detect_dummy(ctx), "probed"
    feats = [int(j) for j in declared]
    bad = [j for j in feats if not 0 <= j < ctx.d]
    if bad:
        raise ValueError(f"dummy: expected flattened feature indices in [0, {ctx.d}), got {bad}")
    if not feats:
        probed = min(ctx.d, PROBE_FEATURES)
        return CheckResult("dummy", "n/a", None, rtol,
                           f"no dummy feature found by probing {probed} features")  # fmt: skip
    phi = ctx.base_phi()
    scale = float(phi.abs().max())
    if scale == 0:
        raise _all_zero(ctx, "the inputs")
    value = float(phi[:, feats].abs().max()) / scale
    return CheckResult("dummy", "pass" if value <= rtol else "fail", value, rtol,
                       f"{len(feats)} {how} dummy features")  # fmt: skip


class _Combination(nn.Module):
    """a·f(x) + b·g(x)."""

    def __init__(self, f: Any, g: Any, a: float, b: float):
        super().__init__()
        self.f, self.g, self.a, self.b = f, g, a, b

    def forward(self, *x: torch.Tensor) -> torch.Tensor:
        return self.a * self.f(*x) + self.b * self.g(*x)  # type: ignore[no-any-return]


def _perturbed(model: nn.Module, seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed + 1)
    other = copy.deepcopy(model)
    with torch.no_grad():
        for p in other.parameters():
            noise = torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.device, p.dtype)
            p.add_(noise * (0.5 * float(p.detach().double().std()) + 0.05 if p.numel() > 1
                            else 0.5))  # fmt: skip
    return other


def _linearity(ctx: _Context, other: Any, coef: tuple[float, float], rtol: float) -> CheckResult:
    if other is None:
        if not isinstance(ctx.model, nn.Module) or not any(True for _ in ctx.model.parameters()):
            return CheckResult("linearity", "n/a", None, rtol,
                               "no second model: pass linear_with=")  # fmt: skip
        other = _perturbed(ctx.model, ctx.seed)
    a, b = coef
    combo = _Combination(ctx.model, other, a, b)
    xs, bs = ctx.flat(ctx.x), ctx.flat(ctx.b)
    pf = ctx.base_phi()
    pg = ctx.phi(other, xs, bs, ctx.all(), "the second model g")
    ph = ctx.phi(combo, xs, bs, ctx.all(), f"{a:g}·f + {b:g}·g")
    expected = a * pf + b * pg
    scale = float((a * pf).abs().max() + (b * pg).abs().max())
    if scale == 0:
        # φ(f) = φ(g) = 0 with φ(h) ≠ 0 is a violation (value 1), not 0/0
        scale = float(ph.abs().max())
    if scale == 0:
        raise _all_zero(ctx, "f, g and a·f + b·g")
    value = float((ph - expected).abs().max()) / scale
    return CheckResult("linearity", "pass" if value <= rtol else "fail", value, rtol,
                       f"{a:g}·f + {b:g}·g")  # fmt: skip


def _detect_symmetric(ctx: _Context, max_pairs: int = 2048) -> list[tuple[int, int]]:
    pairs = list(itertools.combinations(range(ctx.d), 2))
    if len(pairs) > max_pairs:
        pick = torch.randperm(len(pairs), generator=ctx.gen)[:max_pairs]
        pairs = [pairs[int(i)] for i in pick]
    for n_probe in (2, 12):  # a cheap screen, then a thorough one on the survivors
        if not pairs:
            break
        pts, idx = ctx.probes(n_probe + 5)
        pts, idx = pts[5 * ctx.n :], idx[5 * ctx.n :]  # random probes: path points may tie
        fp = ctx.F(ctx.model, pts, idx)
        swapped = []
        for i, j in pairs:
            q = pts.clone()
            q[:, [i, j]] = q[:, [j, i]]
            swapped.append(q)
        fq = ctx.F(ctx.model, torch.cat(swapped), idx.repeat(len(pairs)))
        same = ~_changes(fq - fp.repeat(len(pairs)), fp.repeat(len(pairs)))
        same = same.reshape(len(pairs), -1).all(1)
        pairs = [p for p, s in zip(pairs, same.tolist()) if s]
    return pairs


def _symmetry(
    ctx: _Context, declared: Sequence[tuple[int, int]] | None, rtol: float, cap: int = 16
) -> CheckResult:
    how = "declared"
    if declared is None and ctx.d > PAIR_FEATURES:
        return CheckResult("symmetry", "n/a", None, rtol,
                           f"{ctx.d} features: too many to probe, pass symmetric=")  # fmt: skip
    if declared is None:
        declared, how = _detect_symmetric(ctx), "probed"
    pairs = [(int(i), int(j)) for i, j in declared][:cap]
    bad = [p for p in pairs if not (0 <= p[0] < ctx.d and 0 <= p[1] < ctx.d) or p[0] == p[1]]
    if bad:
        raise ValueError(f"symmetric: expected pairs of distinct indices in [0, {ctx.d}), got "
                         f"{bad}")  # fmt: skip
    if not pairs:
        return CheckResult("symmetry", "n/a", None, rtol, "no symmetric pair found by probing")
    x, b = ctx.flat(ctx.x).double(), ctx.flat(ctx.b).double()
    xs, bs, ex = [], [], []
    for i, j in pairs:
        xt, bt = x.clone(), b.clone()
        xt[:, j], bt[:, j] = xt[:, i], bt[:, i]
        xs.append(xt)
        bs.append(bt)
        ex.append(ctx.all())
    phi = ctx.phi(ctx.model, torch.cat(xs), torch.cat(bs), torch.cat(ex), "the symmetric inputs")
    ii = torch.tensor([i for i, _ in pairs]).repeat_interleave(ctx.n)
    jj = torch.tensor([j for _, j in pairs]).repeat_interleave(ctx.n)
    rows = torch.arange(phi.shape[0])
    scale = float(phi.abs().max())
    if scale == 0:
        raise _all_zero(ctx, "the symmetric inputs")
    gap = (phi[rows, ii] - phi[rows, jj]).abs().max()
    value = float(gap) / scale
    return CheckResult("symmetry", "pass" if value <= rtol else "fail", value, rtol,
                       f"{len(pairs)} {how} pairs")  # fmt: skip


def _invariance(ctx: _Context, equivalent: Any, rtol: float) -> CheckResult:
    candidates: list[tuple[str, Any]] = []
    if equivalent is not None:
        eqs = list(equivalent) if isinstance(equivalent, (list, tuple)) else [equivalent]
        for k, e in enumerate(eqs):
            candidates.append((f"equivalent[{k}]" if len(eqs) > 1 else "equivalent", e))
    if isinstance(ctx.model, nn.Module):
        for name, rewrite in REWRITES.items():
            new = rewrite(ctx.model)
            if new is not None:
                candidates.append((name, new))
    if not candidates:
        return CheckResult("implementation_invariance", "n/a", None, rtol,
                           "no equivalent model and no applicable rewrite")  # fmt: skip
    pts, idx = ctx.probes(9)
    fp = ctx.F(ctx.model, pts, idx)
    phi = ctx.base_phi()
    scale = float(phi.abs().max())
    worst, notes, compared = 0.0, [], 0
    xs, bs = ctx.flat(ctx.x), ctx.flat(ctx.b)
    for name, other in candidates:
        gap = float((ctx.F(other, pts, idx) - fp).abs().max())
        if gap > 1e-4 * (1.0 + float(fp.abs().max())):
            if name.startswith("equivalent"):
                raise ValueError(f"equivalent: differs from model by up to {gap:.3g} on probe "
                                 "points; it must compute the same function")  # fmt: skip
            notes.append(f"{name}: skipped (changes F by {gap:.2g})")
            continue
        phi_other = ctx.phi(other, xs, bs, ctx.all(), name)
        # relative to φ on the model; when that is all 0, to φ on the other model (a gap of 1)
        pair_scale = scale if scale > 0 else float(phi_other.abs().max())
        if pair_scale == 0:
            notes.append(f"{name}: all 0")
            continue
        value = float((phi_other - phi).abs().max()) / pair_scale
        worst = max(worst, value)
        compared += 1
        notes.append(f"{name} {value:.2g}")
    if not compared:
        if scale == 0 and any(n.endswith("all 0") for n in notes):
            raise _all_zero(ctx, "the model and every equivalent")
        detail = "; ".join(notes) or "no equivalent model computed the same function"
        return CheckResult("implementation_invariance", "n/a", None, rtol, detail)
    return CheckResult("implementation_invariance", "pass" if worst <= rtol else "fail", worst,
                       rtol, "; ".join(notes))  # fmt: skip
