"""The example sections of :func:`pathattr.report`: images, features, texts, the HTML hook.

Each renderer returns a :class:`Section`: an HTML body and the completeness rows of its
examples (gathered into one table by :mod:`pathattr.viz.report`).  Images follow the IG authors'
conventions (:mod:`pathattr.viz.image`): the channel sum, mass-percentile clipping, positive
mass in green and negative in red, drawn on the input made grey and dimmed, and the outlines of
the regions holding most positive mass after a morphological clean-up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pathattr.viz.image import heatmap
from pathattr.viz.report_page import Row, esc, num, percent, png_uri

#: the map: both signs, the top 1% of the mass saturates (the IG authors' examples)
MAP: dict[str, Any] = dict(polarity="both", clip_above_percentile=99.0, clip_below_percentile=0.0)
#: the outlines: positive mass, the weakest 70% hidden, regions holding 90% of what is left
OUTLINES: dict[str, Any] = dict(
    polarity="positive",
    clip_above_percentile=99.0,
    clip_below_percentile=70.0,
    outlines=True,
    outlines_component_percentage=90.0,
)
#: images are enlarged (repeating pixels) to at least this many pixels on their long side
MIN_SIDE = 150
IMAGE_LEGEND = (
    '<div class="legend"><span class="sw" style="background:#0c0"></span>raises the output'
    '<span class="sw" style="background:#e00"></span>lowers it · the channel sum, linear up to '
    "the level where the top 1% of the mass begins, drawn on the input made grey and dimmed "
    "(0.7 · grey + 0.5 · heat) · outlines: the regions holding 90% of the strongest 30% of the "
    "positive mass, after a 3 × 3 grey closing and opening</div>"
)


@dataclass
class Section:
    """One part of the report: an anchor, a title, an HTML body and its examples' rows."""

    anchor: str
    title: str
    body: str
    rows: list[Row] = field(default_factory=list)
    note: str = ""

    def html(self) -> str:
        """The ``<section>`` element."""
        note = f'<p class="note">{self.note}</p>' if self.note else ""
        head = f'<section id="{esc(self.anchor)}"><h2>{esc(self.title)}</h2>{note}'
        return f"{head}{self.body}</section>"


def is_image(shape: Sequence[int]) -> bool:
    """Whether one example's attribution shape is an image: (C, H, W) or (H, W, C), C ∈ 1, 3, 4."""
    if len(shape) != 3:
        return False
    c_first = shape[0] in (1, 3, 4) and min(shape[1], shape[2]) >= 4
    c_last = shape[2] in (1, 3) and min(shape[0], shape[1]) >= 4
    return c_first or c_last


def display_image(x: np.ndarray) -> np.ndarray:
    """An input image as ``(H, W, 3)`` in [0, 1]: channels last, grey repeated, alpha dropped.

    Values already in [0, 1] are kept, 0..255 images divided by 255, anything else (normalised
    inputs, 0..16 digits) min-max scaled: the picture is for looking at, not for measuring.
    """
    a = np.asarray(x, dtype=np.float64)
    if a.shape[0] in (1, 3, 4) and a.shape[2] not in (1, 3, 4):
        a = np.transpose(a, (1, 2, 0))
    a = a[:, :, :3]
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    lo, hi = float(a.min()), float(a.max())
    if lo >= 0.0 and hi <= 1.0:
        return a
    if lo >= 0.0 and hi <= 255.0 and hi > 16.0:
        return a / 255.0
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def _img(uri: str, caption: str, small: bool, alt: str) -> str:
    cls = ' class="px"' if small else ""
    return (
        f'<figure><img{cls} src="{uri}" alt="{esc(alt)}"><figcaption>{esc(caption)}'
        "</figcaption></figure>"
    )


def _channels_last(a: np.ndarray) -> np.ndarray:
    return (
        np.transpose(a, (1, 2, 0)) if a.shape[0] in (1, 3, 4) and a.shape[2] not in (1, 3, 4) else a
    )


