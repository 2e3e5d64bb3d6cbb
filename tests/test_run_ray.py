"""The Ray Data engine on a local cluster (num_cpus=2): equal output, worker crash, driver kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import ray  # the ray extra is part of the test command (scripts/test.sh)

import pathattr
from pathattr.store import MANIFEST, attributions_array, read_output

HERE = Path(__file__).parent
SRC = HERE.parent / "src"
sys.path.insert(0, str(HERE))
from dataset_models import CrashOnce, tiny_cnn  # noqa: E402

pytestmark = pytest.mark.ray
MODEL = "dataset_models:tiny_cnn"
OPTS = dict(steps=16, shard_rows=40, batch_size=16)


@pytest.fixture(scope="module")
def cluster():
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={
            "env_vars": {"PYTHONPATH": f"{SRC}{os.pathsep}{HERE}", "OMP_NUM_THREADS": "1"}
        },
    )
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("rdata")
    np.save(d / "x.npy", np.random.default_rng(2).normal(size=(200, 3, 8, 8)).astype(np.float32))
    local = d / "local"
    pathattr.run(d / "x.npy", MODEL, local, **OPTS)
    return d / "x.npy", local


def _same(a: Path, b: Path) -> None:
    ta, tb = read_output(a), read_output(b)
    assert ta.column("id").to_pylist() == tb.column("id").to_pylist()
    assert len(set(ta.column("id").to_pylist())) == ta.num_rows
    assert np.array_equal(attributions_array(ta), attributions_array(tb))
    for c in (
        "target",
        "prediction",
        "f_x",
        "f_baseline",
        "delta",
        "relative_delta",
        "evaluations",
    ):
        assert np.array_equal(ta.column(c).to_numpy(), tb.column(c).to_numpy()), c


def test_ray_equals_local_and_resumes_after_driver_kill(cluster, data, tmp_path):
    x, local = data
    out = tmp_path / "ray"
    # a driver process on the same cluster, SIGKILLed once its first shard is committed
    code = (
        "import pathattr\n"
        f"pathattr.run({str(x)!r}, {MODEL!r}, {str(out)!r}, engine='ray', address={cluster!r}, "
        f"**{OPTS!r})\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{HERE}", "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.DEVNULL)
    deadline = time.time() + 90
    while time.time() < deadline and p.poll() is None:
        m = out / MANIFEST
        if m.exists() and json.loads(m.read_text())["shards"]:
            break
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert p.returncode == -signal.SIGKILL, "the driver finished before it could be killed"
    committed = len(json.loads((out / MANIFEST).read_text())["shards"])
    assert 1 <= committed < 5
    s = pathattr.run(x, MODEL, out, engine="ray", **OPTS)
    # a shard renamed into place just before the kill, whose manifest entry was not yet
    # written, is verified by its ids and adopted: then one shard fewer is computed
    assert s.rows == 200
    assert s.rows_computed in (200 - 40 * committed, 200 - 40 * (committed + 1))
    _same(out, local)


def test_ray_worker_killed_is_retried(cluster, data, tmp_path):
    x, _ = data
    marker = tmp_path / "crashed"
    model = CrashOnce(tiny_cnn(), str(marker))
    s = pathattr.run(x, model, tmp_path / "ray", engine="ray", **OPTS)
    assert marker.exists() and int(marker.read_text()) != os.getpid()  # an actor died
    assert s.rows == 200
    pathattr.run(x, model, tmp_path / "local", **OPTS)  # marker exists: no crash here
    _same(tmp_path / "ray", tmp_path / "local")


def test_ray_bad_image_is_a_clear_error_and_keeps_shards(cluster, tmp_path):
    from PIL import Image

    from pathattr.engine.sources import InputError

    (tmp_path / "imgs").mkdir()
    for i in range(6):
        img = np.random.default_rng(i).integers(0, 255, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(img).save(tmp_path / "imgs" / f"im{i}.png")
    (tmp_path / "imgs" / "im5.png").write_bytes(b"not a png")
    out = tmp_path / "o"
    with pytest.raises(InputError, match=r"decodable JPEG/PNG image, got .*im5.png"):
        pathattr.run(tmp_path / "imgs", "dataset_models:image_cnn", out, engine="ray", steps=4,
                     shard_rows=2, batch_size=2)  # fmt: skip
    files = [s["file"] for s in json.loads((out / MANIFEST).read_text())["shards"]]
    assert "part-im4.png.parquet" not in files  # the shard with the bad image is not committed
    for f in files:
        assert (out / f).exists()


def test_ray_text_run_equals_local(cluster, tmp_path):
    import pyarrow as pa
    import pyarrow.csv

    words = "the food was great bad awful good not very tasty cold service slow".split()
    rng = np.random.default_rng(3)
    texts = [" ".join(rng.choice(words, size=int(rng.integers(2, 9)))) for _ in range(24)]
    pyarrow.csv.write_csv(pa.table({"text": texts}), tmp_path / "t.csv")
    opts = dict(steps=8, shard_rows=10, batch_size=5)
    pathattr.run(tmp_path / "t.csv", "dataset_models:tiny_text", tmp_path / "loc", **opts)
    pathattr.run(tmp_path / "t.csv", "dataset_models:tiny_text", tmp_path / "ray", engine="ray",
                 address=cluster, actors=1, **opts)  # fmt: skip
    # ragged token scores and their tokens, row by row, bit for bit
    assert read_output(tmp_path / "loc").equals(read_output(tmp_path / "ray"))


# --- the Ray-native sink (sink="ray"): read_parquet -> map_batches -> write_parquet + checkpoint


def _same_native(out: Path, local: Path) -> None:
    from pathattr.scale.ray_native import read_native_output

    ta, tb = read_output(local), read_native_output(out)
    ids = tb.column("id").to_pylist()
    assert len(set(ids)) == len(ids) == ta.num_rows  # every id exactly once
    assert ids == ta.column("id").to_pylist()  # row ids are zero-padded: sorted = input order
    # the same shards -> the same batches here (one read block per shard, batches never
    # straddle it), so the values are bit-identical, not just close
    assert tb.schema.field("attributions").type == ta.schema.field("attributions").type
    assert np.array_equal(attributions_array(ta), attributions_array(tb))
    for c in ("target", "prediction", "f_x", "f_baseline", "delta", "relative_delta",
              "evaluations"):  # fmt: skip
        assert np.array_equal(ta.column(c).to_numpy(), tb.column(c).to_numpy()), c


def test_ray_sink_equals_local_and_refuses_another_spec(cluster, data, tmp_path):
    from pathattr.engine.dataset import SpecMismatchError

    x, local = data
    out = tmp_path / "native"
    s = pathattr.run(x, MODEL, out, engine="ray", sink="ray", address=cluster, **OPTS)
    assert s.rows == s.rows_computed == 200
    assert (out / "ray").is_dir() and (out / "_ray_checkpoint").is_dir()
    _same_native(out, local)
    # pathattr summarize reads the Ray-native layout too: the same aggregates as the store's
    import pyarrow.parquet as pq

    from pathattr.store.summary import summarize

    assert "rows: 200 in 1 shards" in summarize(out).read_text()
    summarize(local)
    got, want = (pq.read_table(d / "_summary" / "mean_abs.parquet") for d in (out, local))
    assert got.column("rows").to_pylist() == want.column("rows").to_pylist()
    np.testing.assert_allclose(got.column("mean_abs").combine_chunks().to_numpy_ndarray(),
                               want.column("mean_abs").combine_chunks().to_numpy_ndarray(),
                               rtol=1e-12)  # fmt: skip
    page = pathattr.report(out, tmp_path / "r.html", max_examples=3).read_text()
    assert "200 rows" in page and page.count("<img") >= 3  # drawn from the Ray-native files
    again = pathattr.run(x, MODEL, out, engine="ray", sink="ray", address=cluster, **OPTS)
    assert again.rows == 200 and again.rows_computed == 0
    with pytest.raises(SpecMismatchError, match="differs in: options"):
        pathattr.run(x, MODEL, out, engine="ray", sink="ray", address=cluster,
                     **{**OPTS, "steps": 8})  # fmt: skip


def test_ray_sink_resumes_after_driver_kill(cluster, data, tmp_path):
    import pyarrow.parquet as pq

    x, local = data
    out = tmp_path / "native"
    code = (
        "import pathattr\n"
        f"pathattr.run({str(x)!r}, {MODEL!r}, {str(out)!r}, engine='ray', sink='ray', "
        f"address={cluster!r}, **{OPTS!r})\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{HERE}", "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.DEVNULL)
    deadline = time.time() + 90
    while time.time() < deadline and p.poll() is None:
        if (out / "ray").is_dir() and any((out / "ray").glob("*.parquet")):
            break
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert p.returncode == -signal.SIGKILL, "the driver finished before it could be killed"
    assert any((out / "ray").glob("*.parquet"))  # (may be partial: Ray writes in place)
    # the dead driver's actors are reaped by Ray within moments; until then they may still
    # commit: wait until the committed checkpoint files stop changing
    seen, still = None, 0
    while still < 3:
        now = sorted(q.name for q in (out / "_ray_checkpoint").glob("*.parquet"))
        still = still + 1 if now == seen else 0
        seen = now
        time.sleep(1)
    committed = sum(
        pq.ParquetFile(f).metadata.num_rows for f in (out / "_ray_checkpoint").glob("*.parquet")
    )  # ids whose data file Ray has committed (a pending one ends in .pending and is redone)
    assert committed < 200
    s = pathattr.run(x, MODEL, out, engine="ray", sink="ray", address=cluster, **OPTS)
    assert s.rows == 200 and s.rows_computed == 200 - committed  # only the missing ids
    _same_native(out, local)


def test_ray_sink_needs_the_ray_engine(data, tmp_path):
    x, _ = data
    with pytest.raises(ValueError, match="sink: 'ray' needs engine='ray'"):
        pathattr.run(x, MODEL, tmp_path / "o", sink="ray", **OPTS)
    with pytest.raises(ValueError, match="sink: expected 'store' or 'ray'"):
        pathattr.run(x, MODEL, tmp_path / "o", engine="ray", sink="s3", **OPTS)


def test_ray_sink_bad_image_is_a_clear_error(cluster, tmp_path):
    from PIL import Image

    from pathattr.engine.sources import InputError

    (tmp_path / "imgs").mkdir()
    for i in range(4):
        img = np.random.default_rng(i).integers(0, 255, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(img).save(tmp_path / "imgs" / f"im{i}.png")
    (tmp_path / "imgs" / "im3.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match=r"decodable JPEG/PNG image, got .*im3.png"):
        pathattr.run(tmp_path / "imgs", "dataset_models:image_cnn", tmp_path / "o", engine="ray",
                     sink="ray", address=cluster, steps=4, shard_rows=2, batch_size=2)  # fmt: skip
