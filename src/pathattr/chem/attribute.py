"""Attributions to the atoms and bonds of molecules, with pathattr's own methods.

:func:`attribute` featurises the molecules (:func:`~pathattr.chem.featurize`), chooses what the
path moves (``over``), builds the baseline, and runs one of pathattr's methods on the padded
tensors: the atom features, the bond features or both are the inputs, and the rest of
``(atoms, bonds, mask)`` rides along as ``forward_args``.  Scores are the attributions summed
over each atom's features (and over each bond's channels, both directions of the symmetric bond
tensor).

Padding gets exactly 0: the baseline equals the input on padded atoms (both are 0), so
x − x' = 0 there, and the networks of :mod:`pathattr.chem.model` multiply padded rows by the
mask, so the gradient there is exactly 0 too (which covers saliency and the randomly drawn
atoms of Expected Gradients).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from pathattr.chem.baselines import atom_baseline, atom_pool, atom_sampler, bond_baseline
from pathattr.chem.featurize import MoleculeBatch, featurize
from pathattr.chem.groups import group_shares
from pathattr.chem.result import MoleculeAttribution, MoleculeAttributions
from pathattr.result import Attribution

METHODS = (
    "integrated_gradients",
    "expected_gradients",
    "saliency",
    "input_x_gradient",
    "deeplift",
)
OVER = ("atoms", "bonds", "both")


def attribute(
    model: Callable[..., Any],
    molecules: MoleculeBatch | str | Iterable[str],
    *,
    method: str = "integrated_gradients",
    over: str = "atoms",
    baseline: str | torch.Tensor | tuple[Any, Any] = "zero",
    target: Any = None,
    steps: int | str = 50,
    references: MoleculeBatch | torch.Tensor | None = None,
    samples: int = 64,
    seed: int | None = None,
    groups: dict[str, tuple[str, ...]] | None | bool = None,
    hydrogens: str = "implicit",
    errors: str = "raise",
    batch_size: int | str | None = "auto",
    warn_tol: float | None = 0.05,
    **options: Any,
) -> MoleculeAttributions:
    """Attributions of ``model``'s output to the atoms and/or bonds of ``molecules``.

    Args:
        model: called as ``model(atoms, bonds, mask)`` on padded tensors (e.g.
            :class:`~pathattr.chem.GraphNet`); padded atoms must not reach its output.
        molecules: a :class:`~pathattr.chem.MoleculeBatch` or SMILES string(s).
        method: one of :data:`METHODS`.  ``saliency`` scores an atom by the signed sum of
            ∂F/∂x over its features; ``input_x_gradient`` by Σ x ∂F/∂x.
        over: ``"atoms"`` (default: the path moves the atom features, the bonds stay),
            ``"bonds"`` (the path moves the bond features) or ``"both"``.
        baseline: for atoms ``"zero"`` (default, the IG paper's), ``"carbon"`` or one atom's
            feature tensor; for bonds ``"zero"`` or ``"single"``; for ``over="both"`` one name
            valid for both or a pair ``(atom baseline, bond baseline)``
            (:mod:`pathattr.chem.baselines`).  Saliency and gradient × input only use it to
            report F(x'); Expected Gradients uses ``references`` instead.
        target: which output to explain, for models with several (as in
            :func:`pathattr.integrated_gradients`).
        steps: Integrated Gradients' nodes per molecule, or ``"auto"`` (error control).
        references: Expected Gradients only: a :class:`~pathattr.chem.MoleculeBatch` (or a
            ``(P, n_atom_features)`` tensor) whose atoms are drawn at every atom position.
        samples, seed: Expected Gradients' samples per molecule and seed.
        groups: SMARTS groups for the share table (default
            :data:`~pathattr.chem.groups.FUNCTIONAL_GROUPS`); False skips the table.
        hydrogens, errors: passed to :func:`~pathattr.chem.featurize` for SMILES input.
        batch_size, warn_tol: as in :func:`pathattr.integrated_gradients`.
        **options: further keyword arguments of the method.

    Returns:
        :class:`~pathattr.chem.MoleculeAttributions`, one entry per molecule.
    """
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    if over not in OVER:
        raise ValueError(f"over: expected one of {OVER}, got {over!r}")
    batch = (
        molecules
        if isinstance(molecules, MoleculeBatch)
        else featurize(molecules, hydrogens=hydrogens, errors=errors)
    )
    atoms, bonds, mask = batch.model_inputs()
    run_model, inputs, forward_args = _arrange(model, over, atoms, bonds, mask)
    common: dict[str, Any] = {"target": target, "forward_args": forward_args, **options}
    if method == "expected_gradients":
        if over != "atoms":
            raise ValueError(
                "over: Expected Gradients draws reference atoms; use over='atoms' (references "
                "for bonds would put bonds between atoms that are not bonded)"
            )
        if references is None:
            raise ValueError("references: Expected Gradients needs reference molecules or atoms")
        pool = atom_pool(references).to(atoms.dtype)
        name = f"references ({pool.shape[0]} atoms)"
        res = _run(method, run_model, inputs, references=atom_sampler(pool, atoms.shape[1]),
                   samples=samples, seed=seed, batch_size=batch_size, **common)  # fmt: skip
    else:
        bases, name = _baselines(over, baseline, atoms, bonds, mask)
        extra: dict[str, Any] = {"baselines": bases}
        if method == "integrated_gradients":
            extra.update(steps=steps, batch_size=batch_size, warn_tol=warn_tol)
        elif method == "deeplift":
            extra.update(warn_tol=warn_tol)
        else:
            extra.update(batch_size=batch_size)
        res = _run(method, run_model, inputs, **extra, **common)
    return _per_molecule(res, batch, over, method, name, groups)


def _arrange(
    model: Callable[..., Any],
    over: str,
    atoms: torch.Tensor,
    bonds: torch.Tensor,
    mask: torch.Tensor,
) -> tuple[Callable[..., Any], Any, tuple[torch.Tensor, ...]]:
    """The model as the method calls it, its inputs and the arguments riding along."""
    if over == "atoms":
        return model, atoms, (bonds, mask)
    if over == "both":
        return model, (atoms, bonds), (mask,)
    return _BondsFirst(model), bonds, (atoms, mask)


class _BondsFirst(nn.Module):
    """``model(atoms, bonds, mask)`` called as ``f(bonds, atoms, mask)``."""

    def __init__(self, model: Callable[..., Any]) -> None:
        super().__init__()
        self.model = model
        # the pipeline warns about (and protects) a model in training mode: mirror its mode
        self.training = bool(getattr(model, "training", False))

    def forward(self, bonds: torch.Tensor, atoms: torch.Tensor, mask: torch.Tensor) -> Any:
        return self.model(atoms, bonds, mask)


def _baselines(
    over: str, spec: Any, atoms: torch.Tensor, bonds: torch.Tensor, mask: torch.Tensor
) -> tuple[Any, str]:
    """The baseline tensor(s) for ``over`` and a name for them."""
    if over == "both":
        a_spec, b_spec = spec if isinstance(spec, tuple) else (spec, spec)
        return (atom_baseline(a_spec, atoms, mask), bond_baseline(b_spec, bonds)), (
            f"{_name(a_spec)} atoms, {_name(b_spec)} bonds"
        )
    if isinstance(spec, tuple):
        raise ValueError(f"baseline: a pair of baselines is for over='both', not over={over!r}")
    if over == "atoms":
        return atom_baseline(spec, atoms, mask), _name(spec)
    if not isinstance(spec, str):
        raise ValueError(f"baseline: expected 'zero' or 'single' for bonds, got {spec!r}")
    return bond_baseline(spec, bonds), spec


def _name(spec: Any) -> str:
    return spec if isinstance(spec, str) else "custom atom"


def _run(method: str, model: Callable[..., Any], inputs: Any, **kwargs: Any) -> Attribution:
    import pathattr

    fn = getattr(pathattr, method)
    # the method's warnings (completeness, convergence) re-raised at the caller of attribute()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fn(model, inputs, **kwargs)
    for w in caught:
        warnings.warn(w.message, w.category, stacklevel=3)
    return res  # type: ignore[no-any-return]


def _per_molecule(
    res: Attribution,
    batch: MoleculeBatch,
    over: str,
    method: str,
    baseline: str,
    groups: dict[str, tuple[str, ...]] | None | bool,
) -> MoleculeAttributions:
    attrs = res.attributions
    parts: list[torch.Tensor] = list(attrs) if isinstance(attrs, tuple) else [attrs]  # type: ignore[list-item]
    atom_attr: torch.Tensor | None = parts[0] if over != "bonds" else None
    bond_attr: torch.Tensor | None = parts[-1] if over != "atoms" else None
    out = []
    for k, (smiles, mol) in enumerate(zip(batch.smiles, batch.mols)):
        n = int(batch.n_atoms[k])
        atom_scores = (
            atom_attr[k, :n].sum(-1).detach()
            if atom_attr is not None
            else torch.zeros(n, dtype=batch.atoms.dtype)
        )
        pair = bond_attr[k, :n, :n].sum(-1).detach() if bond_attr is not None else None
        bond_scores = None if pair is None else _per_bond(mol, pair)
        f_x, f_b, delta = (float(t[k]) for t in (res.output, res.baseline_output, res.delta))
        shares = []
        if groups is not False:
            table = None if groups is True else groups
            shares = group_shares(mol, atom_scores, f_x, f_b, bond_scores=bond_scores,
                                  groups=table)  # type: ignore[arg-type]  # fmt: skip
        item = MoleculeAttribution(
            smiles, mol, atom_scores, bond_scores, pair, f_x, f_b, delta, method, baseline, shares
        )
        out.append(item)
    return MoleculeAttributions(out, res, batch.skipped)


def _per_bond(mol: Any, pair: torch.Tensor) -> torch.Tensor:
    """One score per RDKit bond: both directions of the symmetric bond tensor."""
    ends = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()]
    if not ends:
        return pair.new_zeros(0)
    return torch.stack([pair[i, j] + pair[j, i] for i, j in ends])
