"""The arguments of :func:`pathattr.sequence_attributions` checked into a :class:`.Problem`."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from pathattr.methods.sequence.baselines import baseline_embeddings
from pathattr.methods.sequence.problem import Problem


def prepare(
    model: Any,
    input_ids: Any,
    output_ids: Any,
    baselines: Any,
    attribute_to_prefix: Any,
) -> Problem:
    """Check the model, ids, baselines and ``attribute_to_prefix``; embed x, y₁…y_{T−1}."""
    if not isinstance(model, nn.Module) or not hasattr(model, "get_input_embeddings"):
        raise TypeError(
            "model: expected a causal LM nn.Module with get_input_embeddings() (a 🤗 "
            f"*ForCausalLM), got {type(model).__name__}"
        )
    emb: nn.Module = model.get_input_embeddings()  # type: ignore[operator]
    weight = getattr(emb, "weight", None)
    if not isinstance(emb, nn.Module) or not isinstance(weight, torch.Tensor):
        raise TypeError("model: get_input_embeddings() must return an embedding module")
    ids = _as_ids("input_ids", input_ids)
    out = _as_ids("output_ids", output_ids)
    if ids.shape[0] != out.shape[0]:
        if ids.shape[0] == 1:
            ids = ids.expand(out.shape[0], -1)
        elif out.shape[0] == 1:
            out = out.expand(ids.shape[0], -1)
        else:
            raise ValueError(
                f"output_ids: {out.shape[0]} examples, but input_ids has {ids.shape[0]}"
            )
    vocab = int(weight.shape[0])
    for name, t in (("input_ids", ids), ("output_ids", out)):
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= vocab):
            raise ValueError(
                f"{name}: token ids must lie in [0, {vocab}) (the embedding's vocabulary), "
                f"got [{int(t.min())}, {int(t.max())}]"
            )
    if ids.shape[1] == 0:
        raise ValueError("input_ids: the prompt is empty (L = 0); there is nothing to attribute to")
    if out.shape[1] == 0:
        raise ValueError("output_ids: the output is empty (T = 0); there is nothing to attribute")
    if not isinstance(attribute_to_prefix, bool):
        raise TypeError(f"attribute_to_prefix: expected a bool, got {attribute_to_prefix!r}")
    if ids.shape[0] == 0:
        raise ValueError("input_ids: 0 examples")
    dev = weight.device
    ids, out = ids.to(dev), out.to(dev)
    seq = torch.cat([ids, out[:, :-1]], dim=1)  # y_T is never an input
    with torch.no_grad():
        x = emb(seq).detach()
    if not x.dtype.is_floating_point:
        raise TypeError("model: the input embeddings are not floating point")
    n, length, t_out = ids.shape[0], ids.shape[1], out.shape[1]
    sources = length + (t_out - 1 if attribute_to_prefix else 0)
    base = baseline_embeddings(baselines, emb, x, sources)
    diffs = x[:, :sources] - base
    if not bool(torch.isfinite(diffs).all()):
        raise ValueError("baselines: e − e' is not finite (non-finite baseline embeddings)")
    return Problem(model, x, diffs, out, n, length, sources, t_out)


def _as_ids(name: str, value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(
            f"{name}: expected an integer tensor of token ids, got {type(value).__name__}"
        )
    if value.dtype.is_floating_point or value.dtype.is_complex or value.dtype == torch.bool:
        raise TypeError(f"{name}: expected integer token ids, got dtype {value.dtype}")
    if value.dim() == 1:
        value = value.unsqueeze(0)
    if value.dim() != 2:
        raise ValueError(
            f"{name}: expected shape (length,) or (examples, length), got {tuple(value.shape)}"
        )
    return value.long()
