"""The result of :func:`pathattr.axioms.check`: one row per axiom, printable and convertible."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Literal

Status = Literal["pass", "fail", "n/a"]

#: check names in report order
CHECKS = (
    "completeness",
    "sensitivity",
    "dummy",
    "linearity",
    "symmetry",
    "implementation_invariance",
)

_MEANING = {
    "completeness": "max |Σφ − ΔF| / |ΔF|",
    "sensitivity": "min |φ_i| / |ΔF| over one-feature changes",
    "dummy": "max |φ_dummy| / max |φ|",
    "linearity": "max |φ(af+bg) − aφ(f) − bφ(g)| / scale",
    "symmetry": "max |φ_i − φ_j| / scale over symmetric pairs",
    "implementation_invariance": "max |φ(f) − φ(f')| / scale over equivalents",
}


@dataclass
class CheckResult:
    """One axiom's outcome: status, the measured figure, its threshold and a note."""

    name: str
    status: Status
    value: float | None = None
    threshold: float | None = None
    detail: str = ""

    @property
    def measure(self) -> str:
        """What ``value`` measures."""
        return _MEANING.get(self.name, "")


@dataclass
class AxiomReport:
    """Outcome of every requested check for one method on one model and inputs."""

    method: str
    results: dict[str, CheckResult] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no check failed (n/a counts as not failed)."""
        return all(r.status != "fail" for r in self.results.values())

    def __getitem__(self, name: str) -> CheckResult:
        return self.results[name]

    def to_dict(self) -> dict[str, dict[str, object]]:
        """``{check: {"status": "pass"|"fail"|"n/a", "value": float | None}}``."""
        return {k: {"status": r.status, "value": r.value} for k, r in self.results.items()}

    def _rows(self) -> list[tuple[str, str, str, str, str]]:
        return [
            (r.name, r.status, _fmt(r.value), _fmt(r.threshold), r.detail)
            for r in self.results.values()
        ]

    def __str__(self) -> str:
        head = ("check", "status", "value", "threshold", "detail")
        rows = [head, *self._rows()]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [f"AxiomReport for {self.method}: {'ok' if self.ok else 'FAILED'}"]
        for row in rows:
            cells = [row[i].ljust(widths[i]) for i in range(4)]
            lines.append("  " + "  ".join(cells) + ("  " + row[4] if row[4] else ""))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def to_html(self) -> str:
        """An HTML table (also used by Jupyter through ``_repr_html_``)."""
        colour = {"pass": "#d4edda", "fail": "#f8d7da", "n/a": "#eeeeee"}
        body = "".join(
            f'<tr style="background:{colour[s]}"><td>{html.escape(n)}</td><td>{s}</td>'
            f"<td>{v}</td><td>{t}</td><td>{html.escape(d)}</td></tr>"
            for n, s, v, t, d in self._rows()
        )
        return (
            f"<table><caption>Axioms: {html.escape(self.method)}</caption>"
            "<tr><th>check</th><th>status</th><th>value</th><th>threshold</th><th>detail</th>"
            f"</tr>{body}</table>"
        )

    def _repr_html_(self) -> str:
        return self.to_html()


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.3g}"
