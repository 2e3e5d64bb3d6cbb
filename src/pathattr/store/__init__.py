"""Crash-safe Parquet shards, the run manifest and resume (:mod:`pathattr.store.shards`)."""

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
