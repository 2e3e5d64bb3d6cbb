"""Functional-group accounting: the share of F(x) − F(x') that each group of atoms carries.

Groups are SMARTS patterns, matched in priority order; each atom belongs to the **first** group
that matches it, so the groups partition the molecule (a carboxylic acid's oxygens are not also
a hydroxyl and a carbonyl) and the atoms no pattern claims form ``"other (skeleton)"``.  A bond
score (when bonds were attributed) goes to a group when both its atoms are in that group and
to ``"bonds between groups"`` otherwise.

By completeness Σ attributions = F(x) − F(x') + δ, so the shares of the groups add up to
100% + δ / (F(x) − F(x')); the last row, ``"completeness residual"``, is −δ / (F(x) − F(x'))
and the rows add up to exactly 100%.  Nothing is rescaled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from pathattr.chem._rdkit import Chem

#: group name -> SMARTS patterns (any matches), in priority order
FUNCTIONAL_GROUPS: dict[str, tuple[str, ...]] = {
    "carboxylic acid": ("[CX3](=O)[OX2H1,OX1-]",),
    "nitro": ("[$([NX3+](=O)[O-]),$([NX3](=O)=O)](~[OX1])~[OX1]",),
    "sulfonyl": ("[SX4](=[OX1])(=[OX1])",),
    "phosphate": ("[PX4](=[OX1])",),
    "ester": ("[#6][CX3](=O)[OX2H0][#6]",),
    "amide": ("[NX3][CX3]=[OX1]",),
    "nitrile": ("[CX2]#[NX1]",),
    "carbonyl": ("[CX3]=[OX1]",),
    "hydroxyl": ("[OX2H]",),
    "amine": ("[NX3;!$(N=*);!$(N#*);!$(N[C,S,P]=[O,S,N])]", "[NX4+]"),
    "ether": ("[OX2]([#6])[#6]",),
    "thio": ("[SX2]",),
    "halogen": ("[F,Cl,Br,I]",),
    "aromatic ring": ("a",),
}
OTHER = "other (skeleton)"
BETWEEN = "bonds between groups"
RESIDUAL = "completeness residual"


@dataclass(frozen=True)
class GroupShare:
    """One group's part of F(x) − F(x').

    Attributes:
        name: the group's name (or ``"other (skeleton)"``, ``"bonds between groups"``,
            ``"completeness residual"``).
        atoms: indices of its atoms (empty for the last two rows).
        attribution: the sum of its atoms' (and bonds') scores; −δ for the residual row.
        share: ``attribution / (F(x) − F(x'))`` (NaN when F(x) = F(x')).
    """

    name: str
    atoms: tuple[int, ...]
    attribution: float
    share: float


def assign_groups(
    mol: Any, groups: dict[str, tuple[str, ...]] | None = None
) -> dict[str, tuple[int, ...]]:
    """Atoms of ``mol`` per group (first match wins), plus ``"other (skeleton)"``.

    Only groups present in the molecule are listed, in priority order.
    """
    groups = FUNCTIONAL_GROUPS if groups is None else groups
    owner: dict[int, str] = {}
    for name, patterns in groups.items():
        for smarts in (patterns,) if isinstance(patterns, str) else patterns:
            query = Chem.MolFromSmarts(smarts)
            if query is None:
                raise ValueError(f"groups: RDKit cannot parse the SMARTS {smarts!r} of {name!r}")
            for match in mol.GetSubstructMatches(query):
                for i in match:
                    owner.setdefault(i, name)
    out: dict[str, list[int]] = {name: [] for name in [*groups, OTHER]}
    for i in range(mol.GetNumAtoms()):
        out[owner.get(i, OTHER)].append(i)
    return {name: tuple(atoms) for name, atoms in out.items() if atoms}


def group_shares(
    mol: Any,
    atom_scores: torch.Tensor,
    output: float,
    baseline_output: float,
    *,
    bond_scores: torch.Tensor | None = None,
    groups: dict[str, tuple[str, ...]] | None = None,
) -> list[GroupShare]:
    """Each group's share of F(x) − F(x'), with the completeness residual as the last row.

    Args:
        mol: the RDKit molecule whose atoms ``atom_scores`` scores.
        atom_scores: ``(n_atoms,)`` one score per atom.
        output, baseline_output: F(x) and F(x').
        bond_scores: ``(n_bonds,)`` one score per RDKit bond, or None.
        groups: name -> SMARTS patterns in priority order (default :data:`FUNCTIONAL_GROUPS`).
    """
    gap = float(output) - float(baseline_output)
    scores = atom_scores.detach().double()
    members = assign_groups(mol, groups)
    totals = {name: float(scores[list(atoms)].sum()) for name, atoms in members.items()}
    between = 0.0
    if bond_scores is not None:
        where = {i: name for name, atoms in members.items() for i in atoms}
        for bond, value in zip(mol.GetBonds(), bond_scores.detach().double().tolist()):
            a, b = where[bond.GetBeginAtomIdx()], where[bond.GetEndAtomIdx()]
            if a == b:
                totals[a] += value
            else:
                between += value
    rows = [(name, members[name], total) for name, total in totals.items()]
    if bond_scores is not None:
        rows.append((BETWEEN, (), between))
    delta = sum(total for _, _, total in rows) - gap
    rows.append((RESIDUAL, (), -delta))
    return [GroupShare(name, atoms, value, _ratio(value, gap)) for name, atoms, value in rows]


def _ratio(value: float, gap: float) -> float:
    return value / gap if gap != 0 else float("nan")
