"""The check sections of :func:`pathattr.report`: the method × axiom matrix and the curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pathattr.viz.report_page import esc, figure_uri
from pathattr.viz.report_sections import Section


def axioms_section(reports: Sequence[Any]) -> Section:
    """The method × axiom matrix of :class:`~pathattr.axioms.report.AxiomReport` objects."""
    from pathattr.axioms.report import CHECKS

    names = [c for c in CHECKS if any(c in r.results for r in reports)]
    names += sorted({c for r in reports for c in r.results} - set(names))
    head = "".join(f'<th class="text">{esc(c.replace("_", " "))}</th>' for c in names)
    body = []
    for r in reports:
        cells = []
        for c in names:
            res = r.results.get(c)
            if res is None:
                cells.append('<td class="na text">—</td>')
                continue
            mark = {"pass": "✓ pass", "fail": "✗ fail"}.get(res.status, "n/a")
            value = "" if res.value is None else f" {res.value:.2g}"
            tip = f"{res.measure}: {res.detail}" if res.detail else res.measure
            cls = {"pass": "pass", "fail": "fail"}.get(res.status, "na")
            cells.append(f'<td class="{cls} text" title="{esc(tip)}">{mark}{esc(value)}</td>')
        body.append(f'<tr><td class="text"><b>{esc(r.method)}</b></td>{"".join(cells)}</tr>')
    table = (
        f'<table class="axioms"><thead><tr><th class="text">method</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )
    note = ("pathattr.axioms.check: each cell is the status and the measured figure "
            "(hover for what it measures)")  # fmt: skip
    return Section("axioms", "Axiom checks", table, note=note)


def curves_section(curves: Mapping[str, Any]) -> Section:
    """Deletion / insertion curves: the mean curves (a PNG) and a table of AUCs."""
    from pathattr.metrics.plots import plot_curves

    fig = plot_curves(curves, title=None)
    img = (
        f'<img class="curves" src="{figure_uri(fig)}" alt="faithfulness curves" '
        'style="max-width:100%">'
    )
    rows = "".join(
        f'<tr><td class="text">{esc(name)}</td><td class="text">{esc(c.kind)}</td>'
        f"<td>{c.mean_auc:.4g}</td><td>{int(c.scores.shape[0])}</td><td>{int(c.n_features)}</td>"
        f'<td class="text">{esc(c.replacement)}</td></tr>'
        for name, c in curves.items()
    )
    table = (
        '<table class="curves"><thead><tr><th class="text">method</th><th class="text">kind</th>'
        '<th>mean AUC</th><th>examples</th><th>features</th><th class="text">replacement</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )
    note = ("deletion: lower AUC is more faithful (the output falls as top features go); "
            "insertion: higher is better")  # fmt: skip
    return Section("curves", "Faithfulness curves", img + table, note=note)
