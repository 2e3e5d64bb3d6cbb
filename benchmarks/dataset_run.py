"""Dataset runs: local engine vs a bare BatchAttributor loop, storage cost, Ray overhead.

1. **Local engine overhead**: ``pathattr.run`` (loading in a thread, compute, Parquet shards
   written by a writer thread, manifest, fsync) against the same work with no storage: a loop
   of ``argmax(model(x))`` + ``BatchAttributor`` over preloaded arrays.  Runs interleaved, median
   of ``--repeats``.  Small CNN (3x32x32) and EfficientNet-Lite0 (uint8 256x256 photos-like
   inputs, resized/cropped by the built-in preprocess in both variants).
2. **Storage**: bytes per row and write time of one shard of 3x224x224 maps: Parquet float32,
   Parquet float16 (zstd, byte-stream-split, dictionary off) and raw ``np.save``.
3. **Ray** (``--ray``): wall time of ``engine="ray"`` (cluster start included) at 1 and 2 actors
   for two job sizes, against the local engine; fixed overhead = intercept, throughput = slope.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/dataset_run.py [--ray] [--repeats 3]

Writes ``benchmarks/results/dataset_run.md`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import pathattr
from pathattr.engine.batch import BatchAttributor
from pathattr.engine.dataset import load_model
from pathattr.store import shards as st

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))


def small_cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(4),
        torch.nn.Flatten(), torch.nn.Linear(32 * 16, 10),
    ).eval()  # fmt: skip


DEVICE = "cpu"


def bare_loop(model, preprocess, x: np.ndarray, steps: int, batch: int, shard: int, base) -> None:
    ba = BatchAttributor(model, "integrated_gradients", {"steps": steps, "warn_tol": None},
                         device=DEVICE)  # fmt: skip
    model.to(DEVICE)
    for a in range(0, len(x), shard):
        for s in range(a, min(a + shard, len(x)), batch):
            e = min(s + batch, a + shard, len(x))
            rows = [preprocess(r) if preprocess else r for r in x[s:e]]
            xb = np.stack(rows).astype(np.float32)
            with torch.no_grad():
                t = model(torch.as_tensor(xb, device=DEVICE)).argmax(1).cpu().numpy()
            b = {"inputs": xb, "target": t}
            if base is not None:
                b["baselines"] = np.full_like(xb, base)
            ba(b)


def engine_vs_loop(name, spec, x, steps, batch, shard, repeats, tmp: Path) -> dict:
    np.save(tmp / "x.npy", x)
    model, preprocess, base = load_model(spec)
    loop, eng, loop_cpu, eng_cpu = [], [], [], []
    bare_loop(model, preprocess, x[:batch], steps, batch, shard, base)  # warm-up
    np.save(tmp / "w.npy", x[:batch])  # warm-up of the engine (imports, built-in model cache)
    pathattr.run(tmp / "w.npy", spec, tmp / "w", steps=steps, batch_size=batch, shard_rows=shard,
                 device=DEVICE)  # fmt: skip
    shutil.rmtree(tmp / "w")
    for r in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        bare_loop(model, preprocess, x, steps, batch, shard, base)
        loop.append(time.perf_counter() - t0)
        loop_cpu.append(time.process_time() - c0)
        out = tmp / f"o{r}"
        t0, c0 = time.perf_counter(), time.process_time()
        pathattr.run(tmp / "x.npy", spec, out, steps=steps, batch_size=batch, shard_rows=shard,
                     device=DEVICE)  # fmt: skip
        eng.append(time.perf_counter() - t0)
        eng_cpu.append(time.process_time() - c0)
        shutil.rmtree(out)
    lm, em = statistics.median(loop), statistics.median(eng)
    return {"case": name, "rows": len(x), "steps": steps, "batch": batch, "shard": shard,
            "loop_s": loop, "engine_s": eng, "loop_rows_s": len(x) / lm,
            "engine_rows_s": len(x) / em, "ratio": lm / em,
            "ratio_min": min(loop) / min(eng), "loop_cpu_s": loop_cpu, "engine_cpu_s": eng_cpu,
            "cpu_ratio": statistics.median(loop_cpu) / statistics.median(eng_cpu)}  # fmt: skip


def storage(rows: int, tmp: Path) -> list[dict]:
    rng = np.random.default_rng(0)
    # smooth-ish maps like input x gradient on photos (pure noise would be incompressible too)
    base = rng.normal(size=(rows, 3, 28, 28)).astype(np.float32)
    maps = np.repeat(np.repeat(base, 8, 2), 8, 3) * rng.normal(1, 0.1, (rows, 3, 224, 224))
    maps = maps.astype(np.float32)
    cols = {"id": [str(i) for i in range(rows)], "target": np.zeros(rows, np.int64),
            "prediction": np.zeros(rows, np.int64), "f_x": np.ones(rows, np.float32),
            "f_baseline": np.zeros(rows, np.float32), "delta": np.zeros(rows, np.float32),
            "relative_delta": np.zeros(rows, np.float32), "evaluations": np.zeros(rows, np.int64),
            "attributions": maps}  # fmt: skip
    out = []
    for dtype in ("float32", "float16"):
        t0 = time.perf_counter()
        data = st.encode(st.build_table(cols, dtype))
        st.write_atomic(tmp / f"s-{dtype}.parquet", data)
        sec = time.perf_counter() - t0
        out.append({"format": f"Parquet {dtype} (zstd, BSS, fsync)",
                    "bytes_per_row": len(data) / rows, "seconds": sec})  # fmt: skip
    for dtype in (np.float32, np.float16):
        t0 = time.perf_counter()
        np.save(tmp / "raw.npy", maps.astype(dtype))
        out.append({"format": f"np.save {np.dtype(dtype).name} (no fsync)",
                    "bytes_per_row": (tmp / "raw.npy").stat().st_size / rows,
                    "seconds": time.perf_counter() - t0})  # fmt: skip
    return out


def ray_bench(tmp: Path) -> list[dict]:
    res = []
    for rows in (256, 1024):
        x = np.random.default_rng(1).normal(size=(rows, 3, 32, 32)).astype(np.float32)
        np.save(tmp / "rx.npy", x)
        for engine, actors in (("local", 0), ("ray", 1), ("ray", 2)):
            out = tmp / "ro"
            kw = {"actors": actors} if engine == "ray" else {}
            t0 = time.perf_counter()
            pathattr.run(tmp / "rx.npy", "dataset_run:small_cnn", out, engine=engine, steps=16,
                         batch_size=32, shard_rows=256, **kw)  # fmt: skip
            res.append({"engine": engine, "actors": actors, "rows": rows,
                        "seconds": time.perf_counter() - t0})  # fmt: skip
            shutil.rmtree(out)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ray", action="store_true")
    ap.add_argument("--no-local", action="store_true", help="skip the engine-vs-loop part")
    ap.add_argument("--effnet-rows", type=int, default=16)
    ap.add_argument("--effnet-steps", type=int, default=8)
    ap.add_argument("--effnet-batch", type=int, default=4)
    ap.add_argument("--small-rows", type=int, default=1024)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (model and attribution)")
    ap.add_argument("--out", default=str(HERE / "results" / "dataset_run.md"))
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    tmp = Path(tempfile.mkdtemp())
    lines = [
        "# Dataset runs: local engine, storage, Ray",
        "",
        f"`{' '.join(['python', *sys.argv])}` on {platform.machine()}, {os.cpu_count()} cores "
        f"(shared with other jobs: wall times are noisy), torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch thread(s), load average at start "
        f"{os.getloadavg()[0]:.1f}. Medians of {args.repeats} interleaved runs. Device: "
        f"{torch.cuda.get_device_name() if DEVICE == 'cuda' else 'cpu'}.",
        "",
        "## Local engine vs a bare BatchAttributor loop (no storage)",
        "",
        "| case | rows | steps | batch | shard | loop rows/s | engine rows/s | engine / loop "
        "(medians) | engine / loop (fastest runs) | loop CPU s / engine CPU s (all threads) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    xs = np.random.default_rng(0).normal(size=(args.small_rows, 3, 32, 32)).astype(np.float32)
    cases = [("small CNN 3x32x32", "dataset_run:small_cnn", xs, 16, 32, 256)]
    try:
        load_model("efficientnet-lite0")
        imgs = np.random.default_rng(0).integers(0, 255, (args.effnet_rows, 256, 256, 3), np.uint8)
        cases.append(("EfficientNet-Lite0 224", "efficientnet-lite0", imgs, args.effnet_steps,
                      args.effnet_batch, 2 * args.effnet_batch))  # fmt: skip
    except ImportError as e:
        lines.append(f"(EfficientNet-Lite0 skipped: {e})")
    for name, spec, x, steps, batch, shard in [] if args.no_local else cases:
        r = engine_vs_loop(name, spec, x, steps, batch, shard, args.repeats, tmp)
        print(r, flush=True)
        lines.append(
            f"| {name} | {r['rows']} | {steps} | {batch} | {shard} | {r['loop_rows_s']:.1f} | "
            f"{r['engine_rows_s']:.1f} | {r['ratio']:.3f} | {r['ratio_min']:.3f} | "
            f"{r['cpu_ratio']:.3f} |"
        )
    lines += ["", "## Storage of 3x224x224 maps (one shard of 64 rows)", "",
              "| format | bytes / row | write s (64 rows) |", "| --- | --- | --- |"]  # fmt: skip
    for r in storage(64, tmp):
        lines.append(f"| {r['format']} | {r['bytes_per_row']:.0f} | {r['seconds']:.3f} |")
    if args.ray:
        lines += ["", "## Ray (local cluster started by the run, small CNN, steps 16)", "",
                  "| engine | actors | rows | wall s | rows/s |",
                  "| --- | --- | --- | --- | --- |"]  # fmt: skip
        for r in ray_bench(tmp):
            print(r, flush=True)
            lines.append(f"| {r['engine']} | {r['actors'] or '-'} | {r['rows']} | "
                         f"{r['seconds']:.1f} | {r['rows'] / r['seconds']:.1f} |")  # fmt: skip
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
