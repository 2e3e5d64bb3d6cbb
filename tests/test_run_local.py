"""Whole-dataset runs on the local engine: equality, storage format, resume, kills, bad input."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

import pathattr  # noqa: E402
from pathattr.engine.batch import BatchAttributor  # noqa: E402
from pathattr.engine.dataset import SpecMismatchError, row_seed  # noqa: E402
from pathattr.engine.sources import InputError  # noqa: E402
from pathattr.store import MANIFEST, StoreError, attributions_array, read_output  # noqa: E402
from pathattr.store import shards as st  # noqa: E402

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from dataset_models import tiny_cnn, tiny_mlp  # noqa: E402

MODEL = "dataset_models:tiny_cnn"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("data")
    x = np.random.default_rng(0).normal(size=(520, 3, 8, 8)).astype(np.float32)
    np.save(d / "x.npy", x)
    return d / "x.npy"


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory) -> Path:
    """One uninterrupted run (the kill tests compare against it)."""
    out = tmp_path_factory.mktemp("ref") / "out"
    pathattr.run(data, MODEL, out, steps=24, shard_rows=50, batch_size=16)
    return out


def _table(out: Path):
    return read_output(out)


def _assert_same(a, b) -> None:
    assert a.column("id").to_pylist() == b.column("id").to_pylist()
    for c in a.column_names:
        if c == "id":
            continue
        if c == "attributions":
            assert np.array_equal(attributions_array(a), attributions_array(b))
        else:
            assert np.array_equal(a.column(c).to_numpy(), b.column(c).to_numpy(), equal_nan=True), c


def test_local_run_equals_batch_attributor(data, reference):
    x = np.load(data)
    t = _table(reference)
    assert t.num_rows == 520 and len(set(t.column("id").to_pylist())) == 520
    model = tiny_cnn()
    ba = BatchAttributor(model, "integrated_gradients", {"steps": 24, "warn_tol": None})
    attrs, deltas = [], []
    for s in range(0, 520, 50):  # the run's batches: 16 rows, restarting at each shard
        for b in range(s, min(s + 50, 520), 16):
            e = min(b + 16, s + 50, 520)
            with torch.no_grad():
                tgt = model(torch.as_tensor(x[b:e])).argmax(1).numpy()
            r = ba({"inputs": x[b:e], "target": tgt})
            attrs.append(r["attributions"])
            deltas.append(r["delta"])
    assert np.array_equal(attributions_array(t), np.concatenate(attrs))
    assert np.array_equal(t.column("delta").to_numpy(), np.concatenate(deltas).astype(np.float32))
    with torch.no_grad():
        pred = model(torch.as_tensor(x)).argmax(1).numpy()
    assert np.array_equal(t.column("prediction").to_numpy(), pred)
    assert np.array_equal(t.column("target").to_numpy(), pred)
    assert (t.column("evaluations").to_numpy() > 0).all()


def test_format_readable_without_pathattr(reference):
    code = (
        "import sys, pyarrow.parquet as pq, pandas as pd\n"
        "assert 'pathattr' not in sys.modules\n"
        f"t = pq.read_table({str(reference)!r})\n"
        "a = t['attributions'].combine_chunks().to_numpy_ndarray()\n"
        f"df = pd.read_parquet({str(reference)!r})\n"
        "print(t.num_rows, a.shape, len(df), str(t.schema.field('attributions').type))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.split()[0] == "520" and "(520, 3, 8, 8)" in r.stdout
    assert "fixed_shape_tensor" in r.stdout
    meta = pq.ParquetFile(next(reference.glob("part-*.parquet"))).metadata
    col = meta.row_group(0).column(meta.schema.names.index("delta"))
    assert col.compression == "ZSTD" and "RLE_DICTIONARY" not in str(col.encodings)
    m = json.loads((reference / MANIFEST).read_text())
    assert m["complete"] and sum(s["rows"] for s in m["shards"]) == 520
    assert {"spec", "model_hash", "library_version"} <= set(m)
    for s in m["shards"]:
        assert st.file_sha256(reference / s["file"]) == s["sha256"]
        assert s["file"] == f"part-{s['first_id']}.parquet"


def test_duckdb_reads_output(reference):
    import duckdb

    n, u = duckdb.sql(
        f"select count(*), count(distinct id) from '{reference}/*.parquet'"
    ).fetchall()[0]
    assert (n, u) == (520, 520)


def test_float16_storage_keeps_float32_delta(data, reference, tmp_path):
    out = tmp_path / "f16"
    pathattr.run(data, MODEL, out, steps=24, shard_rows=50, batch_size=16, dtype="float16")
    a, b = _table(reference), _table(out)
    assert str(b.schema.field("attributions").type.value_type) == "halffloat"
    assert b.schema.field("delta").type == pa.float32()
    assert np.array_equal(a.column("delta").to_numpy(), b.column("delta").to_numpy())
    a32 = attributions_array(a)
    assert np.array_equal(attributions_array(b), a32.astype(np.float16))
    size = lambda d: sum(p.stat().st_size for p in d.glob("part-*"))  # noqa: E731
    assert size(out) < 0.6 * size(reference)


def test_rerun_is_noop_and_finished_shards_untouched(reference):
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in reference.glob("part-*")}
    inp = _input_of(reference)
    s = pathattr.run(inp, MODEL, reference, steps=24, shard_rows=50, batch_size=16)
    assert s.rows_computed == 0 and s.rows == 520
    after = {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in reference.glob("part-*")}
    assert before == after


def _input_of(out: Path) -> str:
    return json.loads((out / MANIFEST).read_text())["spec"]["input"]


def test_changed_spec_refused_then_force(reference, tmp_path):
    inp = _input_of(reference)
    out = tmp_path / "o"
    pathattr.run(inp, MODEL, out, steps=4, shard_rows=200)
    with pytest.raises(SpecMismatchError, match=r"different spec \(differs in: options\)"):
        pathattr.run(inp, MODEL, out, steps=8, shard_rows=200)
    with pytest.raises(SpecMismatchError, match="method"):
        pathattr.run(inp, MODEL, out, method="smoothgrad", samples=2, shard_rows=200)
    assert len(list(out.glob("part-*"))) == 3  # nothing lost by the refusals
    s = pathattr.run(inp, MODEL, out, steps=8, shard_rows=200, force=True)
    assert s.rows_computed == 520
    assert json.loads((out / MANIFEST).read_text())["spec"]["options"]["steps"] == 8


def test_foreign_nonempty_out_refused(data, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(SpecMismatchError, match="notes.txt"):
        pathattr.run(data, MODEL, out, steps=2)
    assert (out / "notes.txt").read_text() == "mine"


def test_corrupt_and_truncated_shards_redone(reference, tmp_path):
    import shutil

    out = tmp_path / "o"
    shutil.copytree(reference, out)
    files = sorted(out.glob("part-*"))
    raw = bytearray(files[1].read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    files[1].write_bytes(bytes(raw))
    files[4].write_bytes(files[4].read_bytes()[:100])
    untouched = files[0].stat().st_mtime_ns
    s = pathattr.run(_input_of(reference), MODEL, out, steps=24, shard_rows=50, batch_size=16)
    assert s.rows_computed == 100 and s.shards_computed == 2
    assert files[0].stat().st_mtime_ns == untouched
    _assert_same(_table(out), _table(reference))


# each fault hits the N-th write of that run (the reruns resume): shard 2 half-written, shard 3
# fsynced but not renamed, shard 4 renamed but not in the manifest, the manifest half-written
# after shard 6, shard 7 half-written
FAULTS = [("shard_half", 3), ("before_rename", 2), ("before_manifest", 2),
          ("manifest_half", 3), ("shard_half", 1)]  # fmt: skip


def _child(data: Path, out: Path, fault: str, n: int):
    """A forked child (no torch re-import) running the job with an injected SIGKILL."""
    import multiprocessing as mp

    from run_child import child

    p = mp.get_context("fork").Process(target=child, args=(str(data), str(out), fault, n))
    p.start()
    return p


def test_kill9_at_many_points_then_resume(data, reference, tmp_path):
    """SIGKILL mid-shard-write, before rename, before the manifest update, mid-manifest-write
    and at random times; every rerun resumes; the end result equals the uninterrupted run."""
    out = tmp_path / "o"
    kills = 0
    for fault, n in FAULTS:  # each rerun resumes from the previous kill
        p = _child(data, out, fault, n)
        p.join(timeout=120)
        assert p.exitcode == -signal.SIGKILL, (fault, n, p.exitcode)
        kills += 1
        assert not any(q.name.endswith(".parquet") and not q.name.startswith(("part-", ".tmp-"))
                       for q in out.iterdir())  # fmt: skip
        m = json.loads((out / MANIFEST).read_text())  # the manifest always parses
        for s in m["shards"]:  # every listed shard is intact
            assert st.file_sha256(out / s["file"]) == s["sha256"]
    t0 = time.perf_counter()
    p = _child(data, out, "none", 0)
    p.join(timeout=120)
    assert p.exitcode == 0
    # kills at random moments of a fresh run (loading, computing, writing, committing), timed
    # as fractions of a full run's duration
    full = time.perf_counter() - t0
    out2 = tmp_path / "o2"
    rng = random.Random(0)
    random_kills = 0
    for _ in range(3):
        p = _child(data, out2, "none", 0)
        time.sleep(rng.uniform(0.15, 0.5) * full)
        p.kill()
        p.join()
        random_kills += p.exitcode == -signal.SIGKILL
    assert random_kills >= 2
    kills += random_kills
    p = _child(data, out2, "none", 0)
    p.join(timeout=120)
    assert p.exitcode == 0
    _assert_same(_table(out2), _table(reference))
    assert kills >= 5
    assert not list(out.glob(".tmp-*"))
    t = _table(out)
    assert t.num_rows == 520 and len(set(t.column("id").to_pylist())) == 520
    _assert_same(t, _table(reference))


# ------------------------------------------------------------------------------ inputs
def test_table_with_features_target_column_and_ids(tmp_path):
    rng = np.random.default_rng(1)
    cols = {f"f{i}": rng.normal(size=60).astype(np.float32) for i in range(6)}
    table = pa.table({"id": [f"r{i}" for i in range(60)], **cols, "label": rng.integers(0, 3, 60)})
    pq.write_table(table, tmp_path / "t.parquet")
    s = pathattr.run(tmp_path / "t.parquet", "dataset_models:tiny_mlp", tmp_path / "o",
                     target="label", steps=16, shard_rows=25)  # fmt: skip
    assert s.rows == 60 and s.shards == 3
    t = _table(tmp_path / "o")
    assert t.column("id").to_pylist() == [f"r{i}" for i in range(60)]
    assert np.array_equal(t.column("target").to_numpy(), table.column("label").to_numpy())
    x = np.stack([cols[f"f{i}"] for i in range(6)], 1)
    r = BatchAttributor(tiny_mlp(), "integrated_gradients", {"steps": 16, "warn_tol": None})(
        {"inputs": x[:16], "target": np.array(table.column("label").to_numpy()[:16])}
    )
    assert np.array_equal(attributions_array(t)[:16], r["attributions"])
    # the same rows from CSV give the same values
    import pyarrow.csv as pacsv

    pacsv.write_csv(table, tmp_path / "t.csv")
    pathattr.run(tmp_path / "t.csv", "dataset_models:tiny_mlp", tmp_path / "o2",
                 target="label", steps=16, shard_rows=25)  # fmt: skip
    assert np.allclose(attributions_array(_table(tmp_path / "o2")), attributions_array(t),
                       rtol=1e-5, atol=1e-7)  # fmt: skip


def _png(path: Path, seed: int) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(img).save(path)


def test_image_folder_recursive_ids(tmp_path):
    for i in range(5):
        _png(tmp_path / "imgs" / ("sub" if i % 2 else "") / f"im{i}.png", i)
    (tmp_path / "imgs" / "readme.txt").write_text("not an image")
    s = pathattr.run(tmp_path / "imgs", "dataset_models:image_cnn", tmp_path / "o", steps=8,
                     shard_rows=2)  # fmt: skip
    assert s.rows == 5
    ids = _table(tmp_path / "o").column("id").to_pylist()
    assert ids == ["im0.png", "im2.png", "im4.png", "sub/im1.png", "sub/im3.png"]
    assert (tmp_path / "o" / "part-sub%2Fim3.png.parquet").exists()


def test_stochastic_methods_seeded_per_row(data, tmp_path):
    """EG / SmoothGrad rows do not depend on batching: each row's seed comes from its id."""
    small = tmp_path / "small.npy"
    np.save(small, np.load(data)[:60])
    a = pathattr.run(small, MODEL, tmp_path / "a", method="smoothgrad", samples=3, shard_rows=30,
                     batch_size=7)  # fmt: skip
    b = pathattr.run(small, MODEL, tmp_path / "b", method="smoothgrad", samples=3, shard_rows=30,
                     batch_size=32)  # fmt: skip
    assert a.rows == b.rows == 60
    sa, sb = attributions_array(_table(tmp_path / "a")), attributions_array(_table(tmp_path / "b"))
    assert np.array_equal(sa, sb) and not np.array_equal(sa[0], sa[1])
    assert row_seed(0, "001") != row_seed(0, "002")
    pathattr.run(small, MODEL, tmp_path / "eg", method="eg", samples=4, reference_rows=16)
    t = _table(tmp_path / "eg")
    assert t.num_rows == 60 and np.isfinite(t.column("delta").to_numpy()).all()
    assert (t.column("evaluations").to_numpy() == 4).all()


