"""Crash-safe Parquet shards, the run manifest (:mod:`pathattr.store.shards`) and resume
(:mod:`pathattr.store.resume`)."""

from pathattr.store.shards import (
    MANIFEST,
    Manifest,
    StoreError,
    attributions_array,
    build_table,
    read_output,
    shard_name,
)

__all__ = [
    "MANIFEST",
    "Manifest",
    "StoreError",
    "attributions_array",
    "build_table",
    "read_output",
    "shard_name",
]
