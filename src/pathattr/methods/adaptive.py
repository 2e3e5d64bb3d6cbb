r"""Error-controlled Integrated Gradients (``integrated_gradients(..., steps="auto")``).

.. math::

    \mathrm{IG}(x) = (x - x') \odot \int_0^1 \nabla F(x' + \alpha (x - x'))\, d\alpha
    \approx (x - x') \odot \sum_{p} \sum_{j=0}^{4} w^{B}_{pj}\, \nabla F(\gamma(\alpha_{pj}))

Each example's path [0, 1] is covered by dyadic panels [a, b], each with five equispaced nodes
(see :mod:`pathattr.quadrature.adaptive`); every example starts with the single panel [0, 1]
(five gradients).  On a panel the Boole value :math:`B_p` is kept and two error signals are
computed from gradients that are already there:

* the per-feature estimate :math:`E_p = (S2_p - S1_p)/15 \odot (x - x')` (difference of two
  nested Simpson rules on the same nodes), measured as :math:`\|E_p\|_2 / \|A\|_2`;
* the exact sub-interval completeness residual
  :math:`r_p = \sum_i B_{p,i} - (F(\gamma(b)) - F(\gamma(a)))`, free because the forward value
  at every node comes with its gradient, measured as :math:`|r_p| / |F(x) - F(x')|`.

An example's error estimate is
:math:`\sum_p \|E_p\|/\|A\| + \sum_p |r_p| / |\Delta F|`.  The Simpson difference alone is
asymptotic: at a ReLU kink (a jump of the integrand) it can miss most of the panel's error,
which the exact residual of that panel then shows; the sum of both stayed above the true
relative L2 error on the smooth and the piecewise-linear test integrands and on most examples of
the benchmark models (``benchmarks/results/adaptive.md`` reports the calibration).  While the
estimate exceeds ``tol``, the panels with the largest indicators
:math:`\|E_p\|/\|A\| + |r_p|/|\Delta F|` (large where the path bends: a ReLU kink, a
saturation front) are halved, four new nodes each and all old nodes reused, the fewest panels
whose indicators cover the excess over ``tol``; until ``tol`` or ``max_steps`` is reached.

Every round gathers the new nodes of all examples into one batched engine call, and the
bookkeeping is vectorised over all panels of all examples: only the panels created in a round
are evaluated (a running per-example sum gives ‖A‖), so a round costs a few tensor operations
whatever the number of examples.  Attributions are never rescaled: they are the composite Boole
sums of the final panels.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from pathattr.engine.core import evaluate_rows
from pathattr.engine.memory import resolve_batch_size
from pathattr.engine.progress import progress_bar
from pathattr.engine.targets import TargetLike, make_selector
from pathattr.engine.validate import (
    BaselineLike,
    ZeroGradientWarning,
    as_baselines,
    as_tuple,
    warn_training_mode,
)
from pathattr.paths.straight import StraightLine
from pathattr.quadrature import adaptive as q
from pathattr.result import Attribution, ConvergenceWarning, completeness, warn_if_incomplete

_SPLIT_COST = 4
_BOOLE = torch.tensor(q.BOOLE, dtype=torch.float64)
_ERROR = torch.tensor(q.ERROR, dtype=torch.float64)


class _Store:
    """Every evaluated node: its example, grid position, forward value and gradient row."""

    def __init__(self, n: int, device: torch.device) -> None:
        self.index: dict[tuple[int, int], int] = {}
        self.example: list[int] = []
        self.position: list[int] = []
        self.outputs = np.zeros(0)
        self.plain: list[torch.Tensor] = []  # detached gradient chunks (for the estimates)
        self.live: list[torch.Tensor] = []  # the same chunks with their graph (for the result)
        self._cat: torch.Tensor | None = None
        self.count = np.zeros(n, dtype=np.int64)
        self.device = device

    def add(self, example: int, position: int) -> None:
        self.index[(example, position)] = len(self.example)
        self.example.append(example)
        self.position.append(position)
        self.count[example] += 1

    def grads(self) -> torch.Tensor:
        """All detached gradient rows (rows, F), in evaluation order."""
        if self._cat is None or self._cat.shape[0] != len(self.example):
            self._cat = torch.cat(self.plain) if len(self.plain) > 1 else self.plain[0]
            self.plain = [self._cat]
        return self._cat

    def rows_of(self, examples: np.ndarray, positions: np.ndarray) -> np.ndarray:
        return np.array(
            [self.index[(int(e), int(p))] for e, p in zip(examples.ravel(), positions.ravel())],
            dtype=np.int64,
        ).reshape(positions.shape)


def adaptive_integrated_gradients(
    model: Callable[..., Any],
    inputs: torch.Tensor | tuple[torch.Tensor, ...],
    baselines: BaselineLike = None,
    target: TargetLike = None,
    *,
    tol: float = 1e-2,
    max_steps: int = 1024,
    forward_args: Any = (),
    batch_size: int | str | None = "auto",
    create_graph: bool = False,
    warn_tol: float = 0.05,
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
        ``error_estimate`` (float tensor), ``converged`` (bool tensor) and ``alphas`` (the
        nodes used, a list of float64 arrays), plus ``rounds`` (batched engine calls).
        With ``create_graph=True`` the attributions keep the graph of every gradient summed
        (no extra evaluations), so they are differentiable w.r.t. the model parameters.
    """
    tol = _check_tol(tol)
    max_steps = _check_max_steps(max_steps)
    single = isinstance(inputs, torch.Tensor)
    xs = as_tuple(inputs)
    bs = as_baselines(baselines, xs)
    fargs = forward_args if isinstance(forward_args, tuple) else (forward_args,)
    n = xs[0].shape[0]
    selector = make_selector(target, n)
    warn_training_mode(model)
    path = StraightLine(xs, bs)
    device = xs[0].device
    diff_flat = torch.cat([d.reshape(n, -1) for d in path.diffs], 1)
    diff_plain = diff_flat.detach().double()

    store = _Store(n, device)
    panels = _Panels(np.arange(n), np.zeros(n, dtype=np.int64), np.full(n, q.ONE, np.int64))
    new_e, new_p = panels.node_positions()
    pending = sorted(set(zip(new_e.ravel().tolist(), new_p.ravel().tolist())))
    rows0, alphas0 = _rows(pending, device)
    # size chunks for the largest round that can come (every example at max_steps), not for
    # the small first round: later rounds of a hard example must not run unchunked
    most = n * max_steps
    reps = -(-most // rows0.shape[0])
    bsz = resolve_batch_size(
        batch_size, model, path, selector, rows0.repeat(reps)[:most], alphas0.repeat(reps)[:most],
        n_examples=n, forward_args=fargs,
    )  # fmt: skip
    # the number of evaluations is not known in advance: the bar counts finished examples
    bar = progress_bar(n, progress, desc="adaptive integrated gradients")
    done = 0
    state = _State(n, diff_flat.shape[1], device)
    any_gradient = False
    rounds = 0
    fresh = np.ones(n, dtype=bool)
    try:
        while pending:
            rows, alphas = _rows(pending, device)
            rounds += 1
            for e, pos in pending:
                store.add(e, pos)
            outs = []
            for chunk in evaluate_rows(
                model, path, selector, rows, alphas, n_examples=n, forward_args=fargs,
                batch_size=bsz, create_graph=create_graph,
            ):  # fmt: skip
                flat = torch.cat([g.reshape(g.shape[0], -1) for g in chunk.grads], 1)
                if not any_gradient and bool((flat != 0).any()):
                    any_gradient = True
                store.live.append(flat)
                store.plain.append(flat.detach())
                outs.append(chunk.outputs.detach().double().cpu().numpy())
            store.outputs = np.concatenate([store.outputs, *outs])
            if rounds == 1:
                ends = store.rows_of(np.repeat(np.arange(n), 2), np.tile([0, q.ONE], n))
                state.first, state.last = ends[0::2], ends[1::2]
            state.add_panels(panels, fresh, store, diff_plain)
            pending, panels, fresh = _refine(panels, state, store, diff_plain, tol, max_steps)
            now_done = n - len({e for e, _ in pending})
            bar.update(now_done - done)
            done = now_done
    finally:
        bar.close()

    attributions = _final_sums(panels, store, diff_flat, xs)
    output = torch.tensor(store.outputs[state.last], dtype=xs[0].dtype, device=device)
    base_output = torch.tensor(store.outputs[state.first], dtype=xs[0].dtype, device=device)
    if not any_gradient:
        warnings.warn(
            "inputs: the selected model output has zero gradient with respect to every input at "
            "every path point; the output does not depend on the inputs (check the target and "
            "that the inputs reach the output)",
            ZeroGradientWarning,
            stacklevel=3,
        )
    delta, rel = completeness(attributions, output, base_output)
    converged = torch.from_numpy(state.converged.copy())
    if not bool(converged.all()):
        bad = np.flatnonzero(~state.converged)
        worst = float(state.error[bad].max())
        warnings.warn(
            f"max_steps: {len(bad)} of {n} examples stopped at max_steps={max_steps} before "
            f"reaching tol={tol:g} (worst error estimate {worst:.3g}); raise max_steps",
            ConvergenceWarning,
            stacklevel=3,
        )
    ex_of = np.array(store.example)
    pos_of = np.array(store.position, dtype=np.int64)
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
            "alphas": [np.sort(pos_of[ex_of == e]) / q.ONE for e in range(n)],
        },
    )
    warn_if_incomplete(res, warn_tol, f"lower tol (now {tol:g}) or raise max_steps")
    return res


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
    pending: list[tuple[int, int]], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    rows = torch.tensor([e for e, _ in pending], dtype=torch.long, device=device)
    alphas = torch.tensor([q.to_alpha(p) for _, p in pending], dtype=torch.float64, device=device)
    return rows, alphas