# --------------------------------------------------------------------------- bad input
def test_missing_input(tmp_path):
    with pytest.raises(InputError, match=r"input: expected an existing file or folder, got .*nope"):
        pathattr.run(tmp_path / "nope.npy", MODEL, tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_unreadable_input(tmp_path):
    (tmp_path / "bad.npy").write_bytes(b"garbage")
    with pytest.raises(InputError, match="readable .npy"):
        pathattr.run(tmp_path / "bad.npy", MODEL, tmp_path / "o")
    (tmp_path / "bad.parquet").write_bytes(b"garbage")
    with pytest.raises(InputError, match="readable table"):
        pathattr.run(tmp_path / "bad.parquet", MODEL, tmp_path / "o")


def test_missing_text_column(tmp_path):
    pq.write_table(pa.table({"text": ["a", "b"]}), tmp_path / "t.parquet")
    with pytest.raises(InputError, match=r"column: expected a column of .*\(text\), got 'smiles'"):
        pathattr.run(tmp_path / "t.parquet", MODEL, tmp_path / "o", column="smiles")


def test_undecodable_image_keeps_finished_shards(tmp_path):
    for i in range(6):
        _png(tmp_path / "imgs" / f"im{i}.png", i)
    (tmp_path / "imgs" / "im4.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(InputError, match=r"decodable JPEG/PNG image, got .*im4.png"):
        pathattr.run(tmp_path / "imgs", "dataset_models:image_cnn", tmp_path / "o", steps=4,
                     shard_rows=2)  # fmt: skip
    m = json.loads((tmp_path / "o" / MANIFEST).read_text())
    assert [s["first_id"] for s in m["shards"]] == ["im0.png", "im2.png"]
    _png(tmp_path / "imgs" / "im4.png", 4)  # fixed: the rerun computes only the last shard
    s = pathattr.run(tmp_path / "imgs", "dataset_models:image_cnn", tmp_path / "o", steps=4,
                     shard_rows=2)  # fmt: skip
    assert s.rows_computed == 2 and s.rows == 6


def test_disk_full_is_clear_and_keeps_work(data, tmp_path, monkeypatch):
    real = st.write_atomic
    calls = {"shards": 0}

    def full(path: Path, payload: bytes) -> None:
        if path.name.startswith("part-"):
            calls["shards"] += 1
            if calls["shards"] == 3:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(path, payload)

    monkeypatch.setattr(st, "write_atomic", full)
    out = tmp_path / "o"
    with pytest.raises(StoreError, match=r"No space left on device.*2 shards committed before"):
        pathattr.run(data, MODEL, out, steps=4, shard_rows=100)
    assert len(json.loads((out / MANIFEST).read_text())["shards"]) == 2
    monkeypatch.setattr(st, "write_atomic", real)
    s = pathattr.run(data, MODEL, out, steps=4, shard_rows=100)
    assert s.rows_computed == 320 and s.rows == 520


def test_bad_arguments_name_argument(data, tmp_path):
    with pytest.raises(ValueError, match=r"method: expected one of ig, eg, smoothgrad, ih, eh"):
        pathattr.run(data, MODEL, tmp_path / "o", method="x")
    with pytest.raises(ValueError, match=r"shard_rows: expected a positive integer, got 0"):
        pathattr.run(data, MODEL, tmp_path / "o", shard_rows=0)
    with pytest.raises(ValueError, match=r"model: expected an importable 'module:function'"):
        pathattr.run(data, "no_such_mod:f", tmp_path / "o")
    with pytest.raises(ValueError, match=r"engine: expected 'local' or 'ray', got 'spark'"):
        pathattr.run(data, MODEL, tmp_path / "o", engine="spark")


def test_cli_run_and_refusal(data, tmp_path, capsys, monkeypatch):
    from pathattr.cli.main import main

    monkeypatch.chdir(HERE)
    out = str(tmp_path / "o")
    assert main(["run", str(data), "--model", MODEL, "--out", out, "--steps", "4",
                 "--shard-rows", "260", "--no-progress"]) == 0  # fmt: skip
    assert "520 rows in 2 shards" in capsys.readouterr().out
    assert main(["run", str(data), "--model", MODEL, "--out", out, "--steps", "5",
                 "--no-progress"]) == 2  # fmt: skip
    assert "different spec" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "nope"), "--model", MODEL, "--out", out]) == 2
    assert "input: expected an existing file" in capsys.readouterr().err


