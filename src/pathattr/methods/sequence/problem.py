"""The validated call of :func:`pathattr.sequence_attributions`: embeddings, targets, the path."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Problem:
    """The validated call: embeddings, targets and the path's geometry."""

    model: nn.Module
    inputs: torch.Tensor  # (N, S, d): source embeddings then the real prefix embeddings
    diffs: torch.Tensor  # (N, P, d): e − e' on the P moving positions
    targets: torch.Tensor  # (N, T) token ids
    n: int
    length: int  # L
    sources: int  # P: moving positions (L, or L + T − 1 with the prefix)
    outputs: int  # T

    def points(self, rows: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
        """Model inputs at path positions ``alphas`` of examples ``rows``: (len(rows), S, d)."""
        x = self.inputs.index_select(0, rows)
        d = self.diffs.index_select(0, rows)
        a = alphas.to(x.dtype).reshape(-1, 1, 1)
        moving = x[:, : self.sources] - (1 - a) * d  # e' + α (e − e')
        return torch.cat([moving, x[:, self.sources :]], dim=1)

    def log_probs(
        self, embeds: torch.Tensor, rows: torch.Tensor, group: slice | None = None
    ) -> torch.Tensor:
        """log p(y_t | y_<t, x) at ``embeds`` for t in ``group`` (all): (len(rows), |group|).

        ``embeds`` may be cut after the last position the group reads (L + group.stop − 1).
        """
        group = slice(0, self.outputs) if group is None else group
        keep = group.stop - group.start
        logits = last_logits(self.model, embeds, keep)
        lp = torch.log_softmax(logits.float(), dim=-1).to(embeds.dtype)
        targets = self.targets[:, group].index_select(0, rows)
        return lp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)

    def cut(self, group: slice) -> int:
        """Sequence length output tokens ``group`` read: positions < L + group.stop − 1."""
        return self.length + group.stop - 1


def last_logits(model: nn.Module, embeds: torch.Tensor, keep: int) -> torch.Tensor:
    """The causal LM's logits at the last ``keep`` positions of ``embeds``."""
    out = model(inputs_embeds=embeds, use_cache=False, logits_to_keep=keep)
    logits = out.logits if hasattr(out, "logits") else out
    if not isinstance(logits, torch.Tensor):
        raise TypeError("model: expected logits (a tensor or an output with .logits)")
    return logits[:, -keep:]


def chunks(total: int, size: int) -> Iterator[slice]:
    """Consecutive slices of ``range(total)``, ``size`` long (the last one shorter)."""
    for start in range(0, total, size):
        yield slice(start, min(total, start + size))
