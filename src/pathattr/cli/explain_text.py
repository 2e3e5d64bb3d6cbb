"""``pathattr explain-text``: token attributions of a text model, printed and written as HTML."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

TERMINAL_RED = (214, 39, 40)
TERMINAL_BLUE = (31, 90, 180)
BAR = 24  # characters of the longest bar


def add_parser(sub: Any, positive_int_or_auto: Any, tol: Any) -> None:
    """Register the ``explain-text`` subcommand."""
    p = sub.add_parser(
        "explain-text",
        help="IG token attributions of a text model, printed and written as HTML "
        "(needs pathattr[text]; minilm-sentiment needs pathattr[text-demo])",
        description="Attribute a text model's target to each input token with Integrated "
        "Gradients at the word embeddings; print every token's score and write the texts "
        "with coloured tokens to --out. Red tokens raise the target, blue tokens lower it.",
    )
    p.add_argument("texts", nargs="+", metavar="TEXT", help="texts to explain ('-': stdin, "
                   "one text per line)")  # fmt: skip
    p.add_argument("--model", required=True,
                   help="minilm-sentiment, smollm2, a local 🤗 model folder, or module:function "
                   "returning (model, tokenizer)")  # fmt: skip
    p.add_argument("--target", default=None,
                   help="a classifier's label name or index (default: the predicted "
                   "class); a language model's continuation text (default: the likeliest next "
                   "token)")  # fmt: skip
    p.add_argument("--baseline", default="pad",
                   help="pad (default), zero, mean, mask, unk, or a token id")  # fmt: skip
    p.add_argument("--steps", type=positive_int_or_auto, default="auto",
                   help="IG steps per text, or 'auto' (default): refine until the error "
                   "estimate is under --tol")  # fmt: skip
    p.add_argument("--tol", type=tol, default=0.05,
                   help="relative error target for --steps auto (default 0.05)")  # fmt: skip
    p.add_argument("--batch-size", type=positive_int_or_auto, default="auto",
                   help="rows per model call, or 'auto' (default: fits memory)")  # fmt: skip
    p.add_argument("--max-length", type=int, default=None,
                   help="truncate each text to this many tokens")  # fmt: skip
    p.add_argument("--out", default="explain_text.html",
                   help="HTML file to write (default: explain_text.html)")  # fmt: skip
    p.add_argument("--top", type=int, default=0,
                   help="print only the K tokens of largest |score| per text "
                   "(default: all)")  # fmt: skip
    p.add_argument("--color", choices=["auto", "always", "never"], default="auto",
                   help="colour tokens in the terminal (default: when it is "
                   "a terminal)")  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _target(text: str | None) -> Any:
    if text is None:
        return None
    return int(text) if text.lstrip("-").isdigit() else text


def _paint(word: str, score: float, scale: float) -> str:
    """``word`` on an ANSI 24-bit background, as strong as its score (the HTML's colours)."""
    from pathattr.viz.text import colour

    r, g, b = colour(score, scale)
    fg = 255 if abs(score) > 0.6 * scale else 0
    return f"\x1b[48;2;{r};{g};{b}m\x1b[38;2;{fg};{fg};{fg}m{word}\x1b[0m"


def format_text(res: Any, i: int, *, scale: float, top: int = 0, color: bool = False) -> str:
    """One text's block: its header line, then one line per token (score and a bar)."""
    t = res.attribution
    rel = float(res.relative_delta[i])
    head = (
        f"[{i + 1}] target {res.targets[i]!r}: F(x) = {float(t.output[i]):+.4f}, "
        f"F(x') = {float(t.baseline_output[i]):+.4f}, sum of scores = "
        f"{float(res.scores[i].sum()):+.4f}, completeness residual {float(t.delta[i]):+.2e} "
        f"({'n/a' if math.isnan(rel) else f'{rel:.1%}'} relative), "
        f"{int(t.evaluations[i])} gradient evaluations"
    )
    scores = [float(s) for s in res.scores[i]]
    order = list(range(len(scores)))
    if top > 0:
        order = sorted(order, key=lambda k: -abs(scores[k]))[:top]
    width = max((len(res.tokens[i][k]) for k in order), default=5)
    lines = [head]
    for k in order:
        s, tok = scores[k], res.tokens[i][k]
        n = 0 if not scale > 0 else min(BAR, round(abs(s) / scale * BAR))
        bar = ("+" if s > 0 else "-") * n
        shown = _paint(tok.ljust(width), s, scale) if color else tok.ljust(width)
        lines.append(f"  {shown}  {s:+.4f}  {bar}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run ``explain-text`` from parsed arguments; returns the exit status."""
    texts = [line.strip() for line in sys.stdin if line.strip()] if args.texts == ["-"] \
        else list(args.texts)  # fmt: skip
    if not texts or any(not t.strip() for t in texts):
        print("pathattr explain-text: TEXT: expected non-empty texts", file=sys.stderr)
        return 2
    baseline: str | int = int(args.baseline) if args.baseline.isdigit() else args.baseline
    try:
        from transformers.utils import logging as hf_logging

        from pathattr import text
        from pathattr.text.builtin import load_text_model

        hf_logging.disable_progress_bar()  # the weight-loading bar is noise next to ours

        loaded = load_text_model(args.model)
        print(f"model: {loaded.description}")
        res = text.integrated_gradients(
            loaded.model, texts, tokenizer=loaded.tokenizer, target=_target(args.target),
            baselines=baseline, steps=args.steps,
            tol=args.tol if args.steps == "auto" else None, batch_size=args.batch_size,
            max_length=args.max_length, progress=not args.no_progress,
        )  # fmt: skip
    except ImportError as e:
        print(f"pathattr explain-text: {e}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, KeyError) as e:
        print(f"pathattr explain-text: {e}", file=sys.stderr)
        return 2
    scale = max((float(s.abs().max()) for s in res.scores if s.numel()), default=0.0)
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    for i in range(len(texts)):
        print(format_text(res, i, scale=scale, top=args.top, color=color))
    out = Path(args.out)
    try:
        res.save_html(out, title=f"pathattr explain-text · {args.model}")
    except OSError as e:
        print(f"pathattr explain-text: --out: cannot write {str(out)!r} ({e})", file=sys.stderr)
        return 1
    print(f"wrote {out} (colours saturate at |score| = {scale:.4g})")
    return 0
