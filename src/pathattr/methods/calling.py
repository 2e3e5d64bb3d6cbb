"""Calling any attribution method, pathattr's (keywords after ``model, inputs``) or a user's."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def call_method(
    method: Callable[..., Any], model: Any, inputs: Any, baselines: Any, target: Any
) -> Any:
    """``method(model, inputs, baselines=..., target=...)`` when it takes those names.

    pathattr's methods take everything after ``model, inputs`` by keyword; a user's method
    (or a lambda) with other parameter names is called positionally,
    ``method(model, inputs, baselines, target)``.
    """
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):  # builtins and some C callables have no signature
        return method(model, inputs, baselines, target)
    named = {n for n, p in params.items() if p.kind in _NAMED}
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if var_kw or {"baselines", "target"} <= named:
        return method(model, inputs, baselines=baselines, target=target)
    return method(model, inputs, baselines, target)
