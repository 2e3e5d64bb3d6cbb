"""The page of :func:`pathattr.report`: inline CSS and script, the sortable completeness table.

Everything is inline (no external stylesheet, script, font or image), so the file opens offline
and renders the same anywhere.  The table sorts on a click on any header: numbers numerically,
text alphabetically, missing values (``—``) always last; it starts sorted by the relative
completeness error, worst first.
"""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CSS = """
:root{--ink:#1d2430;--mute:#5d6675;--line:#dfe3ea;--card:#fff;--bg:#f5f6f8;--accent:#2454a6;
--good:#1b7f3b;--bad:#b42318}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header{background:#1d2430;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:21px;font-weight:600}
header .sub{color:#b8c0cc;font-size:12.5px;margin-top:2px}
nav{background:#fff;border-bottom:1px solid var(--line);padding:8px 32px;position:sticky;top:0;
z-index:2}
nav a{color:var(--accent);text-decoration:none;margin-right:18px;font-size:13px}
main{max-width:1180px;margin:0 auto;padding:20px 32px 40px}
section,.example{scroll-margin-top:52px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:16px 20px;
margin:0 0 20px}
section h2{margin:0 0 4px;font-size:17px}
section .note{color:var(--mute);font-size:12.5px;margin:2px 0 12px}
.stats{display:flex;flex-wrap:wrap;gap:12px;margin:0 0 20px}
.stat{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 16px;
min-width:150px}
.stat .v{font-size:20px;font-weight:600}
.stat .k{color:var(--mute);font-size:12px}
.stat.bad .v{color:var(--bad)} .stat.good .v{color:var(--good)}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(400px,1fr));gap:14px}
.example{border:1px solid var(--line);border-radius:6px;padding:8px 10px;background:#fcfcfd}
.example:target{outline:2px solid var(--accent)}
.example .meta{font-size:12px;color:var(--mute);margin-bottom:6px}
.example .meta b{color:var(--ink)}
.panels{display:flex;gap:8px}
.panels figure{flex:1 1 0;min-width:0}
figure{margin:0;text-align:center}
figure img{width:100%;height:auto;display:block;border-radius:3px;background:#000}
figure img.px{image-rendering:pixelated}
figcaption{font-size:11.5px;color:var(--mute);margin-top:3px}
.legend{font-size:12px;color:var(--mute);margin:0 0 12px}
.sw{display:inline-block;width:11px;height:11px;border-radius:2px;vertical-align:-1px;
margin:0 4px 0 10px}
table{border-collapse:collapse;font-size:12.5px;font-variant-numeric:tabular-nums}
th,td{padding:5px 10px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th{background:#f0f2f5;font-weight:600;position:sticky;top:37px}
th:first-child,td:first-child,th.text,td.text{text-align:left}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th:hover{background:#e4e8ee}
table.sortable th::after{content:"\\2195";color:#aab;margin-left:4px;font-size:10px}
table.sortable th[aria-sort=ascending]::after{content:"\\25B2";color:var(--accent)}
table.sortable th[aria-sort=descending]::after{content:"\\25BC";color:var(--accent)}
.scroll{max-height:560px;overflow:auto;border:1px solid var(--line);border-radius:6px}
.scroll th{top:0} .scroll table{width:100%}
td.over{color:var(--bad);font-weight:600}
td a{color:var(--accent);text-decoration:none}
.pass{background:#e3f4e8;color:#14532d}.fail{background:#fbe4e2;color:#7a1d14}
.na{background:#f0f1f3;color:#69707c}
.bar{display:inline-block;height:9px;border-radius:2px;vertical-align:middle}
.fragment{overflow-x:auto}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0;font-size:12.5px}
dl.kv dt{color:var(--mute)} dl.kv dd{margin:0;word-break:break-all}
"""

# sorts the <tbody> rows of every table.sortable by the clicked column; cells carry their sort
# key in data-v (numbers) or their text; empty keys (missing values) stay last in both orders
SCRIPT = """
(function(){
function key(cell,num){var v=cell.getAttribute('data-v');if(v===null)v=cell.textContent;
if(v==='')return null;return num?parseFloat(v):v.toLowerCase();}
function sortBy(table,col,dir){var th=table.tHead.rows[0].cells[col];
var num=th.getAttribute('data-type')==='num';var body=table.tBodies[0];
var rows=Array.prototype.slice.call(body.rows);
rows.sort(function(a,b){var x=key(a.cells[col],num),y=key(b.cells[col],num);
if(x===null||y===null)return x===null?(y===null?0:1):-1;
var c=x<y?-1:(x>y?1:0);return dir==='ascending'?c:-c;});
rows.forEach(function(r){body.appendChild(r);});
Array.prototype.forEach.call(table.tHead.rows[0].cells,function(h){h.removeAttribute('aria-sort');});
th.setAttribute('aria-sort',dir);}
Array.prototype.forEach.call(document.querySelectorAll('table.sortable'),function(table){
Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,col){
th.addEventListener('click',function(){var now=th.getAttribute('aria-sort');
var dir=now==='descending'?'ascending':(now==='ascending'?'descending':
(th.getAttribute('data-type')==='num'?'descending':'ascending'));sortBy(table,col,dir);});});});
})();
"""


