r"""Error-controlled Integrated Gradients (``integrated_gradients(..., steps="auto")``).

.. math::

    \mathrm{IG}(x) = (x - x') \odot \int_0^1 \nabla F(x' + \alpha (x - x'))\, d\alpha
    \approx (x - x') \odot \sum_{p} \sum_{j=0}^{4} w^{B}_{pj}\, \nabla F(\gamma(\alpha_{pj}))

Each example's path [0, 1] is covered by dyadic panels [a, b], each with five equispaced nodes
(see :mod:`pathattr.quadrature.adaptive`); every example starts with the single panel [0, 1]
(five gradients).  On a panel the Boole value :math:`B_p` is kept and four error signals are
computed from gradients (and forward values) that are already there, all per panel:

* the nested-Simpson difference :math:`E_p = (B_p - S2_p) \odot (x - x')`, as :math:`\|E_p\|_2`;
* a kink term: if the integrand jumps once on the panel (a ReLU breakpoint) by
  :math:`J = \nabla F(b) - \nabla F(a)`, Boole's error is :math:`J \odot (x - x')\, e` with one
  scalar e, and the exact sub-interval completeness residual
  :math:`r_p = \sum_i B_{p,i} - (F(\gamma(b)) - F(\gamma(a)))` is :math:`\sum J \odot (x - x')\, e`,
  which gives :math:`\|J \odot (x - x')\|\, |r_p| / |\sum J \odot (x - x')|` (capped);
* the split change :math:`\|B_l + B_r - B_{parent}\|_2` times the convergence factor the
  Simpson differences show (about 1/15 where smooth, 1 at kinks), weighted 1/4: several kinks
  in one panel can cancel in the first two;
* the residual :math:`|r_p|` relative to :math:`\max(|F(x) - F(x')|, \|A\|_2/\sqrt{features})`.

An example's estimate is 1.3 × the sum over its panels of
:math:`(\|E_p\| + \mathrm{kink}_p + \mathrm{change}_p/4)/\|A\|_2 + |r_p|/\mathrm{scale}`.  The
Simpson difference alone is asymptotic: at a ReLU kink it can miss most of Boole's error (31x
for a jump just past the first quarter node).  Summing all terms with the 1.3 margin is what
made every example flagged converged land within ``tol`` in the calibration runs
(``tests/test_adaptive_calibration.py``, ``benchmarks/results/adaptive_goal.md``); an example
may also not stop on its unsplit first panel unless its estimate is below ``tol``/1000.  Each
panel's estimate has a rounding floor (a few eps of the model's dtype times the panel's
:math:`\int |\nabla F \odot (x - x')|`); panels at the floor are not split, so an example with
F(x) ≈ F(x') or a float16/bfloat16 model stops instead of chasing noise (flagged not converged
if still above ``tol``).

While the estimate exceeds ``tol``, the panels with the largest indicators (their terms
above: large where the path bends: a ReLU kink, a saturation front) are halved, four new nodes
each and all old nodes reused, the fewest panels whose indicators cover the excess over
``tol``; until ``tol``, ``max_steps`` or the rounding floor is reached.

Every round gathers the new nodes of all examples into one batched engine call, and the
bookkeeping is vectorised over all panels of all examples: each panel carries the store rows of
its five nodes (a child inherits three from its parent, so no node is ever looked up), the
choice of panels to split is one sort and one cumulative sum, and only the panels created in a
round are evaluated (a running per-example sum gives ‖A‖; a child's increment takes out its
share of its parent), so a round costs a few tensor operations whatever the number of
examples.  Attributions are never rescaled: they are the composite Boole sums of the final
panels.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch

from pathattr.engine.core import evaluate_rows
from pathattr.engine.memory import resolve_batch_size
from pathattr.engine.pipeline import Prepared, prepare, warn_non_finite
from pathattr.engine.progress import progress_bar
from pathattr.engine.targets import TargetLike
from pathattr.engine.validate import (
    BaselineLike,
    warn_zero_gradient,
)
from pathattr.paths.straight import StraightLine
from pathattr.quadrature import adaptive as q
from pathattr.result import Attribution, ConvergenceWarning, completeness, warn_if_incomplete

_SPLIT_COST = 4
#: Boole's error on a panel of width w whose integrand jumps once (a ReLU kink) is
#: J · e(t) · w with |e(t)| <= 11/60 over the jump's position t (worst just past a quarter node)
_KINK_MAX = 11.0 / 60.0
#: weight of the split-change term (see _Panels.pair); with the others, measured on the tiny nets
#: of tests/test_adaptive_calibration.py and the digits models of benchmarks/adaptive.py
_PAIR_WEIGHT = 0.25
#: the sum of the per-panel terms times this is the error estimate: the margin that made every
#: converged example of the calibration runs land within tol (1.0 left 1-4 of 60 above)
_SAFETY = 1.3
#: an example may stop on its first panel (5 nodes, no split yet) only if its estimate is below
#: tol times this: five nodes can miss what a kink or a front between them does
_CONFIRM = 1e-3
#: rounding floor: a panel's estimate is at least this many eps of the gradients' dtype times the
#: panel's share of ∫ |∇F ⊙ (x − x')| dα; panels at the floor are not split (more nodes cannot
#: resolve what rounding hides), so float16/bfloat16 models stop instead of chasing noise
_NOISE_EPS = 4.0
#: What a new panel adds to its example's Σ_p B_p, times h: a panel without a parent its Boole
#: value; a child its Boole value minus its share of its parent's (the parent's nodes 0, 1, 2
#: are the left child's 0, 2, 4 and nodes 2, 3, 4 the right child's; node 2 is shared halfway).
#: The two children's increments add up to B_left + B_right − B_parent, so the running sum
#: needs no pass over the parents.  Index: side (0 no parent, 1 left child, 2 right child).
_PARENT_SHARE = np.array([[0, 0, 0, 0, 0], [7, 0, 32, 0, 6], [6, 0, 32, 0, 7]]) * (4.0 / 45.0)
#: (side, 3, 5): Boole, error (B − S2) and increment weights, times h; one product gives all
_RULES = torch.tensor(
    np.stack([np.stack([q.BOOLE, q.ERROR, q.BOOLE - share]) for share in _PARENT_SHARE]),
    dtype=torch.float64,
)
#: memory for the gradients gathered to evaluate panels at once (see _State.add_panels)
_PANEL_BLOCK_BYTES = 64 * 2**20


class _Store:
    """Every evaluated node, in evaluation order: example, grid position, F and gradient row.

    Gradient rows are appended a round at a time into a buffer that doubles when full, so a
    round costs one copy of its own rows, not of everything before it.
    """

    def __init__(self, n: int, features: int, dtype: torch.dtype, device: torch.device) -> None:
        self.size = 0
        self.example = np.zeros(0, dtype=np.int64)
        self.position = np.zeros(0, dtype=np.int64)
        self.outputs = np.zeros(0)
        self.count = np.zeros(n, dtype=np.int64)
        self._grads = torch.empty(0, features, dtype=dtype, device=device)
        self.live: list[torch.Tensor] = []  # chunks with their graph (create_graph only)

    @property
    def grads(self) -> torch.Tensor:
        """All detached gradient rows (rows, F)."""
        return self._grads[: self.size]

    def append(
        self, example: np.ndarray, position: np.ndarray, outputs: np.ndarray, grads: torch.Tensor
    ) -> None:
        end = self.size + len(example)
        if end > self._grads.shape[0]:
            bigger = torch.empty(
                max(end, 2 * self._grads.shape[0]), self._grads.shape[1],
                dtype=self._grads.dtype, device=self._grads.device,
            )  # fmt: skip
            bigger[: self.size] = self._grads[: self.size]
            self._grads = bigger
        self._grads[self.size : end] = grads
        self.example = np.concatenate([self.example, example])
        self.position = np.concatenate([self.position, position])
        self.outputs = np.concatenate([self.outputs, outputs])
        self.count += np.bincount(example, minlength=len(self.count))
        self.size = end


def adaptive_integrated_gradients(
    model: Callable[..., Any],
    inputs: torch.Tensor | tuple[torch.Tensor, ...],
    *,
    baselines: BaselineLike = None,
    target: TargetLike = None,
    tol: float = 1e-2,
    max_steps: int = 1024,
    forward_args: Any = (),
    batch_size: int | str | None = "auto",
    create_graph: bool = False,
    warn_tol: float | None = 0.05,
    progress: bool = False,
) -> Attribution:
    """Integrated Gradients with per-example adaptive quadrature to relative accuracy ``tol``.

    Args:
        model, inputs, baselines, target, forward_args, batch_size, create_graph, warn_tol,
            progress: as in :func:`pathattr.integrated_gradients`.
        tol: requested relative accuracy per example (see the module docstring for the two
            error signals; the per-feature one is relative to ‖A‖₂, the completeness one to
            |F(x) − F(x')|).
        max_steps: gradient evaluations allowed per example (at least 5).

    Returns:
        An :class:`~pathattr.result.Attribution` whose ``extras`` hold, per example,
        ``error_estimate`` (float tensor), ``converged`` (bool tensor: the estimate is
        <= ``tol``, after at least one split unless it is below ``tol``/1000),
        ``stop_reason`` (list of ``"converged"``, ``"max_steps"``, ``"rounding_floor"``,
        ``"non_finite"``) and
        ``alphas`` (the nodes used, a list of float64 arrays), plus ``rounds`` (batched engine
        calls).  A :class:`~pathattr.result.ConvergenceWarning` names the examples not
        converged, per reason.
        With ``create_graph=True`` the attributions keep the graph of every gradient summed
        (no extra evaluations), so they are differentiable w.r.t. the model parameters.
    """
    tol = _check_tol(tol)
    max_steps = _check_max_steps(max_steps)
    p = prepare(
        model, inputs, baselines=baselines, target=target, forward_args=forward_args,
        batch_size=batch_size, create_graph=create_graph, warn_tol=warn_tol, progress=progress,
    )  # fmt: skip
    if p.empty:
        return p.empty_result(
            "integrated_gradients", {"rule": "auto", "tol": tol, "max_steps": max_steps}
        )
    with p.running():
        return _adaptive(p, tol, max_steps)


def _adaptive(p: Prepared, tol: float, max_steps: int) -> Attribution:
    assert p.baselines is not None
    model, single, xs, bs, n = p.model, p.single, p.inputs, p.baselines, p.n
    fargs, selector, device = p.forward_args, p.selector, p.device
    batch_size, create_graph, warn_tol, progress = (
        p.batch_size,
        p.create_graph,
        p.warn_tol,
        p.progress,
    )
    path = StraightLine(xs, bs, p.diffs)
    diff_flat = torch.cat([d.reshape(n, -1) for d in path.diffs], 1)
    diff_plain = diff_flat.detach().double()

    # round 1: the single panel [0, 1] of every example, its five nodes in store rows 5e..5e+4
    panels = _Panels(
        np.arange(n), np.zeros(n, dtype=np.int64), np.full(n, q.ONE, np.int64),
        np.arange(5 * n, dtype=np.int64).reshape(n, 5),
    )  # fmt: skip
    new_ex = np.repeat(np.arange(n), 5)
    new_pos = np.tile(np.array(q.panel_nodes(0, q.ONE), dtype=np.int64), n)
    # size chunks for the largest round that can come (every example at max_steps), not for
    # the small first round: later rounds of a hard example must not run unchunked
    # (the sizing reads the row count and probes a row or two: views, not n·max_steps copies)
    most = n * max_steps
    rows0, alphas0 = _rows(new_ex, new_pos, device)
    bsz = resolve_batch_size(
        batch_size, model, path, selector, rows0[:1].expand(most), alphas0[:1].expand(most),
        n_examples=n, forward_args=fargs,
    )  # fmt: skip
    store = _Store(n, diff_flat.shape[1], diff_flat.dtype, device)
    first, last = 5 * np.arange(n), 5 * np.arange(n) + 4  # store rows of α = 0 and α = 1
    # the number of evaluations is not known in advance: the bar counts finished examples
    bar = progress_bar(n, progress, desc="adaptive integrated gradients")
    state = _State(n, diff_flat.shape[1], device)
    fresh = np.ones(n, dtype=bool)
    any_gradient = False
    rounds = 0
    try:
        while len(new_ex):
            rounds += 1
            rows, alphas = _rows(new_ex, new_pos, device)
            grads, outs = [], []
            for chunk in evaluate_rows(
                model, path, selector, rows, alphas, n_examples=n, forward_args=fargs,
                batch_size=bsz, create_graph=create_graph,
            ):  # fmt: skip
                flat = (
                    chunk.grads[0].reshape(chunk.grads[0].shape[0], -1)
                    if len(chunk.grads) == 1
                    else torch.cat([g.reshape(g.shape[0], -1) for g in chunk.grads], 1)
                )
                if not any_gradient and bool((flat != 0).any()):
                    any_gradient = True
                if rounds == 1:
                    state.see_dtypes(model, chunk.grads[0], chunk.outputs)
                if create_graph:
                    store.live.append(flat)
                grads.append(flat.detach())
                outs.append(chunk.outputs.detach())
            store.append(
                new_ex, new_pos, torch.cat(outs).double().cpu().numpy(),
                grads[0] if len(grads) == 1 else torch.cat(grads),
            )  # fmt: skip
            if rounds == 1:
                state.set_scale(store, first, last)
            state.add_panels(panels, fresh, store, diff_plain)
            done_before = int(state.done.sum())
            step = _refine(panels, state, store, tol, max_steps)
            new_ex, new_pos, panels, fresh = step
            bar.update(int(state.done.sum()) - done_before)
    finally:
        bar.close()

    attributions = _final_sums(panels, store, diff_flat, xs, create_graph)
    output = torch.tensor(store.outputs[last], dtype=xs[0].dtype, device=device)
    base_output = torch.tensor(store.outputs[first], dtype=xs[0].dtype, device=device)
    if not any_gradient:
        warn_zero_gradient(stacklevel=4)
    delta, rel = completeness(attributions, output, base_output)
    if not bool(torch.isfinite(delta).all()):
        warn_non_finite(
            {"output": output, "baseline_output": base_output}, attributions, stacklevel=4
        )
    converged = torch.from_numpy(state.converged.copy())
    _warn_unconverged(state, tol, max_steps)
    res = Attribution(
        attributions=attributions[0] if single else attributions,
        output=output,
        baseline_output=base_output,
        delta=delta,
        relative_delta=rel,
        evaluations=torch.from_numpy(store.count.copy()),
        method="integrated_gradients",
        extras={
            "rule": "auto",
            "tol": tol,
            "max_steps": max_steps,
            "rounds": rounds,
            "error_estimate": torch.from_numpy(state.error.copy()),
            "converged": converged,
            "stop_reason": [_REASONS[int(r)] for r in state.reason],
            "alphas": _alphas_per_example(store, n),
        },
    )
    warn_if_incomplete(res, warn_tol, f"lower tol (now {tol:g}) or raise max_steps", stacklevel=5)
    return res


def _warn_unconverged(state: _State, tol: float, max_steps: int) -> None:
    """One ConvergenceWarning per reason for the examples that are not flagged converged."""
    n = len(state.error)
    for reason, advice in (
        (MAX_STEPS, f"stopped at max_steps={max_steps} before reaching tol={tol:g}; raise "
                    "max_steps"),
        (FLOOR, f"stopped at the rounding floor of the model's dtype (eps {state.eps:.2g}) "
                f"above tol={tol:g}: more nodes cannot resolve what rounding hides; raise tol "
                "or evaluate in a wider dtype"),
        (NON_FINITE, "stopped because the model's output or gradient is NaN or inf on the path"),
    ):  # fmt: skip
        bad = np.flatnonzero(state.reason == reason)
        if len(bad):
            worst = float(state.error[bad].max())
            warnings.warn(
                f"{_REASONS[reason]}: {len(bad)} of {n} examples {advice} (worst error "
                f"estimate {worst:.3g}); extras['converged'] flags them",
                ConvergenceWarning,
                stacklevel=5,
            )


def _check_tol(tol: Any) -> float:
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not math.isfinite(tol):
        raise TypeError(f"tol: expected a positive float, got {type(tol).__name__} {tol!r}")
    if tol <= 0:
        raise ValueError(f"tol: expected a positive float, got {tol!r}")
    return float(tol)


def _check_max_steps(max_steps: Any) -> int:
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)):
        raise TypeError(
            f"max_steps: expected an int >= 5, got {type(max_steps).__name__} {max_steps!r}"
        )
    if max_steps < 5:
        raise ValueError(f"max_steps: expected an int >= 5 (one 5-node panel), got {max_steps}")
    return int(max_steps)


def _rows(
    example: np.ndarray, position: np.ndarray, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    rows = torch.from_numpy(example).to(device)
    # positions < 2**48 convert to float64 exactly, and so does the division by 2**48
    alphas = torch.from_numpy(position.astype(np.float64) / q.ONE).to(device)
    return rows, alphas


class _Panels:
    """Panels of all examples as parallel arrays: example, [lo, hi], the store rows of their
    five nodes, which half of its parent a panel is (``side``), and per-panel values in
    attribution units:

    * ``feat``: ‖E_p‖₂, the nested-Simpson difference (B − S2) ⊙ (x − x');
    * ``resid``: r_p, the exact sub-interval completeness residual;
    * ``kink``: the estimate of Boole's error from a jump of the integrand (``_panel_values``);
    * ``pair``: this child's half of ‖B_left + B_right − B_parent‖₂ (what its split changed),
      times the convergence the split showed (``_State.add_panels``);
    * ``pfeat``: the parent's ``feat`` (0 for the first panel);
    * ``noise_a``, ``noise_r``: the rounding floors of ``feat`` and of ``resid``.
    """

    FIELDS = ("feat", "resid", "kink", "pair", "pfeat", "noise_a", "noise_r")

    def __init__(
        self,
        example: np.ndarray,
        lo: np.ndarray,
        hi: np.ndarray,
        rows: np.ndarray,
        side: np.ndarray | None = None,
    ) -> None:
        self.example = example
        self.lo = lo
        self.hi = hi
        self.rows = rows  # (P, 5)
        self.side = np.zeros(len(lo), dtype=np.int64) if side is None else side  # _PARENT_SHARE
        p = len(lo)
        self.feat, self.resid, self.kink = np.zeros(p), np.zeros(p), np.zeros(p)
        self.pair, self.pfeat = np.zeros(p), np.zeros(p)
        self.noise_a, self.noise_r = np.zeros(p), np.zeros(p)

    def __len__(self) -> int:
        return len(self.lo)

    def take(self, keep: np.ndarray) -> _Panels:
        out = _Panels(
            self.example[keep], self.lo[keep], self.hi[keep], self.rows[keep], self.side[keep]
        )
        for f in self.FIELDS:
            setattr(out, f, getattr(self, f)[keep])
        return out

    @staticmethod
    def concat(a: _Panels, b: _Panels) -> _Panels:
        out = _Panels(
            *(np.concatenate([x, y]) for x, y in
              ((a.example, b.example), (a.lo, b.lo), (a.hi, b.hi), (a.rows, b.rows),
               (a.side, b.side)))
        )  # fmt: skip
        for f in _Panels.FIELDS:
            setattr(out, f, np.concatenate([getattr(a, f), getattr(b, f)]))
        return out


#: why an example stopped (``_State.reason``), and the names ``extras["stop_reason"]`` uses
CONVERGED, MAX_STEPS, FLOOR, NON_FINITE = 0, 1, 2, 3
_REASONS = {
    CONVERGED: "converged",
    MAX_STEPS: "max_steps",
    FLOOR: "rounding_floor",
    NON_FINITE: "non_finite",
}


class _State:
    """Per example: running Σ_p B_p (for ‖A‖), error estimate, done / converged flags, why it
    stopped; and the rounding eps of the model's arithmetic."""

    def __init__(self, n: int, features: int, device: torch.device) -> None:
        self.total = torch.zeros(n, features, dtype=torch.float64, device=device)
        self.error = np.full(n, math.inf)
        self.done = np.zeros(n, dtype=bool)
        self.converged = np.zeros(n, dtype=bool)
        self.reason = np.full(n, -1)
        self.delta_f = np.zeros(n)  # |F(x) − F(x')|, see set_scale
        self.eps = float(np.finfo(np.float64).eps)

    def set_scale(self, store: _Store, first: np.ndarray, last: np.ndarray) -> None:
        """|F(x) − F(x')| per example, from the store rows of α = 0 and α = 1."""
        self.delta_f = np.abs(store.outputs[last] - store.outputs[first])

    def see_dtypes(self, model: Any, *tensors: torch.Tensor) -> None:
        """The largest eps among the gradients', outputs' and (for a module) the parameters'
        floating dtypes: a bfloat16 model fed float32 inputs still rounds like bfloat16."""
        dtypes = {t.dtype for t in tensors}
        if isinstance(model, torch.nn.Module):
            dtypes |= {p.dtype for p in model.parameters()}
        self.eps = max(
            [self.eps] + [float(torch.finfo(d).eps) for d in dtypes if d.is_floating_point]
        )

    def add_panels(
        self,
        panels: _Panels,
        fresh: np.ndarray,
        store: _Store,
        diff: torch.Tensor,
    ) -> None:
        """Evaluate the ``fresh`` panels (fill their estimates) and update the totals (a split
        replaces its parent's B_p by its children's)."""
        fresh_idx = np.flatnonzero(fresh)
        # in blocks: the gathered gradients are (panels, 5, features) float64, which for a
        # batch of large images would otherwise be gigabytes at once; an even block size keeps
        # the two children of a split (adjacent in ``panels``) in one block
        block = 2 * max(1, _PANEL_BLOCK_BYTES // (10 * 8 * max(1, self.total.shape[1])))
        for start in range(0, len(fresh_idx), block):
            idx = fresh_idx[start : start + block]
            v = _panel_values(panels.take(idx), store, diff, self.eps)
            ex = torch.from_numpy(panels.example[idx]).to(self.total.device)
            self.total.index_add_(0, ex, v.increment)
            panels.feat[idx] = v.error.norm(dim=1).cpu().numpy()
            panels.resid[idx] = v.resid.cpu().numpy()
            panels.kink[idx] = v.kink.cpu().numpy()
            panels.noise_a[idx] = v.noise_a.cpu().numpy()
            panels.noise_r[idx] = v.noise_r.cpu().numpy()
            left = np.flatnonzero(panels.side[idx] == 1)  # its sibling right after it
            if len(left):
                change = (v.increment[left] + v.increment[left + 1]).norm(dim=1).cpu().numpy()
                li, ri = idx[left], idx[left + 1]
                # What the split changed, D = B_l + B_r − B_parent, is the parent's error minus
                # the children's.  If the error shrinks by q per halving, the children's is
                # q/(1 − q) ‖D‖.  q is read off the Simpson differences: about 1/16 from parent
                # to children where the integrand is smooth (then this term is small next to
                # feat), about 1/2 or more at kinks (several kinks in a panel, which the
                # single-jump ``kink`` term and the residual can both miss by cancellation).
                ratio = (panels.feat[li] + panels.feat[ri]) / np.maximum(panels.pfeat[li], 1e-300)
                factor = np.where(ratio >= 0.5, 1.0, ratio / (1.0 - np.minimum(ratio, 0.5)))
                panels.pair[li] = panels.pair[ri] = 0.5 * change * factor


class _Values(NamedTuple):
    """What :func:`_panel_values` computes for a block of panels."""

    increment: torch.Tensor  # (P, F): what the panel adds to its example's Σ_p B_p
    error: torch.Tensor  # (P, F): (B − S2) ⊙ (x − x')
    resid: torch.Tensor  # (P,): Σ B_p − (F(b) − F(a))
    kink: torch.Tensor  # (P,): single-jump estimate of ‖Boole's error‖₂
    noise_a: torch.Tensor  # (P,): rounding floor of ‖error‖₂
    noise_r: torch.Tensor  # (P,): rounding floor of |resid|


def _panel_values(panels: _Panels, store: _Store, diff: torch.Tensor, eps: float) -> _Values:
    """Increments, error signals and rounding floors of panels (see :class:`_Values`).

    The floors are ``_NOISE_EPS`` · ``eps`` times the panel's ∫ |∇F ⊙ (x − x')| dα (in L2 for
    the per-feature signals; in L1 plus |F(a)| + |F(b)| for the residual).

    The kink estimate: if the integrand jumps once on the panel, by J = ∇F(b) − ∇F(a), Boole's
    error is J ⊙ (x − x') · e with the same scalar e for every feature, and the exact residual
    r_p is Σ J ⊙ (x − x') · e, so ‖error‖ = ‖J ⊙ (x − x')‖ · |r_p| / |Σ J ⊙ (x − x')|, capped by
    the largest |e| a single jump can give (``_KINK_MAX`` · width).  On a smooth panel J is
    O(w) and r_p O(w⁷), so the term is far below ``feat`` and costs nothing there.
    """
    grads = store.grads
    idx = torch.from_numpy(panels.rows.reshape(-1)).to(grads.device)
    g = grads.index_select(0, idx).reshape(len(panels), 5, -1).double()  # (P, 5, F)
    rules = _RULES.to(g.device)[torch.from_numpy(panels.side).to(g.device)]  # (P, 3, 5)
    # (P, 3, 5) @ (P, 5, F): all three rules at once, features stay the contiguous last dim
    vals = torch.matmul(rules, g)
    h = torch.from_numpy((panels.hi - panels.lo) / (4.0 * q.ONE)).to(g)
    ex = torch.from_numpy(panels.example).to(diff.device)
    d = diff.index_select(0, ex)
    vals = vals * (d * h[:, None])[:, None, :]  # × h (x − x')
    outputs = store.outputs
    rise = torch.from_numpy(outputs[panels.rows[:, 4]] - outputs[panels.rows[:, 0]]).to(g)
    resid = vals[:, 0].sum(1) - rise
    boole = _RULES[0, 0].to(g)
    absolute = torch.einsum("j,pjf->pf", boole, g.abs()) * (d.abs() * h[:, None])
    ends = torch.from_numpy(np.abs(outputs[panels.rows[:, [0, 4]]]).sum(1)).to(g)
    noise_a = _NOISE_EPS * eps * absolute.norm(dim=1)
    noise_r = _NOISE_EPS * eps * (absolute.sum(1) + ends)
    jump = (g[:, 4] - g[:, 0]) * d  # (P, F)
    # a residual at rounding level says nothing about e (F can be constant along the path
    # while its gradient is not: then Σ J ⊙ (x − x') is rounding too)
    fraction = torch.minimum(
        (resid.abs() - noise_r).clamp_min(0.0) / jump.sum(1).abs().clamp_min(1e-300),
        _KINK_MAX * 4.0 * h,
    )
    kink = jump.norm(dim=1) * fraction
    return _Values(vals[:, 2], vals[:, 1], resid, kink, noise_a, noise_r)


def _refine(
    panels: _Panels, state: _State, store: _Store, tol: float, max_steps: int
) -> tuple[np.ndarray, np.ndarray, _Panels, np.ndarray]:
    """Update every error estimate; split panels of unfinished examples.

    Returns the new nodes to evaluate (examples, positions; their store rows follow the
    current ones in that order), all panels, and which panels are new.
    """
    n = len(state.error)
    tiny = np.finfo(np.float64).tiny
    norm_a = state.total.norm(dim=1).cpu().numpy()
    scale_a = np.where(norm_a > 0, norm_a, tiny)
    # the residual is relative to |F(x) − F(x')|, but not below ‖A‖₂/√features: only heavy
    # cancellation (or F(x) = F(x')) makes |F(x) − F(x')| smaller than that, and a residual
    # relative to it would then demand an accuracy the per-feature error does not need
    # (|r| <= √features ‖error‖₂); the floor keeps that example's estimate finite
    scale_f = np.maximum(np.maximum(state.delta_f, norm_a / math.sqrt(state.total.shape[1])), tiny)
    e = panels.example
    # The Simpson difference is asymptotic: at a ReLU kink (a jump of the integrand) it can miss
    # most of Boole's error, which the kink term, the split change and the exact residual show.
    # Every term is per panel and the panels' terms are added (the triangle inequality).
    signal = panels.feat + panels.kink + _PAIR_WEIGHT * panels.pair
    above = (signal > panels.noise_a) | (np.abs(panels.resid) > panels.noise_r)
    indicator = _SAFETY * (
        np.maximum(signal, panels.noise_a) / scale_a[e]
        + np.maximum(np.abs(panels.resid) - panels.noise_r, 0.0) / scale_f[e]
    )
    error = np.bincount(e, weights=indicator, minlength=n)
    active = ~state.done
    state.error[active] = error[active]
    refined = np.bincount(e, weights=(panels.side != 0), minlength=n) > 0
    hit = active & (error <= tol) & (refined | (error <= tol * _CONFIRM))
    state.done[hit] = state.converged[hit] = True
    state.reason[hit] = CONVERGED
    active &= ~hit
    # a NaN or inf along the path: no number of nodes makes the estimate meaningful (the
    # pipeline's NonFiniteWarning names what is not finite)
    broken = active & ~np.isfinite(error)
    state.done[broken] = True
    state.reason[broken] = NON_FINITE
    active &= ~broken

    budget = (max_steps - store.count) // _SPLIT_COST
    goal = np.maximum(error - tol, tiny)  # an unconfirmed example splits at least one panel
    # a panel at its rounding floor is not split, except to confirm a first panel
    chosen = _choose(panels, indicator, active, goal, budget, above | ~refined[e])
    # an unfinished example with nothing left to split stops: max_steps, or everything left is
    # rounding (or the grid's depth, 2**-46, reached only by such noise)
    stop = active & (np.bincount(e[chosen], minlength=n) == 0)
    state.done[stop] = True
    state.reason[stop] = np.where(budget[stop] < 1, MAX_STEPS, FLOOR)
    if not len(chosen):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, panels, np.zeros(len(panels), dtype=bool)
    parents = panels.take(chosen)
    children, new_ex, new_pos = _split(parents, store.size)
    keep = np.ones(len(panels), dtype=bool)
    keep[chosen] = False
    fresh = np.concatenate([np.zeros(int(keep.sum()), bool), np.ones(len(children), bool)])
    return new_ex, new_pos, _Panels.concat(panels.take(keep), children), fresh


def _choose(
    panels: _Panels, indicator: np.ndarray, active: np.ndarray, goal: np.ndarray,
    budget: np.ndarray, splittable: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """Indices of the panels to split: per active example, its splittable panels (the grid
    allows a split, and ``splittable``, if given) by decreasing indicator, the fewest whose
    indicators cover ``goal`` (the excess over tol), at most ``budget`` of them.  Vectorised
    over examples: one sort, one cumulative sum."""
    e = panels.example
    ok = active[e] & ((panels.hi - panels.lo) % 8 == 0)
    cand = np.flatnonzero(ok if splittable is None else ok & splittable)
    if not len(cand):
        return cand
    cand = cand[np.lexsort((-indicator[cand], e[cand]))]  # by example, then largest first
    ce, ind = e[cand], indicator[cand]
    start = np.searchsorted(ce, ce)  # where each candidate's example begins in the order
    rank = np.arange(len(cand)) - start
    # the indicator mass before each candidate within its example: a panel is taken while
    # what the panels before it cover is still short of the goal
    before = np.cumsum(ind) - ind
    before -= before[start]
    take = (rank < budget[ce]) & (before < goal[ce])
    return np.sort(cand[take])


def _split(parents: _Panels, next_row: int) -> tuple[_Panels, np.ndarray, np.ndarray]:
    """Halve ``parents``: children (each left half followed by its right half) and the four new
    nodes of each split, whose store rows will be ``next_row``, ``next_row + 1``, ...

    A child's ends and midpoint are nodes of its parent (slots 0, 2, 4 of the left child are the
    parent's 0, 1, 2; of the right child its 2, 3, 4), so only slots 1 and 3 are new.
    """
    p = len(parents)
    mid = (parents.lo + parents.hi) // 2
    lo = np.stack([parents.lo, mid], 1).ravel()
    hi = np.stack([mid, parents.hi], 1).ravel()
    example = np.repeat(parents.example, 2)
    quarter = (hi - lo) // 4
    new_pos = np.stack([lo + quarter, lo + 3 * quarter], 1)  # (2P, 2): slots 1 and 3
    new_rows = next_row + np.arange(4 * p, dtype=np.int64).reshape(2 * p, 2)
    rows = np.empty((2 * p, 5), dtype=np.int64)
    rows[0::2, 0::2] = parents.rows[:, 0:3]
    rows[1::2, 0::2] = parents.rows[:, 2:5]
    rows[:, [1, 3]] = new_rows
    side = np.tile(np.array([1, 2], dtype=np.int64), p)  # left half, then right half
    children = _Panels(example, lo, hi, rows, side)
    children.pfeat = np.repeat(parents.feat, 2)
    return children, np.repeat(example, 2), new_pos.reshape(-1)


def _final_sums(
    panels: _Panels,
    store: _Store,
    diff_flat: torch.Tensor,
    xs: tuple[torch.Tensor, ...],
    create_graph: bool,
) -> tuple[torch.Tensor, ...]:
    """Composite Boole sums × (x − x'), split back into the inputs' shapes (graph kept)."""
    h = (panels.hi - panels.lo) / (4.0 * q.ONE)
    node_w = (h[:, None] * q.BOOLE[None, :]).ravel()
    weights = np.bincount(panels.rows.ravel(), weights=node_w, minlength=store.size)
    if create_graph:
        grads = torch.cat(store.live) if len(store.live) > 1 else store.live[0]
    else:
        grads = store.grads
    w = torch.from_numpy(weights).to(device=grads.device)
    rows = torch.from_numpy(store.example).to(grads.device)
    n = diff_flat.shape[0]
    flat = torch.zeros(n, grads.shape[1], dtype=torch.float64, device=grads.device)
    flat = flat.index_add(0, rows, w[:, None] * grads.double())
    flat = flat.to(diff_flat.dtype) * diff_flat
    out = []
    start = 0
    for x in xs:
        size = x[0].numel()
        out.append(flat[:, start : start + size].reshape(x.shape))
        start += size
    return tuple(out)


def _alphas_per_example(store: _Store, n: int) -> list[np.ndarray]:
    """The nodes each example was evaluated at, sorted."""
    order = np.lexsort((store.position, store.example))
    cuts = np.cumsum(store.count)[:-1]
    return [p / q.ONE for p in np.split(store.position[order], cuts)]
