"""MoleculeAttribution: one molecule's atom and bond scores, completeness and group shares."""

from __future__ import annotations

import base64
import html
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pathattr.chem.draw import NEGATIVE, POSITIVE, draw_molecule
from pathattr.chem.groups import GroupShare
from pathattr.result import Attribution


@dataclass
class MoleculeAttribution:
    """The attributions of one molecule.

    Attributes:
        smiles: the input string.
        mol: the RDKit molecule (atom ``i`` of ``mol`` is entry ``i`` of ``atom_scores``).
        atom_scores: ``(n_atoms,)`` attribution summed over each atom's features.
        bond_scores: ``(n_bonds,)`` per RDKit bond (both directions of the symmetric bond
            tensor summed), or None when bonds were not attributed.
        pair_scores: ``(n_atoms, n_atoms)`` per ordered atom pair, or None.
        output: F(x).
        baseline_output: F(x') (for Expected Gradients the mean over the references drawn).
        delta: completeness residual Σ scores − (F(x) − F(x')).
        method: the attribution method.
        baseline: the baseline's name.
        groups: the share of F(x) − F(x') of each functional group
            (:func:`~pathattr.chem.groups.group_shares`), the residual last.
    """

    smiles: str
    mol: Any
    atom_scores: torch.Tensor
    bond_scores: torch.Tensor | None
    pair_scores: torch.Tensor | None
    output: float
    baseline_output: float
    delta: float
    method: str
    baseline: str
    groups: list[GroupShare] = field(default_factory=list)

    def top_atoms(self, k: int = 3) -> list[int]:
        """Indices of the ``k`` atoms with the largest (signed) scores."""
        return torch.argsort(self.atom_scores, descending=True, stable=True)[:k].tolist()

    def draw_svg(self, **options: Any) -> str:
        """SVG of the molecule coloured by attribution (options of
        :func:`~pathattr.chem.draw.draw_molecule`)."""
        return str(self._draw("svg", options))

    def draw_png(self, **options: Any) -> bytes:
        """PNG bytes of the molecule coloured by attribution."""
        out = self._draw("png", options)
        assert isinstance(out, bytes)
        return out

    def save_png(self, path: str | Path, **options: Any) -> Path:
        """Write :meth:`draw_png` to ``path``; returns the path."""
        p = Path(path)
        p.write_bytes(self.draw_png(**options))
        return p

    def save_svg(self, path: str | Path, **options: Any) -> Path:
        """Write :meth:`draw_svg` to ``path``; returns the path."""
        p = Path(path)
        p.write_text(self.draw_svg(**options), encoding="utf-8")
        return p

    def to_report_html(self) -> str:
        """A self-contained HTML fragment: the inline SVG, the colour scale, the group table."""
        scale = max(_max_abs(self.atom_scores), _max_abs(self.bond_scores))
        svg = self.draw_svg(scale=scale)
        svg = svg[svg.index("<svg") :]  # no XML declaration inside HTML
        red = _css(POSITIVE)
        blue = _css(NEGATIVE)
        bar = (
            f'<div style="display:flex;align-items:center;gap:6px;font-size:12px">'
            f'<span>−{scale:.3g}</span><span style="display:inline-block;width:160px;'
            f'height:10px;background:linear-gradient(to right,{blue},#fff,{red})"></span>'
            f"<span>+{scale:.3g}</span></div>"
        )
        rows = "".join(
            f'<tr><td>{html.escape(g.name)}</td><td style="text-align:right">'
            f'{g.attribution:+.4g}</td><td style="text-align:right">{100 * g.share:.1f}%</td>'
            "</tr>"
            for g in self.groups
        )
        head = (
            f"<p><code>{html.escape(self.smiles)}</code> — {html.escape(self.method)}, "
            f"baseline {html.escape(self.baseline)}: F(x) = {self.output:.4g}, "
            f"F(x′) = {self.baseline_output:.4g}, δ = {self.delta:.2e}</p>"
        )
        table = (
            '<table style="border-collapse:collapse;font-size:12px"><tr><th>group</th>'
            "<th>attribution</th><th>share of F(x) − F(x′)</th></tr>"
            f"{rows}</table>"
        )
        return f'<div class="pathattr-molecule">{head}{svg}{bar}{table}</div>'

    def _repr_html_(self) -> str:
        """Notebooks show the molecule as :meth:`to_report_html` draws it."""
        return self.to_report_html()

    def png_data_uri(self, **options: Any) -> str:
        """The PNG drawing as a ``data:`` URI (for pages that cannot inline SVG)."""
        return "data:image/png;base64," + base64.b64encode(self.draw_png(**options)).decode()

    def _draw(self, fmt: str, options: dict[str, Any]) -> str | bytes:
        options.setdefault("legend", f"{self.method} ({self.baseline} baseline)")
        return draw_molecule(
            self.mol, self.atom_scores, bond_scores=self.bond_scores, fmt=fmt, **options
        )


@dataclass
class MoleculeAttributions(Sequence[MoleculeAttribution]):
    """The attributions of a batch of molecules: a sequence of :class:`MoleculeAttribution`.

    Attributes:
        molecules: one :class:`MoleculeAttribution` per molecule kept.
        attribution: the run's :class:`~pathattr.result.Attribution` over the padded feature
            tensors (padded atoms are exactly 0).
        skipped: ``(position, smiles, reason)`` of SMILES skipped with ``errors="skip"``.
    """

    molecules: list[MoleculeAttribution]
    attribution: Attribution
    skipped: list[tuple[int, str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.molecules)

    def __getitem__(self, i: Any) -> Any:
        return self.molecules[i]

    def __iter__(self) -> Iterator[MoleculeAttribution]:
        return iter(self.molecules)

    def to_report_html(self) -> str:
        """Every molecule's fragment (:meth:`MoleculeAttribution.to_report_html`) in turn."""
        return "\n".join(m.to_report_html() for m in self.molecules)

    def _repr_html_(self) -> str:
        """Notebooks show every molecule (:meth:`to_report_html`)."""
        return self.to_report_html()


def _max_abs(t: torch.Tensor | None) -> float:
    return 0.0 if t is None or t.numel() == 0 else float(t.abs().max())


def _css(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(255 * c):02x}" for c in rgb)
