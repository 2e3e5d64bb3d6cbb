r"""Guided Integrated Gradients (Kapishnikov et al. 2021), batched over examples.

The path is built on the fly: at each of ``steps`` steps the features with the smallest
|∂F/∂x_i| (a ``fraction`` of them) move towards the input first, until the L1 distance to the
input has shrunk by 1/steps of the total, and no feature strays more than ``max_dist`` (in α)
from the straight line.  The attribution is Σ_steps (x_new − x_old) ⊙ ∇F(x_old): a left Riemann
sum along that path, so Σφ ≈ F(x) − F(x') with a residual that is reported, never rescaled.

This follows PAIR's ``saliency.core.guided_ig.guided_ig_impl`` step for step (same defaults:
``steps=200, fraction=0.25, max_dist=0.02``; the same ``'lower'`` quantile; the path state and
the attributions in float64 as PAIR's NumPy code keeps them), but runs every example of the batch
at once: each step is one batched gradient call, and the inner loop that moves the selected
features runs on all examples still moving, with masks.  Features are the entries of all
inputs, flattened and concatenated.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from pathattr.engine.idgi import idgi_terms
from pathattr.engine.pipeline import Inputs, Prepared, check_bool, finish, prepare
from pathattr.engine.progress import progress_bar
from pathattr.engine.targets import TargetLike
from pathattr.engine.validate import BaselineLike, check_int_arg
from pathattr.methods.guided_walk import GuidedWalk
from pathattr.result import Attribution


class _StatePath:
    """The current point of every example's path, handed to the engine as a 'path'."""

    constant_derivative = False

    def __init__(self, p: Prepared, state: torch.Tensor):
        self.shapes = [x.shape[1:] for x in p.inputs]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.dtypes = [x.dtype for x in p.inputs]
        self.state = state

    def points(
        self, rows: torch.Tensor, alphas: torch.Tensor, keys: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """The current point of each row's example, split back into the inputs' shapes."""
        parts = torch.split(self.state.index_select(0, rows), self.sizes, dim=1)
        return tuple(
            t.reshape((-1,) + tuple(s)).to(dt) for t, s, dt in zip(parts, self.shapes, self.dtypes)
        )

    def derivatives(
        self, rows: torch.Tensor, alphas: torch.Tensor, keys: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """Unused: Guided IG weighs gradients by its own moves."""
        raise NotImplementedError("Guided IG integrates its moves itself")

    def total_derivative(self) -> tuple[torch.Tensor, ...]:
        """Unused (see :meth:`derivatives`)."""
        raise NotImplementedError("Guided IG integrates its moves itself")


def guided_integrated_gradients(
    model: Callable[..., Any],
    inputs: Inputs,
    *,
    baselines: BaselineLike = None,
    target: TargetLike = None,
    steps: int = 200,
    fraction: float = 0.25,
    max_dist: float = 0.02,
    idgi: bool = False,
    forward_args: Any = (),
    batch_size: int | str | None = "auto",
    warn_tol: float | None = 0.05,
    progress: bool = False,
) -> Attribution:
    """Guided IG of ``model``'s selected output at ``inputs`` against ``baselines``.

    Args:
        model, inputs, baselines, target, forward_args, warn_tol, progress: as for
            :func:`pathattr.integrated_gradients`.
        steps: path steps (one gradient evaluation each).
        fraction: share of the features (those with the smallest |gradient|) moved at a time.
        max_dist: how far (in α) a feature may deviate from the straight line; 0 gives IG on the
            straight line (left Riemann), 1 the unbounded Guided IG path.
        idgi: apply IDGI (:mod:`pathattr.engine.idgi`) along the guided path: complete by
            construction, at no extra model call (F comes with each step's gradients).
        batch_size: maximum examples per model call (each step evaluates every example once).

    Returns:
        An :class:`~pathattr.result.Attribution` (attributions in the inputs' dtype).
    """
    check_int_arg(steps, "steps")
    check_bool(idgi, "idgi")
    for name, v in (("fraction", fraction), ("max_dist", max_dist)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise ValueError(f"{name}: expected a number in [0, 1], got {v!r}")
    p = prepare(
        model, inputs, baselines=baselines, target=target, forward_args=forward_args,
        batch_size=batch_size, warn_tol=warn_tol, progress=progress,
    )  # fmt: skip
    extras: dict[str, Any] = {
        "steps": int(steps), "fraction": float(fraction), "max_dist": float(max_dist),
        "idgi": idgi,
    }  # fmt: skip
    if p.empty:
        return p.empty_result("guided_integrated_gradients", extras)
    assert p.baselines is not None
    work = torch.float32 if p.device.type == "mps" else torch.float64
    x_in = torch.cat([x.reshape(p.n, -1).to(work) for x in p.inputs], 1)
    x_base = torch.cat([b.reshape(p.n, -1).to(work) for b in p.baselines], 1)
    guided = GuidedWalk(x_in, x_base, float(fraction), float(max_dist))
    path = _StatePath(p, guided.state)
    rows = torch.arange(p.n, device=p.device)
    alphas = torch.zeros(p.n, dtype=p.dtype, device=p.device)
    with p.running():
        bsz = p.resolve_batch_size(path, rows, alphas)
        walk = _Walk(p, path, guided, idgi, bsz)
        bar = progress_bar(int(steps), p.progress, desc="guided IG")
        try:
            for step in range(int(steps)):
                walk.step(step, int(steps))
                bar.update(1)
        finally:
            bar.close()
        output = p.forward(p.inputs, bsz)
    attr = guided.attributions()
    if idgi:
        walk.idgi_step(output)  # the last step ends at the input itself
        assert walk.idgi_attr is not None
        attr = walk.idgi_attr
    assert walk.base_output is not None
    parts = torch.split(attr, path.sizes, dim=1)
    attributions = tuple(a.reshape(x.shape).to(x.dtype) for a, x in zip(parts, p.inputs))
    return finish(
        p, attributions, output, walk.base_output, method="guided_integrated_gradients",
        evaluations=int(steps), extras=extras, any_gradient=walk.any_gradient,
        hint=f"raise steps (now {steps})",
    )  # fmt: skip


class _Walk:
    """The model's side of the walk: F and ∇F at every step, IDGI's sums, F(x')."""

    def __init__(
        self, p: Prepared, path: _StatePath, walk: GuidedWalk, idgi: bool, batch_size: int | None
    ):
        self.p, self.path, self.walk, self.batch_size = p, path, walk, batch_size
        self.idgi_attr = torch.zeros_like(walk.state) if idgi else None
        self.direction: torch.Tensor | None = None  # IDGI: g²/‖g‖² of the previous point
        self.last_output: torch.Tensor | None = None
        self.base_output: torch.Tensor | None = None
        self.any_gradient = False

    def _gradients(self) -> tuple[torch.Tensor, torch.Tensor]:
        """F and ∇F (flattened, in the path's precision) at every example's current point."""
        rows = torch.arange(self.p.n, device=self.p.device)
        alphas = torch.zeros(self.p.n, dtype=self.p.dtype, device=self.p.device)
        outs, grads = [], []
        for chunk in self.p.evaluate(
            self.path, rows, alphas, batch_size=self.batch_size, show_progress=False
        ):
            outs.append(chunk.outputs)
            grads.append(torch.cat([g.reshape(g.shape[0], -1) for g in chunk.grads], 1))
        return torch.cat(outs), torch.cat(grads).to(self.walk.state.dtype)

    def idgi_step(self, f_now: torch.Tensor) -> None:
        """Add the previous point's IDGI term with the output change up to this point."""
        if self.idgi_attr is not None and self.direction is not None:
            assert self.last_output is not None
            change = (f_now - self.last_output).to(self.direction.dtype)
            self.idgi_attr += self.direction * change[:, None]

    def step(self, step: int, steps: int) -> None:
        """Gradients at the current points, then one move of the walk."""
        f_now, grad = self._gradients()
        if self.base_output is None:
            self.base_output = f_now
        self.any_gradient = self.any_gradient or bool((grad != 0).any())
        if self.idgi_attr is not None:
            self.idgi_step(f_now)
            self.direction = idgi_terms((grad,), torch.ones_like(f_now))[0]
            self.last_output = f_now
        self.walk.move(step, steps, grad)