# ------------------------------------------------------------------------------ summarize
def test_summarize_means_per_class(reference, capsys):
    from pathattr.cli.main import main

    assert main(["summarize", str(reference)]) == 0
    assert "report.md" in capsys.readouterr().out
    s = reference / "_summary"
    m = pq.read_table(s / "mean_abs.parquet")
    a = np.abs(attributions_array(_table(reference)).astype(np.float64))
    tg = _table(reference).column("target").to_numpy()
    classes = m.column("class").to_pylist()
    means = m.column("mean_abs").combine_chunks().to_numpy_ndarray()
    assert classes[0] == -1 and np.allclose(means[0], a.mean(0), rtol=1e-5)
    for c, mean in zip(classes[1:], means[1:]):
        assert np.allclose(mean, a[tg == c].mean(0), rtol=1e-5)
    assert m.column("rows").to_pylist()[0] == 520
    report = (s / "report.md").read_text()
    rel = _table(reference).column("relative_delta").to_numpy()
    assert f"rows over 5%: {int((rel > 0.05).sum())}" in report
    assert (s / "mean_abs.png").exists() and "mean_abs.png" in report
    assert pq.read_table(s / "completeness.parquet").num_rows == 520
    # the summary folder does not disturb readers of the shards or a rerun
    assert pq.read_table(reference).num_rows == 520
    assert main(["summarize", str(reference / "nope")]) == 2


