"""``positions=True``: the learned position embeddings run on the path too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from pathattr.text.classifier import SentenceClassifier
from pathattr.text.prepared import PreparedRun


def position_layer(model: nn.Module) -> nn.Module:
    """The learned position-embedding layer (BERT-style or GPT-2's), else a clear error."""
    base = getattr(model, "base_model", model)
    if isinstance(model, SentenceClassifier):
        base = getattr(model.encoder, "base_model", model.encoder)
    found = getattr(getattr(base, "embeddings", None), "position_embeddings", None)
    found = found if found is not None else getattr(base, "wpe", None)
    if not isinstance(found, nn.Embedding):
        raise ValueError(
            f"positions: {type(model).__name__} has no learned position-embedding layer "
            "(BERT-style embeddings.position_embeddings or GPT-2's wpe); rotary or relative "
            "positions are not embeddings that a path could run through"
        )
    return found


def with_positions(
    prepared: PreparedRun, layer: nn.Module, embeds: torch.Tensor
) -> tuple[Callable[..., Any], torch.Tensor]:
    """fn(word, position, *args) with the position layer's output replaced (a forward hook),
    and the position embeddings at the inputs, one row per text."""
    seen: list[torch.Tensor] = []

    def keep(module: nn.Module, args: Any, output: torch.Tensor) -> None:
        seen.append(output.detach())

    handle = layer.register_forward_hook(keep)
    try:
        with torch.no_grad():
            prepared.fn(embeds, *prepared.forward_args)
    finally:
        handle.remove()
    if len(seen) != 1:
        raise ValueError(f"positions: the position-embedding layer ran {len(seen)} times in one "
                         "forward pass, not once")  # fmt: skip
    at_x = seen[0].expand(embeds.shape[0], -1, -1).contiguous()  # BERT gives (1, L, H)

    def fn(e: torch.Tensor, p: torch.Tensor, *args: Any) -> Any:
        h = layer.register_forward_hook(lambda module, a, out: p)
        try:
            return prepared.fn(e, *args)
        finally:
            h.remove()

    return fn, at_x
