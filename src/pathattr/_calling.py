"""Calling an attribution method the same way whoever wrote it.

Checkers and metrics that take "any attribution method" (:func:`pathattr.axioms.check`,
:func:`pathattr.metrics.model_randomisation`) hold a model, inputs, baselines and a target.
pathattr's own methods take ``baselines`` and ``target`` by keyword only (after ``model,
inputs``); a user's method may be a plain ``f(model, x, b, t)`` with other parameter names.
:func:`method_caller` looks at the signature once and returns a uniform
``call(model, inputs, baselines, target)``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

Caller = Callable[[Any, Any, Any, Any], Any]

_BY_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
#: names a method's third positional parameter may have for the keyword calls
_SLOT_NAMES = ("baselines", "references", "target")


def method_caller(method: Callable[..., Any]) -> Caller:
    """A ``call(model, inputs, baselines, target)`` that calls ``method`` as it expects.

    * ``method`` names a ``target`` parameter it accepts by keyword, and a ``baselines`` one (or
      takes ``**kwargs``, as forwarding wrappers do): ``method(model, inputs, baselines=b,
      target=t)`` (every pathattr method).
    * it accepts ``target`` by keyword and ``references`` but no ``baselines`` (Expected
      Gradients): ``method(model, inputs, references=b, target=t)``.
    * it accepts ``target`` by keyword and has neither (SmoothGrad): the baselines are
      dropped, ``method(model, inputs, target=t)``; passing them in third position would
      silently make them the target.
    * anything else (no ``target`` parameter by that name, e.g. ``f(model, x, b, t,
      **kwargs)``; a third positional parameter of another name, e.g. ``f(model, x, b,
      target=None)``; ``*args``; no inspectable signature): positional, ``method(model,
      inputs, b, t)``.
    """
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):  # builtins and some C callables have no signature
        return lambda model, inputs, baselines, target: method(model, inputs, baselines, target)
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())

    def keyword(name: str) -> bool:
        p = params.get(name)
        return (p is not None and p.kind in _BY_KEYWORD) or (p is None and var_kw)

    def named(name: str) -> bool:
        p = params.get(name)
        return p is not None and p.kind in _BY_KEYWORD

    positional = [
        name for name, p in params.items()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]  # fmt: skip
    # **kwargs alone does not say the 3rd and 4th slots are optional; and a third positional
    # parameter of another name (``f(model, x, b, target=None)``) is where the baselines go
    third_is_other = len(positional) > 2 and positional[2] not in _SLOT_NAMES
    if not named("target") or third_is_other:
        return lambda model, inputs, baselines, target: method(model, inputs, baselines, target)
    if keyword("baselines"):
        return lambda model, inputs, baselines, target: method(
            model, inputs, baselines=baselines, target=target
        )
    if named("references"):
        return lambda model, inputs, baselines, target: method(
            model, inputs, references=baselines, target=target
        )
    return lambda model, inputs, baselines, target: method(model, inputs, target=target)
