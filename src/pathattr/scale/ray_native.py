"""The Ray-native sink of ``engine="ray"`` (``sink="ray"``): read -> map_batches -> write_parquet.

The whole run is one Ray Data plan, so Ray's own ``CheckpointConfig`` (beta in Ray 2.60) can
resume it after the driver dies::

    read_parquet(out/_ray_input)                      # (id, row): one file per shard
      -> map_batches(_NativeWorker, ActorPoolStrategy) # loads rows, attributes, store columns
      -> write_parquet(out/ray, zstd, no dictionary)   # written by the workers, not the driver

Ray's checkpoint needs a plan that starts at a ``read_*`` and ends in a write, with an id column
that is unique and survives every operator.  ``read_numpy`` gives no row numbers and
``read_images`` no folder-relative paths, so the driver writes a small Parquet *sidecar* of
``(id, row)`` (ids exactly as :mod:`pathattr.engine.sources` makes them), Ray reads that, and each
actor loads its rows by index from the input path (shared storage on a cluster) with the same
:class:`~pathattr.engine.sources.Source`, preprocessing and attributor as the local engine.

Layout of ``out``: ``_ray_run.json`` (spec, model hash: a rerun with another spec is refused),
``_ray_input/`` (the sidecar), ``_ray_checkpoint/`` (Ray's committed ids) and ``ray/`` (the
result, the store's columns; dense maps as ``arrow.fixed_shape_tensor`` via Ray's
``ARROW_NATIVE`` tensor format).  Files in ``ray/`` are in no particular order: sort by ``id``.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from pathattr.engine.run_plan import Plan
from pathattr.store import shards as st
from pathattr.store.resume import SpecMismatchError, spec_difference

RUN_FILE = "_ray_run.json"
FORMAT = "pathattr-ray-run/1"
INPUT_DIR, CHECKPOINT_DIR, OUTPUT_DIR = "_ray_input", "_ray_checkpoint", "ray"


class _NativeWorker:
    """One actor: unpickles the plan once; ``(id, row)`` batch in, the store's columns out."""

    def __init__(self, plan_bytes: bytes, threads: int):
        import torch

        torch.set_num_threads(max(1, threads))
        self.p: Plan = pickle.loads(plan_bytes)

    def __call__(self, batch: dict[str, np.ndarray]) -> Any:
        rows = np.asarray(batch["row"], dtype=np.int64)
        # consecutive row numbers are loaded as ranges (one slice of a .npy / table each)
        cuts = np.flatnonzero(np.diff(rows) != 1) + 1
        items: list[Any] = []
        targets: list[np.ndarray] = []
        for run in np.split(rows, cuts):
            a, b = int(run[0]), int(run[-1]) + 1
            items += self.p.source.load(a, b)
            t = self.p.source.targets(a, b)
            if t is not None:
                targets.append(t)
        work: dict[str, Any] = {
            "id": np.asarray(batch["id"], dtype=object),
            "inputs": self.p.attributor.inputs(items),
        }
        if self.p.source.has_targets:
            work["target"] = np.concatenate(targets)
        return st.build_table(self.p.attributor(work), self.p.dtype)


def _clear(out: Path) -> None:
    from pathattr.store.resume import _clear as clear_store

    for d in (INPUT_DIR, CHECKPOINT_DIR, OUTPUT_DIR):
        shutil.rmtree(out / d, ignore_errors=True)
    (out / RUN_FILE).unlink(missing_ok=True)
    clear_store(out)


