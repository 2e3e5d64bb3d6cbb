"""Report sections of a ``pathattr run`` output directory (Parquet shards + ``_manifest.json``).

Only the scalar columns of every row are read for the completeness table (at most ``max_rows``
of them: the worst by relative error) and the attribution maps of the first ``max_examples``
rows for the pictures, so a report of a large run stays small and quick.  Images are drawn over
their photos when the run's input folder is still there: the built-in ``efficientnet-lite0``'s
crop is redone exactly; a photo of another size than the attributions is shown beside the maps.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import numpy as np

from pathattr.viz.report_page import Row, esc
from pathattr.viz.report_sections import Section, examples_body

SCALARS = ["id", "target", "prediction", "f_x", "f_baseline", "delta", "relative_delta",
           "evaluations"]  # fmt: skip


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` is a directory holding a run manifest."""
    from pathattr.scale.ray_native import RUN_FILE
    from pathattr.store.shards import MANIFEST

    return path.is_dir() and ((path / MANIFEST).exists() or (path / RUN_FILE).exists())


def run_sections(path: Path, anchor: str, max_examples: int, max_rows: int) -> list[Section]:
    """The run's settings and its examples (with completeness rows), as two sections."""
    import pyarrow.parquet as pq

    from pathattr.store.shards import Manifest, StoreError, read_output
    from pathattr.store.summary import native_run

    data = Manifest.read(path) or native_run(path)  # the store's layout, or --ray-sink ray's
    if data is None:  # pragma: no cover - is_run_dir checked it
        raise StoreError(f"source: expected a pathattr run directory, got {str(path)!r}")
    native = bool(data["shards"]) and "table" in data["shards"][0]
    table = (data["shards"][0]["table"].select(SCALARS) if native
             else read_output(path, columns=SCALARS)).to_pydict()  # fmt: skip
    n = len(table["id"])
    shown = min(n, max_examples)
    anchors = [f"{anchor}-{i}" if i < shown else None for i in range(n)]
    rows = [
        Row(path.name, str(table["id"][i]), _f(table["f_x"][i]), _f(table["f_baseline"][i]),
            _f(table["delta"][i]), _f(table["relative_delta"][i]), _f(table["evaluations"][i]),
            str(table["target"][i]), anchors[i], {"prediction": float(table["prediction"][i])})
        for i in range(n)
    ]  # fmt: skip
    attrs: list[np.ndarray] = []
    tokens: list[list[str]] = []
    for s in data["shards"]:
        if len(attrs) >= shown:
            break
        t = s["table"] if "table" in s else pq.read_table(path / s["file"])
        col = t.column("attributions").combine_chunks()
        if not hasattr(col, "to_numpy_ndarray"):  # ragged token maps: coloured text
            if "tokens" not in t.column_names:
                attrs = []
                break
            k = shown - len(attrs)
            attrs.extend(np.asarray(a, np.float64) for a in col.to_pylist()[:k])
            tokens.extend(t.column("tokens").to_pylist()[:k])
            continue
        attrs.extend(col.to_numpy_ndarray().astype(np.float64)[: shown - len(attrs)])
    spec = data["spec"]
    note = f"{n} rows · method {esc(spec.get('method'))} · model {esc(spec.get('model'))}"
    if not data.get("complete"):
        note += f" · <b>incomplete</b>: {n} of {data.get('total_rows')} rows committed"
    if not attrs and shown:
        body = "<p>Token maps are stored without their tokens: draw them with pathattr.text.</p>"
    elif tokens and spec.get("input_kind") == "smiles":
        body = molecule_rows_html(rows[:shown], _smiles(spec, [r.example for r in rows[:shown]]),
                                  attrs)  # fmt: skip
        if shown < n:
            note += f" · the first {shown} are drawn (max_examples)"
    elif tokens:
        body = token_rows_html(rows[:shown], tokens, attrs)
        if shown < n:
            note += f" · the first {shown} are drawn (max_examples)"
    else:
        photos = _photos(spec, [r.example for r in rows[:shown]], attrs)
        body = examples_body(rows[:shown], attrs, photos)
        if shown < n:
            note += f" · the first {shown} are drawn (max_examples)"
    if n > max_rows:
        keep = sorted(range(n), key=lambda i: _worst_first(rows[i].relative_delta))[:max_rows]
        rows = [rows[i] for i in sorted(keep)]
        note += (f" · the table lists the {max_rows} rows with the largest relative error "
                 "(max_rows)")  # fmt: skip
    return [
        settings_section(path, data, f"{anchor}-settings"),
        Section(anchor, f"Examples ({path.name})", body, rows, note),
    ]


