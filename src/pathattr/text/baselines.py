"""Baselines: the embedding each attributed token's path starts from.

Baselines (``baselines=``), applied at the *attributed* positions only:

* ``"pad"`` (default): the pad token's embedding, as the IG authors do for BERT;
* ``"zero"``: the all-zero embedding (the IG paper's text baseline);
* ``"mean"``: the mean of the embedding matrix over the vocabulary (no token's identity, a
  typical norm: the safe choice for RMSNorm models, whose normalisation is singular at the
  zero embedding);
* ``"mask"`` / ``"unk"``: the mask / unknown token's embedding;
* an int: that token id's embedding.

Special tokens ([CLS], [SEP], BOS, EOS) keep their real embedding by default
(``keep_special=True``) and padding always does: where the baseline equals the input the
attribution is exactly 0, so padding never receives attribution.  For a causal LM the given
continuation tokens are inputs too (teacher forcing) and keep their real embedding as well.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from pathattr.text.model import embedding_rows, param_device
from pathattr.text.prepared import PreparedRun

#: the baselines :func:`~pathattr.text.integrated_gradients` accepts by name
BASELINES = ("pad", "zero", "mean", "mask", "unk")


def check_baselines(baselines: Any) -> str | int:
    """``baselines=`` checked: one of :data:`BASELINES` or a token id."""
    if isinstance(baselines, str):
        if baselines not in BASELINES:
            raise ValueError(
                f"baselines: expected one of {', '.join(map(repr, BASELINES))} or a token id, "
                f"got {baselines!r}"
            )
        return baselines
    if isinstance(baselines, int) and not isinstance(baselines, bool):
        return int(baselines)
    raise TypeError(
        f"baselines: expected one of {', '.join(map(repr, BASELINES))} or a token id (int), "
        f"got {type(baselines).__name__}"
    )


def baseline_token(tokenizer: Any, name: str | int, emb: nn.Module) -> int:
    """The token id of a token baseline (``"pad"``, ``"mask"``, ``"unk"`` or an id), checked."""
    found = name if isinstance(name, int) else getattr(tokenizer, f"{name}_token_id", None)
    if not isinstance(found, int):
        others = [b for b in BASELINES if b != name]
        raise ValueError(
            f"baselines: {name!r} needs the tokenizer's {name} token, and "
            f"{type(tokenizer).__name__} has none; pass one of {others} or a token id"
        )
    token = int(found)
    rows = embedding_rows(emb)
    if token < 0 or (rows is not None and token >= rows):
        raise ValueError(
            f"baselines: token id {token} is out of range for an embedding of {rows} rows"
        )
    return token


def mean_embedding(emb: nn.Module) -> torch.Tensor:
    """The ``"mean"`` baseline: the mean word embedding over the vocabulary."""
    # through the module, not its weight: scaled embeddings (BART, Gemma) multiply inside it
    rows = embedding_rows(emb)
    if rows is None:
        raise ValueError(f"baselines: 'mean' needs an embedding with num_embeddings, and "
                         f"{type(emb).__name__} has none")  # fmt: skip
    device = param_device(emb)
    total: torch.Tensor | None = None
    with torch.no_grad():
        for start in range(0, rows, 4096):  # chunks: a large vocabulary x dim at once is GBs
            part = emb(torch.arange(start, min(rows, start + 4096), device=device)).sum(0)
            total = part if total is None else total + part
    assert total is not None
    return total / rows


def attributed_positions(prepared: PreparedRun, keep_special: bool) -> torch.Tensor:
    """``(texts, tokens)`` True where the path runs, the baseline differing from the input."""
    # the path runs where the baseline differs from the input: real, non-special tokens
    # (and not a causal LM's continuation); everywhere else the baseline is the input
    moving = prepared.batch.mask.bool() & ~prepared.fixed
    if keep_special:
        moving &= ~prepared.batch.special
    return moving


def baseline_embeddings(
    emb: nn.Module, tokenizer: Any, base_name: str | int, ids: torch.Tensor, moving: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The word embeddings of ``ids`` and the baseline's: ``base_name`` where ``moving``."""
    with torch.no_grad():
        embeds = emb(ids).detach()
        if base_name in ("zero", "mean"):
            fill = torch.zeros_like(embeds[0, 0]) if base_name == "zero" else mean_embedding(emb)
            base = torch.where(moving[..., None], fill.to(embeds.dtype), embeds)
        else:
            token = baseline_token(tokenizer, base_name, emb)
            base_ids = torch.where(moving, torch.full_like(ids, token), ids)
            base = emb(base_ids).detach()
    return embeds, base
