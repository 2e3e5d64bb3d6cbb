"""Optional progress bars (tqdm when installed, silent otherwise)."""

from __future__ import annotations

from typing import Any


class _Null:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, enabled: bool, desc: str = "gradients") -> Any:
    """A tqdm bar over ``total`` rows when ``enabled`` and tqdm is installed, else a no-op."""
    if not enabled:
        return _Null()
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is an optional extra
        return _Null()
    return tqdm(total=total, desc=desc, unit="row", leave=False)
