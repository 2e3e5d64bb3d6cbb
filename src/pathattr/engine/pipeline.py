"""The one preparation and reporting pipeline that every attribution method runs.

A method is its path, its nodes and weights and its options; everything around them is here:

1. :func:`prepare` validates the arguments once (errors name the argument, what was expected
   and what came), turns inputs and baselines into tuples, builds the target selector, refuses
   what cannot work (``torch.inference_mode``, inference tensors, ``warn_tol < 0``) and warns
   about a model in training mode.  An empty batch is recognised here, and
   :meth:`Prepared.empty_result` answers it with an empty result of the right shapes.
2. :meth:`Prepared.running` is the context in which the model is called: gradients are enabled
   (so a method works inside ``torch.no_grad()`` and, with ``create_graph=True``, the
   attributions stay differentiable there too), and the model's buffers (batch-norm running
   statistics, ``num_batches_tracked``) are restored afterwards, so an attribution never changes
   the user's model, whatever its mode.
3. :meth:`Prepared.integrate` / :meth:`Prepared.evaluate` run the batched engine with the
   resolved ``batch_size`` and a progress bar.
4. :func:`finish` builds the :class:`~pathattr.result.Attribution`: the completeness residual,
   a :class:`NonFiniteWarning` naming ``output``, ``baseline_output`` or ``attributions`` and
   how many examples are not finite, the zero-gradient warning and the completeness warning.

Inputs that are part of the user's autograd graph are detached unless ``create_graph=True``;
with ``create_graph=True`` the attributions are differentiable with respect to the model's
parameters *and* the inputs and baselines (through the gradients and through x − x').
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from pathattr.engine.core import Chunk, Integral, evaluate_rows, forward_select, integrate
from pathattr.engine.memory import resolve_batch_size
from pathattr.engine.progress import progress_bar
from pathattr.engine.targets import Selector, TargetLike, make_selector
from pathattr.engine.validate import (
    BaselineLike,
    as_baselines,
    as_tuple,
    check_finite_paths,
    warn_training_mode,
    warn_zero_gradient,
)
from pathattr.result import Attribution, completeness, warn_if_incomplete

Inputs = torch.Tensor | tuple[torch.Tensor, ...]


#: ``batch_size`` of :meth:`Prepared.integrate` / :meth:`Prepared.evaluate`: resolve the user's
RESOLVE = "resolve"


class NonFiniteWarning(UserWarning):
    """F(x), F(x') or the attributions hold NaN or inf for some examples."""


@dataclass
class Prepared:
    """Validated arguments of one attribution call, shared by every method.

    ``baselines`` is None for methods that take none (SmoothGrad, Expected Gradients);
    ``diffs`` is x − x' when there are baselines.
    """

    model: Callable[..., Any]
    single: bool
    inputs: tuple[torch.Tensor, ...]
    baselines: tuple[torch.Tensor, ...] | None
    selector: Selector
    forward_args: tuple[Any, ...]
    n: int
    create_graph: bool = False
    warn_tol: float | None = None
    progress: bool = False
    batch_size: int | str | None = "auto"
    diffs: tuple[torch.Tensor, ...] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        """The inputs' device."""
        return self.inputs[0].device

    @property
    def dtype(self) -> torch.dtype:
        """The first input's dtype (the precision of nodes and weights)."""
        return self.inputs[0].dtype

    @property
    def empty(self) -> bool:
        """True for a batch of 0 examples."""
        return self.n == 0

    def empty_result(self, method: str, extras: dict[str, Any] | None = None) -> Attribution:
        """The result for 0 examples: attributions shaped like the inputs, empty diagnostics."""
        attrs = tuple(torch.zeros_like(x) for x in self.inputs)
        none = torch.zeros(0, dtype=self.dtype, device=self.device)
        return Attribution(
            attributions=attrs[0] if self.single else attrs,
            output=none,
            baseline_output=none.clone(),
            delta=none.clone(),
            relative_delta=none.clone(),
            evaluations=torch.zeros(0, dtype=torch.long),
            method=method,
            extras=dict(extras or {}),
        )

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Gradients on, the model's buffers restored afterwards (see the module docstring)."""
        with _kept_buffers(self.model), torch.enable_grad():
            yield

    def resolve_batch_size(
        self,
        path: Any,
        rows: torch.Tensor,
        alphas: torch.Tensor,
        keys: torch.Tensor | None = None,
    ) -> int | None:
        """The user's ``batch_size`` as rows per model call for these rows."""
        return resolve_batch_size(
            self.batch_size, self.model, path, self.selector, rows, alphas, n_examples=self.n,
            forward_args=self.forward_args, keys=keys,
        )  # fmt: skip

    def integrate(
        self,
        path: Any,
        rows: torch.Tensor,
        alphas: torch.Tensor,
        weights: torch.Tensor,
        *,
        keys: torch.Tensor | None = None,
        grid: int | None = None,
        ends: tuple[tuple[torch.Tensor, ...], ...] | None = None,
        batch_size: int | None | str = RESOLVE,
        desc: str = "gradients",
    ) -> Integral:
        """Σ_k w_k ∇F(γ(α_k)) ⊙ γ'(α_k) per example on the engine, chunked, with progress.

        ``batch_size``: rows per model call already resolved (an int or None), or
        :data:`RESOLVE` (the default) to resolve the user's ``batch_size`` for these rows.
        """
        bsz = self._rows_per_call(batch_size, path, rows, alphas, keys)
        bar = progress_bar(int(rows.shape[0]), self.progress, desc=desc)
        try:
            return integrate(
                self.model, path, self.selector, rows, alphas, weights, n_examples=self.n,
                forward_args=self.forward_args, batch_size=bsz, create_graph=self.create_graph,
                progress=bar, keys=keys, grid=grid, ends=ends,
            )  # fmt: skip
        finally:
            bar.close()

    def evaluate(
        self,
        path: Any,
        rows: torch.Tensor,
        alphas: torch.Tensor,
        *,
        keys: torch.Tensor | None = None,
        batch_size: int | None | str = RESOLVE,
        desc: str = "gradients",
        show_progress: bool = True,
    ) -> Iterator[Chunk]:
        """F and ∇F at every row, one :class:`~pathattr.engine.core.Chunk` per model call.

        ``batch_size`` as in :meth:`integrate`.
        """
        bsz = self._rows_per_call(batch_size, path, rows, alphas, keys)
        bar = progress_bar(int(rows.shape[0]), self.progress and show_progress, desc=desc)
        try:
            yield from evaluate_rows(
                self.model, path, self.selector, rows, alphas, n_examples=self.n,
                forward_args=self.forward_args, batch_size=bsz, create_graph=self.create_graph,
                progress=bar, keys=keys,
            )  # fmt: skip
        finally:
            bar.close()

    def _rows_per_call(
        self,
        batch_size: int | None | str,
        path: Any,
        rows: torch.Tensor,
        alphas: torch.Tensor,
        keys: torch.Tensor | None,
    ) -> int | None:
        bsz = (
            self.resolve_batch_size(path, rows, alphas, keys)
            if batch_size == RESOLVE
            else None
            if isinstance(batch_size, str)
            else batch_size
        )
        self.extras["batch_size"] = bsz
        return bsz

    def forward(
        self, points: tuple[torch.Tensor, ...], batch_size: int | None = None
    ) -> torch.Tensor:
        """F at one point per example (no gradients)."""
        return forward_select(
            self.model, points, self.selector, forward_args=self.forward_args,
            batch_size=batch_size,
        )  # fmt: skip

    def forward_both(
        self, a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...], batch_size: int | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """F(a) and F(b) in one model call over [a; b] (the overhead matters on small models)."""
        n = self.n
        both = tuple(torch.cat([x, y]) for x, y in zip(a, b))
        args = tuple(_twice(v, n) for v in self.forward_args)
        sel = self.selector

        def select(out: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
            return sel(out, rows % n)

        f = forward_select(self.model, both, select, forward_args=args, batch_size=batch_size)
        return f[:n], f[n:]


def prepare(
    model: Callable[..., Any],
    inputs: Inputs,
    *,
    baselines: BaselineLike | str = "none",
    target: TargetLike = None,
    forward_args: Any = (),
    batch_size: int | str | None = "auto",
    create_graph: bool = False,
    warn_tol: float | None = None,
    progress: bool = False,
) -> Prepared:
    """Validate and normalise the arguments every method shares.

    ``baselines="none"`` (the default) is for methods without baselines; any other value is
    read as in :func:`pathattr.integrated_gradients` (None meaning zeros).
    """
    if not callable(model):
        raise TypeError(f"model: expected a callable (an nn.Module), got {type(model).__name__}")
    if torch.is_inference_mode_enabled():
        raise RuntimeError(
            "torch.inference_mode: attributions need gradients, which inference mode turns off "
            "for good; call pathattr outside `with torch.inference_mode():` (inside "
            "`torch.no_grad()` is fine: pathattr enables gradients where it needs them)"
        )
    check_bool(create_graph, "create_graph")
    check_bool(progress, "progress")
    tol = check_warn_tol(warn_tol)
    single = isinstance(inputs, torch.Tensor)
    xs = as_tuple(inputs, finite=False)
    _check_not_inference(xs, "inputs")
    if not create_graph:
        xs = tuple(x.detach() for x in xs)
    n = int(xs[0].shape[0])
    bs: tuple[torch.Tensor, ...] | None = None
    diffs = None
    if not (isinstance(baselines, str) and baselines == "none"):
        bs = as_baselines(baselines, xs, finite=False)  # type: ignore[arg-type]
        _check_not_inference(bs, "baselines")
        if not create_graph:
            bs = tuple(b.detach() for b in bs)
        diffs = tuple(x - b for x, b in zip(xs, bs))
        check_finite_paths(xs, bs, diffs)
    else:
        check_finite_paths(xs, xs, xs)
    fargs = forward_args if isinstance(forward_args, tuple) else (forward_args,)
    selector = make_selector(target, n)
    warn_training_mode(model, stacklevel=4)
    return Prepared(
        model, single, xs, bs, selector, fargs, n, create_graph, tol, progress, batch_size, diffs
    )


def finish(
    prep: Prepared,
    attributions: tuple[torch.Tensor, ...],
    output: torch.Tensor,
    baseline_output: torch.Tensor,
    *,
    method: str,
    evaluations: torch.Tensor | int,
    extras: dict[str, Any] | None = None,
    any_gradient: bool | None = None,
    complete: bool = True,
    hint: str = "",
) -> Attribution:
    """The :class:`~pathattr.result.Attribution` of a method, with every check reported.

    Args:
        prep: the prepared call.
        attributions: one tensor per input.
        output, baseline_output: F(x) and F(x') (or the method's base value) per example.
        method: the method's name.
        evaluations: gradient evaluations per example (a tensor or one int for all).
        extras: method-specific diagnostics.
        any_gradient: False warns that the output did not depend on the inputs (None: unknown).
        complete: the method claims completeness: the residual is checked against
            ``prep.warn_tol`` with ``hint`` in the warning.  Otherwise it is only reported.
    """
    evals = (
        evaluations
        if isinstance(evaluations, torch.Tensor)
        else torch.full((prep.n,), int(evaluations), dtype=torch.long)
    )
    delta, rel = completeness(attributions, output, baseline_output)
    res = Attribution(
        attributions=attributions[0] if prep.single else attributions,
        output=output,
        baseline_output=baseline_output,
        delta=delta,
        relative_delta=rel,
        evaluations=evals,
        method=method,
        extras=dict(extras or {}),
    )
    # a finite residual means F(x), F(x') and every attribution are finite (NaN and inf
    # propagate through the sums): one reduction over N values in the common case
    if not bool(torch.isfinite(delta).all()):
        warn_non_finite(
            {"output": output, "baseline_output": baseline_output}, attributions, stacklevel=3
        )
    if any_gradient is False:
        warn_zero_gradient(stacklevel=3)
    if complete and prep.warn_tol is not None:
        warn_if_incomplete(res, prep.warn_tol, hint, stacklevel=4)
    return res


def warn_non_finite(
    values: dict[str, torch.Tensor],
    attributions: tuple[torch.Tensor, ...],
    stacklevel: int = 2,
) -> None:
    """Warn, naming each quantity, when F values or attributions hold NaN or inf."""
    parts = []
    for name, v in values.items():
        bad = ~torch.isfinite(v.detach())
        if bool(bad.any()):
            parts.append(f"{name} ({int(bad.sum())} of {v.numel()} examples)")
    bad_rows = None
    for a in attributions:
        rows = ~torch.isfinite(a.detach().reshape(a.shape[0], math.prod(a.shape[1:]))).all(1)
        bad_rows = rows if bad_rows is None else bad_rows | rows
    if bad_rows is not None and bool(bad_rows.any()):
        parts.append(f"attributions ({int(bad_rows.sum())} of {bad_rows.numel()} examples)")
    if parts:
        warnings.warn(
            f"non-finite results: {', '.join(parts)} hold NaN or inf. The model returns NaN/inf "
            "somewhere on the path (e.g. log or sqrt of a negative value at the baseline, an "
            "overflow); check the baselines, the inputs' range and the model",
            NonFiniteWarning,
            stacklevel=stacklevel + 1,
        )


def check_warn_tol(warn_tol: Any) -> float | None:
    """``warn_tol`` as None or a number >= 0 (0 or inf turn the warning off)."""
    if warn_tol is None:
        return None
    if isinstance(warn_tol, bool) or not isinstance(warn_tol, (int, float)):
        raise TypeError(f"warn_tol: expected a number >= 0 or None, got {type(warn_tol).__name__}")
    if math.isnan(float(warn_tol)) or float(warn_tol) < 0:
        raise ValueError(f"warn_tol: expected a number >= 0 or None, got {warn_tol}")
    return float(warn_tol)


def check_bool(value: Any, name: str) -> bool:
    """``value`` if it is a bool, else a clear error."""
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected True or False, got {type(value).__name__} {value!r}")
    return value


def check_seed(seed: Any) -> None:
    """``seed`` must be None or an int."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed: expected an int or None, got {type(seed).__name__}")


def generator(seed: int | None) -> tuple[torch.Generator, int]:
    """A CPU generator seeded with ``seed`` (None: a fresh seed), and the seed used.

    A private generator: a method never advances the user's global RNG.
    """
    check_seed(seed)
    gen = torch.Generator()
    used = gen.seed() if seed is None else int(seed)
    gen.manual_seed(used)
    return gen, used


def _check_not_inference(ts: tuple[torch.Tensor, ...], name: str) -> None:
    for i, t in enumerate(ts):
        if t.is_inference():
            label = name if len(ts) == 1 else f"{name}[{i}]"
            raise RuntimeError(
                f"{label}: an inference tensor (created under torch.inference_mode), which "
                "autograd cannot use; create it outside inference mode or pass `t.clone()` made "
                "outside it"
            )


@contextlib.contextmanager
def _kept_buffers(model: Any) -> Iterator[None]:
    """Restore a training-mode module's buffers (batch-norm statistics) on exit.

    In eval mode no layer writes its buffers, so nothing is copied.
    """
    if not isinstance(model, torch.nn.Module) or not model.training:
        yield
        return
    saved = [(b, b.detach().clone()) for b in model.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, copy in saved:
                b.copy_(copy)


def _twice(arg: Any, n: int) -> Any:
    if isinstance(arg, torch.Tensor) and arg.dim() > 0 and arg.shape[0] == n:
        return torch.cat([arg, arg])
    return arg