def test_model_hash_covers_buffers_and_weights():
    from pathattr.engine.dataset import model_hash

    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)).eval()
    h = model_hash(m)  # BatchNorm's 0-dim num_batches_tracked buffer included
    assert h == model_hash(m)
    with torch.no_grad():
        m[0].weight[0, 0, 0, 0] += 1e-6
    assert model_hash(m) != h


def test_builtin_efficientnet_on_image_folder(tmp_path):
    """The built-in model: resize/crop/normalise preprocess, black baseline, predicted class."""
    from PIL import Image

    from pathattr.domains import vision

    (tmp_path / "imgs").mkdir()
    rng = np.random.default_rng(3)
    for i in range(2):
        img = rng.integers(0, 255, (300, 260, 3), dtype=np.uint8)
        Image.fromarray(img).save(tmp_path / "imgs" / f"p{i}.png")
    s = pathattr.run(tmp_path / "imgs", "efficientnet-lite0", tmp_path / "o", steps=2,
                     batch_size=2)  # fmt: skip
    assert s.rows == 2
    t = _table(tmp_path / "o")
    a = attributions_array(t)
    assert a.shape == (2, 3, 224, 224)
    model = vision.load_efficientnet_lite0()
    x = torch.cat([vision.preprocess(np.asarray(Image.open(tmp_path / "imgs" / f"p{i}.png")))[1]
                   for i in range(2)])  # fmt: skip
    with torch.no_grad():
        out = model(x)
        base = model(vision.black_baseline(x))
    pred = out.argmax(1).numpy()
    assert np.array_equal(t.column("prediction").to_numpy(), pred)
    assert np.allclose(t.column("f_x").to_numpy(), out[[0, 1], pred].numpy(), rtol=1e-4)
    assert np.allclose(t.column("f_baseline").to_numpy(), base[[0, 1], pred].numpy(), rtol=1e-4)
    m = json.loads((tmp_path / "o" / MANIFEST).read_text())
    assert m["spec"]["model"] == "efficientnet-lite0" and len(m["model_hash"]) == 64


