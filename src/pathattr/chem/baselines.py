"""Baselines for molecule graphs, and the reference atoms of Expected Gradients.

Atom baselines (``over="atoms"``):

* ``"zero"``: every atom feature 0 (the IG paper's choice for its molecule network): atoms
  without element, degree, charge or any flag, still connected by the molecule's bonds.
  A network with biases gives such atoms a nonzero output (depending on the bond graph); a
  bias-free :class:`~pathattr.chem.GraphNet` gives exactly 0.
* ``"carbon"``: every atom becomes a neutral, non-aromatic sp3 carbon with the same degree and
  ring membership and the hydrogens that fill its valence of 4: the molecule's carbon skeleton.
  Attributions then say what each atom's identity adds *relative to carbon*, which is how a
  medicinal chemist reads a substituent effect (a carbon scores ≈ 0, heteroatoms stand out).
* a tensor ``(n_atom_features,)``: the same feature vector at every atom, e.g. the average
  atom of a reference set (:func:`mean_atom`).

Bond baselines (``over="bonds"``): ``"zero"`` (no bonds: disconnected atoms) or ``"single"``
(every bond a plain single bond, not conjugated, ring flag kept: the saturated skeleton).

In every case the baseline equals the input on padded atoms (both are 0), so x − x' is exactly
0 there.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from pathattr.chem.featurize import (
    ATOM_FEATURES,
    DEGREES,
    HYDROGENS,
    MoleculeBatch,
    atom_column,
    bond_channel,
)

ATOM_BASELINES = ("zero", "carbon")
BOND_BASELINES = ("zero", "single")


def atom_baseline(
    spec: str | torch.Tensor, atoms: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """The ``(B, N, F)`` atom baseline named by ``spec`` (see the module docstring)."""
    m = mask.unsqueeze(-1).to(atoms.dtype)
    if isinstance(spec, torch.Tensor):
        if spec.shape != (atoms.shape[-1],):
            raise ValueError(
                f"baseline: expected a tensor of shape ({atoms.shape[-1]},) (one atom's "
                f"features, used at every atom), got shape {tuple(spec.shape)}"
            )
        return spec.to(atoms).expand_as(atoms) * m
    if spec == "zero":
        return torch.zeros_like(atoms)
    if spec == "carbon":
        return _carbon_skeleton(atoms) * m
    raise ValueError(f"baseline: expected one of {ATOM_BASELINES} or a tensor, got {spec!r}")


def bond_baseline(spec: str, bonds: torch.Tensor) -> torch.Tensor:
    """The ``(B, N, N, C)`` bond baseline named by ``spec`` (see the module docstring)."""
    if spec == "zero":
        return torch.zeros_like(bonds)
    if spec == "single":
        out = torch.zeros_like(bonds)
        present = bonds[..., : bond_channel("conjugated")].sum(-1)
        out[..., bond_channel("type=SINGLE")] = present
        out[..., bond_channel("in_ring")] = bonds[..., bond_channel("in_ring")]
        return out
    raise ValueError(f"baseline: expected one of {BOND_BASELINES} for bonds, got {spec!r}")


def _carbon_skeleton(atoms: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(atoms)
    out[..., atom_column("element=C")] = 1
    degree_cols = [atom_column(f"degree={d}") for d in DEGREES]
    out[..., degree_cols] = atoms[..., degree_cols]
    degree = (atoms[..., degree_cols] * torch.tensor(DEGREES, dtype=atoms.dtype)).sum(-1)
    hydrogens = (4 - degree).clamp(0, HYDROGENS[-1]).long()
    h_cols = [atom_column(f"hydrogens={h}") for h in HYDROGENS]
    out[..., h_cols] = torch.nn.functional.one_hot(hydrogens, len(HYDROGENS)).to(atoms.dtype)
    out[..., atom_column("charge=neutral")] = 1
    out[..., atom_column("in_ring")] = atoms[..., atom_column("in_ring")]
    out[..., atom_column("hybridisation=SP3")] = 1
    return out


def mean_atom(references: MoleculeBatch) -> torch.Tensor:
    """The average feature vector of the real atoms of ``references`` (a baseline tensor)."""
    return atom_pool(references).mean(0)


def atom_pool(references: MoleculeBatch | torch.Tensor) -> torch.Tensor:
    """``(P, F)``: every real atom of a reference batch (or a given pool, checked)."""
    if isinstance(references, MoleculeBatch):
        pool = references.atoms[references.mask.bool()]
    elif isinstance(references, torch.Tensor):
        pool = references
    else:
        raise TypeError(
            "references: expected a MoleculeBatch or a (P, n_atom_features) tensor of atoms, "
            f"got {type(references).__name__}"
        )
    if pool.dim() != 2 or pool.shape[1] != len(ATOM_FEATURES) or pool.shape[0] == 0:
        raise ValueError(
            f"references: expected at least one atom of {len(ATOM_FEATURES)} features, got "
            f"shape {tuple(pool.shape)}"
        )
    return pool


def atom_sampler(
    pool: torch.Tensor, n_atoms: int
) -> Callable[[int, torch.Generator], torch.Tensor]:
    """A sampler for Expected Gradients: each atom position gets an atom drawn from ``pool``.

    The references keep the molecule's bonds (they are not an input of the path) and replace
    every atom by one drawn uniformly from the reference atoms; the expectation is over which
    atoms could have sat in this skeleton.
    """

    def sample(n: int, generator: torch.Generator) -> torch.Tensor:
        idx = torch.randint(pool.shape[0], (n, n_atoms), generator=generator)
        return pool[idx]

    return sample
