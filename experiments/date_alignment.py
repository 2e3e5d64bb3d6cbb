"""IG recovers a known source-target alignment (the IG paper's NMT figure, with ground truth).

A small encoder-decoder transformer learns to rewrite dates, "12 March 2021" -> "2021-03-12",
character by character.  Every output character comes from known source characters: the year
digits from the year, the day digits from the day, the month digits from the month's name.  For
each output character y_t, Integrated Gradients of log p(y_t | y_<t, x) at the source embedding
layer (baseline: the padding character at every source position) gives one score per source
character; the alignment is correct when the top-scoring source character is one of the true
sources.  Gradient x input at the same layer is the comparison.  The hyphens have no source and
are not scored.

Run:  OMP_NUM_THREADS=1 python experiments/date_alignment.py
Writes experiments/results/date_alignment.md (and a heat map of one example under docs/img/).
"""

from __future__ import annotations

import argparse
import calendar
import random
import time
from pathlib import Path

import torch
from torch import nn

import pathattr

ROOT = Path(__file__).resolve().parents[1]
MONTHS = list(calendar.month_name)[1:]
CHARS = sorted(set("0123456789- " + "".join(MONTHS)))
PAD, BOS = 0, 1
VOCAB = {c: i + 2 for i, c in enumerate(CHARS)}
SRC_LEN, TGT_LEN = 20, 10  # "30 September 2021" is 17 characters; "2021-09-30" is 10


def example(rng: random.Random) -> tuple[str, str, list[set[int]]]:
    """A date in both formats and, per output character, the source positions it comes from."""
    year, month = rng.randint(1900, 2099), rng.randint(1, 12)
    day = rng.randint(1, calendar.monthrange(year, month)[1])
    src = f"{day} {MONTHS[month - 1]} {year}"
    tgt = f"{year:04d}-{month:02d}-{day:02d}"
    d = len(str(day))
    m0, m1 = d + 1, d + 1 + len(MONTHS[month - 1])
    y0 = m1 + 1
    day_src = set(range(d))
    sources: list[set[int]] = [{y0 + i} for i in range(4)] + [set()]
    sources += [set(range(m0, m1))] * 2 + [set()]
    # a one-digit day's leading zero comes from the day too
    sources += [day_src, day_src] if d == 1 else [{0}, {1}]
    return src, tgt, sources


def encode(text: str, length: int) -> list[int]:
    ids = [VOCAB[c] for c in text]
    return ids + [PAD] * (length - len(ids))


