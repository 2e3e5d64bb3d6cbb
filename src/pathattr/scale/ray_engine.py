"""The Ray Data engine of dataset runs (``engine="ray"``, ``pip install 'pathattr[ray]'``).

The pending batches (the same ``(shard, start, stop)`` ranges as the local engine) become a Ray
dataset; ``map_batches`` runs :class:`_RayWorker` in an ``ActorPoolStrategy`` pool (the model is
loaded once per actor, ``num_gpus`` per actor where the cluster has GPUs, torch threads set to
the actor's CPUs, one CPU left free for Ray's own tasks).  Each actor loads its rows from the
input path itself (shared storage on a cluster) and returns the attributed columns; the driver
streams the results and commits every finished shard through the same crash-safe store as the
local engine (temporary file, fsync, rename, manifest with checksums).

Hence the output equals the local engine's row by row (same batches, same code), and resume is
the store's id-based skip: a rerun after the driver was killed computes only the shards the
manifest does not list.  This is the default ``sink="store"``; with ``sink="ray"``
(:mod:`pathattr.scale.ray_native`) the whole run is instead one Ray Data plan
(``read_parquet -> map_batches -> write_parquet``) that Ray writes and resumes itself through
its ``CheckpointConfig`` keyed on ``id``, in Ray's own layout (``out/ray/*.parquet``).  A worker
that dies is restarted by Ray and its batch retried (Ray Data's actors run with
``max_restarts=-1``, ``max_task_retries=-1``).
"""

from __future__ import annotations

import os
import pickle
import sys
from typing import Any

import numpy as np

from pathattr.engine.run_plan import Plan
from pathattr.scale.local import ShardWriter, batch_ranges, concat_columns, load_batch
from pathattr.store import shards as st

RAY_HINT = "pip install 'pathattr[ray]'"


class _RayWorker:
    """One actor: unpickles the plan (model inside) once and attributes batch ranges."""

    def __init__(self, plan_bytes: bytes, threads: int):
        import torch

        torch.set_num_threads(max(1, threads))
        self.p: Plan = pickle.loads(plan_bytes)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from pathattr.engine.sources import InputError

        payload = []
        for s, e in zip(batch["start"].tolist(), batch["stop"].tolist()):
            try:
                item: tuple[str, Any] = ("ok", self.p.attributor(load_batch(self.p, s, e)))
            except InputError as err:  # Ray would wrap it in a UserCodeException: pass it on
                item = ("input_error", str(err))
            payload.append(pickle.dumps(item, protocol=5))
        return {
            "shard": batch["shard"],
            "start": batch["start"],
            "payload": np.array(payload, dtype=object),
        }


def _init_ray(address: str | None) -> tuple[Any, bool]:
    try:
        import ray
    except ImportError as e:
        raise ImportError(
            f"engine='ray' needs Ray Data, which is not installed; run: {RAY_HINT}"
        ) from e
    if ray.is_initialized():
        return ray, False
    if address is not None:
        ray.init(address=address, log_to_driver=False)
        return ray, True
    # a local cluster; workers import the user's model module from the driver's sys.path
    path = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
    ray.init(
        num_cpus=os.cpu_count() or 2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path, "OMP_NUM_THREADS": "1"}},
    )
    return ray, True


def run_ray(
    p: Plan,
    manifest: st.Manifest,
    done: set[int],
    *,
    progress: bool = False,
    address: str | None = None,
    actors: int = 1,
    cpus_per_actor: float | None = None,
    gpus_per_actor: float | None = None,
) -> int:
    """Compute the missing shards of ``p`` on Ray; returns the rows computed.

    Args:
        p, manifest, done: from :func:`pathattr.engine.run_plan.plan` and ``prepare_out``.
        progress: show a progress bar.
        address: an existing cluster (``ray.init(address=...)``); None starts a local one (or
            uses the one this process is already connected to).
        actors: size of the actor pool.
        cpus_per_actor: CPUs reserved per actor (default: the cluster's CPUs minus one, shared
            by the actors, at most 1 when there are GPUs); torch threads follow it.
        gpus_per_actor: GPUs per actor (default: 1 when the cluster has GPUs, else 0).
    """
    from pathattr.engine.progress import progress_bar
    from pathattr.engine.sources import InputError

    if isinstance(actors, bool) or not isinstance(actors, int) or actors < 1:
        raise ValueError(f"actors: expected a positive integer, got {actors!r}")
    shards = p.shards()
    todo = [(k, a, b) for k, (a, b) in enumerate(shards) if k not in done]
    if not todo:
        return 0
    ray, started = _init_ray(address)
    try:
        import logging

        import ray.data
        from ray import cloudpickle  # a preprocess defined in a function pickles too

        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # pathattr's own bar counts rows
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        res = ray.cluster_resources()
        gpus = float(res.get("GPU", 0))
        if gpus_per_actor is None:
            gpus_per_actor = 1.0 if gpus >= actors else 0.0
        if cpus_per_actor is None:  # leave one CPU for Ray's read/filter tasks (scale.md §5.2)
            free = max(float(res.get("CPU", 2)) - 1.0, 0.25)
            cpus_per_actor = min(free / actors, 1.0 if gpus_per_actor else free / actors)
        if gpus_per_actor and p.attributor.device == "cpu":
            p.attributor.device = "cuda"
        ranges = batch_ranges(p, todo)
        items = [{"shard": k, "start": s, "stop": e} for k, s, e in ranges]
        ds = ray.data.from_items(items, override_num_blocks=min(len(items), 4 * actors * 4))
        ds = ds.map_batches(
            _RayWorker,
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors),
            fn_constructor_args=(cloudpickle.dumps(p), max(1, int(cpus_per_actor))),
            num_cpus=cpus_per_actor,
            num_gpus=gpus_per_actor,
        )
        expected: dict[int, int] = {}
        for k, _, _ in ranges:
            expected[k] = expected.get(k, 0) + 1
        got: dict[int, dict[int, dict[str, Any]]] = {}
        writer = ShardWriter(p, manifest)
        writer.start()
        bar = progress_bar(len(p.source), progress, desc="rows")
        bar.update(sum(b - a for k, (a, b) in enumerate(shards) if k in done))
        rows = 0
        try:
            for row in ds.iter_rows():
                if writer.error is not None:
                    break
                k, s = int(row["shard"]), int(row["start"])
                kind, cols = pickle.loads(row["payload"])
                if kind == "input_error":
                    raise InputError(cols)
                n = len(cols["id"])
                rows += n
                bar.update(n)
                part = got.setdefault(k, {})
                part[s] = cols  # a retried batch overwrites its first result: no duplicates
                if len(part) == expected[k]:
                    writer.q.put(concat_columns([part[i] for i in sorted(part)]))
                    del got[k]
        finally:
            writer.stop()
            bar.close()
        writer.raise_error()
        return rows
    finally:
        if started:
            ray.shutdown()
