"""What :mod:`pathattr.text` reads from a 🤗 model: its kind, word embeddings and logits."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

#: the model kinds, found from the model when ``kind="auto"``
KINDS = ("classifier", "causal_lm", "seq2seq")


def model_kind(model: Any, kind: str) -> str:
    """``kind=`` checked, or found from the model for ``"auto"`` (one of :data:`KINDS`)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a 🤗 model (an nn.Module), got {type(model).__name__}")
    if kind != "auto":
        if kind not in KINDS:
            raise ValueError(f"kind: expected 'auto' or one of {', '.join(KINDS)}, got {kind!r}")
        return kind
    config = getattr(model, "config", None)
    if getattr(config, "is_encoder_decoder", False):
        return "seq2seq"
    can_generate = getattr(model, "can_generate", None)
    if callable(can_generate) and can_generate():
        return "causal_lm"
    return "classifier"


def embedding_layer(model: nn.Module) -> nn.Module:
    """The model's word-embedding layer (``get_input_embeddings()``), else a clear error."""
    get = getattr(model, "get_input_embeddings", None)
    emb = get() if callable(get) else None
    if not isinstance(emb, nn.Module):
        raise TypeError(
            f"model: {type(model).__name__} has no get_input_embeddings() returning a module; "
            "pass a 🤗 model (or wrap an encoder in pathattr.text.SentenceClassifier)"
        )
    return emb


def embedding_rows(emb: nn.Module) -> int | None:
    """The vocabulary size of an embedding layer (None if it does not say)."""
    rows = getattr(emb, "num_embeddings", None)
    return int(rows) if isinstance(rows, int) else None


def param_device(module: nn.Module) -> torch.device:
    """The device of a module's parameters (CPU without any)."""
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def embedding_dtype(emb: nn.Module) -> torch.dtype:
    """The floating dtype of an embedding layer (float32 if it has none)."""
    # the continuation weights multiply log-probabilities in the model's precision
    p = next(emb.parameters(), None)
    return p.dtype if p is not None and p.dtype.is_floating_point else torch.float32


def logits_of(out: Any) -> torch.Tensor:
    """The logits in a model's output (a tensor, ``.logits``, or the first item)."""
    if isinstance(out, torch.Tensor):
        return out
    logits = getattr(out, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise TypeError(f"model output: expected logits, got {type(out).__name__}")


def accepts_argument(model: nn.Module, name: str) -> bool:
    """Whether ``model.forward`` takes an argument called ``name``."""
    try:
        return name in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def from_embeddings(model: nn.Module, call: Callable[[], Any]) -> Any:
    """``call()``, with a model that cannot run from ``inputs_embeds`` named in the error."""
    try:
        return call()
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"model: {type(model).__name__} could not run from input embeddings "
            f"(inputs_embeds=, attention_mask=): {e}; pathattr.text needs a model that takes "
            "inputs_embeds (pass kind= if the model kind was guessed wrong)"
        ) from e
