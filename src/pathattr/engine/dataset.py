"""Whole-dataset attribution: :func:`run` and the local engine.

``run(input, model, out, method="ig")`` attributes every row of ``input`` and writes Parquet
shards plus ``_manifest.json`` to ``out`` (:mod:`pathattr.store.shards`).  Rows are cut into
shards of ``shard_rows`` in input order and every shard into batches of ``batch_size``, so the
same command always computes the same batches; rerunning it after a crash computes only the
shards that are not committed, and gives the same values as an uninterrupted run.

The unit of work is :class:`DatasetAttributor`, a picklable ``batch -> columns`` callable around
:class:`~pathattr.engine.batch.BatchAttributor`; the local engine calls it in a loop (loading the
next batch and writing finished shards in background threads) and the Ray engine
(:mod:`pathattr.scale`) in an actor pool.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import json
import math
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pathattr.engine.batch import BatchAttributor
from pathattr.engine.sources import InputError, Source, open_source
from pathattr.store import shards as st

#: short method names accepted by :func:`run` -> pathattr method names
METHODS = {
    "ig": "integrated_gradients",
    "eg": "expected_gradients",
    "smoothgrad": "smoothgrad",
    "integrated_gradients": "integrated_gradients",
    "expected_gradients": "expected_gradients",
}
#: methods that draw random numbers: every row is attributed with a seed derived from its id
STOCHASTIC = ("expected_gradients", "smoothgrad")
#: relative completeness error above which the summary counts a row as "over the threshold"
WARN_THRESHOLD = 0.05


class SpecMismatchError(ValueError):
    """``out`` holds the output of a different run (another spec), or unrelated files."""


# ----------------------------------------------------------------------------------- models
def _efficientnet_preprocess(item: np.ndarray) -> np.ndarray:
    from pathattr.domains import vision

    _, x = vision.preprocess(np.asarray(item))
    out: np.ndarray = x[0].numpy()
    return out


@functools.lru_cache(maxsize=2)
def _builtin(name: str) -> tuple[torch.nn.Module, Callable[[Any], Any] | None, float | None]:
    # cached: repeated runs in one process (a notebook, resume after an error) load it once
    if name == "efficientnet-lite0":
        from pathattr.domains import vision

        return vision.load_efficientnet_lite0(), _efficientnet_preprocess, -127.0 / 128.0
    raise ValueError(
        f"model: expected a built-in name (efficientnet-lite0) or 'module:function', got {name!r}"
    )


def load_model(spec: Any) -> tuple[torch.nn.Module, Callable[[Any], Any] | None, float | None]:
    """Resolve a model spec to ``(model, preprocess, baseline_value)``.

    Args:
        spec: a built-in name (``efficientnet-lite0``), ``"module:function"`` (importable from the
            current directory or ``PYTHONPATH``; the function returns a model or
            ``(model, preprocess)``), an ``nn.Module``, or a ``(model, preprocess)`` tuple.
            ``preprocess`` maps one raw row (an ``(H, W, 3)`` uint8 image, a table cell, a
            feature vector) to the model input of that row, without the batch dimension.
    """
    if isinstance(spec, str):
        if ":" not in spec:
            return _builtin(spec)
        mod_name, _, fn_name = spec.partition(":")
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            fn = getattr(importlib.import_module(mod_name), fn_name)
        except (ImportError, AttributeError) as e:
            raise ValueError(
                f"model: expected an importable 'module:function', got {spec!r} ({e})"
            ) from e
        spec = fn()
    preprocess = None
    if isinstance(spec, tuple):
        if len(spec) != 2:
            raise ValueError(
                f"model: expected a model or (model, preprocess), got a {len(spec)}-tuple"
            )
        spec, preprocess = spec
    if not isinstance(spec, torch.nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(spec).__name__}")
    return spec, preprocess, None


def model_hash(model: torch.nn.Module) -> str:
    """SHA-256 of the model's class name and state dict (names, dtypes, shapes, values)."""
    h = hashlib.sha256(type(model).__qualname__.encode())
    for name, t in model.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def row_seed(seed: int, row_id: str) -> int:
    """The seed of one row of a stochastic method: a hash of the run's seed and the row's id."""
    d = hashlib.sha256(f"{seed}:{row_id}".encode()).digest()
    return int.from_bytes(d[:7], "little")