def image_panels(attr: np.ndarray, photo: np.ndarray | None, label: str) -> str:
    """Input | attribution map | outlines of the top regions, as inline PNGs.

    Images under :data:`MIN_SIDE` pixels (8 × 8 digits) are enlarged first by repeating pixels,
    so that the 3 × 3 clean-up and the outlines work on blocks rather than erase whole strokes;
    repeating every value k² times leaves the mass percentiles unchanged.
    """
    a = _channels_last(np.asarray(attr, dtype=np.float64))
    shown = display_image(photo) if photo is not None else None
    h, w = a.shape[:2]
    k = -(-MIN_SIDE // max(h, w))
    if k > 1:
        a = a.repeat(k, axis=0).repeat(k, axis=1)
        if shown is not None and shown.shape[:2] == (h, w):
            shown = shown.repeat(k, axis=0).repeat(k, axis=1)
        h, w = h * k, w * k
    small = k > 1
    panels = []
    if shown is not None and shown.shape[:2] != (h, w):
        # a photo of another size is not what the model saw (resized, cropped): shown beside
        # the maps, which are drawn on black rather than over a misaligned picture
        panels.append(_img(png_uri(shown), "photo (other size)", small, f"{label} photo"))
        shown = None
    elif shown is not None:
        panels.append(_img(png_uri(shown), "input", small, f"{label} input"))
    panels.append(
        _img(
            png_uri(heatmap(a, shown, overlay=shown is not None, **MAP)),
            "attribution",
            small,
            f"{label} attribution",
        )  # fmt: skip
    )
    panels.append(
        _img(
            png_uri(heatmap(a, shown, overlay=shown is not None, **OUTLINES)),
            "top regions",
            small,
            f"{label} outlines",
        )  # fmt: skip
    )
    return f'<div class="panels">{"".join(panels)}</div>'


def feature_bars(attr: np.ndarray, top: int = 8) -> str:
    """The ``top`` features by |attribution| as signed bars (green +, red −)."""
    a = np.asarray(attr, dtype=np.float64).reshape(-1)
    order = np.argsort(-np.abs(a), kind="stable")[:top]
    peak = float(np.abs(a[order]).max()) if order.size else 0.0
    rows = []
    for i in order:
        v = float(a[i])
        width = 0 if peak <= 0 else max(1, round(90 * abs(v) / peak))
        colour = "#1e9e3e" if v >= 0 else "#d0312d"
        idx = np.unravel_index(int(i), np.shape(attr)) if np.ndim(attr) > 1 else (int(i),)
        rows.append(
            f'<tr><td class="text">feature {esc(",".join(str(int(j)) for j in idx))}</td>'
            f'<td><span class="bar" style="width:{width}px;background:{colour}"></span></td>'
            f"<td>{v:+.3g}</td></tr>"
        )
    return f'<table class="features">{"".join(rows)}</table>'


def interaction_matrix(attr: np.ndarray, cell: int = 14) -> str:
    """A ``(features, features)`` interaction matrix as a picture: red +, blue −, grey 0, on a
    symmetric scale saturating at the largest |value| (stated in the caption)."""
    from pathattr.viz.text import colour

    m = np.asarray(attr, dtype=np.float64)
    scale = float(np.abs(m).max()) if m.size else 0.0
    rgb = np.array([[colour(float(v), scale) for v in row] for row in m]) / 255.0
    big = np.repeat(np.repeat(rgb, cell, axis=0), cell, axis=1)
    caption = (f"Γ[i, j], {m.shape[0]} features (row i, column j; the diagonal holds the main "
               f"effects); red +, blue −, saturates at ±{scale:.3g}")  # fmt: skip
    return _img(png_uri(big), caption, True, "interaction matrix")


def example_card(anchor: str, meta: str, content: str) -> str:
    """One example: its figures line and its pictures."""
    return f'<div class="example" id="{esc(anchor)}"><div class="meta">{meta}</div>{content}</div>'


def meta_line(row: Row) -> str:
    """``#id · target · F(x) · F(x′) · relative error`` for an example card."""
    parts = [f"<b>{esc(row.example)}</b>"]
    if row.target:
        parts.append(f"target {esc(row.target)}")
    parts += [
        f"F(x) {num(row.f_x)}",
        f"F(x′) {num(row.f_baseline)}",
        f"rel. error {percent(row.relative_delta)}",
    ]
    return " · ".join(parts)


def rows_of(result: Any, section: str, ids: Sequence[str], anchors: Sequence[str | None],
            targets: Sequence[str] | None = None) -> list[Row]:  # fmt: skip
    """Completeness rows of an Attribution-like object (output, baseline_output, delta, ...)."""
    cols = [
        np.asarray(getattr(result, name).detach().cpu().double()).reshape(-1)
        for name in ("output", "baseline_output", "delta", "relative_delta", "evaluations")
    ]
    return [
        Row(section, ids[i], float(cols[0][i]), float(cols[1][i]), float(cols[2][i]),
            float(cols[3][i]), float(cols[4][i]), targets[i] if targets else "", anchors[i])
        for i in range(len(ids))
    ]  # fmt: skip


def examples_body(rows: list[Row], attrs: Sequence[np.ndarray], photos: Sequence[Any],
                  interactions: bool = False) -> str:  # fmt: skip
    """Cards for the examples that have attributions (``attrs[i]`` is one example's maps);
    ``interactions``: each is a square ``(features, features)`` interaction matrix."""
    cards, images = [], False
    for row, attr, photo in zip(rows, attrs, photos):
        if interactions and attr.ndim == 2 and attr.shape[0] == attr.shape[1]:
            content = interaction_matrix(attr)
        elif is_image(attr.shape):
            images = True
            content = image_panels(attr, photo, row.example)
        else:
            content = feature_bars(attr)
        cards.append(example_card(row.anchor or "", meta_line(row), content))
    legend = IMAGE_LEGEND if images else ""
    return legend + f'<div class="grid">{"".join(cards)}</div>'


def attribution_section(title: str, anchor: str, result: Any, inputs: Any,
                        max_examples: int) -> Section:  # fmt: skip
    """An :class:`~pathattr.result.Attribution`: examples (images, features) and their rows."""
    attrs = result.attributions
    n = int(result.output.shape[0])
    shown = min(n, max_examples)
    ids = [str(i) for i in range(n)]
    anchors = [f"{anchor}-{i}" if i < shown else None for i in range(n)]
    rows = rows_of(result, title, ids, anchors)
    note = f"{esc(result.method)} · {n} examples"
    if isinstance(attrs, list):  # layer attribution: one entry per layer, no input picture
        return Section(anchor, title, "", rows, note + " · layer attributions are not drawn")
    first = attrs if not isinstance(attrs, tuple) else attrs[0]
    if isinstance(attrs, tuple) and len(attrs) > 1:
        note += f" · the first of {len(attrs)} inputs is drawn"
    x = inputs[0] if isinstance(inputs, (tuple, list)) else inputs
    if x is not None and tuple(x.shape) != tuple(first.shape):
        raise ValueError(
            f"inputs: expected the shape of the attributions {tuple(first.shape)}, got "
            f"{tuple(x.shape)}"
        )
    a = first.detach().cpu().double().numpy()
    photos = [None] * shown if x is None else list(x.detach().cpu().double().numpy()[:shown])
    if shown < n:
        note += f" · the first {shown} are drawn (max_examples)"
    pairs = "hessians" in str(result.method) and x is None  # Integrated / Expected Hessians
    body = examples_body(rows[:shown], list(a[:shown]), photos, interactions=pairs)
    return Section(anchor, title, body, rows, note)


def text_section(title: str, anchor: str, result: Any) -> Section:
    """A :class:`~pathattr.text.TextAttribution`: coloured tokens, one row per text."""
    ids = [t if len(t) <= 40 else t[:39] + "…" for t in result.texts]
    rows = rows_of(result.attribution, title, ids, [anchor] * len(ids), list(result.targets))
    note = f"{esc(result.kind)} · baseline {esc(result.baseline)} · {len(ids)} texts"
    return Section(anchor, title, f'<div class="fragment">{result.to_html()}</div>', rows, note)


def fragment_section(title: str, anchor: str, obj: Any) -> Section:
    """Any object with ``to_report_html()`` (molecules, ...); rows when it carries the figures.

    The completeness rows come from its ``attribution`` (an Attribution-like object with
    per-example tensors), or from scalar ``output``, ``baseline_output`` and ``delta`` of a
    single result (evaluations then unknown).  Row names: its ``ids``, else the ``smiles`` of
    its items, else their positions.
    """
    body = f'<div class="fragment">{obj.to_report_html()}</div>'
    source = getattr(obj, "attribution", obj)
    rows: list[Row] = []
    if all(hasattr(source, k) for k in _FIGURES) and hasattr(source.output, "shape"):
        n = int(source.output.reshape(-1).shape[0])
        ids = _names(obj, n)
        rows = rows_of(source, title, ids, [anchor] * n)
    elif all(isinstance(getattr(obj, k, None), (int, float)) for k in _FIGURES[:3]):
        f, f0, d = (float(getattr(obj, k)) for k in _FIGURES[:3])
        gap = abs(f - f0)
        rel = abs(d) / gap if gap > 0 else math.nan
        name = str(getattr(obj, "smiles", getattr(obj, "id", "0")))
        rows = [Row(title, name, f, f0, d, rel, math.nan, "", anchor)]
    return Section(anchor, title, body, rows, esc(type(obj).__name__))


_FIGURES = ("output", "baseline_output", "delta", "relative_delta", "evaluations")


def _names(obj: Any, n: int) -> list[str]:
    ids = getattr(obj, "ids", None)
    if ids is None and isinstance(obj, Sequence) and len(obj) == n:
        ids = [getattr(item, "smiles", None) for item in obj]
        ids = None if None in ids else ids
    ids = list(ids) if ids is not None and len(ids) == n else list(range(n))
    return [str(i) for i in ids]
