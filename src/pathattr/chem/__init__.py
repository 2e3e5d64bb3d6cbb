"""Molecules: graph tensors from SMILES, small graph networks, attributions to atoms and bonds.

Needs RDKit (``pip install 'pathattr[chem]'``).  See ``docs/chem.md``::

    from pathattr.chem import GraphNet, attribute, featurize

    batch = featurize(["CCO", "c1ccccc1Cl"])
    result = attribute(model, batch)            # Integrated Gradients from the zero baseline
    result[1].atom_scores, result[1].groups     # per-atom scores, functional-group shares
    result[1].save_png("chlorobenzene.png")
"""

from pathattr.chem.attribute import METHODS, OVER, attribute
from pathattr.chem.baselines import ATOM_BASELINES, BOND_BASELINES, atom_pool, mean_atom
from pathattr.chem.draw import draw_molecule
from pathattr.chem.featurize import (
    ATOM_FEATURES,
    BOND_FEATURES,
    InvalidSmilesError,
    MoleculeBatch,
    atom_column,
    bond_channel,
    featurize,
)
from pathattr.chem.groups import FUNCTIONAL_GROUPS, GroupShare, assign_groups, group_shares
from pathattr.chem.model import AtomLinear, GraphNet
from pathattr.chem.result import MoleculeAttribution, MoleculeAttributions
from pathattr.chem.train import fit, predict
from pathattr.chem.truth import atom_contributions, crippen_contributions, tpsa_contributions

__all__ = [
    "ATOM_BASELINES",
    "ATOM_FEATURES",
    "BOND_BASELINES",
    "BOND_FEATURES",
    "FUNCTIONAL_GROUPS",
    "METHODS",
    "OVER",
    "AtomLinear",
    "GraphNet",
    "GroupShare",
    "InvalidSmilesError",
    "MoleculeAttribution",
    "MoleculeAttributions",
    "MoleculeBatch",
    "assign_groups",
    "atom_column",
    "atom_contributions",
    "atom_pool",
    "attribute",
    "bond_channel",
    "crippen_contributions",
    "draw_molecule",
    "featurize",
    "fit",
    "group_shares",
    "mean_atom",
    "predict",
    "tpsa_contributions",
]
