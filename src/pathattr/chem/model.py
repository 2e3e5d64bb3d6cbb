"""Small dense-adjacency graph networks with a sum readout (no PyTorch Geometric needed).

Both take ``(atoms, bonds, mask)`` as made by :func:`pathattr.chem.featurize` and return one
value per molecule (or ``(B, outputs)``).  Every padded atom is multiplied by ``mask = 0`` after
every layer and before the readout, so padding never reaches the output and the gradient with
respect to a padded row is exactly 0.

Bond features *are* the edges: a message from atom j to atom i is Σ_c e_ijc W_c h_j, one weight
matrix per bond channel, so an all-zero bond tensor (the zero baseline for bonds) is a set of
disconnected atoms, and the straight path from it scales every bond in.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pathattr.chem.featurize import ATOM_FEATURES, BOND_FEATURES


class GraphNet(nn.Module):
    """Message passing over bond channels, then a per-atom MLP summed over the atoms.

    ``F(mol) = Σ_i mask_i · MLP(h_i)`` with ``h_i`` after ``layers`` rounds of
    ``h_i ← mask_i · (h_i + ReLU(U h_i + Σ_j Σ_c e_ijc W_c h_j + b))``, ``h_i`` starting
    at ``ReLU(E a_i + b)``.  The sum readout makes
    it a natural model of additive per-atom properties (Crippen logP, TPSA) and invariant to the
    order of the atoms.

    Args:
        atom_features, bond_features: input widths (default: the featuriser's).
        hidden: width of the atom states.
        layers: rounds of message passing (each widens an atom's view by one bond).
        outputs: values per molecule; 1 returns ``(B,)``.
        bias: give the layers biases (default).  ``bias=False`` makes the network positively
            homogeneous in the atom features (for fixed bonds): an all-zero atom then outputs
            exactly 0, so from the zero baseline F(x') = 0 and the attributions share out all
            of F(x) (functional-group shares of the prediction itself), and Integrated
            Gradients from zero equals gradient × input (F(αx) = αF(x)).  The one-hot
            element features act as a bias on real atoms, so little expressiveness is lost.
            With biases, F at all-zero atoms is not 0: it depends on the atom count and, as
            the zero atoms still exchange messages along the bonds, on the bond graph.
    """

    def __init__(
        self,
        atom_features: int = len(ATOM_FEATURES),
        bond_features: int = len(BOND_FEATURES),
        hidden: int = 64,
        layers: int = 3,
        outputs: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.outputs = outputs
        self.embed = nn.Linear(atom_features, hidden, bias=bias)
        self.update = nn.ModuleList(nn.Linear(hidden, hidden, bias=bias) for _ in range(layers))
        scale = 1.0 / (hidden**0.5 * bond_features**0.5)
        self.edge = nn.ParameterList(
            nn.Parameter(torch.randn(bond_features, hidden, hidden) * scale) for _ in range(layers)
        )
        self.head = nn.Sequential(
            nn.Linear(hidden, hidden, bias=bias), nn.ReLU(), nn.Linear(hidden, outputs, bias=bias)
        )

    def atom_outputs(
        self, atoms: torch.Tensor, bonds: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Each atom's term of the readout sum, ``(B, N, outputs)`` (0 on padding)."""
        m = mask.unsqueeze(-1).to(atoms.dtype)
        h = F.relu(self.embed(atoms)) * m
        for update, edge in zip(self.update, self.edge):
            # W_c h_j for every channel first (B, C, N, H), then sum over neighbours and channels
            sent = torch.einsum("bjh,chk->bcjk", h, edge)
            msg = torch.einsum("bijc,bcjk->bik", bonds, sent)
            h = (h + F.relu(update(h) + msg)) * m
        return self.head(h) * m

    def forward(self, atoms: torch.Tensor, bonds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """One value per molecule (``(B,)``), or ``(B, outputs)`` when ``outputs > 1``."""
        out = self.atom_outputs(atoms, bonds, mask).sum(1)
        return out.squeeze(-1) if self.outputs == 1 else out


class AtomLinear(nn.Module):
    """``F(mol) = Σ_i mask_i (w · a_i + b)``: an exactly additive per-atom model.

    With one-hot atom features, ``w`` holds a contribution per feature value; it is the network
    whose true per-atom contributions are known exactly (``w · a_i + b``), used to check that
    Integrated Gradients recovers them (``w · a_i`` from the zero baseline, whose share is ``b``
    per atom).
    """

    def __init__(self, weight: torch.Tensor, bias: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.detach().clone().reshape(-1))
        self.bias = nn.Parameter(torch.tensor(float(bias), dtype=weight.dtype))

    def atom_outputs(
        self, atoms: torch.Tensor, bonds: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Each atom's term ``mask_i (w · a_i + b)``, ``(B, N)``."""
        return (atoms @ self.weight + self.bias) * mask.to(atoms.dtype)

    def forward(self, atoms: torch.Tensor, bonds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(B,)``: the sum of the atom terms (``bonds`` is accepted and ignored)."""
        return self.atom_outputs(atoms, bonds, mask).sum(1)