def token_rows_html(rows: list[Row], tokens: list[list[str]], scores: list[np.ndarray]) -> str:
    """A text run's rows as coloured tokens, on one shared symmetric scale."""
    from pathattr.viz.text import legend_html, tokens_html

    scale = max((float(np.abs(s).max()) for s in scores if s.size), default=0.0)
    parts = [legend_html(scale, "the largest |score| over the rows shown")]
    for r, toks, sc in zip(rows, tokens, scores):
        words = [t if i == 0 else " " + t for i, t in enumerate(toks)]
        parts.append(
            f'<div class="text-row" id="{esc(r.anchor or "")}" style="margin:8px 0">'
            f'<div style="font-size:12px;color:#555">{esc(r.example)}'
            f" · target "
            f"{esc(r.target)} · F(x) {r.f_x:.4g} · F(x′) {r.f_baseline:.4g} · rel. error "
            f"{r.relative_delta:.2g}</div>{tokens_html(words, sc, scale)}</div>"
        )
    return "".join(parts)


def _smiles(spec: dict[str, Any], ids: list[str]) -> list[str | None]:
    """The SMILES of the shown rows, read again from the run's input table."""
    from pathattr.engine.sources import InputError, open_source

    try:
        src = open_source(str(spec.get("input")), column=spec.get("column"),
                          id_column=spec.get("id_column"))  # fmt: skip
    except (InputError, OSError, ImportError):
        return [None] * len(ids)
    where = {i: k for k, i in enumerate(src.ids)}
    return [str(src.load(where[i], where[i] + 1)[0]) if i in where else None for i in ids]


def molecule_rows_html(rows: list[Row], smiles: list[str | None], scores: list[np.ndarray]) -> str:
    """A molecule run's rows: each molecule drawn with its atoms coloured (one shared scale)."""
    from pathattr.chem.draw import draw_molecule
    from pathattr.chem.featurize import parse

    scale = max((float(np.abs(s).max()) for s in scores if s.size), default=0.0) or 1.0
    parts = []
    for r, smi, sc in zip(rows, smiles, scores):
        head = (f"{esc(r.example)} · {esc(smi or '?')} · F(x) {r.f_x:.4g} · F(x′) "
                f"{r.f_baseline:.4g} · rel. error {r.relative_delta:.2g}")  # fmt: skip
        try:
            mol = parse(smi) if smi else None
        except ValueError:
            mol = None
        if mol is None or mol.GetNumAtoms() != len(sc):
            pic = "<p>(the input table no longer holds this molecule)</p>"
        else:
            import torch

            pic = str(draw_molecule(mol, torch.as_tensor(sc), scale=scale, size=(320, 240)))
        parts.append(
            f'<div class="mol-row" id="{esc(r.anchor or "")}" style="display:inline-block;'
            f'margin:6px;vertical-align:top"><div style="font-size:12px;color:#555">{head}'
            f"</div>{pic}</div>"
        )
    return "".join(parts)


def _f(v: Any) -> float:
    return math.nan if v is None else float(v)


def _worst_first(v: float) -> tuple[bool, float]:
    return (not math.isfinite(v), -v if math.isfinite(v) else 0.0)


def settings_section(path: Path, data: dict[str, Any], anchor: str) -> Section:
    """The manifest: input, model, method and options, shards, library version."""
    spec = data["spec"]
    items = [
        ("output", str(path.resolve())),
        ("input", f"{spec.get('input')} ({spec.get('input_kind')})"),
        ("model", spec.get("model")),
        ("method", spec.get("method")),
        ("options", ", ".join(f"{k}={v}" for k, v in (spec.get("options") or {}).items())),
        ("target", spec.get("target")),
        ("rows", f"{sum(s['rows'] for s in data['shards'])} of {data.get('total_rows')} in "
                 f"{len(data['shards'])} shards"),
        ("model hash", str(data.get("model_hash", ""))[:16]),
        ("written by", f"pathattr {data.get('library_version')}"),
    ]  # fmt: skip
    body = (
        '<dl class="kv">'
        + "".join(f"<dt>{esc(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in items)
        + "</dl>"
    )
    return Section(anchor, f"Run ({path.name})", body)


def _photos(spec: dict[str, Any], ids: list[str], attrs: list[np.ndarray]) -> list[Any]:
    """The input picture of each shown row, None where it cannot be found."""
    src = Path(str(spec.get("input", "")))
    kind = spec.get("input_kind")
    try:
        if kind == "images" and src.is_dir():
            return [_photo(src / i, spec.get("model")) for i in ids]
        if kind == "npy" and src.is_file():
            arr = np.load(src, mmap_mode="r", allow_pickle=False)
            rows = [np.asarray(arr[int(i)], dtype=np.float64) for i in ids]
            # a raw row is the picture only when it has the attribution's shape
            return [r if r.shape == a.shape else None for r, a in zip(rows, attrs)]
    except (OSError, ValueError):
        pass
    return [None] * len(ids)


def _photo(path: Path, model: Any) -> np.ndarray | None:
    from pathattr.engine.sources import InputError, _decode_image

    try:
        photo = _decode_image(path)
    except (InputError, OSError):
        return None
    if model == "efficientnet-lite0":  # the built-in model's exact crop
        from pathattr.domains.vision import to_display

        return to_display(photo)
    return photo