# ------------------------------------------------------------------------------ attributor
@dataclass
class DatasetAttributor:
    """``fn(batch) -> columns``: one batch of a dataset run, picklable (model inside).

    Args:
        model: the model.
        method: a pathattr method name (``integrated_gradients``, ``expected_gradients``,
            ``smoothgrad``).
        options: the method's keyword options (``steps``, ``samples``, ``references``...).
        preprocess: raw row -> model input of that row (None: the row is the input).
        target: ``"predicted"`` (the argmax of the model output), an int class, or ``"column"``
            (the batch's ``target`` entry).
        baseline: a constant baseline value for IG (None: zeros).
        seed: base seed of stochastic methods (each row uses :func:`row_seed`).
        device: where to run.

    The batch holds ``id`` and ``items`` (raw rows) or ``inputs`` (a stacked array), plus
    ``target`` for ``target="column"``.  The result holds the store's columns
    (:data:`pathattr.store.shards.SCALAR_COLUMNS` and ``attributions``).
    """

    model: torch.nn.Module
    method: str = "integrated_gradients"
    options: dict[str, Any] = field(default_factory=dict)
    preprocess: Callable[[Any], Any] | None = None
    target: str | int = "predicted"
    baseline: float | None = None
    seed: int = 0
    device: str = "cpu"

    def inputs(self, items: list[Any]) -> np.ndarray:
        """Stack raw rows into the model's input array (applying ``preprocess``)."""
        rows = [self.preprocess(i) if self.preprocess is not None else i for i in items]
        rows = [
            r.detach().cpu().numpy() if isinstance(r, torch.Tensor) else np.asarray(r) for r in rows
        ]
        x = np.stack(rows)
        if x.dtype.kind in "iub":
            x = x.astype(np.float32)
        return x

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Attribute one batch (see the class docstring)."""
        ids = [str(i) for i in np.asarray(batch["id"]).tolist()]
        x = np.asarray(batch["inputs"]) if "inputs" in batch else self.inputs(list(batch["items"]))
        model = self.model.to(self.device).eval()
        with torch.no_grad():
            out = model(torch.as_tensor(x, device=self.device))
        out = out.detach().float().cpu()
        multi = out.dim() == 2 and out.shape[1] > 1
        pred = out.argmax(1).numpy() if multi else np.full(len(ids), -1, np.int64)
        if self.target == "predicted":
            target = pred if multi else None
        elif self.target == "column":
            target = np.asarray(batch["target"], dtype=np.int64)
        else:
            target = np.full(len(ids), int(self.target), np.int64)
        work: dict[str, Any] = {"inputs": x}
        if target is not None:
            work["target"] = target
        if self.baseline is not None and self.method == "integrated_gradients":
            work["baselines"] = np.full_like(x, self.baseline)
        if self.method in STOCHASTIC:
            parts = []
            for r, rid in enumerate(ids):
                one = {k: v[r : r + 1] for k, v in work.items()}
                opts = {**self.options, "seed": row_seed(self.seed, rid)}
                parts.append(BatchAttributor(model, self.method, opts, self.device)(one))
            res = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        else:
            res = BatchAttributor(model, self.method, self.options, self.device)(work)
        n = len(ids)
        return {
            "id": np.asarray(ids, dtype=object),
            "target": np.full(n, -1, np.int64) if target is None else np.asarray(target, np.int64),
            "prediction": np.asarray(pred, np.int64),
            "f_x": res["output"].astype(np.float32).reshape(n),
            "f_baseline": res["baseline_output"].astype(np.float32).reshape(n),
            "delta": res["delta"].astype(np.float32).reshape(n),
            "relative_delta": res["relative_delta"].astype(np.float32).reshape(n),
            "evaluations": np.asarray(res["evaluations"], np.int64).reshape(n),
            "attributions": res["attributions"].astype(np.float32, copy=False),
        }


# ------------------------------------------------------------------------------------ plan
@dataclass
class Plan:
    """Everything a run needs, resolved and checked before anything is written."""

    source: Source
    attributor: DatasetAttributor
    out: Path
    spec: dict[str, Any]
    model_hash: str
    shard_rows: int
    batch_size: int
    dtype: str

    def shards(self) -> list[tuple[int, int]]:
        """``[start, stop)`` row ranges of every shard, in input order."""
        n = len(self.source)
        return [(s, min(s + self.shard_rows, n)) for s in range(0, n, self.shard_rows)]


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


def _positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def _jsonable(options: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in sorted(options.items()):
        if isinstance(v, torch.Tensor):
            v = v.detach().cpu().numpy()
        if isinstance(v, np.ndarray):
            out[k] = {"array_sha256": hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest(),
                      "shape": list(v.shape)}  # fmt: skip
        else:
            out[k] = v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)
    return out


def plan(
    input: str | Path,
    model: Any,
    out: str | Path,
    *,
    method: str = "ig",
    steps: int | str = 32,
    tol: float = 0.05,
    samples: int | None = None,
    references: str | Path | np.ndarray | None = None,
    reference_rows: int = 64,
    target: str | int = "predicted",
    column: str | None = None,
    id_column: str | None = None,
    shard_rows: int = 1024,
    batch_size: int = 16,
    dtype: str = "float32",
    seed: int = 0,
    device: str = "cpu",
) -> Plan:
    """Resolve and check a run's arguments (see :func:`run`); writes nothing."""
    if method not in METHODS:
        raise ValueError(f"method: expected one of ig, eg, smoothgrad, got {method!r}")
    name = METHODS[method]
    shard_rows = _positive(shard_rows, "shard_rows")
    batch_size = _positive(batch_size, "batch_size")
    if dtype not in ("float32", "float16"):
        raise ValueError(f"dtype: expected 'float32' or 'float16', got {dtype!r}")
    if not (
        steps == "auto" or (isinstance(steps, int) and not isinstance(steps, bool) and steps > 0)
    ):
        raise ValueError(f"steps: expected a positive integer or 'auto', got {steps!r}")
    tcol: str | None = None
    if isinstance(target, str) and target != "predicted":
        try:
            target = int(target)
        except ValueError:
            tcol = str(target)
    source = open_source(input, column=column, id_column=id_column, target_column=tcol)
    net, preprocess, baseline = load_model(model)
    att = DatasetAttributor(net, name, {}, preprocess, "column" if tcol else target, baseline,
                            seed, device)  # fmt: skip
    options: dict[str, Any] = {}
    if name == "integrated_gradients":
        options = {"steps": steps, "warn_tol": None}
        if steps == "auto":
            options["tol"] = tol
    elif name == "expected_gradients":
        options = {"samples": samples or 64, "warn_tol": None}
        if references is None:  # evenly spaced rows of the input itself
            idx = np.unique(
                np.linspace(0, len(source) - 1, min(reference_rows, len(source))).astype(int)
            )
            refs = att.inputs([source.load(int(i), int(i) + 1)[0] for i in idx])
        elif isinstance(references, (str, Path)):
            try:
                refs = np.load(references, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise InputError(
                    f"references: expected a readable .npy file, got {str(references)!r} ({e})"
                ) from e
        else:
            refs = np.asarray(references)
        options["references"] = torch.as_tensor(np.asarray(refs, dtype=np.float32))
    else:
        options = {"samples": samples or 16}
    att.options = options
    spec = {
        "input": str(Path(input).resolve()),
        "input_kind": source.kind,
        "column": column,
        "id_column": id_column,
        "model": model if isinstance(model, str) else f"<python object {type(net).__qualname__}>",
        "method": name,
        "options": _jsonable(options),
        "target": target if tcol is None else f"column:{tcol}",
        "shard_rows": shard_rows,
        "dtype": dtype,
        "seed": seed,
        "rows": len(source),
    }
    return Plan(source, att, Path(out), spec, model_hash(net), shard_rows, batch_size, dtype)


# ---------------------------------------------------------------------------------- resume
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
            diff = sorted(
                k for k in set(old["spec"]) | set(p.spec) if old["spec"].get(k) != p.spec.get(k)
            )
            if old["model_hash"] != p.model_hash:
                diff.append("model weights")
            raise SpecMismatchError(
                f"out: {str(out)!r} holds a run with a different spec (differs in: "
                f"{', '.join(diff)}); use another --out, or --force to delete it and start over"
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


def _clear(out: Path) -> None:
    for q in out.iterdir():
        if q.is_file() and (
            st.is_part_file(q.name) or q.name == st.MANIFEST or q.name.startswith(".tmp-")
        ):
            q.unlink()


# ------------------------------------------------------------------------------ local engine
_END = object()


class _Writer(threading.Thread):
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
        while True:
            item = self.q.get()
            if item is _END:
                return
            if self.error is not None:
                continue  # drain; nothing more is written after a failure
            try:
                commit_shard(self.p, self.manifest, item, self.order)
                self.committed += 1
            except BaseException as e:  # reported by the compute thread
                self.error = e


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
            q.put(_END)
        except BaseException as e:
            q.put(e)

    th = threading.Thread(target=load, daemon=True, name="pathattr-loader")
    th.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop_flag.set()


def _concat(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def run_local(p: Plan, manifest: st.Manifest, done: set[int], progress: bool = True) -> int:
    """Compute the missing shards of ``p`` in this process; returns the rows computed."""
    from pathattr.engine.progress import progress_bar

    shards = p.shards()
    todo = [(k, a, b) for k, (a, b) in enumerate(shards) if k not in done]
    total = len(p.source)
    bar = progress_bar(total, progress, desc="rows")
    bar.update(sum(b - a for k, (a, b) in enumerate(shards) if k in done))
    writer = _Writer(p, manifest)
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
                writer.q.put(_concat(pending))
                pending = []
    finally:
        writer.q.put(_END)
        writer.join()
        bar.close()
    if writer.error is not None:
        raise writer.error
    return rows


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
        method: ``ig`` (Integrated Gradients), ``eg`` (Expected Gradients), ``smoothgrad``.
        engine: ``local`` (this process) or ``ray`` (Ray Data actors, ``pathattr[ray]``).
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
    ray_opts = {k: options.pop(k) for k in ("address", "actors", "cpus_per_actor", "gpus_per_actor")
                if k in options}  # fmt: skip
    if ray_opts and engine != "ray":
        raise ValueError(f"{', '.join(ray_opts)}: only with engine='ray'")
    t0 = time.perf_counter()
    p = plan(input, model, out, method=method, **options)
    with _exclusive(p.out):
        manifest, done = prepare_out(p, force)
        if engine == "local":
            rows = run_local(p, manifest, done, progress)
        else:
            from pathattr.scale.ray_engine import run_ray

            rows = run_ray(p, manifest, done, progress=progress, **ray_opts)
        return finish(p, manifest, rows, len(p.shards()) - len(done), time.perf_counter() - t0)


@contextlib.contextmanager
def _exclusive(out: Path) -> Iterator[None]:
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
