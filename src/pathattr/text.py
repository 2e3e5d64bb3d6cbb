"""Text: Integrated Gradients for 🤗 models, token by token.

:func:`integrated_gradients` takes a 🤗 model, its tokenizer and a list of strings, and
attributes a target (a class index or label name for a classifier; an output text for a causal
LM or an encoder–decoder model) to the input tokens.  The IG paper's recipe for text is used:
the path runs in the space of the **word embeddings** (``model.get_input_embeddings()``), from
a baseline embedding to the text's embedding; position and token-type embeddings are added
inside the model at every step, so they stay real and are not attributed.  One token's score
is its attribution summed over the embedding dimension; the scores add up to F(x) − F(x′).

This is layer Integrated Gradients at the word-embedding layer (the same numbers as
:func:`pathattr.layer_integrated_gradients` and Captum's ``LayerIntegratedGradients`` on that
layer, which the tests check), run as plain :func:`pathattr.integrated_gradients` on the
embeddings fed to the model as ``inputs_embeds``: the embedding lookup is computed once, and
a baseline can be given in embedding space (``"zero"``, ``"mean"``) as well as as token ids.

Baselines (``baselines=``), applied at the *attributed* positions only:

* ``"pad"`` (default): the pad token's embedding, as the IG authors do for BERT;
* ``"zero"``: the all-zero embedding (the IG paper's text baseline);
* ``"mean"``: the mean of the embedding matrix over the vocabulary (no token's identity, a
  typical norm: the safe choice for RMSNorm models, whose normalisation is singular at the
  zero embedding);
* ``"mask"`` / ``"unk"``: the mask / unknown token's embedding;
* an int: that token id's embedding.

Special tokens ([CLS], [SEP], BOS, EOS) keep their real embedding by default
(``keep_special=True``) and padding always does: where the baseline equals the input the
attribution is exactly 0, so padding never receives attribution.  For a causal LM the given
continuation tokens are inputs too (teacher forcing) and keep their real embedding as well.

Install with ``pip install 'pathattr[text]'``.  Nothing is downloaded: load models and
tokenizers from local folders (``HF_HUB_OFFLINE=1``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pathattr.engine.validate import warn_training_mode
from pathattr.methods.integrated_gradients import integrated_gradients as _ig
from pathattr.result import Attribution

#: the baselines :func:`integrated_gradients` accepts by name
BASELINES = ("pad", "zero", "mean", "mask", "unk")
#: the model kinds, found from the model when ``kind="auto"``
KINDS = ("classifier", "causal_lm", "seq2seq")

TextTarget = int | str | Sequence[int] | Sequence[str] | None


@dataclass
class TextAttribution:
    """Token attributions for a batch of texts, with the diagnostics of the run.

    Attributes:
        attribution: the :class:`~pathattr.result.Attribution` of the run; its
            ``attributions`` are the full embedding-space attributions, shaped
            ``(texts, tokens, embedding dim)`` over the padded batch.
        texts: the input strings.
        tokens: per text, its tokens as the tokenizer names them (special tokens included,
            padding and a causal LM's continuation excluded).
        words: per text, the tokens as they read in the text (the exact characters each token
            covers, with the space before it), for display.
        scores: per text, one score per token: the attribution summed over the embedding
            dimension (0 exactly at special tokens when they are kept).
        targets: per text, what was attributed (the label name, or the output text).
        baseline: the baseline used (one of :data:`BASELINES` or a token id).
        kind: ``"classifier"``, ``"causal_lm"`` or ``"seq2seq"``.
        input_ids: the padded token ids ``(texts, tokens)`` fed to the model.
        attributed: ``(texts, tokens)`` True where the path ran (the baseline differs from
            the input); special tokens, padding and a continuation are False.
    """

    attribution: Attribution
    texts: list[str]
    tokens: list[list[str]]
    words: list[list[str]]
    scores: list[torch.Tensor]
    targets: list[str]
    baseline: str | int
    kind: str
    input_ids: torch.Tensor
    attributed: torch.Tensor

    @property
    def output(self) -> torch.Tensor:
        """F(x) per text (the target's logit, or the output text's log-probability)."""
        return self.attribution.output

    @property
    def baseline_output(self) -> torch.Tensor:
        """F(x′) per text, at the baseline embeddings."""
        return self.attribution.baseline_output

    @property
    def delta(self) -> torch.Tensor:
        """Completeness residual Σ scores − (F(x) − F(x′)) per text."""
        return self.attribution.delta

    @property
    def relative_delta(self) -> torch.Tensor:
        """|delta| / |F(x) − F(x′)| per text."""
        return self.attribution.relative_delta

    @property
    def evaluations(self) -> torch.Tensor:
        """Gradient evaluations spent per text."""
        return self.attribution.evaluations

    def to_html(self, *, scale: float | str = "shared", title: str | None = None) -> str:
        """The texts with every token coloured by its score (red +, blue −, grey ≈ 0).

        Args:
            scale: the score at which colours saturate: ``"shared"`` (default: the largest
                |score| over all texts, so texts compare), ``"per_text"`` (each text its own
                largest |score|), or a positive number.  The page states it.
            title: a heading for the page.
        """
        from pathattr.viz.text import texts_html

        return texts_html(self, scale=scale, title=title)

    def save_html(
        self, path: str | Path, *, scale: float | str = "shared", title: str | None = None
    ) -> Path:
        """Write :meth:`to_html` as a standalone page; returns the path."""
        from pathattr.viz.text import page

        out = Path(path)
        out.write_text(page(self.to_html(scale=scale, title=title)), encoding="utf-8")
        return out

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        rd = self.relative_delta
        rd = rd[torch.isfinite(rd)]
        worst = f"{float(rd.max()):.2e}" if rd.numel() else "n/a"
        return (
            f"TextAttribution(kind={self.kind}, texts={len(self.texts)}, "
            f"baseline={self.baseline!r}, targets={self.targets}, "
            f"relative_delta max={worst}, evaluations={self.attribution.total_evaluations})"
        )


class SentenceClassifier(nn.Module):
    """A sentence encoder (a 🤗 ``AutoModel``) + mean pooling + a classification head.

    The pooling is sentence-transformers' (the mean of the last hidden states over the
    attention mask, optionally L2-normalised), so an all-MiniLM-L6-v2 encoder gives its
    sentence embeddings.  It takes ``inputs_embeds`` like any 🤗 model, so
    :func:`integrated_gradients` attributes through the encoder and the head.

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
            (``AutoModelForSequenceClassification``, or a :class:`SentenceClassifier`), a causal
            LM (``AutoModelForCausalLM``) or an encoder–decoder model
            (``AutoModelForSeq2SeqLM``).  Put it in eval mode (dropout makes attributions
            random).
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
            ``"zero"``, ``"mean"``, ``"mask"``, ``"unk"``, or a token id (see the module
            docstring).
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
        A :class:`TextAttribution` (tokens, per-token scores, F(x), F(x′), delta,
        evaluations, the embedding-space attributions; ``.to_html()``, ``.save_html()``).
    """
    texts_list = _check_texts(texts)
    kind = _kind(model, kind)
    emb = _embedding_layer(model)
    base_name = _check_baselines(baselines)
    if not isinstance(keep_special, bool):
        raise TypeError(f"keep_special: expected True or False, got {type(keep_special).__name__}")
    if max_length is not None and (
        isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1
    ):
        raise ValueError(f"max_length: expected a positive int or None, got {max_length!r}")
    if not isinstance(positions, bool):
        raise TypeError(f"positions: expected True or False, got {type(positions).__name__}")
    pos_layer = _position_layer(model) if positions else None
    warn_training_mode(model, stacklevel=3)
    device = _param_device(emb)
    batch = _Batch.tokenize(tokenizer, texts_list, max_length, device)
    batch.check_vocabulary(tokenizer, emb)
    if kind == "classifier":
        prepared = _classifier(model, batch, target)
    elif kind == "causal_lm":
        prepared = _causal_lm(model, tokenizer, batch, target, emb)
    else:
        prepared = _seq2seq(model, tokenizer, batch, target)
    # the path runs where the baseline differs from the input: real, non-special tokens
    # (and not a causal LM's continuation); everywhere else the baseline is the input
    moving = prepared.batch.mask.bool() & ~prepared.fixed
    if keep_special:
        moving &= ~prepared.batch.special
    with torch.no_grad():
        embeds = emb(prepared.batch.ids).detach()
        if base_name in ("zero", "mean"):
            fill = torch.zeros_like(embeds[0, 0]) if base_name == "zero" else _mean_row(emb)
            base = torch.where(moving[..., None], fill.to(embeds.dtype), embeds)
        else:
            token = _baseline_token(tokenizer, base_name, emb)
            base_ids = torch.where(moving, torch.full_like(prepared.batch.ids, token),
                                   prepared.batch.ids)  # fmt: skip
            base = emb(base_ids).detach()
    _check_embeds_path(prepared)
    fn: Callable[..., Any] = prepared.fn
    inputs: torch.Tensor | tuple[torch.Tensor, ...] = embeds
    baseline: torch.Tensor | tuple[torch.Tensor, ...] = base
    if pos_layer is not None:
        fn, at_x = _with_positions(prepared, pos_layer, embeds)
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


# --------------------------------------------------------------------------- preparation


@dataclass
class _Batch:
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
    ) -> _Batch:
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
        n, pad = len(texts), _pad_id(tokenizer)
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
            shown = _words(t, toks, offsets, e["special_tokens_mask"])
            tokens.append(toks + [""] * (width - k))
            words.append(shown + [""] * (width - k))
        extra = {"token_type_ids": types.to(device)} if "token_type_ids" in encs[0] else {}
        ids, mask, special = ids.to(device), mask.to(device), special.to(device)
        return cls(ids, mask, special, tokens, words, extra)

    def check_vocabulary(self, tokenizer: Any, emb: nn.Module) -> None:
        rows = _embedding_rows(emb)
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

    def appended(self, rows: list[list[int]], pad: int) -> tuple[_Batch, torch.Tensor]:
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
        return _Batch(ids, mask, special, tokens, words, {}), added


def _words(text: str, tokens: list[str], offsets: Sequence[Sequence[int]] | None,
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


@dataclass
class _Prepared:
    """What the engine runs for one model kind."""

    model: nn.Module
    batch: _Batch
    fn: Callable[..., Any]  # fn(embeds, *forward_args)
    forward_args: tuple[Any, ...]
    target: Any  # the engine's target for fn's output
    names: list[str]  # per text, what is attributed
    fixed: torch.Tensor  # (n, L) positions that keep their real embedding (a continuation)
    shown: torch.Tensor  # (n, L) positions shown as the text's tokens
    check: Callable[[], tuple[torch.Tensor, torch.Tensor]]  # F via ids, F via embeddings


def _accepts(model: nn.Module, name: str) -> bool:
    try:
        return name in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def _classifier(model: nn.Module, batch: _Batch, target: TextTarget) -> _Prepared:
    n = batch.ids.shape[0]
    types = batch.extra.get("token_type_ids")
    if types is not None and not _accepts(model, "token_type_ids"):
        types = None

    def fn(e: torch.Tensor, mask: torch.Tensor, *tt: torch.Tensor) -> torch.Tensor:
        kw = {"token_type_ids": tt[0]} if tt else {}
        return _logits(model(inputs_embeds=e, attention_mask=mask, **kw))

    fargs: tuple[Any, ...] = (batch.mask,) + ((types,) if types is not None else ())
    emb = model.get_input_embeddings()  # type: ignore[operator]
    with torch.no_grad():
        logits = _from_embeddings(model, lambda: fn(emb(batch.ids), *fargs))
    if logits.dim() != 2:
        raise ValueError(
            f"model: a classifier must return (batch, classes) logits, got shape "
            f"{tuple(logits.shape)}; pass kind= for a language model"
        )
    classes = logits.shape[1]
    names = _label_names(model, classes)
    idx = _class_targets(target, n, classes, names, logits)

    def check() -> tuple[torch.Tensor, torch.Tensor]:
        kw = {"token_type_ids": types} if types is not None else {}
        via_ids = _logits(model(input_ids=batch.ids, attention_mask=batch.mask, **kw))
        return via_ids, logits

    return _Prepared(
        model, batch, fn, fargs, idx, [names[i] for i in idx],
        torch.zeros_like(batch.special), batch.mask.bool(), check,
    )  # fmt: skip


def _class_targets(
    target: TextTarget, n: int, classes: int, names: list[str], logits: torch.Tensor
) -> list[int]:
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


def _label_names(model: nn.Module, classes: int) -> list[str]:
    label2id = getattr(model, "label2id", None)
    if not label2id:
        label2id = getattr(getattr(model, "config", None), "label2id", None)
    names = [str(i) for i in range(classes)]
    for name, i in dict(label2id or {}).items():
        if 0 <= int(i) < classes:
            names[int(i)] = str(name)
    return names


def _sequence_targets(tokenizer: Any, target: TextTarget, n: int, *,
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


def _pad_id(tokenizer: Any) -> int:
    for name in ("pad_token_id", "eos_token_id", "unk_token_id"):
        v = getattr(tokenizer, name, None)
        if isinstance(v, int):
            return v
    return 0  # padding is masked out and its embedding never moves: any id works


def _log_probs(logits: torch.Tensor, pos: torch.Tensor, tgt: torch.Tensor,
               w: torch.Tensor) -> torch.Tensor:  # fmt: skip
    """Σ_j w_j log p(tgt_j) at positions pos_j, per row."""
    picked = logits.gather(1, pos[..., None].expand(-1, -1, logits.shape[-1]))
    logp = torch.log_softmax(picked, dim=-1).gather(2, tgt[..., None])[..., 0]
    return (logp * w).sum(1)


def _causal_lm(
    model: nn.Module, tokenizer: Any, batch: _Batch, target: TextTarget, emb: nn.Module
) -> _Prepared:
    n = batch.ids.shape[0]
    lengths = batch.mask.sum(1)
    if target is None:  # the most likely next token after each text
        with torch.no_grad():
            logits = _logits(model(input_ids=batch.ids, attention_mask=batch.mask))
        last = logits[torch.arange(n), lengths - 1]
        conts = [[int(t)] for t in last.argmax(-1).tolist()]
    else:
        conts = _sequence_targets(tokenizer, target, n, special=False)
    full, added = batch.appended(conts, _pad_id(tokenizer))
    width = max(len(c) for c in conts)
    pos = torch.zeros(n, width, dtype=torch.long, device=full.ids.device)
    tgt = torch.zeros_like(pos)
    w = torch.zeros(n, width, dtype=_emb_dtype(emb), device=full.ids.device)
    for i, c in enumerate(conts):
        k = int(lengths[i])
        # token j of the continuation sits at k + j and is predicted at k + j - 1
        pos[i, : len(c)] = torch.arange(k - 1, k - 1 + len(c))
        tgt[i, : len(c)] = torch.tensor(c)
        w[i, : len(c)] = 1

    def fn(e: torch.Tensor, mask: torch.Tensor, p: torch.Tensor, t: torch.Tensor,
           wt: torch.Tensor) -> torch.Tensor:  # fmt: skip
        return _log_probs(_logits(model(inputs_embeds=e, attention_mask=mask)), p, t, wt)

    def check() -> tuple[torch.Tensor, torch.Tensor]:
        via_ids = _log_probs(_logits(model(input_ids=full.ids, attention_mask=full.mask)),
                             pos, tgt, w)  # fmt: skip
        return via_ids, fn(emb(full.ids), full.mask, pos, tgt, w)

    names = [_decode(tokenizer, c) for c in conts]
    shown = full.mask.bool() & ~added
    return _Prepared(model, full, fn, (full.mask, pos, tgt, w), None, names, added, shown, check)


def _seq2seq(model: nn.Module, tokenizer: Any, batch: _Batch, target: TextTarget) -> _Prepared:
    n = batch.ids.shape[0]
    outs = _sequence_targets(tokenizer, target, n, special=True)
    config = getattr(model, "config", None)
    start = getattr(config, "decoder_start_token_id", None)
    if start is None:
        raise ValueError("model: config.decoder_start_token_id is not set, so the decoder's "
                         "first input is unknown")  # fmt: skip
    pad = _pad_id(tokenizer)
    width = max(len(o) for o in outs)
    dev = batch.ids.device
    dec = torch.full((n, width), pad, dtype=torch.long, device=dev)
    tgt = torch.zeros(n, width, dtype=torch.long, device=dev)
    w = torch.zeros(n, width, dtype=_emb_dtype(model.get_input_embeddings()), device=dev)  # type: ignore[operator]
    for i, o in enumerate(outs):
        # teacher forcing: the decoder reads the start token and the output shifted right
        dec[i, : len(o)] = torch.tensor([int(start)] + o[:-1])
        tgt[i, : len(o)] = torch.tensor(o)
        w[i, : len(o)] = 1

    def fn(e: torch.Tensor, mask: torch.Tensor, d: torch.Tensor, t: torch.Tensor,
           wt: torch.Tensor) -> torch.Tensor:  # fmt: skip
        out = model(inputs_embeds=e, attention_mask=mask, decoder_input_ids=d)
        pos = torch.arange(t.shape[1], device=t.device).expand(t.shape[0], -1)
        return _log_probs(_logits(out), pos, t, wt)

    def check() -> tuple[torch.Tensor, torch.Tensor]:
        out = model(input_ids=batch.ids, attention_mask=batch.mask, decoder_input_ids=dec)
        emb = model.get_input_embeddings()  # type: ignore[operator]
        pos = torch.arange(width, device=dev).expand(n, width)
        via_embeds = fn(emb(batch.ids), batch.mask, dec, tgt, w)
        return _log_probs(_logits(out), pos, tgt, w), via_embeds

    names = [_decode(tokenizer, o) for o in outs]
    return _Prepared(
        model, batch, fn, (batch.mask, dec, tgt, w), None, names,
        torch.zeros_like(batch.special), batch.mask.bool(), check,
    )  # fmt: skip


def _from_embeddings(model: nn.Module, call: Callable[[], Any]) -> Any:
    """``call()``, with a model that cannot run from ``inputs_embeds`` named in the error."""
    try:
        return call()
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"model: {type(model).__name__} could not run from input embeddings "
            f"(inputs_embeds=, attention_mask=): {e}; pathattr.text needs a model that takes "
            "inputs_embeds (pass kind= if the model kind was guessed wrong)"
        ) from e


def _position_layer(model: nn.Module) -> nn.Module:
    """The learned position-embedding layer (BERT-style or GPT-2's), else a clear error."""
    base = getattr(model, "base_model", model)
    if isinstance(model, SentenceClassifier):
        base = getattr(model.encoder, "base_model", model.encoder)
    found = getattr(getattr(base, "embeddings", None), "position_embeddings", None)
    found = found if found is not None else getattr(base, "wpe", None)
    if not isinstance(found, nn.Embedding):
        raise ValueError(
            f"positions: {type(model).__name__} has no learned position-embedding layer "
            "(BERT-style embeddings.position_embeddings or GPT-2's wpe); rotary or relative "
            "positions are not embeddings that a path could run through"
        )
    return found


def _with_positions(
    prepared: _Prepared, layer: nn.Module, embeds: torch.Tensor
) -> tuple[Callable[..., Any], torch.Tensor]:
    """fn(word, position, *args) with the position layer's output replaced (a forward hook),
    and the position embeddings at the inputs, one row per text."""
    seen: list[torch.Tensor] = []

    def keep(module: nn.Module, args: Any, output: torch.Tensor) -> None:
        seen.append(output.detach())

    handle = layer.register_forward_hook(keep)
    try:
        with torch.no_grad():
            prepared.fn(embeds, *prepared.forward_args)
    finally:
        handle.remove()
    if len(seen) != 1:
        raise ValueError(f"positions: the position-embedding layer ran {len(seen)} times in one "
                         "forward pass, not once")  # fmt: skip
    at_x = seen[0].expand(embeds.shape[0], -1, -1).contiguous()  # BERT gives (1, L, H)

    def fn(e: torch.Tensor, p: torch.Tensor, *args: Any) -> Any:
        h = layer.register_forward_hook(lambda module, a, out: p)
        try:
            return prepared.fn(e, *args)
        finally:
            h.remove()

    return fn, at_x


def _check_embeds_path(prepared: _Prepared) -> None:
    """F from token ids must equal F from their embeddings (else the path attributes another
    function: a model that scales or shifts embeddings outside ``get_input_embeddings()``)."""
    with torch.no_grad():
        via_ids, via_embeds = _from_embeddings(prepared.model, prepared.check)
    tol = 1e-4 * max(1.0, float(via_ids.abs().max()))
    gap = float((via_ids - via_embeds).abs().max())
    if not gap <= tol:
        raise ValueError(
            f"model: its output from token ids and from their word embeddings (inputs_embeds) "
            f"differ by {gap:.3g}; the embeddings of get_input_embeddings() are not what the "
            "model reads, so attributions there would explain another function"
        )


# --------------------------------------------------------------------------- small checks


def _check_texts(texts: Any) -> list[str]:
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


def _check_baselines(baselines: Any) -> str | int:
    if isinstance(baselines, str):
        if baselines not in BASELINES:
            raise ValueError(
                f"baselines: expected one of {', '.join(map(repr, BASELINES))} or a token id, "
                f"got {baselines!r}"
            )
        return baselines
    if isinstance(baselines, int) and not isinstance(baselines, bool):
        return int(baselines)
    raise TypeError(
        f"baselines: expected one of {', '.join(map(repr, BASELINES))} or a token id (int), "
        f"got {type(baselines).__name__}"
    )


def _baseline_token(tokenizer: Any, name: str | int, emb: nn.Module) -> int:
    found = name if isinstance(name, int) else getattr(tokenizer, f"{name}_token_id", None)
    if not isinstance(found, int):
        others = [b for b in BASELINES if b != name]
        raise ValueError(
            f"baselines: {name!r} needs the tokenizer's {name} token, and "
            f"{type(tokenizer).__name__} has none; pass one of {others} or a token id"
        )
    token = int(found)
    rows = _embedding_rows(emb)
    if token < 0 or (rows is not None and token >= rows):
        raise ValueError(
            f"baselines: token id {token} is out of range for an embedding of {rows} rows"
        )
    return token


def _kind(model: Any, kind: str) -> str:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a 🤗 model (an nn.Module), got {type(model).__name__}")
    if kind != "auto":
        if kind not in KINDS:
            raise ValueError(f"kind: expected 'auto' or one of {', '.join(KINDS)}, got {kind!r}")
        return kind
    config = getattr(model, "config", None)
    if getattr(config, "is_encoder_decoder", False):
        return "seq2seq"
    can_generate = getattr(model, "can_generate", None)
    if callable(can_generate) and can_generate():
        return "causal_lm"
    return "classifier"


def _embedding_layer(model: nn.Module) -> nn.Module:
    get = getattr(model, "get_input_embeddings", None)
    emb = get() if callable(get) else None
    if not isinstance(emb, nn.Module):
        raise TypeError(
            f"model: {type(model).__name__} has no get_input_embeddings() returning a module; "
            "pass a 🤗 model (or wrap an encoder in pathattr.text.SentenceClassifier)"
        )
    return emb


def _mean_row(emb: nn.Module) -> torch.Tensor:
    # through the module, not its weight: scaled embeddings (BART, Gemma) multiply inside it
    rows = _embedding_rows(emb)
    if rows is None:
        raise ValueError(f"baselines: 'mean' needs an embedding with num_embeddings, and "
                         f"{type(emb).__name__} has none")  # fmt: skip
    device = _param_device(emb)
    total: torch.Tensor | None = None
    with torch.no_grad():
        for start in range(0, rows, 4096):  # chunks: a large vocabulary x dim at once is GBs
            part = emb(torch.arange(start, min(rows, start + 4096), device=device)).sum(0)
            total = part if total is None else total + part
    assert total is not None
    return total / rows


def _embedding_rows(emb: nn.Module) -> int | None:
    rows = getattr(emb, "num_embeddings", None)
    return int(rows) if isinstance(rows, int) else None


def _param_device(module: nn.Module) -> torch.device:
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _emb_dtype(emb: nn.Module) -> torch.dtype:
    # the continuation weights multiply log-probabilities in the model's precision
    p = next(emb.parameters(), None)
    return p.dtype if p is not None and p.dtype.is_floating_point else torch.float32


def _logits(out: Any) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    logits = getattr(out, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise TypeError(f"model output: expected logits, got {type(out).__name__}")


def _decode(tokenizer: Any, ids: list[int]) -> str:
    try:
        return str(tokenizer.decode(ids))
    except Exception:  # a tokenizer without decode: show the ids
        return " ".join(map(str, ids))
