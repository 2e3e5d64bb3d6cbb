"""Child process of the kill tests: one ``pathattr.run`` with an optional injected SIGKILL.

``child(input, out, fault, n)`` runs in a forked process (the test forks so that the child
starts without re-importing torch); ``python run_child.py INPUT OUT FAULT N`` does the same.
FAULT: none | shard_half (die half-way through writing the N-th shard's temporary file) |
before_rename (die after the N-th shard's fsync, before its rename) | before_manifest (die after
the N-th shard's rename, before the manifest lists it) | manifest_half (die half-way through the
N-th manifest write).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pathattr
from pathattr.store import shards as st


def child(inp: str, out: str, fault: str, n: int) -> None:
    counts = {"shard": 0, "manifest": 0}
    real_write = st.write_atomic
    real_replace = os.replace

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    def write_atomic(path: Path, data: bytes) -> None:
        kind = "manifest" if path.name == st.MANIFEST else "shard"
        counts[kind] += 1
        hit = counts[kind] == n
        if hit and (fault, kind) in (("shard_half", "shard"), ("manifest_half", "manifest")):
            tmp = path.with_name(f"{st._TMP_PREFIX}{path.name}.{os.getpid()}")
            with open(tmp, "wb") as f:
                f.write(data[: len(data) // 2])
                f.flush()
                os.fsync(f.fileno())
            die()
        if hit and fault == "before_rename" and kind == "shard":
            os.replace = lambda a, b: die()  # type: ignore[assignment]
        real_write(path, data)
        os.replace = real_replace
        if hit and fault == "before_manifest" and kind == "shard":
            die()

    st.write_atomic = write_atomic
    pathattr.run(inp, "dataset_models:tiny_cnn", out, steps=24, shard_rows=50, batch_size=16)


if __name__ == "__main__":
    child(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
