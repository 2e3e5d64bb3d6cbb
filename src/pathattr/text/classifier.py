"""SentenceClassifier: a 🤗 sentence encoder with mean pooling and a classification head."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class SentenceClassifier(nn.Module):
    """A sentence encoder (a 🤗 ``AutoModel``) + mean pooling + a classification head.

    The pooling is sentence-transformers' (the mean of the last hidden states over the
    attention mask, optionally L2-normalised), so an all-MiniLM-L6-v2 encoder gives its
    sentence embeddings.  It takes ``inputs_embeds`` like any 🤗 model, so
    :func:`~pathattr.text.integrated_gradients` attributes through the encoder and the head.

    Args:
        encoder: the 🤗 encoder (``AutoModel.from_pretrained(folder)``).
        head: maps the pooled ``(batch, hidden)`` embedding to ``(batch, classes)`` logits.
        labels: the class names, in the head's output order (targets by name).
        normalize: L2-normalise the pooled embedding (as sentence-transformers does).
    """

    def __init__(
        self,
        encoder: nn.Module,
        head: nn.Module,
        *,
        labels: Sequence[str] | None = None,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.labels = list(labels) if labels is not None else None
        self.normalize = normalize

    @property
    def label2id(self) -> dict[str, int]:
        """Class name -> output index (empty without ``labels``)."""
        return {name: i for i, name in enumerate(self.labels or [])}

    def get_input_embeddings(self) -> nn.Module:
        """The encoder's word-embedding layer."""
        emb = self.encoder.get_input_embeddings()  # type: ignore[operator]
        assert isinstance(emb, nn.Module)
        return emb

    def pool(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The pooled sentence embedding ``(batch, hidden)``."""
        out = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds
        )
        hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
        if attention_mask is None:
            pooled = hidden.mean(1)
        else:
            m = attention_mask[..., None].to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9)
        if self.normalize:
            pooled = nn.functional.normalize(pooled, dim=-1)
        return pooled

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits ``(batch, classes)``."""
        out: torch.Tensor = self.head(self.pool(input_ids, attention_mask, inputs_embeds))
        return out