class DateModel(nn.Module):
    """A small encoder-decoder transformer over characters."""

    def __init__(self, d: int = 64) -> None:
        super().__init__()
        n = len(VOCAB) + 2
        self.src_emb = nn.Embedding(n, d)
        self.tgt_emb = nn.Embedding(n, d)
        self.src_pos = nn.Parameter(torch.randn(SRC_LEN, d) * 0.02)
        self.tgt_pos = nn.Parameter(torch.randn(TGT_LEN, d) * 0.02)
        self.core = nn.Transformer(d, 4, 2, 2, 128, dropout=0.0, batch_first=True)
        # padding stays a dense mask (the nested-tensor fast path drops fully masked rows)
        self.core.encoder.enable_nested_tensor = self.core.encoder.use_nested_tensor = False
        self.out = nn.Linear(d, n)

    def forward(
        self, src: torch.Tensor, dec_in: torch.Tensor, pad: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits (batch, TGT_LEN, vocab), teacher-forced on ``dec_in``.

        ``pad``: the source padding mask; by default read from ``src``.  Attribution passes the
        real one, so that the baseline (padding characters everywhere) keeps the same length.
        """
        pad = src == PAD if pad is None else pad
        s = self.src_emb(src) + self.src_pos
        t = self.tgt_emb(dec_in) + self.tgt_pos
        causal = nn.Transformer.generate_square_subsequent_mask(TGT_LEN)
        h = self.core(s, t, tgt_mask=causal, src_key_padding_mask=pad,
                      memory_key_padding_mask=pad)  # fmt: skip
        return self.out(h)


def batch(rng: random.Random, n: int) -> tuple[torch.Tensor, torch.Tensor, list[list[set[int]]]]:
    items = [example(rng) for _ in range(n)]
    src = torch.tensor([encode(s, SRC_LEN) for s, _, _ in items])
    tgt = torch.tensor([encode(t, TGT_LEN) for _, t, _ in items])
    return src, tgt, [a for _, _, a in items]


def decoder_input(tgt: torch.Tensor) -> torch.Tensor:
    return torch.cat([torch.full((tgt.shape[0], 1), BOS), tgt[:, :-1]], 1)


def train(model: DateModel, seconds: float, seed: int) -> float:
    rng = random.Random(seed)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    start = time.perf_counter()
    steps = 0
    while time.perf_counter() - start < seconds:
        src, tgt, _ = batch(rng, 128)
        logits = model(src, decoder_input(tgt))
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    return float(loss)


def per_token_scores(
    model: DateModel, src: torch.Tensor, tgt: torch.Tensor, method: str, steps: int | str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, TGT_LEN, SRC_LEN) scores and the relative completeness residuals (IG only)."""
    dec = decoder_input(tgt)
    rows = []
    residuals = []

    def log_probs(s: torch.Tensor, d: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(model(s, d, pad), -1)

    for t in range(TGT_LEN):
        target = tgt[:, t]
        if method == "ig":
            # one multi-index per example: (output position t, the true character there)
            res = pathattr.layer_integrated_gradients(
                log_probs, model.src_emb, src, baselines=torch.full_like(src, PAD),
                target=[(t, int(c)) for c in target], forward_args=(dec, src == PAD),
                steps=steps,
                warn_tol=None,
            )  # fmt: skip
            residuals.append(res.relative_delta)
            rows.append(res.attributions.sum(-1))
        else:  # gradient x input at the source embeddings
            emb = model.src_emb(src).detach().requires_grad_(True)
            s = emb + model.src_pos
            tt = model.tgt_emb(dec) + model.tgt_pos
            causal = nn.Transformer.generate_square_subsequent_mask(TGT_LEN)
            pad = src == PAD
            h = model.core(s, tt, tgt_mask=causal, src_key_padding_mask=pad,
                           memory_key_padding_mask=pad)  # fmt: skip
            lp = torch.log_softmax(model.out(h)[:, t], -1).gather(1, target[:, None])[:, 0]
            (g,) = torch.autograd.grad(lp.sum(), emb)
            rows.append((g * emb).sum(-1).detach())
    rel = torch.stack(residuals, 1) if residuals else torch.full((1,), float("nan"))
    return torch.stack(rows, 1), rel


#: output positions of each part of "YYYY-MM-DD"
PARTS = {"year": range(0, 4), "month": range(5, 7), "day": range(8, 10)}


def accuracy(
    scores: torch.Tensor, src: torch.Tensor, aligns: list[list[set[int]]]
) -> dict[str, float]:
    """Share of output characters whose top source character is a true source, per part."""
    masked = scores.masked_fill((src == PAD)[:, None, :], float("-inf"))
    top = masked.argmax(-1)
    out = {}
    for part, positions in {"all": range(TGT_LEN), **PARTS}.items():
        hits = total = 0
        for e, align in enumerate(aligns):
            for t in positions:
                if align[t]:
                    total += 1
                    hits += int(int(top[e, t]) in align[t])
        out[part] = hits / total
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-seconds", type=float, default=90)
    ap.add_argument("--examples", type=int, default=200)
    ap.add_argument("--steps", default="64", help="an int, or 'auto'")
    ap.add_argument("--out", default=str(ROOT / "experiments/results/date_alignment.md"))
    args = ap.parse_args()
    args.steps = args.steps if args.steps == "auto" else int(args.steps)
    torch.manual_seed(0)
    model = DateModel()
    loss = train(model, args.train_seconds, seed=1)
    model.eval()
    src, tgt, aligns = batch(random.Random(12345), args.examples)
    with torch.no_grad():
        pred = model(src, decoder_input(tgt)).argmax(-1)
    exact = float((pred == tgt).all(1).float().mean())
    rows = []
    for method in ("ig", "gradient_x_input"):
        t0 = time.perf_counter()
        scores, rel = per_token_scores(model, src, tgt, method, args.steps)
        sec = time.perf_counter() - t0
        acc = accuracy(scores, src, aligns)
        res = "n/a" if method != "ig" else (
            f"{float(rel.nanmedian()):.1e} / {float(rel.nan_to_num(0).max()):.1e}"
        )  # fmt: skip
        rows.append(
            f"| {method} | {acc['all']:.1%} | {acc['year']:.1%} | {acc['month']:.1%} | "
            f"{acc['day']:.1%} | {sec:.1f} | {res} |"
        )
    text = (
        "# Date rewriting: does IG recover the true source-target alignment?\n\n"
        f"Script: `experiments/date_alignment.py` ({time.strftime('%Y-%m-%d')}, one core). A "
        "character-level encoder-decoder transformer (2+2 layers, d=64) trained for "
        f'{args.train_seconds:.0f} s (final loss {loss:.3f}) to rewrite "12 March 2021" as '
        f'"2021-03-12"; {args.examples} held-out dates, teacher-forced output correct for '
        f"{exact:.0%} of them. For every output character except the hyphens (which have no "
        "source), the alignment is correct when the source character with the largest score is "
        "one of its true sources (year digits from the year, day digits from the day, month "
        "digits from any character of the month's name). IG: layer IG at the source embeddings, "
        f"steps={args.steps} (Gauss-Legendre), baseline the padding character; its relative "
        "completeness residuals (median / max over output characters) are reported. Gradient x "
        "input at the same embeddings.\n\n"
        "| method | alignment accuracy | year | month | day | time (s) | relative delta |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows) + "\n"
    )
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
