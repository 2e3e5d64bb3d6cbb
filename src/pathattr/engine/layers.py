"""A model seen from one of its layers: capture the layer's values, run the model from them.

Layer attribution integrates along a path in the space of a module's output (or input).  The
engine needs that as a function of the layer values, ``G(a) = F(model with layer := a)``.  Two
ways to build it, with the same numbers:

* **split** (the prefix computed once): when the model is an ``nn.Sequential`` whose child is the
  layer, or the user passes ``suffix``, G runs only the part above the layer; everything below it
  was computed once per example, when the layer values were captured.
* **skip** (a layer in a stack: an ``nn.ModuleList`` of blocks, as in every 🤗 encoder and
  decoder): G runs the whole model, but the blocks below the layer are swapped for the identity
  for the duration of the call, so the per-step cost is the stack above the layer plus the
  cheap embedding lookup.  The result is checked: G at the inputs' layer values must give F(x)
  again, else the model reads those blocks elsewhere and the call falls back to hooks.
* **hooks** (any ``nn.Module``): G runs the whole model on the example's inputs and a forward
  hook (a forward pre-hook for ``attribute_to="input"``) replaces the layer's values by ``a``:
  Captum's way, which recomputes the prefix at every step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass
class LayerValues:
    """The captured values of one or more layers, flattened to one tuple of tensors.

    ``counts[i]`` tensors belong to layer i; ``tupled[i]`` says whether that layer's value was a
    tuple (so it is given back as one); ``model_output`` is what the model returned.
    """

    tensors: tuple[torch.Tensor, ...]
    counts: tuple[int, ...]
    tupled: tuple[bool, ...]
    model_output: Any = None

    def per_layer(self, flat: Sequence[Any]) -> list[Any]:
        """Split a flat sequence (one item per tensor) back into one entry per layer."""
        out, start = [], 0
        for count, tupled in zip(self.counts, self.tupled):
            part = tuple(flat[start : start + count])
            out.append(part if tupled else part[0])
            start += count
        return out


def as_layers(layer: nn.Module | Sequence[nn.Module]) -> list[nn.Module]:
    """``layer`` as a non-empty list of modules, or a clear error."""
    layers: list[Any] = list(layer) if isinstance(layer, (list, tuple)) else [layer]
    if not layers:
        raise ValueError("layer: expected an nn.Module or a non-empty list of them, got []")
    for i, m in enumerate(layers):
        if not isinstance(m, nn.Module):
            label = "layer" if len(layers) == 1 else f"layer[{i}]"
            raise TypeError(f"{label}: expected an nn.Module, got {type(m).__name__}")
    return layers


def check_attribute_to(attribute_to: Any) -> str:
    """``"output"`` or ``"input"``, else a clear error."""
    if attribute_to not in ("output", "input"):
        raise ValueError(f"attribute_to: expected 'output' or 'input', got {attribute_to!r}")
    return str(attribute_to)


def capture(
    model: Callable[..., Any],
    layers: list[nn.Module],
    inputs: tuple[torch.Tensor, ...],
    forward_args: tuple[Any, ...],
    attribute_to: str,
) -> LayerValues:
    """Run ``model(*inputs, *forward_args)`` once and keep each layer's output (or input)."""
    seen: list[Any] = [None] * len(layers)

    def keep(i: int) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, output: Any = None) -> None:
            if seen[i] is not None:
                raise RuntimeError(
                    f"layer: module {type(module).__name__} is called more than once per "
                    "forward pass (a shared module); its values cannot be attributed as one layer"
                )
            if attribute_to == "input":
                # one positional input is given back as a tensor, several as a tuple
                seen[i] = args[0] if len(args) == 1 else tuple(args)
            else:
                seen[i] = output

        return hook

    with torch.no_grad(), _hooks(layers, keep, attribute_to):
        out = model(*inputs, *forward_args)
    tensors: list[torch.Tensor] = []
    counts, tupled = [], []
    for i, value in enumerate(seen):
        label = "layer" if len(layers) == 1 else f"layer[{i}]"
        if value is None:
            raise ValueError(
                f"{label}: the module was not called by the model's forward pass, so it has no "
                "values to attribute to (pass a module the model uses)"
            )
        parts = value if isinstance(value, tuple) else (value,)
        for j, t in enumerate(parts):
            if not isinstance(t, torch.Tensor) or not t.dtype.is_floating_point:
                what = type(t).__name__ if not isinstance(t, torch.Tensor) else str(t.dtype)
                raise TypeError(
                    f"{label}: its {attribute_to}{f'[{j}]' if len(parts) > 1 else ''} is {what}, "
                    "not a floating-point tensor, so no path can run through it (token ids are "
                    "attributed at the embedding's output, attribute_to='output')"
                )
        tensors.extend(t.detach() for t in parts)
        counts.append(len(parts))
        tupled.append(isinstance(value, tuple))
    return LayerValues(tuple(tensors), tuple(counts), tuple(tupled), out)


