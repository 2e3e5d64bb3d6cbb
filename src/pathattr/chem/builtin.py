"""``chem-logp``: a GraphNet trained on Crippen logP of RDKit's NCI set, built offline.

Crippen logP is a sum of exact per-atom contributions, so this model's attributions have a
known right answer per atom (see ``experiments/chem_ground_truth.py``).  The network is
:class:`~pathattr.chem.GraphNet` without biases (F of the all-zero molecule is 0, so group
shares are shares of the prediction); it is trained on first use on the molecules of
``RDConfig.RDDataDir/NCI/first_5K.smi`` that RDKit parses with 2-40 heavy atoms (about a minute
on two CPU threads), and its weights are cached in ``$PATHATTR_CACHE`` (default
``~/.cache/pathattr``); later calls load them.  Needs ``pip install 'pathattr[chem]'``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from pathattr.chem.featurize import featurize, parse
from pathattr.chem.model import GraphNet
from pathattr.chem.train import fit, predict
from pathattr.chem.truth import atom_contributions
from pathattr.text.sentiment import cache_root

MAX_ATOMS = 40
EPOCHS = 20
HELD_OUT = 500  # the last molecules of the usable NCI list, never trained on
RECIPE = f"v1-nci-nobias-epochs{EPOCHS}-seed0"


@dataclass(frozen=True)
class ChemModel:
    """The trained network and how it was made.

    Attributes:
        model: a :class:`~pathattr.chem.GraphNet` (``bias=False``), eval mode.
        rmse: held-out RMSE of logP on the last :data:`HELD_OUT` usable NCI molecules.
        train_seconds: time spent training, 0.0 when it came from the cache.
        cache_file: where the weights are (or would be) cached.
    """

    model: GraphNet
    rmse: float
    train_seconds: float
    cache_file: Path


def nci_smiles() -> list[str]:
    """The 4,999 SMILES of RDKit's ``NCI/first_5K.smi``."""
    from rdkit import RDConfig

    path = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def usable(smiles: list[str], max_atoms: int = MAX_ATOMS) -> list[str]:
    """The SMILES RDKit parses with 2..``max_atoms`` heavy atoms, in order."""
    keep = []
    for s in smiles:
        try:
            n = parse(s).GetNumAtoms()
        except ValueError:
            continue
        if 2 <= n <= max_atoms:
            keep.append(s)
    return keep


def chem_logp(*, cache: bool = True) -> ChemModel:
    """The ``chem-logp`` model: trained on first use, then loaded from the cache.

    Args:
        cache: read and write the weights in the cache (False: always retrain, write nothing).
    """
    file = cache_root() / f"chem-logp-graphnet-{RECIPE}.pt"
    torch.manual_seed(0)
    model = GraphNet(bias=False)
    if cache and file.exists():
        saved = torch.load(file, weights_only=True)
        model.load_state_dict(saved["state"])
        return ChemModel(model.eval(), float(saved["rmse"]), 0.0, file)
    t0 = time.perf_counter()
    smiles = usable(nci_smiles())
    train, test = featurize(smiles[:-HELD_OUT]), featurize(smiles[-HELD_OUT:])
    y = torch.stack([atom_contributions(m, "logp").sum() for m in train.mols])
    y_test = torch.stack([atom_contributions(m, "logp").sum() for m in test.mols])
    with torch.random.fork_rng():
        fit(model, train, y, epochs=EPOCHS, seed=0)
    rmse = float(((predict(model, test).double() - y_test.double()) ** 2).mean().sqrt())
    seconds = time.perf_counter() - t0
    if cache:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(".tmp")
        torch.save({"state": model.state_dict(), "rmse": rmse}, tmp)
        tmp.replace(file)  # atomic: a killed run never leaves half a model behind
    return ChemModel(model.eval(), rmse, seconds, file)
