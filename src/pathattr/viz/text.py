"""Pictures of token attributions: coloured text (HTML) and a source × target heat map (PNG).

Colours follow the diverging convention of the IG authors' text figures and Captum's
``visualize_text``, with red and blue: **red** tokens raise the target's score, **blue** tokens
lower it, and tokens near 0 stay **grey**.  The scale is symmetric (+s and −s get equally strong
colours) and linear up to s, where the colour saturates; the page states s.

The HTML uses inline styles only (no scripts, no external files), so it renders the same in a
notebook (``TextAttribution._repr_html_``), in a saved file and in a screenshot.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pathattr.text import TextAttribution

#: the colour of a score of 0, +scale and −scale (RGB 0-255)
GREY = (236, 236, 236)
RED = (214, 39, 40)
BLUE = (31, 90, 180)


def colour(score: float, scale: float) -> tuple[int, int, int]:
    """The RGB background of a token with ``score`` when colours saturate at ±``scale``."""
    if not scale > 0 or not math.isfinite(score):
        return GREY
    t = max(-1.0, min(1.0, score / scale))
    end = RED if t > 0 else BLUE
    return tuple(round(g + abs(t) * (e - g)) for g, e in zip(GREY, end))  # type: ignore[return-value]


def tokens_html(words: Sequence[str], scores: Sequence[float] | np.ndarray, scale: float) -> str:
    """One text as ``<span>`` tokens coloured by score; hovering shows the score."""
    parts: list[str] = []
    for word, s in zip(words, scores):
        if not word:
            continue
        lead = len(word) - len(word.lstrip(" "))
        r, g, b = colour(float(s), scale)
        # white text on a strong colour, dark text elsewhere (contrast)
        fg = "#fff" if abs(float(s)) > 0.6 * scale > 0 else "#111"
        body = html.escape(word[lead:])
        # a piece inside a word (no space before it) sits flush against the previous one
        space = " " if lead else ""
        margin = "0 1px 0 0" if parts and not lead else "0 1px"
        parts.append(
            f'{space}<span class="tok" title="{float(s):+.4g}" data-score="{float(s):.6g}" '
            f'style="background-color:rgb({r},{g},{b});color:{fg};padding:1px 2px;'
            f'margin:{margin};border-radius:3px">{body}</span>'
        )
    return "".join(parts)


def legend_html(scale: float, how: str) -> str:
    """The colour scale: a blue-grey-red bar from −s to +s, stated in words."""
    stops = ", ".join(
        "rgb({},{},{})".format(*colour(v * scale, scale)) for v in (-1.0, -0.5, 0.0, 0.5, 1.0)
    )
    return (
        '<div class="legend" style="margin:6px 0 10px 0;font-size:13px">'
        f"<span>−{scale:.3g}</span>"
        f'<span style="display:inline-block;width:180px;height:12px;margin:0 6px;'
        f'vertical-align:middle;background:linear-gradient(to right, {stops})"></span>'
        f"<span>+{scale:.3g}</span> &nbsp;red raises the target's score, blue lowers it, grey ≈ 0; "
        f"symmetric linear scale saturating at ±{scale:.3g} ({html.escape(how)})</div>"
    )


_SCALE_ERROR = "scale: expected 'shared', 'per_text' or a positive number, got {!r}"


def _scale(scores: list[np.ndarray], scale: float | str) -> tuple[list[float], str]:
    peaks = [float(np.abs(s).max()) if s.size else 0.0 for s in scores]
    if isinstance(scale, str):
        if scale == "shared":
            top = max(peaks, default=0.0)
            return [top] * len(scores), "the largest |score| over these texts"
        if scale == "per_text":
            return peaks, "each text's largest |score|"
        raise ValueError(
            f"scale: expected 'shared', 'per_text' or a positive number, got {scale!r}"
        )
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
        raise ValueError(
            f"scale: expected 'shared', 'per_text' or a positive number, got {scale!r}"
        )
    return [float(scale)] * len(scores), "fixed"


def texts_html(result: TextAttribution, *, scale: float | str = "shared",
               title: str | None = None) -> str:  # fmt: skip
    """An HTML fragment: per text, the target, F(x), F(x′), the residual and coloured tokens."""
    scores = [s.detach().cpu().double().numpy() for s in result.scores]
    scales, how = _scale(scores, scale)
    out = ['<div class="pathattr-text" style="font-family:sans-serif;line-height:1.9">']
    if title:
        out.append(f"<h3>{html.escape(title)}</h3>")
    if scale != "per_text":
        out.append(legend_html(scales[0] if scales else 0.0, how))
    a = result.attribution
    for i, text_scores in enumerate(scores):
        f, f0 = float(a.output[i]), float(a.baseline_output[i])
        total = float(text_scores.sum())
        out.append(
            '<div class="text" style="margin:8px 0;padding:6px;border-top:1px solid #ddd">'
            f'<div class="meta" style="font-size:12px;color:#444">target '
            f"<b>{html.escape(result.targets[i])}</b> · F(x) = {f:.4g} · F(x′) = {f0:.4g} · "
            f"Σ scores = {total:.4g} · residual {float(a.delta[i]):+.2g} · baseline "
            f"{html.escape(str(result.baseline))}</div>"
        )
        if scale == "per_text":
            out.append(legend_html(scales[i], how))
        out.append(f'<div class="tokens">{tokens_html(result.words[i], text_scores, scales[i])}'
                   "</div></div>")  # fmt: skip
    out.append("</div>")
    return "".join(out)


def page(fragment: str, title: str = "pathattr: token attributions") -> str:
    """A standalone UTF-8 HTML page around a fragment."""
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>"
        f'<body style="margin:16px;max-width:900px">{fragment}</body></html>\n'
    )


def save_sequence_heatmap(
    matrix: Any,
    source_tokens: Sequence[str],
    target_tokens: Sequence[str],
    path: str | Path,
    *,
    title: str | None = None,
    scale: float | None = None,
) -> Path:
    """A source × target heat map PNG: row j = output token j, column i = input token i.

    Args:
        matrix: ``(targets, sources)`` attributions (a tensor or array), e.g. one row per
            output token of a sequence model, each row the scores of the input tokens.
        source_tokens, target_tokens: the axis labels.
        path: the PNG to write.
        title: a title above the map.
        scale: the |value| at which colours saturate (default: the largest |value|); the
            colour scale is symmetric (red +, blue −, white 0) and shown in the colour bar.
    """
    m = np.asarray(matrix.detach().cpu() if hasattr(matrix, "detach") else matrix, dtype=float)
    if m.ndim != 2 or m.shape != (len(target_tokens), len(source_tokens)):
        raise ValueError(
            f"matrix: expected shape (targets, sources) = ({len(target_tokens)}, "
            f"{len(source_tokens)}), got {m.shape}"
        )
    top = float(np.abs(m).max()) if m.size else 0.0
    s = float(scale) if scale is not None else (top if top > 0 else 1.0)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = max(4.0, 0.45 * len(source_tokens) + 2.0)
    h = max(2.5, 0.4 * len(target_tokens) + 1.6)
    fig, ax = plt.subplots(figsize=(w, h))
    try:
        im = ax.imshow(m, cmap="RdBu_r", vmin=-s, vmax=s, aspect="auto")
        ax.set_xticks(range(len(source_tokens)), list(source_tokens), rotation=60, ha="right")
        ax.set_yticks(range(len(target_tokens)), list(target_tokens))
        ax.set_xlabel("input tokens")
        ax.set_ylabel("output tokens")
        fig.colorbar(im, ax=ax, label=f"attribution (symmetric, saturates at ±{s:.3g})")
        if title:
            ax.set_title(title)
        fig.tight_layout()
        out = Path(path)
        fig.savefig(out, dpi=110)
    finally:
        plt.close(fig)
    return out
