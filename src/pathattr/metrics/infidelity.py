r"""Infidelity (Yeh et al. 2019), with Captum's definition and perturbation protocol.

.. math::

    \mathrm{INFD}(\Phi, F, x) = \mathbb{E}_{I \sim \mu_I}
        \Big[\big(I^\top \Phi(F, x) - (F(x) - F(x - I))\big)^2\Big]

estimated with ``n_perturb_samples`` perturbations :math:`I` per example.  ``perturb_func``
receives the inputs repeated ``n_perturb_samples`` times per example (example-major, as
``torch.repeat_interleave`` makes them; with ``baselines`` also the repeated baselines) and
returns ``(perturbations, perturbed_inputs)``, exactly like Captum's.  With
``normalize=True`` the attributions are first scaled by the optimal
:math:`\beta = \mathbb{E}[I^\top\Phi\,\Delta F] / \mathbb{E}[(I^\top\Phi)^2]`, which makes the
score invariant to a constant scale of the attributions.

Unlike Captum, F(x) is computed once (not once per chunk), and chunks are contiguous slices
of the example-major rows, so a stateful ``perturb_func`` sees the same rows in the same order
whatever ``batch_size`` is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from pathattr._rng import seeded_rng
from pathattr.engine.core import expand_forward_args, forward_select
from pathattr.engine.memory import forward_chunk_rows, resolve_metric_batch_size
from pathattr.engine.targets import TargetLike, make_selector
from pathattr.engine.validate import as_baselines, as_tuple, check_int_arg, warn_training_mode
from pathattr.metrics._common import AttributionLike, attributions_tuple

PerturbFunc = Callable[..., tuple[Any, Any]]


def infidelity(
    model: Callable[..., Any],
    perturb_func: PerturbFunc,
    inputs: torch.Tensor | tuple[torch.Tensor, ...],
    attributions: AttributionLike,
    baselines: Any = None,
    target: TargetLike = None,
    *,
    n_perturb_samples: int = 10,
    normalize: bool = False,
    forward_args: Any = (),
    batch_size: int | str | None = "auto",
    seed: int | None = None,
) -> torch.Tensor:
    """Infidelity of ``attributions`` per example, ``(N,)``.

    Args:
        model: called as ``model(*inputs, *forward_args)``.
        perturb_func: ``perturb_func(inputs)`` or, when ``baselines`` is given,
            ``perturb_func(inputs, baselines)``, on the repeated inputs (a tensor, or a tuple
            for multi-input models); returns ``(perturbations, perturbed_inputs)`` with the
            same structure.  Captum's perturbation functions work unchanged.
        inputs: a batch-first float tensor or a tuple of them.
        attributions: same structure and shapes as ``inputs`` (or an :class:`Attribution`).
        baselines: optional, passed (repeated per sample) to ``perturb_func``.
        target: None, an int, one int per example, or a callable on the output.
        n_perturb_samples: perturbations per example.
        normalize: scale the attributions by the optimal β first (Captum's ``normalize``).
        forward_args: extra model arguments (tensors with the batch dim are expanded).
        batch_size: maximum perturbed rows per call of ``perturb_func`` and the model;
            None: all ``N × n_perturb_samples`` at once; ``"auto"`` (default): one call of
            ``perturb_func`` over all rows (the same draws as None and as Captum's default)
            and model calls in chunks sized like the engine's (memory, and on the CPU the
            cache budget, which makes them faster per row).
        seed: when given, the random generator is seeded for the duration of the call (and
            restored afterwards), making a random ``perturb_func`` reproducible.

    Returns:
        ``(N,)`` infidelity per example (Captum returns the same values).
    """
    single = isinstance(inputs, torch.Tensor)
    xs = as_tuple(inputs, nonempty=True)
    attrs = attributions_tuple(attributions, xs)
    bs = None if baselines is None else as_baselines(baselines, xs)
    s = check_int_arg(n_perturb_samples, "n_perturb_samples", 1)
    batch_size = resolve_metric_batch_size(batch_size)
    if not callable(perturb_func):
        raise TypeError(f"perturb_func: expected a callable, got {type(perturb_func).__name__}")
    fargs = forward_args if isinstance(forward_args, tuple) else (forward_args,)
    n = xs[0].shape[0]
    selector = make_selector(target, n)
    warn_training_mode(model)
    total = n * s
    step = batch_size if isinstance(batch_size, int) else total
    fwd = (
        forward_chunk_rows(model, xs, selector, total + n, forward_args=fargs)
        if batch_size == "auto"
        else None
    )

    def forward(points: tuple[torch.Tensor, ...], rows: torch.Tensor) -> torch.Tensor:
        if fwd is None or rows.shape[0] <= fwd:
            return selector(model(*points, *expand_forward_args(fargs, n, rows)), rows)
        return torch.cat([
            forward(tuple(p[a : a + fwd] for p in points), rows[a : a + fwd])
            for a in range(0, rows.shape[0], fwd)
        ])  # fmt: skip

    with seeded_rng(seed), torch.no_grad():
        ex_of_row = torch.arange(n, device=xs[0].device).repeat_interleave(s)
        fx: torch.Tensor | None = None
        if isinstance(batch_size, int) and n + min(total, step) > batch_size:
            fx = forward_select(model, xs, selector, forward_args=fargs, batch_size=batch_size)
        dots, diffs, f_perts = [], [], []
        for start in range(0, total, step):
            r = ex_of_row[start : min(total, start + step)]
            rep = tuple(x[r] for x in xs)
            args: tuple[Any, ...] = (rep[0] if single else rep,)
            if bs is not None:
                args += (bs[0][r] if single else tuple(b[r] for b in bs),)
            pert, perturbed = _check_perturb(perturb_func(*args), rep)
            if fx is None:
                # F(x) rides along with the first chunk: one model call fewer
                rows = torch.cat([torch.arange(n, device=r.device), r])
                both = tuple(torch.cat([x, p]) for x, p in zip(xs, perturbed))
                out = forward(both, rows)
                fx, f_pert = out[:n], out[n:]
            else:
                f_pert = forward(perturbed, r)
            f_perts.append(f_pert)
            dot = sum((a[r] * p).reshape(r.shape[0], -1).sum(1) for a, p in zip(attrs, pert))
            dots.append(torch.as_tensor(dot))
        assert fx is not None
        diffs = [fx[ex_of_row] - torch.cat(f_perts)]
    dot_t = torch.cat(dots).reshape(n, s)
    diff_t = torch.cat(diffs).reshape(n, s)
    if normalize:
        num = (dot_t * diff_t).sum(1)
        den = dot_t.pow(2).sum(1)
        # Captum's safe_div: a zero denominator gives β = 0
        beta = torch.where(den == 0, torch.zeros_like(den), num / torch.where(den == 0, 1, den))
        dot_t = beta[:, None] * dot_t
    return (dot_t - diff_t).pow(2).sum(1) / s


def _check_perturb(
    result: Any, rep: tuple[torch.Tensor, ...]
) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise TypeError(
            "perturb_func: expected it to return (perturbations, perturbed_inputs), got "
            f"{type(result).__name__}"
            + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else "")
        )
    pert = result[0] if isinstance(result[0], (tuple, list)) else (result[0],)
    perturbed = result[1] if isinstance(result[1], (tuple, list)) else (result[1],)
    shapes = [tuple(x.shape) for x in rep]
    if len(perturbed) != len(rep) or any(
        not isinstance(t, torch.Tensor) or t.shape != x.shape for t, x in zip(perturbed, rep)
    ):
        raise ValueError(
            f"perturb_func: expected perturbed inputs shaped like the repeated inputs {shapes}, "
            f"got {_shapes(perturbed)}"
        )
    ok = len(pert) == len(rep) and all(
        isinstance(t, torch.Tensor) and (t.shape == x.shape or _broadcasts(t.shape, x.shape))
        for t, x in zip(pert, rep)
    )
    if not ok:
        raise ValueError(
            f"perturb_func: expected perturbations broadcastable to the repeated inputs {shapes}, "
            f"got {_shapes(pert)}"
        )
    return tuple(pert), tuple(perturbed)


def _shapes(tup: Any) -> list[Any]:
    return [tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__ for t in tup]


def _broadcasts(shape: torch.Size, to: torch.Size) -> bool:
    try:
        return torch.broadcast_shapes(shape, to) == to
    except RuntimeError:
        return False