class _Panels:
    """Panels of all examples as parallel arrays (example, lo, hi) plus per-panel estimates."""

    def __init__(self, example: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        self.example = example
        self.lo = lo
        self.hi = hi
        self.feat = np.zeros(len(lo))  # ‖E_p‖₂ (absolute)
        self.resid = np.zeros(len(lo))  # r_p
        self.rows = np.full((len(lo), 5), -1, dtype=np.int64)  # store rows of the nodes

    def __len__(self) -> int:
        return len(self.lo)

    def node_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """(examples, positions), both (P, 5)."""
        quarter = (self.hi - self.lo) // 4
        pos = self.lo[:, None] + quarter[:, None] * np.arange(5)[None, :]
        return np.repeat(self.example[:, None], 5, 1), pos

    def node_rows(self, store: _Store) -> np.ndarray:
        """Store rows of the (P, 5) nodes, looked up once per panel."""
        todo = self.rows[:, 0] < 0
        if todo.any():
            ex, pos = self.node_positions()
            self.rows[todo] = store.rows_of(ex[todo], pos[todo])
        return self.rows

    def take(self, keep: np.ndarray) -> _Panels:
        out = _Panels(self.example[keep], self.lo[keep], self.hi[keep])
        out.feat, out.resid, out.rows = self.feat[keep], self.resid[keep], self.rows[keep]
        return out

    @staticmethod
    def concat(a: _Panels, b: _Panels) -> _Panels:
        out = _Panels(*(np.concatenate([x, y]) for x, y in
                        ((a.example, b.example), (a.lo, b.lo), (a.hi, b.hi))))  # fmt: skip
        out.feat = np.concatenate([a.feat, b.feat])
        out.resid = np.concatenate([a.resid, b.resid])
        out.rows = np.concatenate([a.rows, b.rows])
        return out


class _State:
    """Per example: running Σ_p B_p (for ‖A‖), error estimate, done / converged flags."""

    def __init__(self, n: int, features: int, device: torch.device) -> None:
        self.total = torch.zeros(n, features, dtype=torch.float64, device=device)
        self.error = np.full(n, math.inf)
        self.done = np.zeros(n, dtype=bool)
        self.converged = np.zeros(n, dtype=bool)
        self.first = np.zeros(n, dtype=np.int64)  # store rows of α = 0 and α = 1
        self.last = np.zeros(n, dtype=np.int64)

    def add_panels(
        self, panels: _Panels, fresh: np.ndarray, store: _Store, diff: torch.Tensor
    ) -> None:
        """Evaluate the ``fresh`` panels (fill their ``feat``, ``resid``), add B_p to the totals."""
        if not fresh.any():
            return
        part = panels.take(fresh)
        boole, error, resid = _panel_values(part, store, diff)
        self.total.index_add_(0, torch.from_numpy(part.example).to(self.total.device), boole)
        panels.rows[fresh] = part.rows
        panels.feat[fresh] = error.norm(dim=1).cpu().numpy()
        panels.resid[fresh] = resid.cpu().numpy()

    def remove_panels(self, panels: _Panels, store: _Store, diff: torch.Tensor) -> None:
        """Subtract the Boole values of ``panels`` (about to be split) from the totals."""
        boole, _, _ = _panel_values(panels, store, diff)
        self.total.index_add_(0, torch.from_numpy(panels.example).to(self.total.device), -boole)


def _panel_values(
    panels: _Panels, store: _Store, diff: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Boole values (P, F), per-feature error estimates (P, F) and residuals (P,) of panels."""
    idx = panels.node_rows(store)
    grads = store.grads()
    g = grads[torch.from_numpy(idx).to(grads.device)].double()  # (P, 5, F)
    g = g * diff[torch.from_numpy(panels.example).to(diff.device)][:, None, :]
    h = torch.from_numpy((panels.hi - panels.lo) / (4.0 * q.ONE)).to(g)
    boole = torch.einsum("pkf,k->pf", g, _BOOLE.to(g.device)) * h[:, None]
    error = torch.einsum("pkf,k->pf", g, _ERROR.to(g.device)) * h[:, None]
    rise = torch.from_numpy(store.outputs[idx[:, 4]] - store.outputs[idx[:, 0]]).to(g)
    return boole, error, boole.sum(1) - rise


def _refine(
    panels: _Panels, state: _State, store: _Store, diff: torch.Tensor, tol: float, max_steps: int
) -> tuple[list[tuple[int, int]], _Panels, np.ndarray]:
    """Update every error estimate; split panels of unfinished examples.

    Returns the new (example, position) nodes to evaluate, all panels, and which are new.
    """
    n = len(state.error)
    tiny = np.finfo(np.float64).tiny
    scale_a = state.total.norm(dim=1).cpu().numpy()
    scale_a = np.where(scale_a > 0, scale_a, tiny)
    scale_f = np.abs(store.outputs[state.last] - store.outputs[state.first])
    scale_f = np.where(scale_f > 0, scale_f, tiny)
    e = panels.example
    feat = panels.feat / scale_a[e]
    comp = np.abs(panels.resid) / scale_f[e]
    indicator = feat + comp
    # The Simpson difference is asymptotic: at a ReLU kink (a jump of the integrand) it can miss
    # most of the error, which the exact panel residuals then show; adding both keeps the
    # estimate an upper bound in practice on kinked as well as smooth paths.
    error = np.bincount(e, weights=indicator, minlength=n)
    active = ~state.done
    state.error[active] = error[active]
    hit = active & (error <= tol)
    state.done[hit] = state.converged[hit] = True
    active &= ~hit

    splittable = ((panels.hi - panels.lo) % 8 == 0) & active[e]
    order = np.lexsort((-indicator, e))
    chosen = np.zeros(len(panels), dtype=bool)
    budget = (max_steps - store.count) // _SPLIT_COST
    # Split the fewest panels (largest indicators first) whose indicators cover the excess
    # over tol: many panels per round while the estimate is far above tol, few near the end.
    goal = np.bincount(e, weights=indicator, minlength=n) - tol
    starts = np.searchsorted(e[order], np.arange(n + 1))
    for ex in np.flatnonzero(active):
        cand = order[starts[ex] : starts[ex + 1]]
        cand = cand[splittable[cand]][: max(int(budget[ex]), 0)]
        if not len(cand):
            state.done[ex] = True
            continue
        covered = np.cumsum(indicator[cand])
        k = int(np.searchsorted(covered, goal[ex])) + 1
        chosen[cand[:k]] = True
    if not chosen.any():
        return [], panels, np.zeros(len(panels), dtype=bool)
    parents = panels.take(chosen)
    state.remove_panels(parents, store, diff)
    mid = (parents.lo + parents.hi) // 2
    children = _Panels(
        np.concatenate([parents.example, parents.example]),
        np.concatenate([parents.lo, mid]),
        np.concatenate([mid, parents.hi]),
    )
    ce, cp = children.node_positions()
    new = list(zip(ce[:, [1, 3]].ravel().tolist(), cp[:, [1, 3]].ravel().tolist()))
    new.sort()
    fresh = np.concatenate([np.zeros(int((~chosen).sum()), bool), np.ones(len(children), bool)])
    return new, _Panels.concat(panels.take(~chosen), children), fresh


def _final_sums(
    panels: _Panels, store: _Store, diff_flat: torch.Tensor, xs: tuple[torch.Tensor, ...]
) -> tuple[torch.Tensor, ...]:
    """Composite Boole sums × (x − x'), split back into the inputs' shapes (graph kept)."""
    idx = panels.node_rows(store)
    h = (panels.hi - panels.lo) / (4.0 * q.ONE)
    weights = np.zeros(len(store.example))
    np.add.at(weights, idx.ravel(), (h[:, None] * q.BOOLE[None, :]).ravel())
    grads = torch.cat(store.live) if len(store.live) > 1 else store.live[0]
    w = torch.from_numpy(weights).to(device=grads.device)
    rows = torch.tensor(store.example, dtype=torch.long, device=grads.device)
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
