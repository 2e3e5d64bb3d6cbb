"""SMILES -> padded graph tensors: atom features, bond features and an atom mask.

A molecule of n atoms becomes

* ``atoms``: ``(n, len(ATOM_FEATURES))``, one-hot element, degree, hydrogen count, formal
  charge and hybridisation, plus aromatic and in-ring flags;
* ``bonds``: ``(n, n, len(BOND_FEATURES))``, symmetric, one-hot bond type (single, double,
  triple, aromatic) plus conjugated and in-ring flags; all-zero where there is no bond.

Hydrogens are **implicit** by default: they are not nodes, each heavy atom carries its hydrogen
count as a feature (and the ground-truth contributions of :mod:`pathattr.chem.truth` add each
hydrogen's share to its heavy atom).  ``hydrogens="explicit"`` adds them as nodes
(``Chem.AddHs``); the hydrogen-count feature then counts the explicit neighbours.

A batch pads every molecule to the largest one; ``mask`` is 1 on real atoms and 0 on padding,
and padded rows of ``atoms`` and ``bonds`` are exactly 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from pathattr.chem._rdkit import Chem, quiet_rdkit

ELEMENTS = ("H", "C", "N", "O", "F", "P", "S", "Cl", "Br", "I")
DEGREES = (0, 1, 2, 3, 4, 5)  # 5 stands for 5 or more
HYDROGENS = (0, 1, 2, 3, 4)  # 4 stands for 4 or more
CHARGES = ("negative", "neutral", "positive")
HYBRIDISATIONS = ("SP", "SP2", "SP3")  # anything else is "other"

#: the name of every atom feature, in column order
ATOM_FEATURES: tuple[str, ...] = (
    *(f"element={e}" for e in ELEMENTS),
    "element=other",
    *(f"degree={d}" for d in DEGREES),
    *(f"hydrogens={h}" for h in HYDROGENS),
    *(f"charge={c}" for c in CHARGES),
    "aromatic",
    "in_ring",
    *(f"hybridisation={h}" for h in HYBRIDISATIONS),
    "hybridisation=other",
)
BOND_TYPES = ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC")
#: the name of every bond feature, in channel order
BOND_FEATURES: tuple[str, ...] = (*(f"type={t}" for t in BOND_TYPES), "conjugated", "in_ring")

_A = {name: i for i, name in enumerate(ATOM_FEATURES)}
_B = {name: i for i, name in enumerate(BOND_FEATURES)}


def atom_column(name: str) -> int:
    """The column of atom feature ``name`` (see :data:`ATOM_FEATURES`)."""
    return _A[name]


def bond_channel(name: str) -> int:
    """The channel of bond feature ``name`` (see :data:`BOND_FEATURES`)."""
    return _B[name]


class InvalidSmilesError(ValueError):
    """A SMILES string RDKit cannot parse (the message names the string and its position)."""


@dataclass
class MoleculeBatch:
    """Padded graph tensors of a batch of molecules.

    Attributes:
        smiles: the input strings of the molecules kept (in input order).
        mols: the RDKit molecules (with explicit hydrogens if asked for).
        atoms: ``(B, N, len(ATOM_FEATURES))`` float atom features, 0 on padding.
        bonds: ``(B, N, N, len(BOND_FEATURES))`` float bond features, symmetric, 0 off bonds.
        mask: ``(B, N)`` float, 1 on real atoms and 0 on padding.
        hydrogens: ``"implicit"`` or ``"explicit"``.
        indices: position of each kept molecule in the input list.
        skipped: ``(position, smiles, reason)`` of each string skipped with ``errors="skip"``.
    """

    smiles: list[str]
    mols: list[Any]
    atoms: torch.Tensor
    bonds: torch.Tensor
    mask: torch.Tensor
    hydrogens: str = "implicit"
    indices: list[int] = field(default_factory=list)
    skipped: list[tuple[int, str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.smiles)

    @property
    def n_atoms(self) -> torch.Tensor:
        """Real atoms per molecule, ``(B,)`` long."""
        return self.mask.sum(1).round().long()

    def model_inputs(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(atoms, bonds, mask)``, the arguments of :class:`~pathattr.chem.GraphNet`."""
        return self.atoms, self.bonds, self.mask

    def subset(self, which: Sequence[int] | torch.Tensor) -> MoleculeBatch:
        """The molecules at positions ``which``, re-padded to the largest of them."""
        idx = [int(i) for i in which]
        graphs = [(self.atoms[i], self.bonds[i], int(self.n_atoms[i])) for i in idx]
        atoms, bonds, mask = _pad([(a[:n], b[:n, :n]) for a, b, n in graphs], self.atoms.dtype)
        return MoleculeBatch(
            [self.smiles[i] for i in idx], [self.mols[i] for i in idx], atoms, bonds, mask,
            self.hydrogens, [self.indices[i] for i in idx] if self.indices else idx,
        )  # fmt: skip

    def to(self, dtype: torch.dtype) -> MoleculeBatch:
        """The same batch with float tensors of ``dtype``."""
        return MoleculeBatch(
            self.smiles, self.mols, self.atoms.to(dtype), self.bonds.to(dtype),
            self.mask.to(dtype), self.hydrogens, self.indices, self.skipped,
        )  # fmt: skip


