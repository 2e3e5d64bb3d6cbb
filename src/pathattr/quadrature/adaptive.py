r"""Nested dyadic panels for adaptive quadrature on [0, 1].

A panel [a, b] carries five equispaced nodes a, a + h, a + 2h, a + 3h, b with h = (b − a)/4.
Three rules share those nodes:

* ``S1``: Simpson on (a, m, b), weights (b − a)/6 · (1, 0, 4, 0, 1);
* ``S2``: composite Simpson on the five nodes, weights h/3 · (1, 4, 2, 4, 1);
* ``B``:  Boole (the Richardson extrapolation S2 + (S2 − S1)/15),
  weights 2h/45 · (7, 32, 12, 32, 7).

``B`` is the value used; ``(S2 − S1)/15`` estimates the error of ``S2`` and is a conservative
error estimate for ``B``.  Splitting a panel at its midpoint gives two children whose ends and
midpoints are the parent's nodes, so each split costs exactly four new nodes (the children's
quarter points) and no evaluation is ever thrown away.

Positions are integers on a grid of 2**:data:`DEPTH` cells so that nodes are exact dictionary
keys (no float comparisons); α = position / 2**DEPTH is exact in float64.
"""

from __future__ import annotations

import numpy as np

DEPTH = 48
ONE = 1 << DEPTH

BOOLE = np.array([7.0, 32.0, 12.0, 32.0, 7.0]) * (2.0 / 45.0)  # times h
SIMPSON2 = np.array([1.0, 4.0, 2.0, 4.0, 1.0]) / 3.0  # times h
SIMPSON1 = np.array([1.0, 0.0, 4.0, 0.0, 1.0]) * (4.0 / 6.0)  # times h
ERROR = (SIMPSON2 - SIMPSON1) / 15.0  # times h: B − S2, the error estimate of S2


def panel_nodes(lo: int, hi: int) -> tuple[int, int, int, int, int]:
    """The five node positions of the panel [lo, hi] (hi − lo divisible by 4)."""
    q = (hi - lo) // 4
    return lo, lo + q, lo + 2 * q, lo + 3 * q, hi