@dataclass
class Row:
    """One example in the completeness table."""

    section: str
    example: str
    f_x: float
    f_baseline: float
    delta: float
    relative_delta: float
    evaluations: float  # NaN when unknown
    target: str = ""
    anchor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def esc(value: Any) -> str:
    """HTML-escaped ``str(value)``."""
    return html.escape(str(value))


def num(v: float, digits: int = 4) -> str:
    """A number for a table cell (``—`` when missing or not finite)."""
    if v is None or not math.isfinite(float(v)):
        return "—"
    return f"{float(v):.{digits}g}"


def percent(v: float) -> str:
    """A relative error as a percentage (``—`` when undefined)."""
    if v is None or not math.isfinite(float(v)):
        return "—"
    p = float(v) * 100.0
    if p >= 10.0:
        return f"{p:.0f}%"
    if p == 0:
        return "0%"
    return f"{p:#.2g}%" if p >= 1e-3 else f"{p:.1e}%"


def png_uri(rgb: np.ndarray) -> str:
    """A ``data:image/png`` URI of an ``(H, W, 3)`` float image in [0, 1]."""
    try:
        from PIL import Image
    except ImportError as e:  # pragma: no cover - pillow comes with matplotlib
        raise ImportError("the report's images need pillow: pip install pillow") from e
    arr = np.clip(np.asarray(rgb, dtype=np.float64) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def figure_uri(fig: Any) -> str:
    """A ``data:image/png`` URI of a matplotlib figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _cell(v: float, text: str, cls: str = "") -> str:
    key = "" if v is None or not math.isfinite(float(v)) else repr(float(v))
    c = f' class="{cls}"' if cls else ""
    return f'<td{c} data-v="{key}">{text}</td>'


def completeness_table(rows: list[Row], warn_tol: float) -> str:
    """The sortable table, one row per example, sorted by relative error (worst first)."""
    order = sorted(
        rows,
        key=lambda r: (not math.isfinite(r.relative_delta), -_finite(r.relative_delta)),
    )
    sections = len({r.section for r in rows}) > 1
    targets = any(r.target for r in rows)
    extra = sorted({k for r in rows for k in r.extra})
    head = (["section"] if sections else []) + ["example"] + (["target"] if targets else [])
    nums = ["F(x)", "F(x′)", "delta", "relative delta", "evaluations", *extra]
    ths = "".join(f'<th class="text" data-type="text">{esc(h)}</th>' for h in head)
    ths += "".join(
        f'<th data-type="num"{" aria-sort=descending" if h == "relative delta" else ""}>'
        f"{esc(h)}</th>"
        for h in nums
    )
    body = []
    for r in order:
        cells = [f'<td class="text">{esc(r.section)}</td>'] if sections else []
        name = esc(r.example)
        link = f'<a href="#{esc(r.anchor)}">{name}</a>' if r.anchor else name
        cells.append(f'<td class="text" data-v="{esc(r.example)}">{link}</td>')
        if targets:
            cells.append(f'<td class="text">{esc(r.target)}</td>')
        over = math.isfinite(r.relative_delta) and r.relative_delta > warn_tol
        cells += [
            _cell(r.f_x, num(r.f_x)),
            _cell(r.f_baseline, num(r.f_baseline)),
            _cell(r.delta, num(r.delta, 3)),
            _cell(r.relative_delta, percent(r.relative_delta), "over" if over else ""),
            _cell(r.evaluations, num(r.evaluations, 12)),
            *(_cell(r.extra.get(k, math.nan), num(r.extra.get(k, math.nan))) for k in extra),
        ]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="scroll"><table class="sortable" id="completeness-table"><thead><tr>{ths}</tr>'
        f"</thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _finite(v: float) -> float:
    return float(v) if math.isfinite(v) else 0.0


def stats_html(rows: list[Row], warn_tol: float) -> str:
    """Headline figures over every example: count, median / worst relative error, evaluations."""
    rel = np.array([r.relative_delta for r in rows], dtype=np.float64)
    fin = rel[np.isfinite(rel)]
    over = int((fin > warn_tol).sum())
    cards = [("examples", f"{len(rows):,}", "")]
    if fin.size:
        cards += [
            ("median relative completeness error", percent(float(np.median(fin))), ""),
            ("worst relative completeness error", percent(float(fin.max())),
             "bad" if fin.max() > warn_tol else "good"),
            (f"examples over {warn_tol:.0%}", f"{over:,}", "bad" if over else "good"),
        ]  # fmt: skip
    evals = sum(int(r.evaluations) for r in rows if math.isfinite(r.evaluations))
    cards.append(("gradient evaluations", f"{evals:,}", ""))
    items = "".join(
        f'<div class="stat {c}"><div class="v">{esc(v)}</div><div class="k">{esc(k)}</div></div>'
        for k, v, c in cards
    )
    return f'<div class="stats">{items}</div>'


def page(title: str, subtitle: str, nav: list[tuple[str, str]], body: str) -> str:
    """The whole HTML document."""
    links = "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t in nav)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # an empty icon: no favicon request (which fails offline and logs a console error)
        f'<link rel="icon" href="data:,"><title>{esc(title)}</title><style>{CSS}</style></head>'
        f'<body><header><h1>{esc(title)}</h1><div class="sub">{esc(subtitle)}</div></header>'
        f"<nav>{links}</nav><main>{body}</main><script>{SCRIPT}</script></body></html>\n"
    )
