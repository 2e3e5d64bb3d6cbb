"""``kind="causal_lm"`` and ``kind="seq2seq"``: F is an output text's log-probability.

A causal LM reads the text followed by the output (teacher forcing: the output's tokens are
inputs too, and keep their real embedding); an encoder–decoder model reads the text in its
encoder and the output, shifted right, in its decoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from pathattr.text.model import embedding_dtype, logits_of
from pathattr.text.prepared import PreparedRun, TextTarget
from pathattr.text.tokens import TokenBatch, decode_ids, pad_id


def sequence_targets(tokenizer: Any, target: TextTarget, n: int, *,
                     special: bool) -> list[list[int]]:  # fmt: skip
    """One list of output token ids per text from a string, token ids, or one per text."""
    if target is None:
        raise ValueError("target: a sequence model needs the output to attribute (a string "
                         "or token ids)")  # fmt: skip
    if isinstance(target, torch.Tensor):
        target = target.tolist()
    # as for classes: a str or an int is for every text, a list has one item per text
    if isinstance(target, str) or (isinstance(target, int) and not isinstance(target, bool)):
        items: list[Any] = [target] * n
    else:
        items = list(target)  # type: ignore[arg-type]
    if len(items) != n:
        raise ValueError(f"target: expected one output per text ({n}), got {len(items)}")
    out = []
    for i, t in enumerate(items):
        if isinstance(t, str):
            ids = tokenizer(text_target=t, add_special_tokens=special)["input_ids"] if special \
                else tokenizer(t, add_special_tokens=False)["input_ids"]  # fmt: skip
        elif isinstance(t, int) and not isinstance(t, bool):
            ids = [t]
        elif isinstance(t, Sequence) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in t
        ):
            ids = list(t)
        else:
            raise TypeError(f"target[{i}]: expected a string or token ids, got {type(t).__name__}")
        if not ids:
            raise ValueError(f"target[{i}]: the output {t!r} has no tokens")
        out.append([int(v) for v in ids])
    return out


def log_probs(logits: torch.Tensor, pos: torch.Tensor, tgt: torch.Tensor,
              w: torch.Tensor) -> torch.Tensor:  # fmt: skip
    """Σ_j w_j log p(tgt_j) at positions pos_j, per row."""
    picked = logits.gather(1, pos[..., None].expand(-1, -1, logits.shape[-1]))
    logp = torch.log_softmax(picked, dim=-1).gather(2, tgt[..., None])[..., 0]
    return (logp * w).sum(1)


def prepare_causal_lm(
    model: nn.Module, tokenizer: Any, batch: TokenBatch, target: TextTarget, emb: nn.Module
) -> PreparedRun:
    """The run for a causal LM: F is the continuation's log-probability after the text."""
    n = batch.ids.shape[0]
    lengths = batch.mask.sum(1)
    if target is None:  # the most likely next token after each text
        with torch.no_grad():
            logits = logits_of(model(input_ids=batch.ids, attention_mask=batch.mask))
        last = logits[torch.arange(n), lengths - 1]
        conts = [[int(t)] for t in last.argmax(-1).tolist()]
    else:
        conts = sequence_targets(tokenizer, target, n, special=False)
    full, added = batch.appended(conts, pad_id(tokenizer))
    width = max(len(c) for c in conts)
    pos = torch.zeros(n, width, dtype=torch.long, device=full.ids.device)
    tgt = torch.zeros_like(pos)
    w = torch.zeros(n, width, dtype=embedding_dtype(emb), device=full.ids.device)
    for i, c in enumerate(conts):
        k = int(lengths[i])
        # token j of the continuation sits at k + j and is predicted at k + j - 1
        pos[i, : len(c)] = torch.arange(k - 1, k - 1 + len(c))
        tgt[i, : len(c)] = torch.tensor(c)
        w[i, : len(c)] = 1

    def fn(e: torch.Tensor, mask: torch.Tensor, p: torch.Tensor, t: torch.Tensor,
           wt: torch.Tensor) -> torch.Tensor:  # fmt: skip
        return log_probs(logits_of(model(inputs_embeds=e, attention_mask=mask)), p, t, wt)

    def check() -> tuple[torch.Tensor, torch.Tensor]:
        via_ids = log_probs(logits_of(model(input_ids=full.ids, attention_mask=full.mask)),
                            pos, tgt, w)  # fmt: skip
        return via_ids, fn(emb(full.ids), full.mask, pos, tgt, w)

    names = [decode_ids(tokenizer, c) for c in conts]
    shown = full.mask.bool() & ~added
    return PreparedRun(model, full, fn, (full.mask, pos, tgt, w), None, names, added, shown, check)


def prepare_seq2seq(
    model: nn.Module, tokenizer: Any, batch: TokenBatch, target: TextTarget
) -> PreparedRun:
    """The run for an encoder–decoder model: F is the output's log-probability."""
    n = batch.ids.shape[0]
    outs = sequence_targets(tokenizer, target, n, special=True)
    config = getattr(model, "config", None)
    start = getattr(config, "decoder_start_token_id", None)
    if start is None:
        raise ValueError("model: config.decoder_start_token_id is not set, so the decoder's "
                         "first input is unknown")  # fmt: skip
    pad = pad_id(tokenizer)
    width = max(len(o) for o in outs)
    dev = batch.ids.device
    dec = torch.full((n, width), pad, dtype=torch.long, device=dev)
    tgt = torch.zeros(n, width, dtype=torch.long, device=dev)
    w = torch.zeros(n, width, dtype=embedding_dtype(model.get_input_embeddings()), device=dev)  # type: ignore[operator]
    for i, o in enumerate(outs):
        # teacher forcing: the decoder reads the start token and the output shifted right
        dec[i, : len(o)] = torch.tensor([int(start)] + o[:-1])
        tgt[i, : len(o)] = torch.tensor(o)
        w[i, : len(o)] = 1

    def fn(e: torch.Tensor, mask: torch.Tensor, d: torch.Tensor, t: torch.Tensor,
           wt: torch.Tensor) -> torch.Tensor:  # fmt: skip
        out = model(inputs_embeds=e, attention_mask=mask, decoder_input_ids=d)
        pos = torch.arange(t.shape[1], device=t.device).expand(t.shape[0], -1)
        return log_probs(logits_of(out), pos, t, wt)

    def check() -> tuple[torch.Tensor, torch.Tensor]:
        out = model(input_ids=batch.ids, attention_mask=batch.mask, decoder_input_ids=dec)
        emb = model.get_input_embeddings()  # type: ignore[operator]
        pos = torch.arange(width, device=dev).expand(n, width)
        via_embeds = fn(emb(batch.ids), batch.mask, dec, tgt, w)
        return log_probs(logits_of(out), pos, tgt, w), via_embeds

    names = [decode_ids(tokenizer, o) for o in outs]
    return PreparedRun(
        model, batch, fn, (batch.mask, dec, tgt, w), None, names,
        torch.zeros_like(batch.special), batch.mask.bool(), check,
    )  # fmt: skip
