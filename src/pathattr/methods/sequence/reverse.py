"""Reverse mode of :func:`pathattr.sequence_attributions`: one VJP per output token, a group of
output tokens sharing one forward of the sequence cut after the last position it reads."""

from __future__ import annotations

import math

import torch

from pathattr.methods.sequence.problem import Problem, chunks


def reverse_group(prob: Problem) -> int:
    """Output tokens sharing one forward in reverse mode: ⌈√(2 (L + T/2))⌉, at most T.

    A group's forward is shared by its g tokens, but each of their backward passes runs on
    the group's longest cut, (g − 1)/2 positions longer than its own on average; with a
    backward pass per position about as dear as a forward one, g·T/2 wasted positions against
    (T/g)·(L + T/2) forward positions balance at g = √(2 (L + T/2)).
    """
    return max(1, min(prob.outputs, math.ceil(math.sqrt(2 * (prob.length + prob.outputs / 2)))))


def run_reverse(
    prob: Problem,
    rows: torch.Tensor,
    alphas: torch.Tensor,
    weights: torch.Tensor,
    per_chunk: int,
    width: int,
) -> tuple[torch.Tensor, int]:
    """One VJP per output token; a group of tokens shares one forward of its cut sequence.

    A group of output tokens t0 ≤ t < t1 reads positions < L + t1 − 1 only (the causal mask),
    so its forward runs on the sequence cut there: one forward per group instead of one per
    token (Captum), and no backward through positions no token of the group reads.  The VJPs
    of a group run one after the other from the retained graph: batched through
    ``is_grads_batched`` (``vmap`` over the backward) they were measured 1.4x slower on the
    CPU (benchmarks/results/sequence_attr.md).  ``width`` is unused: memory is that of one
    forward of ``per_chunk`` rows.
    """
    del width
    attrs = torch.zeros(prob.n, prob.outputs, prob.sources, dtype=prob.inputs.dtype,
                        device=prob.inputs.device)  # fmt: skip
    passes = 0
    size = reverse_group(prob)
    for sl in chunks(int(rows.shape[0]), per_chunk):
        r, a, w = rows[sl], alphas[sl], weights[sl]
        with torch.no_grad():
            full = prob.points(r, a)
        d = prob.diffs.index_select(0, r)  # (a, P, d)
        for group in chunks(prob.outputs, size):
            cut = prob.cut(group)
            pts = full[:, :cut].clone().requires_grad_(True)
            lp = prob.log_probs(pts, r, group)  # (a, g)
            g = group.stop - group.start
            p = min(prob.sources, cut)
            for j in range(g):
                (grad,) = torch.autograd.grad(lp[:, j], pts, w.to(lp.dtype), retain_graph=j < g - 1)
                passes += 1
                contrib = (grad[:, :p] * d[:, :p]).sum(-1)  # (a, p)
                attrs[:, group.start + j, :p].index_add_(0, r, contrib.detach())
    return attrs, passes
