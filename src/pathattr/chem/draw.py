"""Molecules drawn with RDKit, every atom (and bond) coloured by its attribution.

Colours are diverging and linear: white at 0, saturated red at ``+scale`` and blue at
``−scale`` (``scale`` defaults to the largest |score| of the molecule); the legend under the
drawing states the scale, and each atom can carry its value as a note.
"""

from __future__ import annotations

import html
from typing import Any

import torch

from pathattr.chem._rdkit import Chem

POSITIVE = (0.84, 0.15, 0.16)
NEGATIVE = (0.13, 0.40, 0.67)


def colour(value: float, scale: float) -> tuple[float, float, float]:
    """The diverging colour of ``value``: white at 0, red at ``+scale``, blue at ``−scale``."""
    t = min(abs(value) / scale, 1.0) if scale > 0 else 0.0
    end = POSITIVE if value >= 0 else NEGATIVE
    return tuple(1.0 - t * (1.0 - c) for c in end)  # type: ignore[return-value]


def draw_molecule(
    mol: Any,
    atom_scores: torch.Tensor,
    *,
    bond_scores: torch.Tensor | None = None,
    size: tuple[int, int] = (420, 320),
    scale: float | None = None,
    annotate: bool = True,
    legend: str = "",
    fmt: str = "svg",
) -> str | bytes:
    """An SVG string (``fmt="svg"``) or PNG bytes (``fmt="png"``) of ``mol``, coloured.

    Args:
        mol: the RDKit molecule (the one the scores were computed on).
        atom_scores: one score per atom.
        bond_scores: one score per RDKit bond (None: bonds are not coloured).
        size: width and height in pixels.
        scale: the |score| at which colours saturate (None: the largest |score| drawn).
        annotate: write each atom's score next to it.
        legend: text before the stated colour scale.
        fmt: ``"svg"`` or ``"png"``.
    """
    from rdkit.Chem.Draw import rdMolDraw2D

    if fmt not in ("svg", "png"):
        raise ValueError(f"fmt: expected 'svg' or 'png', got {fmt!r}")
    scores = [float(v) for v in atom_scores.detach().reshape(-1)]
    if len(scores) != mol.GetNumAtoms():
        raise ValueError(
            f"atom_scores: expected one score per atom ({mol.GetNumAtoms()}), got {len(scores)}"
        )
    bonds = None if bond_scores is None else [float(v) for v in bond_scores.detach().reshape(-1)]
    if scale is None:
        scale = max((abs(v) for v in scores + (bonds or [])), default=0.0)
    mol = Chem.Mol(mol)
    if annotate:
        for atom, v in zip(mol.GetAtoms(), scores):
            atom.SetProp("atomNote", f"{v:+.2f}")
    drawer = rdMolDraw2D.MolDraw2DSVG(*size) if fmt == "svg" else rdMolDraw2D.MolDraw2DCairo(*size)
    opts = drawer.drawOptions()
    opts.useBWAtomPalette()  # element colours would compete with the attribution colours
    opts.annotationFontScale = 0.6  # type: ignore[assignment]
    atom_colours = {i: colour(v, scale) for i, v in enumerate(scores)}
    bond_colours = {} if bonds is None else {i: colour(v, scale) for i, v in enumerate(bonds)}
    text = f"{legend}  " if legend else ""
    text += f"red +, blue -; full colour at |score| = {scale:.3g}"
    rdMolDraw2D.PrepareAndDrawMolecule(
        drawer, mol, legend=text, highlightAtoms=list(atom_colours),
        highlightAtomColors=atom_colours, highlightBonds=list(bond_colours),
        highlightBondColors=bond_colours,
        highlightAtomRadii={i: 0.45 for i in atom_colours},
    )  # fmt: skip
    drawer.FinishDrawing()
    out = drawer.GetDrawingText()
    if fmt == "png":
        return out if isinstance(out, bytes) else bytes(out)  # type: ignore[arg-type]
    # RDKit draws the legend as glyph outlines: state the scale as text too (screen readers,
    # search), in a <desc> right after the opening <svg> tag
    head, sep, rest = out.partition(">\n<")  # the end of the XML declaration
    tag_end = rest.index(">") + 1
    desc = f"<desc>{html.escape(text)}</desc>"
    return head + sep + rest[:tag_end] + desc + rest[tag_end:]
