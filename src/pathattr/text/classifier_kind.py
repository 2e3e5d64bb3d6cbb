"""``kind="classifier"``: F is a class logit, the target a class index or label name."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from pathattr.text.model import accepts_argument, from_embeddings, logits_of
from pathattr.text.prepared import PreparedRun, TextTarget
from pathattr.text.tokens import TokenBatch


def prepare_classifier(model: nn.Module, batch: TokenBatch, target: TextTarget) -> PreparedRun:
    """The run for a classifier: F is the target class's logit."""
    n = batch.ids.shape[0]
    types = batch.extra.get("token_type_ids")
    if types is not None and not accepts_argument(model, "token_type_ids"):
        types = None

    def fn(e: torch.Tensor, mask: torch.Tensor, *tt: torch.Tensor) -> torch.Tensor:
        kw = {"token_type_ids": tt[0]} if tt else {}
        return logits_of(model(inputs_embeds=e, attention_mask=mask, **kw))

    fargs: tuple[Any, ...] = (batch.mask,) + ((types,) if types is not None else ())
    emb = model.get_input_embeddings()  # type: ignore[operator]
    with torch.no_grad():
        logits = from_embeddings(model, lambda: fn(emb(batch.ids), *fargs))
    if logits.dim() != 2:
        raise ValueError(
            f"model: a classifier must return (batch, classes) logits, got shape "
            f"{tuple(logits.shape)}; pass kind= for a language model"
        )
    classes = logits.shape[1]
    names = label_names(model, classes)
    idx = class_targets(target, n, classes, names, logits)

    def check() -> tuple[torch.Tensor, torch.Tensor]:
        kw = {"token_type_ids": types} if types is not None else {}
        via_ids = logits_of(model(input_ids=batch.ids, attention_mask=batch.mask, **kw))
        return via_ids, logits

    return PreparedRun(
        model, batch, fn, fargs, idx, [names[i] for i in idx],
        torch.zeros_like(batch.special), batch.mask.bool(), check,
    )  # fmt: skip


def class_targets(
    target: TextTarget, n: int, classes: int, names: list[str], logits: torch.Tensor
) -> list[int]:
    """One class index per text from an index, a label name, one per text, or None."""
    if target is None:
        return [int(i) for i in logits.argmax(1).tolist()]
    items: list[Any] = [target] * n if isinstance(target, (int, str)) else list(target)
    if isinstance(target, torch.Tensor):
        items = target.reshape(-1).tolist()
        items = items * n if len(items) == 1 else items
    if len(items) != n:
        raise ValueError(f"target: expected one class per text ({n}), got {len(items)}")
    lookup = {name: i for i, name in enumerate(names)}
    out = []
    for t in items:
        if isinstance(t, bool) or not isinstance(t, (int, str)):
            raise TypeError(
                f"target: expected a class index or a label name, got {type(t).__name__} {t!r}"
            )
        if isinstance(t, str):
            if t not in lookup:
                raise ValueError(
                    f"target: unknown label {t!r}; the model's labels are {names} "
                    "(model.config.label2id)"
                )
            t = lookup[t]
        if not 0 <= t < classes:
            raise ValueError(f"target: class {t} is out of range for a model with {classes} "
                             "classes")  # fmt: skip
        out.append(int(t))
    return out


def label_names(model: nn.Module, classes: int) -> list[str]:
    """The class names (``label2id``), or the class indices as strings."""
    label2id = getattr(model, "label2id", None)
    if not label2id:
        label2id = getattr(getattr(model, "config", None), "label2id", None)
    names = [str(i) for i in range(classes)]
    for name, i in dict(label2id or {}).items():
        if 0 <= int(i) < classes:
            names[int(i)] = str(name)
    return names
