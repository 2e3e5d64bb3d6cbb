"""The measured costs of :func:`pathattr.sequence_attributions`: pass times for ``mode="auto"``
(:func:`choose_mode`, :func:`measure_costs`) and bytes per row for ``batch_size="auto"``
(:func:`auto_rows`), each measured once per model and shape and cached."""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from pathattr.methods.sequence.forward import ForwardModeUnsupported, jvp_columns, source_tangents
from pathattr.methods.sequence.problem import Problem, chunks
from pathattr.methods.sequence.reverse import reverse_group

#: ``batch_size="auto"``: the share of free memory a pass may keep, and a cap in bytes
MEMORY_FRACTION = 0.25
MAX_AUTO_BYTES = 2 * 2**30
ROW_BYTES: dict[tuple[Any, ...], int] = {}

#: measured pass times, keyed by (id(model), device, dtype, rows per chunk, group width,
#: sequence length, sources): ``{"forward": s, "vjp": s, "jvp": s}`` (jvp None: unsupported)
COST_CACHE: dict[tuple[Any, ...], dict[str, float | None]] = {}


def choose_mode(
    prob: Problem,
    rows: torch.Tensor,
    alphas: torch.Tensor,
    per_chunk: int,
    width: int,
) -> tuple[str, dict[str, Any] | None]:
    """``mode="auto"``: reverse when T ≤ P, else the mode measured cheaper."""
    if prob.outputs <= prob.sources:
        return "reverse", None
    costs = dict(measure_costs(prob, rows[:per_chunk], alphas[:per_chunk], width))
    n_chunks = math.ceil(int(rows.shape[0]) / per_chunk)
    # reverse mode runs each group of output tokens on the sequence cut after the last
    # position it reads; its forward and VJPs are taken as linear in that length
    full = int(prob.inputs.shape[1])
    fwd, vjp = float(costs["forward"]), float(costs["vjp"])
    predicted_rev = n_chunks * sum(
        (fwd + vjp * (grp.stop - grp.start)) * prob.cut(grp) / full
        for grp in chunks(prob.outputs, reverse_group(prob))
    )
    costs["predicted_reverse"] = predicted_rev
    if costs.get("jvp") is None:
        return "reverse", costs
    # a JVP pass of g tangents: the primal plus g tangents, each priced by the one measured
    tangent = max(float(costs["jvp"]) - fwd, 0.0)
    predicted_fwd = n_chunks * sum(
        fwd + tangent * (grp.stop - grp.start) for grp in chunks(prob.sources, width)
    )
    costs["predicted_forward"] = predicted_fwd
    return ("forward" if predicted_fwd < predicted_rev else "reverse"), costs


def auto_rows(prob: Problem) -> int:
    """Rows per pass for ``batch_size="auto"`` (see :func:`pathattr.sequence_attributions`).

    The bytes autograd saves for one row of the whole sequence are measured with
    ``saved_tensors_hooks`` on probes of one and two rows (the difference drops what does not
    grow with rows, such as weights); a JVP tangent row is taken to cost as much.
    """
    from pathattr.engine.memory import available_bytes

    dev = prob.inputs.device
    key = (id(prob.model), str(dev), prob.inputs.dtype, tuple(prob.inputs.shape[1:]),
           prob.outputs)  # fmt: skip
    if key not in ROW_BYTES:
        sizes = []
        for k in (1, 2):
            rows = torch.zeros(k, dtype=torch.long, device=dev)
            pts = prob.points(rows, torch.full((k,), 0.5, device=dev)).requires_grad_(True)
            seen: dict[tuple[int, int], int] = {}

            def pack(t: torch.Tensor, seen: dict[tuple[int, int], int] = seen) -> torch.Tensor:
                # views of one buffer saved by several operations are counted once
                seen[(t.data_ptr(), t.numel())] = t.numel() * t.element_size()
                return t

            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                prob.log_probs(pts, rows)
            sizes.append(sum(seen.values()))
        ROW_BYTES[key] = max(1, sizes[1] - sizes[0], sizes[0] // 2)
    budget = min(MEMORY_FRACTION * available_bytes(dev), MAX_AUTO_BYTES)
    return max(1, int(budget // ROW_BYTES[key]))


def _clock(device: torch.device) -> float:
    """Seconds for timing a pass: process CPU time on the CPU (robust to other processes on a
    shared machine; the passes run on the calling thread's pool), wall time after a
    synchronise on an accelerator."""
    if device.type == "cpu":
        return time.process_time()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def measure_costs(
    prob: Problem, rows: torch.Tensor, alphas: torch.Tensor, width: int
) -> dict[str, Any]:
    """Seconds of one forward, one VJP and one JVP (one tangent, primal included) (cached).

    Measured on the given chunk of path points and the whole sequence, once per
    (model, device, dtype, chunk, width, sequence length, moving positions); ``"jvp"`` is None
    (with a ``"reason"``) where the model has no forward-mode derivative.
    """
    key = (id(prob.model), str(prob.inputs.device), prob.inputs.dtype, int(rows.shape[0]),
           width, int(prob.inputs.shape[1]), prob.sources, prob.outputs)  # fmt: skip
    if key in COST_CACHE:
        return COST_CACHE[key]
    dev = prob.inputs.device
    pts = prob.points(rows, alphas).detach().requires_grad_(True)
    t0 = _clock(dev)
    lp = prob.log_probs(pts, rows, slice(prob.outputs - 1, prob.outputs))
    t1 = _clock(dev)
    torch.autograd.grad(lp[:, 0].sum(), pts)
    t2 = _clock(dev)
    out: dict[str, Any] = {"forward": t1 - t0, "vjp": t2 - t1}
    d = prob.diffs.index_select(0, rows)
    try:
        t3 = _clock(dev)
        jvp_columns(prob, pts.detach(), rows, source_tangents(pts.detach(), d, slice(0, 1)))
        out["jvp"] = _clock(dev) - t3
    except ForwardModeUnsupported as err:
        out["jvp"] = None
        out["reason"] = str(err)
    COST_CACHE[key] = out
    return out
