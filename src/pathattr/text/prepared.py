"""What one model kind hands to the engine, and the check that it attributes the model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from pathattr.text.model import from_embeddings
from pathattr.text.tokens import TokenBatch

#: what ``target=`` may be: a class index or label name, an output text or token ids, one
#: of those per text, or None (see :func:`pathattr.text.integrated_gradients`)
TextTarget = int | str | Sequence[int] | Sequence[str] | None


@dataclass
class PreparedRun:
    """What the engine runs for one model kind."""

    model: nn.Module
    batch: TokenBatch
    fn: Callable[..., Any]  # fn(embeds, *forward_args)
    forward_args: tuple[Any, ...]
    target: Any  # the engine's target for fn's output
    names: list[str]  # per text, what is attributed
    fixed: torch.Tensor  # (n, L) positions that keep their real embedding (a continuation)
    shown: torch.Tensor  # (n, L) positions shown as the text's tokens
    check: Callable[[], tuple[torch.Tensor, torch.Tensor]]  # F via ids, F via embeddings


def check_embeds_path(prepared: PreparedRun) -> None:
    """F from token ids must equal F from their embeddings (else the path attributes another
    function: a model that scales or shifts embeddings outside ``get_input_embeddings()``)."""
    with torch.no_grad():
        via_ids, via_embeds = from_embeddings(prepared.model, prepared.check)
    tol = 1e-4 * max(1.0, float(via_ids.abs().max()))
    gap = float((via_ids - via_embeds).abs().max())
    if not gap <= tol:
        raise ValueError(
            f"model: its output from token ids and from their word embeddings (inputs_embeds) "
            f"differ by {gap:.3g}; the embeddings of get_input_embeddings() are not what the "
            "model reads, so attributions there would explain another function"
        )
