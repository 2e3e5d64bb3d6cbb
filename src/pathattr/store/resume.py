"""Resume and exclusive access of a run's output directory.

:func:`prepare_out` checks ``out`` against a run's plan (refusing another spec's output or
unrelated files unless forced) and finds the shards that are already committed;
:func:`exclusive_lock` keeps two runs from writing to the same directory.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pathattr.store import shards as st

if TYPE_CHECKING:
    from pathattr.engine.run_plan import Plan


class SpecMismatchError(ValueError):
    """``out`` holds the output of a different run (another spec), or unrelated files."""


def prepare_out(p: Plan, force: bool = False) -> tuple[st.Manifest, set[int]]:
    """Check ``out`` against the plan and find the committed shards (resume).

    Returns the manifest (saved, listing every verified shard) and the indices of the shards
    that are done.  Shards whose checksum does not match the manifest are deleted (redone);
    a complete shard file the manifest does not list yet (a kill between rename and manifest
    update) is verified by its ids and adopted.

    Raises:
        SpecMismatchError: ``out`` holds another run's output or unrelated files (and not
            ``force``).
    """
    out = p.out
    if out.exists() and not out.is_dir():
        raise st.StoreError(f"out: expected a directory, got the file {str(out)!r}")
    out.mkdir(parents=True, exist_ok=True)
    old = st.Manifest.read(out)
    if old is not None and (old["spec"] != p.spec or old["model_hash"] != p.model_hash):
        if not force:
            raise SpecMismatchError(
                f"out: {str(out)!r} holds a run with a different spec (differs in: "
                f"{', '.join(spec_difference(old, p))}); use another --out, or --force to delete "
                "it and start over"
            )
        old = None
        _clear(out)
    elif old is None:
        others = [q.name for q in out.iterdir() if not q.name.startswith((".tmp-", ".lock"))]
        if others:
            if not force:
                raise SpecMismatchError(
                    f"out: expected an empty directory or a pathattr run's output, got "
                    f"{str(out)!r} with {len(others)} other entries "
                    f"({', '.join(sorted(others)[:3])}"
                    f"{', ...' if len(others) > 3 else ''}); use --force to write there anyway"
                )
            _clear(out)
    st.remove_temporaries(out)
    manifest = st.Manifest(out, p.spec, p.model_hash, len(p.source))
    listed = {s["file"]: s for s in (old or {}).get("shards", [])}
    done: set[int] = set()
    for k, (a, b) in enumerate(p.shards()):
        name = st.shard_name(p.source.ids[a])
        path = out / name
        if not path.exists():
            continue
        entry = listed.get(name)
        if entry is not None and entry["rows"] == b - a and st.file_sha256(path) == entry["sha256"]:
            manifest.shards.append(entry)
            done.add(k)
        elif entry is None and st.read_ids(path) == p.source.ids[a:b]:
            manifest.shards.append(st.ShardInfo(name, p.source.ids[a], b - a, st.file_sha256(path),
                                                path.stat().st_size).as_dict())  # fmt: skip
            done.add(k)
        else:  # corrupt, truncated or foreign: redo
            path.unlink()
    manifest.save()
    return manifest, done


def spec_difference(old: dict[str, Any], p: Plan) -> list[str]:
    """The spec keys in which a stored run (``spec``, ``model_hash``) differs from the plan."""
    diff = sorted(k for k in set(old["spec"]) | set(p.spec) if old["spec"].get(k) != p.spec.get(k))
    if old["model_hash"] != p.model_hash:
        diff.append("model weights")
    return diff


def _clear(out: Path) -> None:
    for q in out.iterdir():
        if q.is_file() and (
            st.is_part_file(q.name) or q.name == st.MANIFEST or q.name.startswith(".tmp-")
        ):
            q.unlink()


@contextlib.contextmanager
def exclusive_lock(out: Path) -> Iterator[None]:
    """Hold ``out/.lock`` (an ``flock``, released by the OS even on ``kill -9``) for the run."""
    if out.exists() and not out.is_dir():
        raise st.StoreError(f"out: expected a directory, got the file {str(out)!r}")
    out.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        yield
        return
    with open(out / ".lock", "a") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise st.StoreError(
                f"out: another pathattr run is writing to {str(out)!r}; wait for it to finish or "
                "use another --out"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def spec_json(p: Plan) -> str:
    """The plan's spec as stable JSON (what the manifest stores)."""
    return json.dumps(p.spec, sort_keys=True)
