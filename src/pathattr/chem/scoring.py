"""Scores of atom attributions against known per-atom contributions (:mod:`pathattr.chem.truth`).

Per molecule:

* ``pearson`` and ``spearman``: correlation between the atom scores and the true
  contributions (NaN when either is constant over the molecule, e.g. TPSA of a molecule with
  one polar atom type; such molecules are left out of the means);
* ``top3``: True when the 3 atoms with the largest scores are all among the true top 3, where
  the true top 3 are the atoms whose contribution is at least the 3rd largest (ties at the
  border all count); undefined (NaN) for molecules with fewer than 4 atoms, where it is
  trivially true;
* ``top3_overlap``: how many of the 3 top-scored atoms are in the true top 3, divided by 3.

Correlations ignore a shift common to all atoms of a molecule, but the baseline's share of each
atom need not be common (with biases, the all-zero atoms of the zero baseline still exchange
messages along the bonds): one reason why even an exact model need not score 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class AtomScore:
    """How one molecule's atom scores compare with the true contributions (see module)."""

    pearson: float
    spearman: float
    top3: float
    top3_overlap: float


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of two 1-D tensors (NaN when either is constant)."""
    a, b = a.double() - a.double().mean(), b.double() - b.double().mean()
    den = float(a.norm() * b.norm())
    return float((a * b).sum()) / den if den > 1e-12 else float("nan")


def ranks(a: torch.Tensor) -> torch.Tensor:
    """Ranks 0..n−1 of a 1-D tensor, tied values sharing their average rank."""
    a = a.double()
    order = torch.argsort(a, stable=True)
    r = torch.empty_like(a)
    r[order] = torch.arange(a.numel(), dtype=torch.float64)
    # average over ties: every value gets the mean rank of the values equal to it
    uniq, inverse = torch.unique(a, return_inverse=True)
    sums = torch.zeros(uniq.numel(), dtype=torch.float64).index_add_(0, inverse, r)
    counts = torch.zeros(uniq.numel(), dtype=torch.float64).index_add_(
        0, inverse, torch.ones_like(r)
    )
    return (sums / counts)[inverse]


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation (Pearson of the tie-averaged ranks)."""
    return pearson(ranks(a), ranks(b))


def score_atoms(scores: torch.Tensor, truth: torch.Tensor, k: int = 3) -> AtomScore:
    """Pearson, Spearman and top-k agreement of one molecule's atom scores with the truth."""
    if scores.shape != truth.shape:
        raise ValueError(
            f"scores: expected one score per atom like truth {tuple(truth.shape)}, got "
            f"{tuple(scores.shape)}"
        )
    s, t = scores.detach().double(), truth.detach().double()
    top, overlap = float("nan"), float("nan")
    if s.numel() > k:
        border = torch.topk(t, k).values[-1]
        true_top = t >= border - 1e-9 * max(1.0, float(border.abs()))
        picked = true_top[torch.argsort(s, descending=True, stable=True)[:k]]
        top, overlap = float(picked.all()), float(picked.double().mean())
    return AtomScore(pearson(s, t), spearman(s, t), top, overlap)