def parse(smiles: str, hydrogens: str = "implicit") -> Any:
    """The RDKit molecule of ``smiles``, or :class:`InvalidSmilesError` naming the string."""
    if not isinstance(smiles, str):
        raise TypeError(f"smiles: expected a str, got {type(smiles).__name__} {smiles!r}")
    with quiet_rdkit():
        mol = Chem.MolFromSmiles(smiles) if smiles.strip() else None
    if mol is None:
        raise InvalidSmilesError(f"smiles: RDKit cannot parse {smiles!r}")
    return Chem.AddHs(mol) if hydrogens == "explicit" else mol


def atom_features(mol: Any) -> torch.Tensor:
    """``(n, len(ATOM_FEATURES))`` one-hot/flag features of every atom of ``mol``."""
    out = torch.zeros(mol.GetNumAtoms(), len(ATOM_FEATURES))
    for atom in mol.GetAtoms():
        row = out[atom.GetIdx()]
        sym = atom.GetSymbol()
        row[_A[f"element={sym}" if sym in ELEMENTS else "element=other"]] = 1
        row[_A[f"degree={min(atom.GetDegree(), DEGREES[-1])}"]] = 1
        row[_A[f"hydrogens={min(atom.GetTotalNumHs(includeNeighbors=True), HYDROGENS[-1])}"]] = 1
        q = atom.GetFormalCharge()
        row[_A["charge=" + ("negative" if q < 0 else "positive" if q > 0 else "neutral")]] = 1
        row[_A["aromatic"]] = float(atom.GetIsAromatic())
        row[_A["in_ring"]] = float(atom.IsInRing())
        hyb = str(atom.GetHybridization())
        row[_A[f"hybridisation={hyb if hyb in HYBRIDISATIONS else 'other'}"]] = 1
    return out


def bond_features(mol: Any) -> torch.Tensor:
    """``(n, n, len(BOND_FEATURES))`` symmetric bond features of ``mol`` (0 off bonds)."""
    n = mol.GetNumAtoms()
    out = torch.zeros(n, n, len(BOND_FEATURES))
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        feats = torch.zeros(len(BOND_FEATURES))
        kind = str(bond.GetBondType())
        # dative and other exotic bonds (metal complexes) count as single bonds
        feats[_B[f"type={kind if kind in BOND_TYPES else 'SINGLE'}"]] = 1
        feats[_B["conjugated"]] = float(bond.GetIsConjugated())
        feats[_B["in_ring"]] = float(bond.IsInRing())
        out[i, j] = feats
        out[j, i] = feats
    return out


def featurize(
    smiles: str | Iterable[str],
    *,
    hydrogens: str = "implicit",
    errors: str = "raise",
    dtype: torch.dtype = torch.float32,
) -> MoleculeBatch:
    """Graph tensors of one SMILES string or a list of them, padded to the largest molecule.

    Args:
        smiles: a SMILES string or an iterable of them.
        hydrogens: ``"implicit"`` (default: heavy atoms are the nodes, hydrogen counts a
            feature) or ``"explicit"`` (hydrogens are nodes too).
        errors: ``"raise"`` (default): an unparsable string raises
            :class:`InvalidSmilesError` naming it and its position; ``"skip"``: it is left out,
            listed in ``MoleculeBatch.skipped`` and a warning says how many were skipped.
        dtype: float dtype of the tensors.

    Returns:
        A :class:`MoleculeBatch`.
    """
    if hydrogens not in ("implicit", "explicit"):
        raise ValueError(f"hydrogens: expected 'implicit' or 'explicit', got {hydrogens!r}")
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors: expected 'raise' or 'skip', got {errors!r}")
    items = [smiles] if isinstance(smiles, str) else list(smiles)
    kept: list[tuple[int, str, Any]] = []
    skipped: list[tuple[int, str, str]] = []
    for pos, s in enumerate(items):
        try:
            kept.append((pos, s, parse(s, hydrogens)))
        except (InvalidSmilesError, TypeError) as err:
            if errors == "raise":
                where = "" if isinstance(smiles, str) else f" (position {pos})"
                raise type(err)(f"{err}{where}") from None
            skipped.append((pos, repr(s), str(err)))
    if skipped:
        warnings.warn(
            f"featurize: skipped {len(skipped)} of {len(items)} SMILES that RDKit cannot parse "
            f"(first: {skipped[0][1]} at position {skipped[0][0]}); see MoleculeBatch.skipped",
            stacklevel=2,
        )
    graphs = [(atom_features(m), bond_features(m)) for _, _, m in kept]
    atoms, bonds, mask = _pad(graphs, dtype)
    return MoleculeBatch(
        [s for _, s, _ in kept], [m for _, _, m in kept], atoms, bonds, mask, hydrogens,
        [p for p, _, _ in kept], skipped,
    )  # fmt: skip


def _pad(
    graphs: Sequence[tuple[torch.Tensor, torch.Tensor]], dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack ``(atoms, bonds)`` pairs, zero-padded to the largest; plus the atom mask."""
    size = max((a.shape[0] for a, _ in graphs), default=0)
    b = len(graphs)
    atoms = torch.zeros(b, size, len(ATOM_FEATURES), dtype=dtype)
    bonds = torch.zeros(b, size, size, len(BOND_FEATURES), dtype=dtype)
    mask = torch.zeros(b, size, dtype=dtype)
    for k, (a, e) in enumerate(graphs):
        n = a.shape[0]
        atoms[k, :n] = a
        bonds[k, :n, :n] = e
        mask[k, :n] = 1
    return atoms, bonds, mask
