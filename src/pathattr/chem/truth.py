"""Exact per-atom ground truth: Crippen logP and TPSA are sums of atom contributions.

* Crippen logP (Wildman & Crippen 1999): ``rdMolDescriptors._CalcCrippenContribs`` gives one
  contribution per atom *including hydrogens*, and ``Crippen.MolLogP`` is their sum.  With
  implicit hydrogens each hydrogen's contribution is added to the heavy atom that carries it,
  so the per-heavy-atom values still sum exactly to ``MolLogP``.
* TPSA (Ertl et al. 2000): ``rdMolDescriptors._CalcTPSAContribs`` gives the polar surface of
  every nitrogen and oxygen (0 elsewhere), summing to ``CalcTPSA``.
"""

from __future__ import annotations

from typing import Any

import torch

from pathattr.chem._rdkit import Chem

PROPERTIES = ("logp", "tpsa")


def crippen_contributions(mol: Any) -> torch.Tensor:
    """Per-atom Crippen logP contributions of ``mol`` (hydrogens folded into their atom).

    Sums to ``Crippen.MolLogP(mol)``; float64, one value per atom of ``mol``.
    """
    from rdkit.Chem import rdMolDescriptors

    with_h = Chem.AddHs(mol)
    contribs = rdMolDescriptors._CalcCrippenContribs(with_h)
    out = torch.zeros(mol.GetNumAtoms(), dtype=torch.float64)
    for atom, (logp, _mr) in zip(with_h.GetAtoms(), contribs):
        i = atom.GetIdx()
        if i >= mol.GetNumAtoms():  # an added hydrogen: its heavy neighbour carries it
            i = atom.GetNeighbors()[0].GetIdx()
        out[i] += logp
    return out


def tpsa_contributions(mol: Any) -> torch.Tensor:
    """Per-atom TPSA contributions (Å², nitrogen and oxygen only); sums to ``CalcTPSA``."""
    from rdkit.Chem import rdMolDescriptors

    return torch.tensor(rdMolDescriptors._CalcTPSAContribs(mol), dtype=torch.float64)


def atom_contributions(mol: Any, prop: str) -> torch.Tensor:
    """Per-atom contributions of property ``prop`` (``"logp"`` or ``"tpsa"``)."""
    if prop == "logp":
        return crippen_contributions(mol)
    if prop == "tpsa":
        return tpsa_contributions(mol)
    raise ValueError(f"prop: expected one of {PROPERTIES}, got {prop!r}")


def molecule_values(mols: list[Any], prop: str) -> torch.Tensor:
    """The property of every molecule (the sum of its atom contributions), float64."""
    return torch.stack([atom_contributions(m, prop).sum() for m in mols])
