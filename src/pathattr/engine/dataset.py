"""Whole-dataset attribution: :func:`run` and its summary.

``run(input, model, out, method="ig")`` attributes every row of ``input`` and writes Parquet
shards plus ``_manifest.json`` to ``out`` (:mod:`pathattr.store.shards`).  Rows are cut into
shards of ``shard_rows`` in input order and every shard into batches of ``batch_size``, so the
same command always computes the same batches; rerunning it after a crash computes only the
shards that are not committed, and gives the same values as an uninterrupted run.

The unit of work is :class:`DatasetAttributor`, a picklable ``batch -> columns`` callable around
:class:`~pathattr.engine.batch.BatchAttributor`; the local engine calls it in a loop (loading the
next batch and writing finished shards in background threads) and the Ray engine
(:mod:`pathattr.scale`) in an actor pool.

The pieces: :mod:`pathattr.engine.run_plan` (:class:`Plan`, :func:`plan`),
:mod:`pathattr.engine.models` (model specs), :mod:`pathattr.store.resume` (resume, the lock),
:mod:`pathattr.scale.local` (the local engine); their public names are importable from here too.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pathattr.engine.batch import STOCHASTIC, DatasetAttributor, row_seed
from pathattr.engine.models import load_model, model_hash
from pathattr.engine.run_plan import METHODS, Plan, plan
from pathattr.scale.local import batch_ranges, commit_shard, load_batch, run_local
from pathattr.store import shards as st
from pathattr.store.resume import SpecMismatchError, exclusive_lock, prepare_out, spec_json

__all__ = [
    "METHODS",
    "STOCHASTIC",
    "WARN_THRESHOLD",
    "DatasetAttributor",
    "Plan",
    "RunSummary",
    "SpecMismatchError",
    "batch_ranges",
    "commit_shard",
    "finish",
    "load_batch",
    "load_model",
    "model_hash",
    "plan",
    "prepare_out",
    "row_seed",
    "run",
    "run_local",
    "spec_json",
]

#: relative completeness error above which the summary counts a row as "over the threshold"
WARN_THRESHOLD = 0.05


@dataclass
class RunSummary:
    """What a run did: rows, time and the completeness errors of the whole output."""

    out: str
    rows: int
    rows_computed: int
    shards: int
    shards_computed: int
    seconds: float
    median_relative_delta: float
    over_threshold: int
    threshold: float = WARN_THRESHOLD

    def text(self) -> str:
        """A short human-readable summary."""
        rate = self.rows_computed / self.seconds if self.seconds > 0 else float("nan")
        return (
            f"{self.rows} rows in {self.shards} shards at {self.out} ({self.rows_computed} "
            f"computed now in {self.seconds:.1f} s, {rate:.1f} rows/s); median relative "
            f"completeness error {self.median_relative_delta:.2e}; {self.over_threshold} rows "
            f"over {self.threshold:.0%}"
        )


def finish(p: Plan, manifest: st.Manifest, rows: int, computed: int, seconds: float) -> RunSummary:
    """Mark the manifest complete when every shard is there; summarise the output."""
    import pyarrow.parquet as pq

    n_shards = len(p.shards())
    if len(manifest.shards) == n_shards:
        manifest.data["complete"] = True
        manifest.save()
    rel = (
        np.concatenate(
            [
                pq.read_table(p.out / s["file"], columns=["relative_delta"]).column(0).to_numpy()
                for s in manifest.shards
            ]  # fmt: skip
        )
        if manifest.shards
        else np.zeros(0, np.float32)
    )
    finite = rel[np.isfinite(rel)]
    return RunSummary(
        out=str(p.out), rows=int(sum(s["rows"] for s in manifest.shards)), rows_computed=rows,
        shards=len(manifest.shards), shards_computed=computed, seconds=seconds,
        median_relative_delta=float(np.median(finite)) if finite.size else math.nan,
        over_threshold=int((finite > WARN_THRESHOLD).sum()),
    )  # fmt: skip


def run(
    input: str | Path,
    model: Any,
    out: str | Path,
    *,
    method: str = "ig",
    engine: str = "local",
    sink: str = "store",
    force: bool = False,
    progress: bool = False,
    **options: Any,
) -> RunSummary:
    """Attribute every row of a dataset and store the results as Parquet shards + a manifest.

    Args:
        input: an image folder (recursive jpg/png), a ``.parquet``/``.csv`` table or a ``.npy``
            array (:func:`pathattr.engine.sources.open_source`).
        model: a built-in name (``efficientnet-lite0``), ``"module:function"``, a module, or
            ``(model, preprocess)`` (:func:`load_model`).
        out: output directory; rerunning the same call resumes, a different spec is refused.
        method: ``ig`` (Integrated Gradients), ``eg`` (Expected Gradients), ``smoothgrad``,
            ``ih`` / ``eh`` (Integrated / Expected Hessians: all pairwise interactions, stored
            as a ``(features, features)`` map per row).
        engine: ``local`` (this process) or ``ray`` (Ray Data actors, ``pathattr[ray]``).
        sink: with ``engine="ray"``: ``store`` (default: the driver writes the shards and the
            manifest above) or ``ray`` (Ray Data writes ``out/ray/*.parquet`` itself and
            resumes through its ``CheckpointConfig``; :mod:`pathattr.scale.ray_native`).
        force: delete another run's output in ``out`` and start over.
        progress: show a progress bar (rows/s, ETA).
        **options: ``steps`` (int or ``"auto"``, IG), ``tol``, ``samples`` (EG, SmoothGrad),
            ``references`` (EG: ``.npy`` path or array; default: 64 evenly spaced input rows),
            ``target`` (``"predicted"``, an int or a column name), ``column``, ``id_column``,
            ``shard_rows`` (1024), ``batch_size`` (16), ``dtype`` (``float32``/``float16``),
            ``seed``, ``device``; for ``engine="ray"``: ``address``, ``actors``,
            ``cpus_per_actor``, ``gpus_per_actor``.

    Returns:
        A :class:`RunSummary`.

    Raises:
        InputError: the input is missing, unreadable, or an image does not decode (the shards
            committed before stay).
        SpecMismatchError: ``out`` holds another spec's output (and not ``force``).
        StoreError: a shard could not be written (e.g. disk full); committed shards are intact.
    """
    if engine not in ("local", "ray"):
        raise ValueError(f"engine: expected 'local' or 'ray', got {engine!r}")
    if sink not in ("store", "ray"):
        raise ValueError(f"sink: expected 'store' or 'ray', got {sink!r}")
    if sink == "ray" and engine != "ray":
        raise ValueError(f"sink: 'ray' needs engine='ray', got engine={engine!r}")
    ray_opts = {k: options.pop(k) for k in ("address", "actors", "cpus_per_actor", "gpus_per_actor")
                if k in options}  # fmt: skip
    if ray_opts and engine != "ray":
        raise ValueError(f"{', '.join(ray_opts)}: only with engine='ray'")
    t0 = time.perf_counter()
    p = plan(input, model, out, method=method, **options)
    if sink == "ray":
        with exclusive_lock(p.out):
            from pathattr.scale.ray_native import run_ray_native, summarize_native

            rows = run_ray_native(p, force=force, progress=progress, **ray_opts)
            return summarize_native(p, rows, time.perf_counter() - t0)
    with exclusive_lock(p.out):
        manifest, done = prepare_out(p, force)
        if engine == "local":
            rows = run_local(p, manifest, done, progress)
        else:
            from pathattr.scale.ray_engine import run_ray

            rows = run_ray(p, manifest, done, progress=progress, **ray_opts)
        return finish(p, manifest, rows, len(p.shards()) - len(done), time.perf_counter() - t0)
