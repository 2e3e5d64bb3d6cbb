"""integrated_gradients: IG of a 🤗 model's target, per input token."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from pathattr.engine.validate import warn_training_mode
from pathattr.methods.integrated_gradients import integrated_gradients as _ig
from pathattr.text.baselines import attributed_positions, baseline_embeddings, check_baselines
from pathattr.text.classifier_kind import prepare_classifier
from pathattr.text.model import embedding_layer, model_kind, param_device
from pathattr.text.positions import position_layer, with_positions
from pathattr.text.prepared import TextTarget, check_embeds_path
from pathattr.text.result import TextAttribution
from pathattr.text.sequence_kinds import prepare_causal_lm, prepare_seq2seq
from pathattr.text.tokens import TokenBatch, check_texts


def integrated_gradients(
    model: nn.Module,
    texts: str | Sequence[str],
    *,
    tokenizer: Any,
    target: TextTarget = None,
    baselines: str | int = "pad",
    keep_special: bool = True,
    kind: str = "auto",
    steps: int | str = 50,
    rule: str | None = None,
    tol: float | None = None,
    max_steps: int | None = None,
    batch_size: int | str | None = "auto",
    warn_tol: float | None = 0.05,
    progress: bool = False,
    max_length: int | None = None,
    positions: bool = False,
) -> TextAttribution:
    """Integrated Gradients of a 🤗 model's target for each text, per token.

    Args:
        model: a 🤗 model taking ``inputs_embeds`` and ``attention_mask``, with
            ``get_input_embeddings()``: a sequence classifier
            (``AutoModelForSequenceClassification``, or a
            :class:`~pathattr.text.SentenceClassifier`), a causal LM (``AutoModelForCausalLM``)
            or an encoder–decoder model (``AutoModelForSeq2SeqLM``).  Put it in eval mode
            (dropout makes attributions random).
        texts: a string or a list of strings, tokenised as one padded batch.
        tokenizer: the model's tokenizer (a fast 🤗 tokenizer shows each token's exact text).
        target: what to attribute.  A classifier: a class index, a label name
            (``model.config.label2id``), or one of those per text; None (default) attributes
            each text's predicted class.  A causal LM: the continuation, whose summed
            log-probability given the text is attributed; None attributes the most likely next
            token.  An encoder–decoder model: the decoder's output, its summed log-probability
            given the input text (the tokenizer's special tokens, e.g. EOS, included).  An
            output is a string or a token id (the same for every text), or a list with one
            item per text: a string, a token id or a list of token ids.
        baselines: the baseline embedding at the attributed tokens: ``"pad"`` (default),
            ``"zero"``, ``"mean"``, ``"mask"``, ``"unk"``, or a token id (see
            :mod:`pathattr.text.baselines`).
        keep_special: keep special tokens ([CLS], [SEP], BOS, EOS) at their real embedding
            (default), so they get 0; False moves them to the baseline too.
        kind: ``"auto"`` (from the model: ``config.is_encoder_decoder``, ``can_generate()``),
            or ``"classifier"``, ``"causal_lm"``, ``"seq2seq"``.
        steps, rule, tol, max_steps, batch_size, warn_tol, progress: as in
            :func:`pathattr.integrated_gradients` (``steps="auto"`` for error control).
        max_length: truncate texts to this many tokens (None: no truncation).
        positions: also interpolate the learned position embeddings (BERT-style
            ``embeddings.position_embeddings``, GPT-2's ``wpe``), from "every token at the
            first position" (position id 0, the reference of Captum's BERT tutorial) to the
            real positions, at the attributed tokens; a token's score is then its word plus
            its position attribution.  Off by default: positions stay real.

    Returns:
        A :class:`~pathattr.text.TextAttribution` (tokens, per-token scores, F(x), F(x′), delta,
        evaluations, the embedding-space attributions; ``.to_html()``, ``.save_html()``).
    """
    texts_list = check_texts(texts)
    kind = model_kind(model, kind)
    emb = embedding_layer(model)
    base_name = check_baselines(baselines)
    if not isinstance(keep_special, bool):
        raise TypeError(f"keep_special: expected True or False, got {type(keep_special).__name__}")
    if max_length is not None and (
        isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1
    ):
        raise ValueError(f"max_length: expected a positive int or None, got {max_length!r}")
    if not isinstance(positions, bool):
        raise TypeError(f"positions: expected True or False, got {type(positions).__name__}")
    pos_layer = position_layer(model) if positions else None
    warn_training_mode(model, stacklevel=3)
    device = param_device(emb)
    batch = TokenBatch.tokenize(tokenizer, texts_list, max_length, device)
    batch.check_vocabulary(tokenizer, emb)
    if kind == "classifier":
        prepared = prepare_classifier(model, batch, target)
    elif kind == "causal_lm":
        prepared = prepare_causal_lm(model, tokenizer, batch, target, emb)
    else:
        prepared = prepare_seq2seq(model, tokenizer, batch, target)
    moving = attributed_positions(prepared, keep_special)
    embeds, base = baseline_embeddings(emb, tokenizer, base_name, prepared.batch.ids, moving)
    check_embeds_path(prepared)
    fn: Callable[..., Any] = prepared.fn
    inputs: torch.Tensor | tuple[torch.Tensor, ...] = embeds
    baseline: torch.Tensor | tuple[torch.Tensor, ...] = base
    if pos_layer is not None:
        fn, at_x = with_positions(prepared, pos_layer, embeds)
        # the baseline: every attributed token at the first position; the rest stay real
        at_b = torch.where(moving[..., None], at_x[:, :1].expand_as(at_x), at_x)
        inputs, baseline = (embeds, at_x), (base, at_b)
    res = _ig(
        fn, inputs, baselines=baseline, target=prepared.target, steps=steps, rule=rule,
        forward_args=prepared.forward_args, batch_size=batch_size, tol=tol,
        max_steps=max_steps, warn_tol=warn_tol, progress=progress,
    )  # fmt: skip
    res.method = "text_integrated_gradients"
    res.extras.update(kind=kind, baseline=base_name, keep_special=keep_special,
                      positions=positions)  # fmt: skip
    parts = res.attributions if isinstance(res.attributions, tuple) else (res.attributions,)
    per_token = torch.stack([torch.as_tensor(a).detach().sum(-1) for a in parts]).sum(0)
    shown, shown_batch = prepared.shown, prepared.batch
    tokens, words, scores = [], [], []
    for i in range(len(texts_list)):
        keep = shown[i].nonzero().flatten().tolist()
        tokens.append([shown_batch.tokens[i][j] for j in keep])
        words.append([shown_batch.words[i][j] for j in keep])
        scores.append(per_token[i, keep].cpu())
    return TextAttribution(
        attribution=res, texts=texts_list, tokens=tokens, words=words, scores=scores,
        targets=prepared.names, baseline=base_name, kind=kind,
        input_ids=prepared.batch.ids.cpu(), attributed=moving.cpu(),
    )  # fmt: skip
