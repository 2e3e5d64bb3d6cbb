"""Tokenisation: the texts as one padded batch of token ids, and each token's text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from pathattr.text.model import embedding_rows


def check_texts(texts: Any) -> list[str]:
    """``texts=`` checked: a string or a non-empty list of strings, as a list."""
    if isinstance(texts, str):
        return [texts]
    if not isinstance(texts, Sequence) or isinstance(texts, (bytes, bytearray)):
        raise TypeError(f"texts: expected a string or a list of strings, got "
                        f"{type(texts).__name__}")  # fmt: skip
    items = list(texts)
    if not items:
        raise ValueError("texts: expected at least one string, got an empty list")
    for i, t in enumerate(items):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}]: expected a string, got {type(t).__name__}")
    return items


@dataclass
class TokenBatch:
    """The tokenised texts (padded on the right) and what each position is."""

    ids: torch.Tensor  # (n, L) long
    mask: torch.Tensor  # (n, L) long, 1 at real tokens
    special: torch.Tensor  # (n, L) bool, special tokens
    tokens: list[list[str]]  # per text, per position (padded)
    words: list[list[str]]  # per text, per position: the token's text as it reads
    extra: dict[str, torch.Tensor]  # token_type_ids when the tokenizer returns them

    @classmethod
    def tokenize(
        cls, tokenizer: Any, texts: list[str], max_length: int | None, device: torch.device
    ) -> TokenBatch:
        """Tokenise ``texts`` text by text and pad them on the right into one batch."""
        if not callable(tokenizer) or not hasattr(tokenizer, "convert_ids_to_tokens"):
            raise TypeError(
                f"tokenizer: expected a 🤗 tokenizer (AutoTokenizer.from_pretrained), got "
                f"{type(tokenizer).__name__}"
            )
        fast = bool(getattr(tokenizer, "is_fast", False))
        # text by text, padded here on the right: one convention whatever the tokenizer's
        # padding side, and a tokenizer without a pad token (GPT-2) works too
        encs = [
            tokenizer(t, truncation=max_length is not None, max_length=max_length,
                      return_special_tokens_mask=True, return_offsets_mapping=fast)
            for t in texts
        ]  # fmt: skip
        width = max(len(e["input_ids"]) for e in encs)
        if width == 0:
            raise ValueError("texts: the tokenizer produced no tokens")
        n, pad = len(texts), pad_id(tokenizer)
        ids = torch.full((n, width), pad, dtype=torch.long)
        mask = torch.zeros(n, width, dtype=torch.long)
        special = torch.zeros(n, width, dtype=torch.bool)
        types = torch.zeros(n, width, dtype=torch.long)
        tokens, words = [], []
        for i, (t, e) in enumerate(zip(texts, encs)):
            k = len(e["input_ids"])
            ids[i, :k] = torch.tensor(e["input_ids"], dtype=torch.long)
            mask[i, :k] = 1
            special[i, :k] = torch.tensor(e["special_tokens_mask"], dtype=torch.bool)
            if "token_type_ids" in e:
                types[i, :k] = torch.tensor(e["token_type_ids"], dtype=torch.long)
            toks = tokenizer.convert_ids_to_tokens(e["input_ids"])
            offsets = e.get("offset_mapping") if fast else None
            shown = token_words(t, toks, offsets, e["special_tokens_mask"])
            tokens.append(toks + [""] * (width - k))
            words.append(shown + [""] * (width - k))
        extra = {"token_type_ids": types.to(device)} if "token_type_ids" in encs[0] else {}
        ids, mask, special = ids.to(device), mask.to(device), special.to(device)
        return cls(ids, mask, special, tokens, words, extra)

    def check_vocabulary(self, tokenizer: Any, emb: nn.Module) -> None:
        """Raise if the tokenizer's ids do not fit the model's embedding (another model's)."""
        rows = embedding_rows(emb)
        if rows is None:
            return
        size = len(tokenizer) if hasattr(tokenizer, "__len__") else None
        top = int(self.ids.max())
        if top >= rows or (size is not None and size > rows):
            raise ValueError(
                f"tokenizer: it has {size} tokens (ids up to {top} in these texts) but the "
                f"model's input embedding has {rows} rows; the tokenizer does not belong to this "
                "model (load both from the same folder, or resize_token_embeddings after adding "
                "tokens)"
            )

    def appended(self, rows: list[list[int]], pad: int) -> tuple[TokenBatch, torch.Tensor]:
        """The batch with ``rows[i]`` appended after text i's tokens (right padding)."""
        n = self.ids.shape[0]
        lengths = self.mask.sum(1).tolist()
        width = max(int(lengths[i]) + len(rows[i]) for i in range(n))
        ids = torch.full((n, width), pad, dtype=self.ids.dtype, device=self.ids.device)
        mask = torch.zeros_like(ids)
        special = torch.zeros(n, width, dtype=torch.bool, device=ids.device)
        added = torch.zeros_like(special)
        tokens, words = [], []
        for i in range(n):
            k = int(lengths[i])
            extra = torch.tensor(rows[i], dtype=ids.dtype, device=ids.device)
            ids[i, :k] = self.ids[i, :k]
            ids[i, k : k + len(rows[i])] = extra
            mask[i, : k + len(rows[i])] = 1
            special[i, :k] = self.special[i, :k]
            added[i, k : k + len(rows[i])] = True
            tokens.append(self.tokens[i][:k] + [""] * (width - k))
            words.append(self.words[i][:k] + [""] * (width - k))
        return TokenBatch(ids, mask, special, tokens, words, {}), added


def token_words(text: str, tokens: list[str], offsets: Sequence[Sequence[int]] | None,
                special: Sequence[int]) -> list[str]:  # fmt: skip
    """Each token's text as it reads (with the whitespace before it), for display."""
    if offsets is None:
        return [t.replace("Ġ", " ").replace("▁", " ").replace("##", "") for t in tokens]
    out, end = [], 0
    for tok, (a, b), sp in zip(tokens, offsets, special):
        a = max(a, end)  # overlapping offsets (byte-level BPE pieces of one character)
        if sp or b <= a:
            # a special token, or a piece whose characters the previous token already shows:
            # its own name, so that every token with a score stays visible
            out.append(tok)
            continue
        gap = text[end:a]
        out.append((" " if gap.isspace() else gap) + text[a:b])
        end = b
    return out


def pad_id(tokenizer: Any) -> int:
    """The id that pads: the pad token, else EOS, else unknown, else 0."""
    for name in ("pad_token_id", "eos_token_id", "unk_token_id"):
        v = getattr(tokenizer, name, None)
        if isinstance(v, int):
            return v
    return 0  # padding is masked out and its embedding never moves: any id works


def decode_ids(tokenizer: Any, ids: list[int]) -> str:
    """The text of token ids (the ids themselves if the tokenizer cannot decode)."""
    try:
        return str(tokenizer.decode(ids))
    except Exception:  # a tokenizer without decode: show the ids
        return " ".join(map(str, ids))