def test_ragged_attributions_stored_as_list_of_float(tmp_path):
    rows = [np.arange(n, dtype=np.float32) for n in (3, 1, 5)]
    cols = {"id": ["a", "b", "c"], "target": [0, 1, 2], "prediction": [0, 1, 2],
            "f_x": [1.0, 2.0, 3.0], "f_baseline": [0.0] * 3, "delta": [0.0] * 3,
            "relative_delta": [0.0] * 3, "evaluations": [8] * 3, "attributions": rows}  # fmt: skip
    data = st.encode(st.build_table(cols, "float16"))
    (tmp_path / "p.parquet").write_bytes(data)
    t = pq.read_table(tmp_path / "p.parquet")
    typ = t.schema.field("attributions").type
    assert pa.types.is_list(typ) and str(typ.value_type) == "halffloat"
    back = attributions_array(t)
    assert [len(r) for r in back] == [3, 1, 5] and np.array_equal(back[2], rows[2])


def test_second_concurrent_run_refused(data, tmp_path):
    import fcntl

    out = tmp_path / "o"
    out.mkdir()
    with open(out / ".lock", "a") as f:  # as if another run held the directory
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        with pytest.raises(StoreError, match="another pathattr run is writing to"):
            pathattr.run(data, MODEL, out, steps=2)
    assert pathattr.run(data, MODEL, out, steps=2, shard_rows=520).rows == 520