class HookedModel:
    """G(a, *inputs, *forward_args): the model with the layers' values replaced by ``a``.

    The engine calls it with the path points first and the expanded inputs and forward
    arguments after (they ride in ``forward_args`` so the engine indexes them per row).
    """

    def __init__(
        self,
        model: Callable[..., Any],
        layers: list[nn.Module],
        values: LayerValues,
        attribute_to: str,
        skip: Sequence[nn.Module] = (),
    ) -> None:
        self.model = model
        self.layers = layers
        self.values = values
        self.attribute_to = attribute_to
        self.n_values = len(values.tensors)
        self.skip = tuple(skip)

    def __call__(self, *args: Any) -> Any:
        """Run the model on the inputs in ``args`` with the layers' values from ``args``."""
        given = self.values.per_layer(args[: self.n_values])

        def replace(i: int) -> Callable[..., Any]:
            def hook(module: nn.Module, hook_args: Any, output: Any = None) -> Any:
                return given[i]

            return hook

        with _hooks(self.layers, replace, self.attribute_to), _identity_forward(self.skip):
            return self.model(*args[self.n_values :])


def blocks_below(root: Any, layers: list[nn.Module]) -> list[nn.Module]:
    """The blocks before ``layers[0]`` in the ``nn.ModuleList`` of ``root`` holding it (else [])."""
    if not isinstance(root, nn.Module) or len(layers) != 1:
        return []
    for module in root.modules():
        if isinstance(module, nn.ModuleList):
            blocks = list(module)
            for i, block in enumerate(blocks):
                if block is layers[0]:
                    return blocks[:i]
    return []


@contextlib.contextmanager
def _identity_forward(blocks: Sequence[nn.Module]) -> Iterator[None]:
    """Blocks that return their first argument (the hidden states) without computing."""

    def identity(*args: Any, **kwargs: Any) -> Any:
        return args[0] if args else kwargs["hidden_states"]

    try:
        for block in blocks:
            block.forward = identity  # type: ignore[method-assign]
        yield
    finally:
        for block in blocks:
            del block.forward


def sequential_suffix(
    model: Any, layers: list[nn.Module], attribute_to: str
) -> Callable[..., Any] | None:
    """The part of an ``nn.Sequential`` above its child ``layer`` (None if it cannot split)."""
    if not isinstance(model, nn.Sequential) or len(layers) != 1:
        return None
    children = list(model.children())
    for i, child in enumerate(children):
        if child is layers[0]:
            rest = children[i + 1 :] if attribute_to == "output" else children[i:]
            if not rest:
                return _identity
            suffix = nn.Sequential(*rest)
            # a new container starts in training mode: take the model's flag (not .train(),
            # which would reset every child's own mode)
            suffix.training = model.training
            return suffix
    return None


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


@contextlib.contextmanager
def _hooks(
    layers: list[nn.Module],
    make: Callable[[int], Callable[..., Any]],
    attribute_to: str,
) -> Iterator[None]:
    handles = []
    try:
        for i, layer in enumerate(layers):
            if attribute_to == "input":
                handles.append(layer.register_forward_pre_hook(make(i)))
            else:
                handles.append(layer.register_forward_hook(make(i)))
        yield
    finally:
        for h in handles:
            h.remove()
