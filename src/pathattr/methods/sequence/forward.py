"""Forward mode of :func:`pathattr.sequence_attributions`: one JVP per source token, ``width``
of them per pass under ``torch.func.vmap``; attention without a forward-mode derivative is
retried as eager attention, else :class:`ForwardModeUnsupported` is raised."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from pathattr.methods.sequence.problem import Problem, chunks


class ForwardModeUnsupported(RuntimeError):
    """An operation of the model has no forward-mode (JVP) derivative."""


def run_forward(
    prob: Problem,
    rows: torch.Tensor,
    alphas: torch.Tensor,
    weights: torch.Tensor,
    per_chunk: int,
    width: int,
) -> tuple[torch.Tensor, int]:
    """P batched JVPs per chunk of path points (the primal shared under ``vmap``)."""
    attrs = torch.zeros(prob.n, prob.outputs, prob.sources, dtype=prob.inputs.dtype,
                        device=prob.inputs.device)  # fmt: skip
    passes = 0
    for sl in chunks(int(rows.shape[0]), per_chunk):
        r, a, w = rows[sl], alphas[sl], weights[sl]
        with torch.no_grad():
            pts = prob.points(r, a)
        d = prob.diffs.index_select(0, r)
        for group in chunks(prob.sources, width):
            tangents = source_tangents(pts, d, group)
            col = jvp_columns(prob, pts, r, tangents)  # (g, a, T)
            passes += 1
            col = col * w.to(col.dtype).reshape(1, -1, 1)
            attrs[:, :, group].index_add_(0, r, col.permute(1, 2, 0).detach())
    return attrs, passes


def source_tangents(pts: torch.Tensor, diffs: torch.Tensor, group: slice) -> torch.Tensor:
    """Tangents (g, *pts.shape): the j-th is e − e' at source position group.start + j, else 0."""
    g = group.stop - group.start
    t = torch.zeros((g,) + tuple(pts.shape), dtype=pts.dtype, device=pts.device)
    idx = torch.arange(g, device=pts.device)
    t[idx, :, group.start + idx] = diffs[:, group].transpose(0, 1)
    return t


def jvp_columns(
    prob: Problem, pts: torch.Tensor, rows: torch.Tensor, tangents: torch.Tensor
) -> torch.Tensor:
    """JVPs of every log p(y_t) at ``pts`` along each tangent, (g, len(rows), T), under ``vmap``.

    Raises :class:`ForwardModeUnsupported` where an operation has no forward-mode derivative,
    after retrying with eager attention where the model has another attention.
    """
    from torch.func import jvp, vmap

    def f(e: torch.Tensor) -> torch.Tensor:
        return prob.log_probs(e, rows)

    def one(t: torch.Tensor) -> torch.Tensor:
        return jvp(f, (pts,), (t,))[1]

    try:
        with torch.no_grad():
            return vmap(one)(tangents)
    except (NotImplementedError, RuntimeError) as err:
        msg = str(err)
        if "forward AD" in msg or "forward-mode" in msg or "jvp" in msg.lower():
            if _eager_attention_available(prob.model):
                with _eager_attention(prob.model):
                    try:
                        with torch.no_grad():
                            return vmap(one)(tangents)
                    except (NotImplementedError, RuntimeError) as err2:
                        raise ForwardModeUnsupported(str(err2).splitlines()[0]) from err2
            raise ForwardModeUnsupported(msg.splitlines()[0]) from err
        raise


def _eager_attention_available(model: nn.Module) -> bool:
    cfg = getattr(model, "config", None)
    impl = getattr(cfg, "_attn_implementation", None)
    return impl not in (None, "eager") and hasattr(model, "set_attn_implementation")


class _eager_attention:
    """Switch a 🤗 model to eager attention for the block, and back."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.before = getattr(model.config, "_attn_implementation", None)

    def __enter__(self) -> None:
        warnings.warn(
            f"mode: attention {self.before!r} has no forward-mode derivative; forward mode "
            "runs with eager attention",
            stacklevel=4,
        )
        self.model.set_attn_implementation("eager")  # type: ignore[operator]

    def __exit__(self, *exc: Any) -> None:
        self.model.set_attn_implementation(self.before)  # type: ignore[operator]
