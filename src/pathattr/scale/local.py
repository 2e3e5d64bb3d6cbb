"""The local engine of dataset runs (``engine="local"``): one process, three threads.

The compute thread attributes batch after batch; a loader thread reads and preprocesses the
next batch meanwhile, and a writer thread encodes and commits every finished shard through the
crash-safe store (:mod:`pathattr.store.shards`).  The Ray engine (:mod:`pathattr.scale.ray_engine`)
uses the same batch ranges, batch loading and writer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from pathattr.engine.run_plan import Plan
from pathattr.store import shards as st

#: end-of-stream marker of the loader's and the writer's queues
END = object()


class ShardWriter(threading.Thread):
    """Encodes and commits shards off the compute thread; remembers the first error."""

    def __init__(self, p: Plan, manifest: st.Manifest):
        super().__init__(daemon=True, name="pathattr-shard-writer")
        self.p = p
        self.manifest = manifest
        self.q: queue.Queue[Any] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.order = {p.source.ids[a]: k for k, (a, _) in enumerate(p.shards())}
        self.committed = 0

    def run(self) -> None:
        """Commit the queued shards until :data:`END`."""
        while True:
            item = self.q.get()
            if item is END:
                return
            if self.error is not None:
                continue  # drain; nothing more is written after a failure
            try:
                commit_shard(self.p, self.manifest, item, self.order)
                self.committed += 1
            except BaseException as e:  # reported by the compute thread
                self.error = e

    def stop(self) -> None:
        """Let the queued shards be committed, then end the thread."""
        self.q.put(END)
        self.join()

    def raise_error(self) -> None:
        """Raise the first error a commit met, if any (on the compute thread)."""
        if self.error is not None:
            raise self.error


def commit_shard(
    p: Plan, manifest: st.Manifest, cols: dict[str, Any], order: dict[str, int]
) -> None:
    """Encode one shard's columns, write it atomically and record it in the manifest.

    Raises:
        StoreError: the write failed (e.g. a full disk); the temporary file is removed and the
            shards committed before are intact.
    """
    first = str(cols["id"][0])
    name = st.shard_name(first)
    data = st.encode(st.build_table(cols, p.dtype))
    try:
        st.write_atomic(p.out / name, data)
        manifest.add(st.ShardInfo(name, first, len(cols["id"]), st.sha256(data), len(data)), order)
    except OSError as e:
        raise st.StoreError(
            f"out: writing shard {name} to {str(p.out)!r} failed ({e.strerror or e}); the "
            f"{len(manifest.shards)} shards committed before are intact - free space or fix the "
            "problem and rerun the same command to resume"
        ) from e


def load_batch(p: Plan, start: int, stop: int) -> dict[str, Any]:
    """The batch of rows ``[start, stop)``: ``id``, preprocessed ``inputs`` and ``target``."""
    batch: dict[str, Any] = {
        "id": np.asarray(p.source.ids[start:stop], dtype=object),
        "inputs": p.attributor.inputs(p.source.load(start, stop)),
    }
    t = p.source.targets(start, stop)
    if t is not None:
        batch["target"] = t
    return batch


def batch_ranges(p: Plan, todo: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """``(shard, start, stop)`` of every batch of the shards ``todo`` (batches never straddle
    shards, so a shard's values do not depend on which shards are left)."""
    return [(k, s, min(s + p.batch_size, b)) for k, a, b in todo for s in range(a, b, p.batch_size)]


def _batches(p: Plan, todo: list[tuple[int, int, int]]) -> Iterator[Any]:
    """(shard, start, stop, batch) in order, loaded one batch ahead in a thread."""
    q: queue.Queue[Any] = queue.Queue(maxsize=2)
    stop_flag = threading.Event()

    def load() -> None:
        try:
            for k, s, e in batch_ranges(p, todo):
                batch = load_batch(p, s, e)
                while not stop_flag.is_set():
                    try:
                        q.put((k, s, e, batch), timeout=0.1)
                        break
                    except queue.Full:
                        pass
                if stop_flag.is_set():
                    return
            q.put(END)
        except BaseException as e:
            q.put(e)

    th = threading.Thread(target=load, daemon=True, name="pathattr-loader")
    th.start()
    try:
        while True:
            item = q.get()
            if item is END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop_flag.set()


def concat_columns(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The columns of consecutive batches joined into one shard's columns (ragged columns,
    held as lists of per-row values, are joined as lists)."""
    return {
        k: sum((list(p[k]) for p in parts), []) if isinstance(parts[0][k], list)
        else np.concatenate([p[k] for p in parts])
        for k in parts[0]
    }  # fmt: skip


def run_local(p: Plan, manifest: st.Manifest, done: set[int], progress: bool = True) -> int:
    """Compute the missing shards of ``p`` in this process; returns the rows computed."""
    from pathattr.engine.progress import progress_bar

    shards = p.shards()
    todo = [(k, a, b) for k, (a, b) in enumerate(shards) if k not in done]
    total = len(p.source)
    bar = progress_bar(total, progress, desc="rows")
    bar.update(sum(b - a for k, (a, b) in enumerate(shards) if k in done))
    writer = ShardWriter(p, manifest)
    writer.start()
    rows = 0
    pending: list[dict[str, Any]] = []
    try:
        for k, s, e, batch in _batches(p, todo):
            if writer.error is not None:
                break
            pending.append(p.attributor(batch))
            rows += e - s
            bar.update(e - s)
            if e == shards[k][1]:
                writer.q.put(concat_columns(pending))
                pending = []
    finally:
        writer.stop()
        bar.close()
    writer.raise_error()
    return rows
