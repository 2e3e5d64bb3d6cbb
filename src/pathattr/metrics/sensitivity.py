r"""Max-sensitivity (Yeh et al. 2019), with Captum's ``sensitivity_max`` definition.

.. math::

    \mathrm{SENS}_{\max}(\Phi, x) = \max_{j \le S}
        \frac{\lVert \Phi(x + \delta_j) - \Phi(x) \rVert}{\lVert \Phi(x) \rVert}

over ``n_perturb_samples`` perturbations :math:`\delta_j` per example; by default uniform in
the L∞ ball of radius ``perturb_radius`` (0.02, like Captum).  The explanation of the inputs
and of every perturbed copy can be computed in one call of ``explain_func`` (rows are
independent for eval-mode models), chunked by ``batch_size``.

**Zero explanations.**  The ratio is undefined when :math:`\Phi(x) = 0`.  Captum takes the norm
of a zero explanation as 1, which gives an explanation that is 0 everywhere a sensitivity of 0,
the best possible score, and makes the figure absolute (not relative) for that example only.
Here such examples get NaN and a UserWarning instead: a degenerate explanation has no
max-sensitivity.  Every other value is Captum's.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from typing import Any

import torch

from pathattr._rng import seeded_rng
from pathattr.engine.validate import as_tuple, check_int_arg
from pathattr.metrics._common import check_finite
from pathattr.result import Attribution

#: keyword arguments of ``explain_func`` that hold one entry per example and are repeated
#: along with the perturbed inputs
PER_EXAMPLE_KWARGS = ("target", "baselines", "forward_args", "additional_forward_args")


def default_perturb_func(
    inputs: torch.Tensor | tuple[torch.Tensor, ...], perturb_radius: float = 0.02
) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """Inputs plus uniform noise in ``[-perturb_radius, perturb_radius]`` (Captum's default)."""
    tup = inputs if isinstance(inputs, tuple) else (inputs,)
    out = tuple(
        x
        + torch.empty(x.shape, dtype=x.dtype, device=x.device).uniform_(
            -perturb_radius, perturb_radius
        )
        for x in tup
    )
    return out if isinstance(inputs, tuple) else out[0]


def max_sensitivity(
    explain_func: Callable[..., Any],
    inputs: torch.Tensor | tuple[torch.Tensor, ...],
    *,
    perturb_func: Callable[..., Any] | None = None,
    perturb_radius: float = 0.02,
    n_perturb_samples: int = 10,
    norm_ord: str | float = "fro",
    batch_size: int | None = None,
    seed: int | None = None,
    **kwargs: Any,
) -> torch.Tensor:
    """Max-sensitivity of an explanation per example, ``(N,)``.

    Args:
        explain_func: ``explain_func(inputs, **kwargs)`` returning finite attributions shaped
            like the ``inputs`` it is given (a tensor, a tuple, or an :class:`Attribution`;
            anything else is a ValueError naming it), e.g.
            ``lambda x, **kw: pathattr.integrated_gradients(model, x, **kw)``.
        inputs: a batch-first float tensor or a tuple of them.
        perturb_func: ``perturb_func(inputs)`` or ``perturb_func(inputs, perturb_radius)``
            returning perturbed inputs of the same structure (Captum's protocol); it receives
            the inputs repeated ``n_perturb_samples`` times per example (example-major).
            Default: uniform noise in the L∞ ball of radius ``perturb_radius``.
        perturb_radius: radius of the default perturbation.
        n_perturb_samples: perturbations per example.
        norm_ord: the norm of the flattened explanations (``"fro"`` = 2-norm, or a number).
        batch_size: maximum perturbed rows per ``explain_func`` call (None: one call for the
            inputs and all perturbed rows together).
        seed: seed the global torch, Python and NumPy generators for the call (their states
            are restored afterwards); None: draw from the global streams.
        **kwargs: passed to ``explain_func``; ``target``, ``baselines``, ``forward_args`` and
            ``additional_forward_args`` holding one entry per example are repeated with the
            perturbed rows.

    Returns:
        ``(N,)`` max-sensitivity per example; NaN (with a UserWarning) for an example whose
        explanation Φ(x) is 0 (see the module docstring).
    """
    single = isinstance(inputs, torch.Tensor)
    xs = as_tuple(inputs, nonempty=True)
    s = check_int_arg(n_perturb_samples, "n_perturb_samples", 1)
    if batch_size is not None:
        batch_size = check_int_arg(batch_size, "batch_size", 1)
    if not callable(explain_func):
        raise TypeError(f"explain_func: expected a callable, got {type(explain_func).__name__}")
    if not (norm_ord == "fro" or (isinstance(norm_ord, (int, float)) and norm_ord > 0)):
        raise ValueError(f"norm_ord: expected 'fro' or a number > 0, got {norm_ord!r}")
    perturb = default_perturb_func if perturb_func is None else perturb_func
    if not callable(perturb):
        raise TypeError(f"perturb_func: expected a callable, got {type(perturb).__name__}")
    takes_radius = _n_params(perturb) > 1
    n = xs[0].shape[0]
    total = n * s
    ex_of_row = torch.arange(n, device=xs[0].device).repeat_interleave(s)

    def explain(rows_x: tuple[torch.Tensor, ...], rows: torch.Tensor) -> torch.Tensor:
        kw = {k: _index(v, n, rows) if k in PER_EXAMPLE_KWARGS else v for k, v in kwargs.items()}
        e = explain_func(rows_x[0] if single else rows_x, **kw)
        return _flat(e, rows_x)

    with seeded_rng(seed):
        perturbed = _perturb(perturb, xs, ex_of_row, single, takes_radius, perturb_radius)
        if batch_size is None:
            # one call: the inputs' own explanation rides along with the perturbed rows
            rows = torch.cat([torch.arange(n, device=ex_of_row.device), ex_of_row])
            both = tuple(torch.cat([x, p]) for x, p in zip(xs, perturbed))
            e = explain(both, rows)
            e_x, e_p = e[:n], e[n:]
        else:
            e_x = torch.cat([
                explain(tuple(x[sl] for x in xs), torch.arange(n)[sl])
                for sl in _slices(n, batch_size)
            ])  # fmt: skip
            e_p = torch.cat([
                explain(tuple(p[sl] for p in perturbed), ex_of_row[sl])
                for sl in _slices(total, batch_size)
            ])  # fmt: skip
    norm_x = _norm(e_x, norm_ord)
    zero = norm_x == 0
    if bool(zero.any()):
        zero_rows = zero.nonzero().reshape(-1).tolist()
        warnings.warn(
            f"max_sensitivity: the explanation of {len(zero_rows)} example(s) (rows "
            f"{zero_rows[:10]}{', ...' if len(zero_rows) > 10 else ''}) is 0: the relative "
            "change of a zero explanation is undefined, their max-sensitivity is NaN "
            "(Captum's norm-1 convention would score them 0, the best value)",
            UserWarning,
            stacklevel=2,
        )
    safe = torch.where(zero, torch.ones_like(norm_x), norm_x)
    sens = _norm(e_p - e_x[ex_of_row], norm_ord) / safe[ex_of_row]
    out = sens.reshape(n, s).amax(1)
    return torch.where(zero, torch.full_like(out, float("nan")), out)


def _perturb(
    perturb: Callable[..., Any],
    xs: tuple[torch.Tensor, ...],
    ex_of_row: torch.Tensor,
    single: bool,
    takes_radius: bool,
    radius: float,
) -> tuple[torch.Tensor, ...]:
    rep = tuple(x[ex_of_row] for x in xs)
    arg = rep[0] if single else rep
    with torch.no_grad():
        out = perturb(arg, radius) if takes_radius else perturb(arg)
    tup = tuple(out) if isinstance(out, (tuple, list)) else (out,)
    if len(tup) != len(rep) or any(
        not isinstance(t, torch.Tensor) or t.shape != x.shape for t, x in zip(tup, rep)
    ):
        got = [tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__ for t in tup]
        raise ValueError(
            "perturb_func: expected perturbed inputs shaped like the repeated inputs "
            f"{[tuple(x.shape) for x in rep]}, got {got}"
        )
    return tuple(t.detach() for t in tup)


def _n_params(fn: Callable[..., Any]) -> int:
    try:
        return len(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return 1


def _index(v: Any, n: int, rows: torch.Tensor) -> Any:
    if isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape[0] == n and n > 1:
        return v[rows.to(v.device)]
    if isinstance(v, (list, tuple)) and len(v) == n and n > 1:
        if all(isinstance(t, torch.Tensor) and t.dim() > 0 and t.shape[0] == n for t in v):
            return type(v)(t[rows.to(t.device)] for t in v)
        if all(isinstance(t, int) for t in v):
            return [v[int(i)] for i in rows]
    return v


def _flat(e: Any, rows_x: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The explanation of ``rows_x`` as ``(rows, features)``, checked: shapes and finiteness."""
    if isinstance(e, Attribution):
        e = e.attributions
    tup = tuple(e) if isinstance(e, (tuple, list)) else (e,)
    want = [tuple(x.shape) for x in rows_x]
    rows = rows_x[0].shape[0]
    if len(tup) != len(rows_x) or any(
        not isinstance(t, torch.Tensor) or tuple(t.shape) != w for t, w in zip(tup, want)
    ):
        # a wrong feature shape used to be flattened and compared anyway
        got = [tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__ for t in tup]
        raise ValueError(
            f"explain_func: expected attributions with a batch dimension of {rows} and the "
            f"shape of the inputs it was given, {want}, got {got}"
        )
    for i, t in enumerate(tup):
        check_finite(t, "explain_func" if len(tup) == 1 else f"explain_func output [{i}]")
    return torch.cat([t.detach().reshape(rows, -1) for t in tup], dim=1)


def _norm(t: torch.Tensor, ord_: str | float) -> torch.Tensor:
    if ord_ == "fro":
        return torch.linalg.vector_norm(t, 2, dim=1)
    if isinstance(ord_, str):
        raise ValueError(f"norm_ord: expected 'fro' or a number, got {ord_!r}")
    return torch.linalg.vector_norm(t, float(ord_), dim=1)


def _slices(total: int, step: int) -> list[slice]:
    return [slice(a, min(total, a + step)) for a in range(0, total, step)]
