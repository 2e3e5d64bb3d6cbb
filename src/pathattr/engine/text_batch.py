"""The unit of work of a dataset run over texts: strings in, token attributions out.

:class:`TextDatasetAttributor` is what :class:`~pathattr.engine.batch.DatasetAttributor` is for
arrays, for a 🤗 classifier and its tokenizer: one batch of texts is attributed with
:func:`pathattr.text.integrated_gradients` (one padded batch; padding gets exactly 0) and
returned as the store's columns, with ``attributions`` ragged (one score per token, a
``list<float>`` in Parquet) and ``tokens`` beside them (a ``list<string>``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


def is_tokenizer(obj: Any) -> bool:
    """Whether ``obj`` looks like a 🤗 tokenizer (callable, with ``convert_ids_to_tokens``)."""
    return callable(obj) and hasattr(obj, "convert_ids_to_tokens")


@dataclass
class TextDatasetAttributor:
    """``fn(batch) -> columns`` for texts: IG at the word embeddings, picklable.

    Args:
        model: a 🤗 sequence classifier (or :class:`~pathattr.text.SentenceClassifier`).
        tokenizer: its tokenizer.
        options: options of :func:`pathattr.text.integrated_gradients` (``steps``, ``tol``,
            ``baselines``, ``max_length``...).
        target: ``"predicted"``, an int class, or ``"column"`` (the batch's ``target``).
        device: where to run.

    The batch holds ``id``, ``inputs`` (the texts) and, for ``target="column"``, ``target``.
    """

    model: torch.nn.Module
    tokenizer: Any
    options: dict[str, Any] = field(default_factory=dict)
    target: str | int = "predicted"
    device: str = "cpu"

    def inputs(self, items: list[Any]) -> np.ndarray:
        """The batch's texts (an object array), each checked to be a non-empty string."""
        for i, t in enumerate(items):
            if not isinstance(t, str) or not t.strip():
                raise ValueError(
                    f"input: expected a non-empty text in every row, got {t!r} at row {i} of "
                    "the batch"
                )
        return np.asarray(items, dtype=object)

    @torch.no_grad()
    def _predict(self, texts: list[str]) -> np.ndarray:
        from pathattr.text.model import logits_of

        kw = {"max_length": self.options["max_length"], "truncation": True} \
            if self.options.get("max_length") else {}  # fmt: skip
        enc = self.tokenizer(texts, padding=True, return_tensors="pt", **kw)
        out = logits_of(
            self.model(
                input_ids=enc["input_ids"].to(self.device),
                attention_mask=enc["attention_mask"].to(self.device),
            )
        )
        return out.argmax(-1).cpu().numpy().astype(np.int64)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Attribute one batch of texts (see the class docstring)."""
        from pathattr import text

        ids = [str(i) for i in np.asarray(batch["id"]).tolist()]
        texts = [str(t) for t in np.asarray(batch["inputs"], dtype=object).tolist()]
        self.model.to(self.device).eval()
        pred = self._predict(texts)
        if self.target == "predicted":
            target = pred
        elif self.target == "column":
            target = np.asarray(batch["target"], dtype=np.int64)
        else:
            target = np.full(len(ids), int(self.target), np.int64)
        res = text.integrated_gradients(
            self.model, texts, tokenizer=self.tokenizer, target=[int(t) for t in target],
            **{"warn_tol": None, **self.options},
        )  # fmt: skip
        n = len(ids)
        a = res.attribution
        return {
            "id": np.asarray(ids, dtype=object),
            "target": target,
            "prediction": pred,
            "f_x": a.output.detach().float().cpu().numpy().reshape(n),
            "f_baseline": a.baseline_output.detach().float().cpu().numpy().reshape(n),
            "delta": a.delta.detach().float().cpu().numpy().reshape(n),
            "relative_delta": a.relative_delta.detach().float().cpu().numpy().reshape(n),
            "evaluations": a.evaluations.cpu().numpy().astype(np.int64).reshape(n),
            "attributions": [s.detach().float().cpu().numpy() for s in res.scores],
            "tokens": [list(t) for t in res.tokens],
        }
