"""Dataset inputs of :func:`pathattr.run`: an image folder, a Parquet/CSV table, a ``.npy`` array.

A :class:`Source` knows every row id up front (in a deterministic order) and loads any range of
rows as raw items: decoded images (``(H, W, 3)`` uint8 arrays), table cells (texts, SMILES) or
numeric feature rows.  The model's ``preprocess`` turns a raw item into the model's input.

Ids: the ``id`` column of a table when there is one (or the column named by ``id_column``), the
path relative to the folder for images (POSIX separators), and the zero-padded row number
otherwise, so the same input always gives the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class InputError(ValueError):
    """The input cannot be read: missing, unreadable, undecodable, or a missing column."""


def _row_ids(n: int) -> list[str]:
    width = max(1, len(str(max(n - 1, 0))))
    return [str(i).zfill(width) for i in range(n)]


@dataclass
class Source:
    """Rows of a dataset input: ids, raw items and (optionally) a target column."""

    path: str
    kind: str
    ids: list[str]
    _items: Any = field(repr=False, default=None)
    _targets: np.ndarray | None = field(repr=False, default=None)

    def __len__(self) -> int:
        return len(self.ids)

    def __getstate__(self) -> dict[str, Any]:
        # a memory-mapped .npy is reopened by path where it is unpickled (a Ray worker), not
        # copied into the pickle
        state = dict(self.__dict__)
        if self.kind == "npy":
            state["_items"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.kind == "npy":
            self._items = np.load(self.path, mmap_mode="r", allow_pickle=False)

    @property
    def has_targets(self) -> bool:
        """Whether a target column was read."""
        return self._targets is not None

    def targets(self, start: int, stop: int) -> np.ndarray | None:
        """The target column for rows ``[start, stop)`` (None when there is none)."""
        return None if self._targets is None else self._targets[start:stop]

    def load(self, start: int, stop: int) -> list[Any]:
        """Raw items of rows ``[start, stop)``.

        Raises:
            InputError: an image does not decode.
        """
        if self.kind == "images":
            return [_decode_image(Path(self.path) / i) for i in self.ids[start:stop]]
        if self.kind == "npy":
            return list(np.asarray(self._items[start:stop]))
        return list(self._items[start:stop])


def _decode_image(path: Path) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError as e:  # pragma: no cover - pillow comes with matplotlib
        raise ImportError("image folders need pillow: pip install 'pathattr[vision]'") from e
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except Exception as e:
        raise InputError(
            f"input: expected a decodable JPEG/PNG image, got {str(path)!r} "
            f"({type(e).__name__}: {e})"
        ) from e


def open_source(
    path: str | Path,
    *,
    column: str | None = None,
    id_column: str | None = None,
    target_column: str | None = None,
) -> Source:
    """Open a dataset input.

    Args:
        path: an image folder (searched recursively for jpg/png), a ``.parquet`` / ``.csv`` table
            or a ``.npy`` array (rows on the first axis).
        column: the table column holding the inputs (texts, SMILES, ...).  None: ``text``,
            ``smiles`` or ``input`` if present, else every numeric column except the id and the
            target, as one feature vector per row.
        id_column: the table's id column (default ``id`` when present, else the row number).
        target_column: a table column with one integer target per row.

    Raises:
        InputError: the input is missing, unreadable, empty or lacks a named column.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"input: expected an existing file or folder, got {str(p)!r} (not found)")
    if p.is_dir():
        files = sorted(
            q.relative_to(p).as_posix()
            for q in p.rglob("*")
            if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            raise InputError(f"input: expected a folder with jpg/png images, got {str(p)!r} (none)")
        if column or target_column:
            raise InputError(
                f"input: --column/--target COLUMN need a table, got the image folder {str(p)!r}"
            )
        return Source(str(p), "images", files)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as e:
            raise InputError(f"input: expected a readable .npy array, got {str(p)!r} ({e})") from e
        if arr.ndim < 1 or arr.shape[0] == 0:
            raise InputError(f"input: expected a non-empty array, got shape {arr.shape}")
        if column or target_column:
            raise InputError(
                f"input: --column/--target COLUMN need a table, got the array {str(p)!r}"
            )
        return Source(str(p), "npy", _row_ids(arr.shape[0]), arr)
    if suffix in (".parquet", ".csv"):
        return _open_table(p, column, id_column, target_column)
    raise InputError(f"input: expected an image folder, .parquet, .csv or .npy, got {str(p)!r}")


def _open_table(
    p: Path, column: str | None, id_column: str | None, target_column: str | None
) -> Source:
    try:
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq
    except ImportError as e:  # pragma: no cover
        raise ImportError("tables need pyarrow: pip install 'pathattr[data]'") from e
    try:
        table = pq.read_table(p) if p.suffix.lower() == ".parquet" else pacsv.read_csv(p)
    except Exception as e:
        raise InputError(f"input: expected a readable table, got {str(p)!r} ({e})") from e
    if table.num_rows == 0:
        raise InputError(f"input: expected a table with rows, got {str(p)!r} (0 rows)")
    names = table.column_names

    def need(col: str, arg: str) -> None:
        if col not in names:
            raise InputError(
                f"{arg}: expected a column of {str(p)!r} ({', '.join(names)}), got {col!r}"
            )

    if id_column is not None:
        need(id_column, "id_column")
    idc = id_column or ("id" if "id" in names else None)
    if idc is not None:
        ids = [str(v) for v in table.column(idc).to_pylist()]
        if len(set(ids)) != len(ids):
            raise InputError(f"id_column: expected unique ids in {idc!r}, got duplicates")
    else:
        ids = _row_ids(table.num_rows)
    targets = None
    if target_column is not None:
        need(target_column, "target")
        targets = np.array(table.column(target_column).to_numpy(), dtype=np.int64)
    if column is not None:
        need(column, "column")
        items: Any = table.column(column).to_pylist()
    else:
        named = [c for c in ("text", "smiles", "input") if c in names]
        if named:
            items = table.column(named[0]).to_pylist()
        else:
            feats = [
                c for c in names
                if c not in (idc, target_column) and _numeric(table.schema.field(c).type)
            ]  # fmt: skip
            if not feats:
                raise InputError(
                    f"column: expected a text/smiles/input column or numeric feature columns in "
                    f"{str(p)!r}, got {', '.join(names)}"
                )
            items = np.stack(
                [np.asarray(table.column(c).to_numpy(), np.float32) for c in feats], axis=1
            )
    return Source(str(p), "table", ids, items, targets)


def _numeric(typ: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(typ) or pa.types.is_floating(typ))
