"""``pathattr.report``: one self-contained HTML page of a run's results.

The page needs no network: styles and the table's sorting script are inline and every picture
is a ``data:`` URI.  It shows

* the examples: images as the IG authors draw them (the input, the attribution map in green and
  red over the dimmed grey input, the outlines of the top regions; :mod:`pathattr.viz.image`),
  tabular attributions as signed bars of their top features, texts with coloured tokens, and
  anything with a ``to_report_html()`` method (molecules with coloured atoms, ...);
* the completeness table: F(x), F(x′), delta, relative delta and gradient evaluations per
  example, sorted by the relative error (worst first) and re-sorted by a click on any header;
* the method × axiom matrix of :func:`pathattr.axioms.check` reports, and the deletion /
  insertion curves of :mod:`pathattr.metrics` with their AUCs.

``pathattr report SOURCE --out FILE.html`` does the same for a ``pathattr run`` output
directory or a file written by :meth:`pathattr.Attribution.save`.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pathattr.result import Attribution, load_attribution
from pathattr.viz import report_sections as rs
from pathattr.viz.report_checks import axioms_section, curves_section
from pathattr.viz.report_page import completeness_table, page, stats_html
from pathattr.viz.report_run import is_run_dir, run_sections

ACCEPTED = (
    "an Attribution, an (Attribution, inputs) pair, a TextAttribution, an AxiomReport, a Curve, "
    "an object with a to_report_html() method, a pathattr run directory or a file written by "
    "Attribution.save, or a list or dict of these"
)


@dataclass
class _Collected:
    """The sections found in ``results``, with the axiom reports and curves gathered apart."""

    sections: list[rs.Section] = field(default_factory=list)
    axioms: list[Any] = field(default_factory=list)
    curves: dict[str, Any] = field(default_factory=dict)
    anchors: set[str] = field(default_factory=set)

    def anchor(self, title: str) -> str:
        base = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "result"
        name, k = base, 2
        while name in self.anchors or name in ("completeness", "axioms", "curves"):
            name, k = f"{base}-{k}", k + 1
        self.anchors.add(name)
        return name


def report(
    results: Any,
    path: str | Path,
    *,
    inputs: Any = None,
    title: str | None = None,
    max_examples: int = 24,
    max_rows: int = 5000,
    warn_tol: float = 0.05,
) -> Path:
    """Write one self-contained HTML page of ``results``; returns its path.

    Args:
        results: an :class:`~pathattr.result.Attribution` (image attributions are drawn over
            ``inputs``; pass ``(attribution, inputs)`` pairs to give each its own), a
            :class:`~pathattr.text.TextAttribution`, an
            :class:`~pathattr.axioms.report.AxiomReport` (several make the method × axiom
            matrix), a :class:`~pathattr.metrics.Curve` or a ``{name: Curve}`` dict, any object
            with a ``to_report_html() -> str`` method (a self-contained HTML fragment, e.g.
            molecules with coloured atoms; its completeness rows are read from its
            ``attribution`` when it has one), the output directory of ``pathattr run``, a file
            written by :meth:`~pathattr.result.Attribution.save`, or a list of these or a dict
            ``{section title: result}``.
        path: the ``.html`` file to write (folders are created).
        inputs: the inputs the attributions explain (same shape, e.g. ``(N, C, H, W)``), for
            every Attribution not given as a pair; without them image maps are drawn on black.
        title: the page title (default ``"pathattr report"``).
        max_examples: examples drawn per result (the table lists all of them).
        max_rows: rows of a run directory listed in the table (the worst by relative error).
        warn_tol: relative completeness error marked as too large in the table and summary.
    """
    for name, v in (("max_examples", max_examples), ("max_rows", max_rows)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{name}: expected a non-negative integer, got {v!r}")
    found = _Collected()
    _collect(results, None, inputs, found, max_examples, max_rows)
    sections = list(found.sections)
    rows = [r for s in sections for r in s.rows]
    if rows:
        note = ("one row per example; click a header to sort (worst relative error first); "
                f"relative errors over {warn_tol:.0%} in red; delta = Σ attributions − "
                "(F(x) − F(x′)), relative delta = |delta| / |F(x) − F(x′)|")  # fmt: skip
        sections.append(rs.Section("completeness", "Completeness",
                                   completeness_table(rows, warn_tol), note=note))  # fmt: skip
    if found.axioms:
        sections.append(axioms_section(found.axioms))
    if found.curves:
        sections.append(curves_section(found.curves))
    if not sections:
        raise ValueError(f"results: expected {ACCEPTED}, got nothing to show in {results!r}")
    from pathattr import __version__

    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = (stats_html(rows, warn_tol) if rows else "") + "".join(s.html() for s in sections)
    nav = [(s.anchor, s.title) for s in sections]
    doc = page(title or "pathattr report", f"pathattr {__version__} · {when}", nav, body)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(doc, encoding="utf-8")
    return out


def _collect(obj: Any, title: str | None, inputs: Any, found: _Collected, max_examples: int,
             max_rows: int) -> None:  # fmt: skip
    from pathattr.axioms.report import AxiomReport
    from pathattr.metrics.curves import Curve
    from pathattr.text.result import TextAttribution

    if isinstance(obj, (str, Path)):
        _collect_path(Path(obj), title, found, max_examples, max_rows)
    elif hasattr(obj, "to_report_html"):
        t = title or type(obj).__name__
        found.sections.append(rs.fragment_section(t, found.anchor(t), obj))
    elif isinstance(obj, Attribution):
        t = title or obj.method.replace("_", " ")
        found.sections.append(rs.attribution_section(t, found.anchor(t), obj, inputs, max_examples))
    elif _is_pair(obj):
        _collect(obj[0], title, obj[1], found, max_examples, max_rows)
    elif isinstance(obj, TextAttribution):
        t = title or f"text ({obj.kind})"
        found.sections.append(rs.text_section(t, found.anchor(t), obj))
    elif isinstance(obj, AxiomReport):
        found.axioms.append(obj)
    elif isinstance(obj, Curve):
        name = title or obj.kind
        found.curves[name if name not in found.curves else f"{name} ({len(found.curves)})"] = obj
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            _collect(v, str(k), inputs, found, max_examples, max_rows)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _collect(v, None, inputs, found, max_examples, max_rows)
    else:
        raise TypeError(f"results: expected {ACCEPTED}, got {type(obj).__name__}")


def _is_pair(obj: Any) -> bool:
    """``(Attribution, inputs)``: an Attribution and a tensor or tuple of tensors."""
    if not (isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], Attribution)):
        return False
    x = obj[1]
    return isinstance(x, torch.Tensor) or (
        isinstance(x, tuple) and all(isinstance(t, torch.Tensor) for t in x)
    )


def _collect_path(p: Path, title: str | None, found: _Collected, max_examples: int,
                  max_rows: int) -> None:  # fmt: skip
    if is_run_dir(p):
        found.sections.extend(run_sections(p, found.anchor(title or "run"), max_examples, max_rows))
    elif p.is_file():
        result, saved_inputs = load_attribution(p)
        t = title or p.stem
        found.sections.append(
            rs.attribution_section(t, found.anchor(t), result, saved_inputs, max_examples)
        )
    else:
        raise ValueError(
            "source: expected a pathattr run directory (with _manifest.json) or a file written "
            f"by Attribution.save, got {str(p)!r}"
            + (" (not found)" if not p.exists() else " (a folder without _manifest.json)")
        )
