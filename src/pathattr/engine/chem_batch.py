"""The unit of work of a dataset run over molecules: SMILES in, per-atom attributions out.

:class:`MoleculeDatasetAttributor` is what :class:`~pathattr.engine.batch.DatasetAttributor` is
for arrays, for a molecule-graph network called as ``model(atoms, bonds, mask)`` (e.g.
:class:`~pathattr.chem.GraphNet`): a batch of SMILES is featurised into padded graph tensors
and attributed with :func:`pathattr.chem.attribute` over the atom features (padding gets
exactly 0).  The store gets one score per heavy atom (``attributions``, ``list<float>``) and
each atom's element symbol with its index (``tokens``, e.g. ``"C0"``, ``"O3"``), so a row reads
without RDKit; the SMILES stay in the input table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


def is_molecule_model(model: Any, preprocess: Any) -> bool:
    """A molecule model: a pathattr.chem network, or ``(model, "smiles")`` from a spec."""
    if isinstance(preprocess, str) and preprocess == "smiles":
        return True
    try:
        from pathattr.chem.model import AtomLinear, GraphNet
    except ImportError:  # RDKit missing: it cannot be a chem model we built
        return False
    return preprocess is None and isinstance(model, (GraphNet, AtomLinear))


@dataclass
class MoleculeDatasetAttributor:
    """``fn(batch) -> columns`` for SMILES: IG over the atom features, picklable.

    Args:
        model: called as ``model(atoms, bonds, mask)`` on padded tensors, one output per
            molecule (a regression) or one per class.
        options: options of :func:`pathattr.chem.attribute` (``steps``, ``baseline``,
            ``tol``...).
        target: ``"predicted"`` (a single-output model: its output; several: the argmax), an
            int class, or ``"column"`` (the batch's ``target``).
        device: where to run.

    The batch holds ``id``, ``inputs`` (SMILES) and, for ``target="column"``, ``target``.
    """

    model: torch.nn.Module
    options: dict[str, Any] = field(default_factory=dict)
    target: str | int = "predicted"
    device: str = "cpu"

    def inputs(self, items: list[Any]) -> np.ndarray:
        """The batch's SMILES (an object array); each must parse (the error names it)."""
        from pathattr.chem.featurize import InvalidSmilesError, parse

        for i, s in enumerate(items):
            if not isinstance(s, str) or not s.strip():
                raise InvalidSmilesError(f"input: expected a SMILES string, got {s!r}")
            try:
                parse(s)
            except ValueError as e:
                raise InvalidSmilesError(f"input: row {i} of the batch: {e}") from e
        return np.asarray(items, dtype=object)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Attribute one batch of molecules (see the class docstring)."""
        from pathattr.chem import attribute, featurize

        ids = [str(i) for i in np.asarray(batch["id"]).tolist()]
        mols = featurize([str(s) for s in np.asarray(batch["inputs"], dtype=object).tolist()])
        self.model.to(self.device).eval()
        atoms, bonds, mask = (t.to(self.device) for t in mols.model_inputs())
        with torch.no_grad():
            out = self.model(atoms, bonds, mask).float().cpu()
        multi = out.dim() == 2 and out.shape[1] > 1
        pred = out.argmax(1).numpy() if multi else np.full(len(ids), -1, np.int64)
        if self.target == "column":
            target: np.ndarray | None = np.asarray(batch["target"], dtype=np.int64)
        elif self.target == "predicted":
            target = pred if multi else None
        else:
            target = np.full(len(ids), int(self.target), np.int64)
        res = attribute(
            self.model, mols, groups=False,
            target=None if target is None else torch.as_tensor(target),
            **{"warn_tol": None, **self.options},
        )  # fmt: skip
        n = len(ids)
        one = [res[i] for i in range(n)]
        a = res.attribution
        return {
            "id": np.asarray(ids, dtype=object),
            "target": np.full(n, -1, np.int64) if target is None else target.astype(np.int64),
            "prediction": np.asarray(pred, np.int64),
            "f_x": np.array([m.output for m in one], np.float32),
            "f_baseline": np.array([m.baseline_output for m in one], np.float32),
            "delta": np.array([m.delta for m in one], np.float32),
            "relative_delta": a.relative_delta.detach().float().cpu().numpy().reshape(n),
            "evaluations": a.evaluations.cpu().numpy().astype(np.int64).reshape(n),
            "attributions": [m.atom_scores.detach().float().cpu().numpy() for m in one],
            "tokens": [
                [f"{atom.GetSymbol()}{atom.GetIdx()}" for atom in m.mol.GetAtoms()] for m in one
            ],
        }