def prepare_native(p: Plan, force: bool = False) -> dict[str, Any]:
    """Check ``out`` against the plan (refuse another spec's output), write the sidecar.

    Raises:
        SpecMismatchError: ``out`` holds another spec's output or unrelated files (not ``force``).
    """
    out = p.out
    out.mkdir(parents=True, exist_ok=True)
    path = out / RUN_FILE
    old = json.loads(path.read_text()) if path.exists() else None
    if old is not None and (old.get("format") != FORMAT or old["spec"] != p.spec
                            or old["model_hash"] != p.model_hash):  # fmt: skip
        if not force:
            raise SpecMismatchError(
                f"out: {str(out)!r} holds a run with a different spec (differs in: "
                f"{', '.join(spec_difference(old, p))}); use another --out, or --force to delete "
                "it and start over"
            )
        _clear(out)
        old = None
    elif old is None:
        others = [q.name for q in out.iterdir() if not q.name.startswith((".tmp-", ".lock"))]
        if others and not force:
            raise SpecMismatchError(
                f"out: expected an empty directory or a pathattr Ray-sink run's output, got "
                f"{str(out)!r} with {len(others)} other entries ({', '.join(sorted(others)[:3])})"
                "; use --force to write there anyway"
            )
        _clear(out)
    info = old or {"format": FORMAT, "spec": p.spec, "model_hash": p.model_hash,
                   "total_rows": len(p.source), "complete": False}  # fmt: skip
    st.write_atomic(path, json.dumps(info, indent=1, sort_keys=True).encode())
    sidecar = out / INPUT_DIR
    if not (sidecar / "_done").exists():
        import pyarrow as pa

        sidecar.mkdir(exist_ok=True)
        for k, (a, b) in enumerate(p.shards()):
            t = pa.table({"id": pa.array(p.source.ids[a:b], pa.string()),
                          "row": pa.array(np.arange(a, b, dtype=np.int64))})  # fmt: skip
            st.write_atomic(sidecar / f"part-{k:06d}.parquet", st.encode(t))
        st.write_atomic(sidecar / "_done", b"")
    return info


def output_rows(out: Path, sub: str = OUTPUT_DIR) -> int:
    """Rows in the Parquet files of ``out/ray`` (from the footers); ``sub=CHECKPOINT_DIR``:
    the ids Ray's checkpoint has committed (pending ones end in ``.pending``)."""
    import pyarrow.parquet as pq

    d = out / sub
    files = sorted(d.glob("*.parquet")) if d.is_dir() else []
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def read_native_output(out: str | Path, columns: list[str] | None = None) -> Any:
    """The result of a ``sink="ray"`` run as one ``pyarrow.Table``, sorted by ``id``."""
    import pyarrow.parquet as pq

    t = pq.read_table(Path(out) / OUTPUT_DIR, columns=columns)
    return t.sort_by("id") if "id" in t.column_names else t


def _input_error(e: BaseException) -> BaseException | None:
    """The :class:`InputError` a worker raised, out of Ray's wrappers (UserCodeException,
    RayTaskError), or None; Ray keeps the original only as text, hence the search."""
    import re

    from pathattr.engine.sources import InputError

    seen: set[int] = set()
    stack: list[Any] = [e]
    while stack:
        x = stack.pop()
        if not isinstance(x, BaseException) or id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, InputError):
            return InputError(str(x))
        m = re.search(r"InputError: (input: [^\n]*)", str(x))
        if m:
            return InputError(m.group(1).rstrip())
        stack += [x.__cause__, x.__context__, getattr(x, "cause", None)]
    return None


