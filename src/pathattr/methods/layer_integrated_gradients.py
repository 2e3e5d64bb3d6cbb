r"""Layer Integrated Gradients: IG in the space of a layer's output (or input).

.. math::

    \mathrm{LIG}_j(x) = (a_j - a'_j) \int_0^1
        \frac{\partial G(a' + \alpha (a - a'))}{\partial a_j}\, d\alpha,
    \qquad a = \ell(x),\ a' = \ell(x'),

where :math:`\ell(x)` is the layer's value at the input, :math:`\ell(x')` at the baseline (the
baselines are given in input space, as in Captum) and :math:`G(a)` is the model's selected output
with the layer's value replaced by ``a``.  This is exactly Integrated Gradients of G, so it runs
through :func:`~pathattr.integrated_gradients` and inherits everything: the rules,
``steps="auto"``, chunking, the completeness report.  Completeness holds at the layer:
Σ_j LIG_j = G(a) − G(a'), which equals F(x) − F(x') when everything from the input to the output
passes through the layer (an embedding layer of a text model, a conv stack).  A model with a
path around the layer has G(a') ≠ F(x'); ``baseline_output`` reports G(a').

For text models this is the IG paper's recipe: attribute at the embedding layer, whose output
is continuous, with token ids as the inputs.

The part of the model below the layer is the same at every step.  When the model can be split
there (an ``nn.Sequential`` with the layer as a child, or a ``suffix`` you pass) it is computed
once per example and only the part above runs per step; a layer in a stack of blocks (the
``nn.ModuleList`` of a 🤗 encoder or decoder) has the blocks below it skipped at every step;
otherwise hooks replace the layer's value in full forward passes (Captum's way).  All give the
same numbers (see :mod:`pathattr.engine.layers`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from pathattr.engine.layers import (
    HookedModel,
    as_layers,
    blocks_below,
    capture,
    check_attribute_to,
    sequential_suffix,
)
from pathattr.engine.pipeline import Inputs, prepare
from pathattr.engine.targets import TargetLike
from pathattr.engine.validate import BaselineLike, TrainingModeWarning
from pathattr.methods.integrated_gradients import integrated_gradients
from pathattr.result import Attribution


def layer_integrated_gradients(
    model: Callable[..., Any],
    layer: nn.Module | Sequence[nn.Module],
    inputs: Inputs,
    *,
    baselines: BaselineLike = None,
    target: TargetLike = None,
    steps: int | str = 50,
    rule: str | None = None,
    forward_args: Any = (),
    batch_size: int | str | None = "auto",
    create_graph: bool = False,
    tol: float | None = None,
    max_steps: int | None = None,
    warn_tol: float | None = 0.05,
    progress: bool = False,
    multiply_by_inputs: bool = True,
    attribute_to: str = "output",
    suffix: Callable[..., Any] | None = None,
    module: nn.Module | None = None,
) -> Attribution:
    """Integrated Gradients of ``model``'s selected output with respect to ``layer``'s values.

    Args:
        model: a callable ``model(*inputs, *forward_args)`` containing ``layer``.
        layer: the module whose output (or input) is attributed, or a list of modules (one
            attribution per layer from the same passes, as in Captum; the layers must not feed
            one another).
        inputs: the model's inputs (any dtype: token ids are fine, the path runs at the layer).
        baselines: the baseline *inputs* (as in :func:`~pathattr.integrated_gradients`); the
            path's start is the layer's value there.
        target, steps, rule, forward_args, batch_size, create_graph, tol, max_steps, warn_tol,
            progress, multiply_by_inputs: as in :func:`~pathattr.integrated_gradients`.
        attribute_to: ``"output"`` (default) or ``"input"`` of the layer.
        suffix: ``suffix(*layer_values, *forward_args)`` computing the model's output from the
            layer's values: then only it runs per step (the prefix is computed once).  Found
            automatically for an ``nn.Sequential`` whose child is ``layer``.
        module: the ``nn.Module`` holding ``layer`` when ``model`` is a function around it
            (e.g. a 🤗 model plus its pooling): there the stack of blocks below the layer is
            looked up, to skip them (``model`` itself is searched when it is a module).

    Returns:
        An :class:`~pathattr.result.Attribution` whose ``attributions`` are shaped like the
        layer's value (a tensor, or a tuple when the layer's value is a tuple; a list with one
        entry per layer when ``layer`` is a list), and whose ``output`` / ``baseline_output``
        are G at the layer's values at the inputs and at the baselines.
        ``extras["split"]`` tells how the prefix was handled: computed once (``"suffix"``),
        blocks below the layer skipped (``"skip"``), or recomputed per step (``"hooks"``).
    """
    layers = as_layers(layer)
    attribute_to = check_attribute_to(attribute_to)
    if suffix is not None and not callable(suffix):
        raise TypeError(f"suffix: expected a callable or None, got {type(suffix).__name__}")
    xs = inputs if isinstance(inputs, tuple) else (inputs,)
    if not all(isinstance(t, torch.Tensor) for t in xs):
        raise TypeError("inputs: expected a tensor or a tuple of tensors")
    # validate the input-space arguments once; token ids (integer inputs) are fine here
    floats = tuple(t if t.dtype.is_floating_point else t.float() for t in xs)
    p = prepare(
        model, floats, baselines=baselines, target=target, forward_args=forward_args,
        warn_tol=warn_tol,
    )  # fmt: skip
    assert p.baselines is not None
    base_in = tuple(b.to(x.dtype) for b, x in zip(p.baselines, xs))
    with p.running():
        at_x = capture(model, layers, xs, p.forward_args, attribute_to)
        at_b = capture(model, layers, base_in, p.forward_args, attribute_to)
    for i, (a, b) in enumerate(zip(at_x.tensors, at_b.tensors)):
        if a.shape != b.shape:
            raise ValueError(
                f"baselines: the layer's value at the baselines has shape {tuple(b.shape)}, at "
                f"the inputs {tuple(a.shape)} (value {i}); the path needs the same shape"
            )
    split = suffix if suffix is not None else sequential_suffix(model, layers, attribute_to)
    if module is not None and not isinstance(module, nn.Module):
        raise TypeError(f"module: expected an nn.Module or None, got {type(module).__name__}")
    root = module if module is not None else model
    skip = blocks_below(root, layers) if split is None else []
    if skip and attribute_to == "output":
        skip.append(layers[0])  # its own output is replaced: no need to compute it either
    mode = "suffix" if split is not None else "skip" if skip else "hooks"

    def run(g: Callable[..., Any], fargs: tuple[Any, ...]) -> Attribution:
        # prepare() above has warned about the user's model; the split-off suffix is the
        # same model seen from the layer, so its own training-mode warning would repeat it
        with p.running(), warnings.catch_warnings():
            warnings.simplefilter("ignore", TrainingModeWarning)
            return integrated_gradients(
                g, at_x.tensors, baselines=at_b.tensors, target=target, steps=steps, rule=rule,
                forward_args=fargs, batch_size=batch_size, create_graph=create_graph, tol=tol,
                max_steps=max_steps, warn_tol=warn_tol, progress=progress,
                multiply_by_inputs=multiply_by_inputs,
            )  # fmt: skip

    if split is not None:
        res = run(split, p.forward_args)
    else:
        res = run(HookedModel(model, layers, at_x, attribute_to, skip), xs + p.forward_args)
        if skip and not _reproduces(res.output, at_x.model_output, p.selector):
            warnings.warn(
                "layer: skipping the blocks below the layer did not give F(x) back (the model "
                "reads their outputs elsewhere); recomputed with hooks, the prefix at every step",
                stacklevel=2,
            )
            mode = "hooks"
            res = run(HookedModel(model, layers, at_x, attribute_to), xs + p.forward_args)
    flat = res.attributions if isinstance(res.attributions, tuple) else (res.attributions,)
    per_layer = at_x.per_layer(flat)
    res.attributions = per_layer if isinstance(layer, (list, tuple)) else per_layer[0]
    res.method = "layer_integrated_gradients"
    res.extras.update(split=mode, attribute_to=attribute_to)
    return res


def _reproduces(got: torch.Tensor, model_output: Any, selector: Any) -> bool:
    """G at the inputs' layer values equals F(x) (to float rounding)."""
    want = selector(model_output, torch.arange(got.shape[0], device=got.device)).detach()
    want = want.to(got.dtype)
    tol = 1e-4 * float(want.abs().max().clamp_min(1.0))
    return bool((got - want).abs().max() <= tol) if got.numel() else True