def test_fixed_int_target_and_cli_summarize_flow(data, tmp_path, capsys):
    from pathattr.cli.main import main

    small = tmp_path / "s.npy"
    np.save(small, np.load(data)[:40])
    out = tmp_path / "o"
    assert main(["run", str(small), "--model", MODEL, "--out", str(out), "--target", "2",
                 "--steps", "4", "--dtype", "float16", "--no-progress"]) == 0  # fmt: skip
    t = _table(out)
    assert (t.column("target").to_numpy() == 2).all()
    model = tiny_cnn()
    with torch.no_grad():
        f = model(torch.as_tensor(np.load(small)))[:, 2].numpy()
    assert np.allclose(t.column("f_x").to_numpy(), f, rtol=1e-5)
    assert main(["summarize", str(out)]) == 0
    assert (out / "_summary" / "report.md").exists()


def test_steps_auto(data, tmp_path):
    small = tmp_path / "s.npy"
    np.save(small, np.load(data)[:40])
    s = pathattr.run(small, MODEL, tmp_path / "o", steps="auto", tol=0.01, shard_rows=20)
    t = _table(tmp_path / "o")
    ev = t.column("evaluations").to_numpy()
    assert s.rows == 40 and (ev > 0).all() and len(set(ev.tolist())) > 1  # chosen per row
    assert json.loads((tmp_path / "o" / MANIFEST).read_text())["spec"]["options"]["tol"] == 0.01


@pytest.mark.parametrize(
    ("method", "fn"),
    [("guided", "guided_integrated_gradients"), ("blur", "blur_integrated_gradients"),
     ("xrai", "xrai")],
)  # fmt: skip
def test_the_other_path_methods_run_over_a_dataset(method, fn, data, tmp_path) -> None:
    x = np.load(data)[:12]
    np.save(tmp_path / "x.npy", x)
    pathattr.run(tmp_path / "x.npy", MODEL, tmp_path / "out", method=method, steps=8,
                 batch_size=6, shard_rows=6)  # fmt: skip
    t = read_output(tmp_path / "out")
    model = tiny_cnn()
    xs = torch.as_tensor(x)
    with torch.no_grad():
        pred = model(xs).argmax(1)
    got = attributions_array(t)
    for s in (0, 6):  # the run's batches
        want = getattr(pathattr, fn)(model, xs[s : s + 6], target=pred[s : s + 6], steps=8,
                                     warn_tol=None).attributions  # fmt: skip
        np.testing.assert_allclose(got[s : s + 6], want.numpy(), rtol=1e-5, atol=1e-6)
    assert t.column("prediction").to_pylist() == pred.tolist()
