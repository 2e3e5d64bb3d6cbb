r"""SmoothGrad (Smilkov, Thorat, Kim, Viégas, Wattenberg 2017) on the engine.

.. math::

    \mathrm{SG}_i(x) = \frac{1}{k} \sum_{s=1}^{k}
        \frac{\partial F(x + \varepsilon_s)}{\partial x_i},
    \qquad \varepsilon_s \sim \mathcal N(0, \sigma^2 I),
    \quad \sigma = \mathrm{stdev} \cdot (\max x - \min x)

The k noisy copies of every example are the rows of a "path" (:class:`NoisyPoints`) that the
engine evaluates in chunks across examples and samples, one gradient evaluation per sample.
``squared=True`` averages squared gradients (SmoothGrad², Captum's ``smoothgrad_sq``);
``multiply_by_inputs=True`` multiplies the averaged gradient by the input.

Noise is drawn once, as ``torch.randn((N·k, *shape), generator=g)`` per input with examples
repeated ``k`` times in a row — the layout of Captum's ``NoiseTunnel``, so with
``relative=False``, the same seed in ``torch.manual_seed`` and ``stdev`` the results agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from pathattr.engine.pipeline import Prepared, check_seed, finish, generator, prepare
from pathattr.engine.targets import TargetLike
from pathattr.engine.validate import check_int_arg
from pathattr.result import Attribution


def _bcast(a: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return a.reshape(a.shape + (1,) * (like.dim() - 1))


class NoisyPoints:
    """Row ``i`` is the noisy copy ``x[rows[i]] + noise[keys[i]]``; γ' is 1."""

    constant_derivative = True

    def __init__(self, inputs: tuple[torch.Tensor, ...], noise: tuple[torch.Tensor, ...]):
        self.inputs = inputs
        self.noise = noise

    def points(
        self, rows: torch.Tensor, alphas: torch.Tensor, keys: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """x_r + ε_key for each row (α is ignored)."""
        assert keys is not None, "NoisyPoints needs keys (the noise sample of each row)"
        return tuple(x[rows] + e[keys] for x, e in zip(self.inputs, self.noise))

    def derivatives(
        self, rows: torch.Tensor, alphas: torch.Tensor, keys: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """Ones: the engine then returns plain gradients."""
        return tuple(torch.ones_like(x[rows]) for x in self.inputs)

    def total_derivative(self) -> tuple[torch.Tensor, ...]:
        """Ones shaped like the inputs."""
        return tuple(torch.ones_like(x) for x in self.inputs)


def noise_scale(x: torch.Tensor, stdev: float, relative: bool) -> torch.Tensor:
    """σ per example, shaped to broadcast against ``x``: stdev·(max − min) or stdev itself."""
    if not relative:
        return torch.full((x.shape[0],) + (1,) * (x.dim() - 1), float(stdev), dtype=x.dtype)
    flat = x.detach().reshape(x.shape[0], -1)
    span = flat.max(1).values - flat.min(1).values
    return _bcast(stdev * span, x)


def check_stdev(stdev: Any) -> float:
    """``stdev`` as a non-negative finite float, or a clear error."""
    if isinstance(stdev, bool) or not isinstance(stdev, (int, float)):
        raise TypeError(f"stdev: expected a number >= 0, got {type(stdev).__name__}")
    if not (0.0 <= float(stdev) < float("inf")):
        raise ValueError(f"stdev: expected a finite number >= 0, got {stdev}")
    return float(stdev)


def smoothgrad(
    model: Callable[..., Any],
    inputs: torch.Tensor | tuple[torch.Tensor, ...],
    *,
    target: TargetLike = None,
    samples: int = 50,
    stdev: float = 0.15,
    relative: bool = True,
    seed: int | None = None,
    squared: bool = False,
    batch_size: int | str | None = "auto",
    multiply_by_inputs: bool = False,
    forward_args: Any = (),
    create_graph: bool = False,
    progress: bool = False,
) -> Attribution:
    """SmoothGrad: the gradient averaged over ``samples`` Gaussian-noised copies of the input.

    Args:
        model: a callable called as ``model(*inputs, *forward_args)``.
        inputs: a batch-first float tensor, or a tuple of them.
        target: as in :func:`~pathattr.integrated_gradients`.
        samples: noisy copies per example (one gradient evaluation each).
        stdev: noise level.  With ``relative=True`` (default) the standard deviation is
            ``stdev · (max − min)`` of each example's input, as in the SmoothGrad paper (which
            recommends 0.1–0.2); with ``relative=False`` it is the absolute standard deviation,
            like Captum's ``NoiseTunnel(..., stdevs=)``.
        seed: seeds the ``torch.Generator`` of the noise; None draws a fresh seed (reported in
            ``extras["seed"]``).
        squared: average squared gradients (SmoothGrad², Captum's ``smoothgrad_sq``).
        batch_size: maximum rows per model call (int, None or ``"auto"``).
        multiply_by_inputs: multiply the averaged gradient by the input ("SmoothGrad × input").
        forward_args: extra model arguments (per-example tensors are expanded).
        create_graph: keep the graph (differentiable w.r.t. the model parameters).
        progress: show a progress bar (needs tqdm).

    Returns:
        An :class:`~pathattr.result.Attribution`; SmoothGrad has no completeness property, so
        ``delta`` and ``relative_delta`` are NaN and ``baseline_output`` is the mean of F over
        the noisy copies.  ``extras["standard_error"]`` is the Monte-Carlo standard error of the
        mean per feature (sd of the per-sample values / √k).
    """
    k = check_int_arg(samples, "samples")
    sd = check_stdev(stdev)
    check_seed(seed)
    p = prepare(
        model, inputs, target=target, forward_args=forward_args, batch_size=batch_size,
        create_graph=create_graph, progress=progress,
    )  # fmt: skip
    method = "smoothgrad_sq" if squared else "smoothgrad"
    gen, used_seed = generator(seed)
    extras: dict[str, Any] = {"samples": k, "stdev": sd, "relative": relative, "seed": used_seed}
    if p.empty:
        return p.empty_result(method, extras)
    xs, n, device = p.inputs, p.n, p.device
    noise = tuple(
        (
            torch.randn((n * k,) + tuple(x.shape[1:]), generator=gen, dtype=x.dtype)
            * noise_scale(x, sd, relative).cpu().repeat_interleave(k, 0)
        ).to(device)
        for x in xs
    )
    rows = torch.arange(n, device=device).repeat_interleave(k)
    keys = torch.arange(n * k, device=device)
    alphas = torch.zeros(n * k, dtype=xs[0].dtype, device=device)
    path = NoisyPoints(xs, noise)
    with p.running():
        return _smoothgrad(
            p, path, rows, alphas, keys, k, squared, multiply_by_inputs, method, extras
        )


def _smoothgrad(
    p: Prepared,
    path: NoisyPoints,
    rows: torch.Tensor,
    alphas: torch.Tensor,
    keys: torch.Tensor,
    k: int,
    squared: bool,
    multiply_by_inputs: bool,
    method: str,
    extras: dict[str, Any],
) -> Attribution:
    xs, n, device, create_graph = p.inputs, p.n, p.device, p.create_graph
    bsize = p.resolve_batch_size(path, rows, alphas, keys)
    sums = [torch.zeros_like(x) for x in xs]
    sq = [torch.zeros(x.shape, dtype=torch.float64, device=device) for x in xs]
    noisy_out = torch.zeros(n, dtype=xs[0].dtype, device=device)
    for chunk in p.evaluate(path, rows, alphas, keys=keys, batch_size=bsize, desc="smoothgrad"):
        noisy_out.index_add_(0, chunk.rows, chunk.outputs.to(noisy_out.dtype) / k)
        for i, g in enumerate(chunk.grads):
            term = g * g if squared else g
            if create_graph:
                sums[i] = sums[i].index_add(0, chunk.rows, term / k)
            else:
                sums[i].index_add_(0, chunk.rows, term / k)
            t = term.detach().to(torch.float64)
            sq[i].index_add_(0, chunk.rows, t * t)
    se = []
    for s, q, x in zip(sums, sq, xs):
        mean = s.detach().to(torch.float64)
        var = (q / k - mean * mean).clamp_min(0.0) * (k / max(k - 1, 1))
        err = (var / k).sqrt() if k > 1 else torch.full_like(var, float("nan"))
        se.append((err * x.detach().abs() if multiply_by_inputs else err).to(x.dtype))
    attrs = tuple(s * x for s, x in zip(sums, xs)) if multiply_by_inputs else tuple(sums)
    output = p.forward(xs, bsize)
    nan = torch.full((n,), float("nan"), dtype=output.dtype, device=output.device)
    extras["standard_error"] = se[0] if p.single else tuple(se)
    res = finish(
        p, attrs, output, noisy_out, method=method,
        evaluations=k, extras=extras, complete=False,
    )  # fmt: skip
    # SmoothGrad has no completeness property: the residual is not defined
    res.delta, res.relative_delta = nan, nan.clone()
    return res
