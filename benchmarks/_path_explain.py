"""path_explain's PyTorch explainer, loaded from its file (the package's ``__init__`` imports
TensorFlow).  ``path-explain==0.0.7`` is in the dev extra (it declares no dependencies)."""

from __future__ import annotations

import importlib.util
import os
from types import ModuleType

HINT = "pip install --no-deps path-explain==0.0.7 (the dev extra has it)"


def path_explain_torch() -> ModuleType:
    """The module ``path_explain/explainers/path_explainer_torch.py``.

    Raises:
        ImportError: path_explain is not installed.
    """
    spec = importlib.util.find_spec("path_explain")
    if spec is None or spec.origin is None:
        raise ImportError(f"path_explain is not installed: {HINT}")
    path = os.path.join(os.path.dirname(spec.origin), "explainers", "path_explainer_torch.py")
    mod_spec = importlib.util.spec_from_file_location("path_explainer_torch", path)
    assert mod_spec is not None and mod_spec.loader is not None
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod
