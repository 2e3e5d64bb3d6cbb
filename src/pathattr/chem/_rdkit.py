"""RDKit, imported once with a clear message when the ``chem`` extra is missing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

try:
    from rdkit import Chem, RDLogger
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "pathattr.chem needs RDKit: pip install 'pathattr[chem]' (or pip install rdkit)"
    ) from err

__all__ = ["Chem", "quiet_rdkit"]


@contextlib.contextmanager
def quiet_rdkit() -> Iterator[None]:
    """Silence RDKit's parser log (a bad SMILES is reported by our own error instead)."""
    RDLogger.DisableLog("rdApp.*")  # type: ignore[attr-defined]
    try:
        yield
    finally:
        RDLogger.EnableLog("rdApp.*")  # type: ignore[attr-defined]