def run_ray_native(
    p: Plan, *, force: bool = False, progress: bool = False, address: str | None = None,
    actors: int = 1, cpus_per_actor: float | None = None, gpus_per_actor: float | None = None,
) -> int:  # fmt: skip
    """Run the plan as one Ray Data job into ``p.out``; returns the rows computed.

    The arguments are those of :func:`pathattr.scale.ray_engine.run_ray`.  CPUs: reads and
    writes take 0.25 CPU each and Ray's checkpoint filter 1 CPU, the actors share the rest
    (an actor pool that takes every CPU deadlocks on small machines).
    """
    from pathattr.scale.ray_engine import _init_ray

    if isinstance(actors, bool) or not isinstance(actors, int) or actors < 1:
        raise ValueError(f"actors: expected a positive integer, got {actors!r}")
    info = prepare_native(p, force)
    before = output_rows(p.out, CHECKPOINT_DIR)
    if info["complete"] and output_rows(p.out) == len(p.source):
        return 0  # nothing to do (and Ray would start actors for an all-filtered read)
    ray, started = _init_ray(address)
    try:
        import logging

        import ray.data
        from ray import cloudpickle

        try:
            from ray.data.checkpoint import CheckpointConfig
            from ray.data.extensions import FixedShapeTensorFormat
        except ImportError as e:
            raise ImportError("sink='ray' needs ray[data]>=2.60 (CheckpointConfig)") from e
        ctx = ray.data.DataContext.get_current()
        saved = (ctx.checkpoint_config, ctx.arrow_fixed_shape_tensor_format,
                 ctx.enable_progress_bars, ctx.use_datasource_v2)  # fmt: skip
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        res = ray.cluster_resources()
        if gpus_per_actor is None:
            gpus_per_actor = 1.0 if float(res.get("GPU", 0)) >= actors else 0.0
        if cpus_per_actor is None:
            free = max(float(res.get("CPU", 2)) - 1.5, 0.25 * actors) / actors
            cpus_per_actor = min(free, 1.0) if gpus_per_actor else free
        if gpus_per_actor and p.attributor.device == "cpu":
            p.attributor.device = "cuda"
        light = {"num_cpus": 0.25}
        floats = ["f_x", "f_baseline", "delta", "relative_delta"]
        try:
            ctx.enable_progress_bars = progress
            ctx.arrow_fixed_shape_tensor_format = FixedShapeTensorFormat.ARROW_NATIVE
            ctx.checkpoint_config = CheckpointConfig(
                id_column="id", checkpoint_path=str((p.out / CHECKPOINT_DIR).resolve()),
                delete_checkpoint_on_success=False,
            )  # fmt: skip
            ctx.checkpoint_config.checkpoint_actor_pool_max_size = 1  # 1 CPU each
            # one read task per sidecar file (one shard): output files and checkpoint commits
            # of about a shard each.  Ray 2.60's v2 Parquet reader packs small files into one
            # task and asks a whole CPU whatever num_cpus says (a hang next to the 1-CPU
            # checkpoint filter on a 2-CPU cluster): use the v1 reader
            ctx.use_datasource_v2 = False
            ds = ray.data.read_parquet(
                str((p.out / INPUT_DIR).resolve()), file_extensions=["parquet"], num_cpus=0.25,
                override_num_blocks=len(p.shards()),
            )  # fmt: skip
            ds = ds.map_batches(
                _NativeWorker, batch_size=p.batch_size, batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=actors),
                fn_constructor_args=(cloudpickle.dumps(p), max(1, int(cpus_per_actor))),
                num_cpus=cpus_per_actor, num_gpus=gpus_per_actor,
            )  # fmt: skip
            ds.write_parquet(
                str((p.out / OUTPUT_DIR).resolve()), ray_remote_args=light, compression="zstd",
                use_dictionary=["id"], use_byte_stream_split=floats, write_statistics=["id"],
            )  # fmt: skip
        except Exception as e:
            err = _input_error(e)
            if err is not None:
                raise err from None
            raise
        finally:
            (ctx.checkpoint_config, ctx.arrow_fixed_shape_tensor_format,
             ctx.enable_progress_bars, ctx.use_datasource_v2) = saved  # fmt: skip
    finally:
        if started:
            ray.shutdown()
    if output_rows(p.out) == len(p.source):
        info["complete"] = True
        st.write_atomic(p.out / RUN_FILE, json.dumps(info, indent=1, sort_keys=True).encode())
    return max(output_rows(p.out, CHECKPOINT_DIR) - before, 0)


def summarize_native(p: Plan, rows: int, seconds: float) -> Any:
    """The :class:`~pathattr.engine.dataset.RunSummary` of a ``sink="ray"`` output."""
    import math

    from pathattr.engine.dataset import WARN_THRESHOLD, RunSummary

    d = p.out / OUTPUT_DIR
    files = sorted(d.glob("*.parquet")) if d.is_dir() else []
    rel = read_native_output(p.out, ["relative_delta"]).column(0).to_numpy() if files else []
    rel = np.asarray(rel, dtype=np.float32)
    finite = rel[np.isfinite(rel)]
    return RunSummary(
        out=str(p.out), rows=int(rel.size), rows_computed=rows, shards=len(files),
        shards_computed=len(files), seconds=seconds,
        median_relative_delta=float(np.median(finite)) if finite.size else math.nan,
        over_threshold=int((finite > WARN_THRESHOLD).sum()),
    )  # fmt: skip
