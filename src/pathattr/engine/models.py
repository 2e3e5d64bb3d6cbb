"""Model specs of dataset runs: built-in names, ``"module:function"``, modules; the model hash.

:func:`load_model` resolves what ``pathattr run --model`` (and ``pathattr.run(model=...)``)
accepts to ``(model, preprocess, baseline_value)``; :func:`model_hash` fingerprints the weights
so that a resumed run refuses an output written by another model.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import torch


def _efficientnet_preprocess(item: np.ndarray) -> np.ndarray:
    from pathattr.domains import vision

    _, x = vision.preprocess(np.asarray(item))
    out: np.ndarray = x[0].numpy()
    return out


#: built-in model names of dataset runs
BUILTIN = ("efficientnet-lite0", "minilm-sentiment", "chem-logp")


@functools.lru_cache(maxsize=2)
def _builtin(name: str) -> tuple[torch.nn.Module, Any, float | None]:
    # cached: repeated runs in one process (a notebook, resume after an error) load it once
    if name == "efficientnet-lite0":
        from pathattr.domains import vision

        return vision.load_efficientnet_lite0(), _efficientnet_preprocess, -127.0 / 128.0
    if name == "minilm-sentiment":  # a text model: the tokenizer takes preprocess's place
        from pathattr.text.sentiment import minilm_sentiment

        built = minilm_sentiment()
        return built.model, built.tokenizer, None
    if name == "chem-logp":  # a molecule model: SMILES rows
        from pathattr.chem.builtin import chem_logp

        return chem_logp().model, "smiles", None
    raise ValueError(
        f"model: expected a built-in name ({', '.join(BUILTIN)}) or 'module:function', got {name!r}"
    )


def import_function(spec: str) -> Callable[..., Any]:
    """The function named by ``"module:function"``, importable from the current directory or
    ``PYTHONPATH`` (``--model`` of ``pathattr run`` and ``pathattr explain-text``)."""
    mod_name, _, fn_name = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        fn: Callable[..., Any] = getattr(importlib.import_module(mod_name), fn_name)
    except (ImportError, AttributeError) as e:
        raise ValueError(
            f"model: expected an importable 'module:function', got {spec!r} ({e})"
        ) from e
    return fn


def load_model(spec: Any) -> tuple[torch.nn.Module, Any, float | None]:
    """Resolve a model spec to ``(model, preprocess, baseline_value)``.

    Args:
        spec: a built-in name (``efficientnet-lite0``, ``minilm-sentiment``),
            ``"module:function"`` (importable from the current directory or ``PYTHONPATH``; the
            function returns a model or ``(model, preprocess)``), an ``nn.Module``, or a
            ``(model, preprocess)`` tuple.  ``preprocess`` maps one raw row (an ``(H, W, 3)``
            uint8 image, a table cell, a feature vector) to the model input of that row,
            without the batch dimension.  For a 🤗 text classifier it is the model's tokenizer
            (texts are attributed token by token, :mod:`pathattr.engine.text_batch`); for a
            molecule network called as ``model(atoms, bonds, mask)`` it is ``"smiles"`` (or
            left out for a :class:`~pathattr.chem.GraphNet`; atoms are attributed,
            :mod:`pathattr.engine.chem_batch`).
    """
    if isinstance(spec, str):
        if ":" not in spec:
            return _builtin(spec)
        spec = import_function(spec)()
    preprocess = None
    if isinstance(spec, tuple):
        if len(spec) != 2:
            raise ValueError(
                f"model: expected a model or (model, preprocess), got a {len(spec)}-tuple"
            )
        spec, preprocess = spec
    if not isinstance(spec, torch.nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(spec).__name__}")
    return spec, preprocess, None


def model_hash(model: torch.nn.Module) -> str:
    """SHA-256 of the model's class name and state dict (names, dtypes, shapes, values)."""
    h = hashlib.sha256(type(model).__qualname__.encode())
    for name, t in model.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()
