"""Parquet shards that survive a crash, and the manifest that lists them.

A run's output directory holds ``part-<first-id>.parquet`` shards and ``_manifest.json``.  A shard
is encoded in memory, hashed (SHA-256), written to a hidden temporary name, fsynced, renamed to
its final name (atomic on POSIX) and only then added to the manifest, which is itself replaced
atomically.  So at any moment a ``part-*.parquet`` file is either absent or complete, and
``_manifest.json`` lists only complete shards with their checksums; a kill at any point loses at
most the shard being written.

Columns: ``id`` (string), ``target``, ``prediction`` (int64), ``f_x``, ``f_baseline``, ``delta``,
``relative_delta`` (float32, computed before any float16 cast), ``evaluations`` (int64) and
``attributions``: ``arrow.fixed_shape_tensor`` for dense maps, ``list<float>`` for ragged ones
(text runs add ``tokens``, ``list<string>``, one token per score).
Plain pyarrow, pandas and DuckDB read the shards without pathattr.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MANIFEST = "_manifest.json"  # a leading _ : pyarrow, pandas, DuckDB skip it when reading the folder
FORMAT = "pathattr-run/1"
_TMP_PREFIX = ".tmp-"
_PART = re.compile(r"^part-.*\.parquet$")

#: per-row scalar columns and their Arrow types (names of pyarrow factory functions)
SCALAR_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "string"),
    ("target", "int64"),
    ("prediction", "int64"),
    ("f_x", "float32"),
    ("f_baseline", "float32"),
    ("delta", "float32"),
    ("relative_delta", "float32"),
    ("evaluations", "int64"),
)


class StoreError(OSError):
    """A shard or the manifest could not be written or read; finished shards are intact."""


def _pa() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError(
            "dataset runs store Parquet and need pyarrow, which is not installed; "
            "run: pip install 'pathattr[data]'"
        ) from e
    return pa


def shard_name(first_id: str) -> str:
    """``part-<first-id>.parquet`` with the id percent-encoded (no ``/``, injective)."""
    return f"part-{urllib.parse.quote(str(first_id), safe='')}.parquet"


def _attr_column(attrs: np.ndarray | Sequence[np.ndarray], dtype: str) -> Any:
    pa = _pa()
    np_dtype = np.float16 if dtype == "float16" else np.float32
    value_type = pa.float16() if dtype == "float16" else pa.float32()
    if isinstance(attrs, np.ndarray):
        arr = np.ascontiguousarray(attrs, dtype=np_dtype)
        if arr.ndim == 1:  # one scalar per row: a (1,) tensor each
            arr = arr[:, None]
        typ = pa.fixed_shape_tensor(value_type, list(arr.shape[1:]))
        flat = pa.array(arr.reshape(-1))
        storage = pa.FixedSizeListArray.from_arrays(flat, int(np.prod(arr.shape[1:])))
        return pa.ExtensionArray.from_storage(typ, storage)
    # ragged (e.g. token attributions of different lengths): list<float>
    rows = [np.asarray(a, dtype=np_dtype).reshape(-1) for a in attrs]
    offsets = np.zeros(len(rows) + 1, dtype=np.int32)
    np.cumsum([len(r) for r in rows], out=offsets[1:])
    values = pa.array(np.concatenate(rows) if rows else np.zeros(0, np_dtype))
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def build_table(columns: dict[str, Any], dtype: str = "float32") -> Any:
    """A ``pyarrow.Table`` of one shard from per-row NumPy columns (see the module docstring).

    Args:
        columns: ``id``, ``target``, ``prediction``, ``f_x``, ``f_baseline``, ``delta``,
            ``relative_delta``, ``evaluations`` (one value per row) and ``attributions`` (an
            ``(rows, *shape)`` array, or a list of per-row arrays for ragged maps), and
            optionally ``tokens`` (per row, the token of each ragged score).
        dtype: storage dtype of the attributions, ``"float32"`` or ``"float16"``.
    """
    pa = _pa()
    if dtype not in ("float32", "float16"):
        raise ValueError(f"dtype: expected 'float32' or 'float16', got {dtype!r}")
    arrays = []
    names = []
    for name, typ in SCALAR_COLUMNS:
        values = columns[name]
        if name == "id":
            arrays.append(pa.array([str(v) for v in values], type=pa.string()))
        else:
            arrays.append(pa.array(np.asarray(values).reshape(-1), type=getattr(pa, typ)()))
        names.append(name)
    arrays.append(_attr_column(columns["attributions"], dtype))
    names.append("attributions")
    if "tokens" in columns:  # token maps: each score's token, list<string>
        arrays.append(pa.array([list(map(str, t)) for t in columns["tokens"]],
                               type=pa.list_(pa.string())))  # fmt: skip
        names.append("tokens")
    return pa.Table.from_arrays(arrays, names=names)


def encode(table: Any) -> bytes:
    """Parquet bytes of ``table``: zstd, dictionary off, byte-stream-split for float columns."""
    pa = _pa()
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    floats = [f.name for f in table.schema if pa.types.is_floating(f.type)]
    pq.write_table(
        table,
        sink,
        compression="zstd",
        use_dictionary=["id"],
        use_byte_stream_split=floats or False,
        write_statistics=["id"],
    )
    return bytes(sink.getvalue())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``: temporary name in the same folder, fsync, rename, fsync dir.

    On any error the temporary file is removed and ``path`` is untouched.
    """
    tmp = path.with_name(f"{_TMP_PREFIX}{path.name}.{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class ShardInfo:
    """One committed shard as listed in the manifest."""

    file: str
    first_id: str
    rows: int
    sha256: str
    bytes: int

    def as_dict(self) -> dict[str, Any]:
        """The manifest entry."""
        return {"file": self.file, "first_id": self.first_id, "rows": self.rows,
                "sha256": self.sha256, "bytes": self.bytes}  # fmt: skip


class Manifest:
    """``_manifest.json``: the run's spec, model hash, library version and committed shards."""

    def __init__(self, out: Path, spec: dict[str, Any], model_hash: str, total_rows: int):
        from pathattr import __version__

        self.out = out
        self.data: dict[str, Any] = {
            "format": FORMAT,
            "spec": spec,
            "model_hash": model_hash,
            "library_version": __version__,
            "total_rows": int(total_rows),
            "complete": False,
            "shards": [],
        }

    @property
    def shards(self) -> list[dict[str, Any]]:
        """The committed shards' entries, in input order."""
        out: list[dict[str, Any]] = self.data["shards"]
        return out

    def add(self, info: ShardInfo, order: dict[str, int]) -> None:
        """Record a committed shard (kept sorted by input order) and save."""
        kept = [s for s in self.shards if s["file"] != info.file]
        kept.append(info.as_dict())
        kept.sort(key=lambda s: order.get(s["first_id"], 1 << 62))
        self.data["shards"] = kept
        self.save()

    def save(self) -> None:
        """Replace ``_manifest.json`` atomically."""
        body = json.dumps(self.data, indent=1, sort_keys=True).encode()
        write_atomic(self.out / MANIFEST, body)

    @staticmethod
    def read(out: Path) -> dict[str, Any] | None:
        """The manifest in ``out`` as a dict, None when there is none.

        Raises:
            StoreError: the file exists but is not a pathattr manifest.
        """
        path = out / MANIFEST
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise StoreError(f"out: {str(path)!r} is not a readable pathattr manifest ({e})") from e
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise StoreError(
                f"out: expected a pathattr manifest (format {FORMAT!r}) in {str(path)!r}, "
                f"got format {data.get('format') if isinstance(data, dict) else type(data)!r}"
            )
        return data


def is_part_file(name: str) -> bool:
    """Whether ``name`` is a shard file name (``part-*.parquet``)."""
    return bool(_PART.match(name))


def remove_temporaries(out: Path) -> int:
    """Delete leftover temporary files of a killed writer; returns how many."""
    n = 0
    for p in out.iterdir():
        if p.name.startswith(_TMP_PREFIX):
            p.unlink(missing_ok=True)
            n += 1
    return n


def read_ids(path: Path) -> list[str] | None:
    """The ``id`` column of a shard, or None when the file is not a readable shard."""
    _pa()
    import pyarrow.parquet as pq

    try:
        t = pq.read_table(path)  # reads every page: a truncated or corrupt file fails here
    except Exception:
        return None
    if "id" not in t.column_names or "attributions" not in t.column_names:
        return None
    ids: list[str] = t.column("id").to_pylist()
    return ids


def read_output(out: str | Path, columns: Sequence[str] | None = None) -> Any:
    """All committed shards of a run as one ``pyarrow.Table`` in input order.

    Args:
        out: the run's output directory.
        columns: a subset of columns (all by default).
    """
    _pa()
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(out)
    data = Manifest.read(path)
    if data is None:
        raise StoreError(
            f"out: expected a pathattr output directory with {MANIFEST}, got {str(path)!r}"
        )
    tables = [pq.read_table(path / s["file"], columns=columns) for s in data["shards"]]
    if not tables:
        raise StoreError(f"out: {str(path)!r} has no committed shards yet")
    return pa.concat_tables(tables)


def attributions_array(table: Any) -> np.ndarray | list[np.ndarray]:
    """The ``attributions`` column as an ``(N, *shape)`` array (or a list for ragged maps)."""
    col = table.column("attributions").combine_chunks()
    if hasattr(col, "to_numpy_ndarray"):
        out: np.ndarray = col.to_numpy_ndarray()
        return out
    return [np.asarray(v, dtype=np.float32) for v in col.to_pylist()]
