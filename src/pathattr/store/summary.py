"""``pathattr summarize OUT``: aggregate a run's shards without loading them all at once.

Writes ``OUT/_summary/`` (the leading ``_`` keeps it out of readers of the shard folder):

* ``mean_abs.parquet``: one row per target class (and ``class = -1`` for all rows) with the row
  count and the mean |attribution| per feature as an ``arrow.fixed_shape_tensor`` of the
  attribution shape (for images ``(C, H, W)``; the per-pixel map is its mean over channels);
* ``completeness.parquet``: id, target and relative completeness error of every row;
* ``report.md``: rows, classes, quantiles of the relative completeness error, rows over the
  warning threshold, the top features; and ``mean_abs.png`` (per-pixel mean map of all rows)
  for image-shaped attributions when matplotlib is installed;
* for text runs (token attributions with a ``tokens`` column), ``top_tokens.parquet``: per
  target class and token, the rows it occurs in, its mean score and mean |score|; the report
  lists the tokens that push each class most (the paper's rule extraction, at dataset scale).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pathattr.store.shards import Manifest, StoreError, _pa

WARN_THRESHOLD = 0.05


def summarize(out: str | Path, threshold: float = WARN_THRESHOLD) -> Path:
    """Aggregate the committed shards of ``out``; returns the path of ``report.md``.

    Args:
        out: a run's output directory.
        threshold: relative completeness error counted as "over" in the report.

    Raises:
        StoreError: ``out`` is not a run's output or has no committed shards.
    """
    pa = _pa()
    import pyarrow.parquet as pq

    path = Path(out)
    data = Manifest.read(path) or native_run(path)
    if data is None:
        raise StoreError(
            f"out: expected a pathattr run's output (with _manifest.json, or _ray_run.json of "
            f"--ray-sink ray), got {str(path)!r}"
        )
    if not data["shards"]:
        raise StoreError(f"out: {str(path)!r} has no committed shards yet")
    sums: dict[int, np.ndarray] = {}
    counts: dict[int, int] = {}
    ids: list[Any] = []
    targets: list[np.ndarray] = []
    rel: list[np.ndarray] = []
    shape: tuple[int, ...] | None = None
    ragged = False
    tokens = TokenTally()
    for s in data["shards"]:
        t = pq.read_table(path / s["file"]) if "table" not in s else s["table"]
        col = t.column("attributions").combine_chunks()
        tg = t.column("target").to_numpy()
        ids.extend(t.column("id").to_pylist())
        targets.append(tg)
        rel.append(t.column("relative_delta").to_numpy())
        if not hasattr(col, "to_numpy_ndarray"):  # ragged list<float>: no per-feature mean
            ragged = True
            if "tokens" in t.column_names:
                tokens.add(t.column("tokens").to_pylist(), col.to_pylist(), tg)
            continue
        a = np.abs(col.to_numpy_ndarray().astype(np.float64))
        shape = a.shape[1:]
        for c in [-1, *np.unique(tg).tolist()]:
            sel = a if c == -1 else a[tg == c]
            sums[c] = sums.get(c, 0) + sel.sum(0)
            counts[c] = counts.get(c, 0) + len(sel)
    dest = path / "_summary"
    dest.mkdir(exist_ok=True)
    r = np.concatenate(rel)
    tgt = np.concatenate(targets)
    pq.write_table(
        pa.table({"id": pa.array([str(i) for i in ids]), "target": tgt, "relative_delta": r}),
        dest / "completeness.parquet",
    )
    lines = [f"# Summary of {path}", "", f"- rows: {len(r)} in {len(data['shards'])} shards"]
    lines.append(f"- method: {data['spec'].get('method')}, model: {data['spec'].get('model')}")
    finite = r[np.isfinite(r)]
    if finite.size:
        q = np.quantile(finite, [0.5, 0.9, 0.99, 1.0])
        lines += [
            f"- relative completeness error: median {q[0]:.2e}, p90 {q[1]:.2e}, "
            f"p99 {q[2]:.2e}, max {q[3]:.2e}",
            f"- rows over {threshold:.0%}: {int((finite > threshold).sum())}",
        ]
    else:
        lines.append("- relative completeness error: not defined for this method (NaN)")
    if shape is not None:
        classes = sorted(sums)
        means = np.stack([sums[c] / counts[c] for c in classes]).astype(np.float32)
        typ = pa.fixed_shape_tensor(pa.float32(), list(shape))
        storage = pa.FixedSizeListArray.from_arrays(
            pa.array(means.reshape(-1)), int(np.prod(shape))
        )
        pq.write_table(
            pa.table({
                "class": pa.array(classes, pa.int64()),
                "rows": pa.array([counts[c] for c in classes], pa.int64()),
                "mean_abs": pa.ExtensionArray.from_storage(typ, storage),
            }),
            dest / "mean_abs.parquet",
        )  # fmt: skip
        overall = means[0].reshape(-1)
        top = np.argsort(-overall)[:10]
        lines += ["", "## Mean |attribution| of all rows: top features (flat index)", "",
                  "| feature | index | mean abs |", "| --- | --- | --- |"]  # fmt: skip
        for f in top:
            idx = np.unravel_index(int(f), shape)
            lines.append(f"| {int(f)} | {tuple(int(i) for i in idx)} | {overall[f]:.3e} |")
        lines += ["", f"Per class ({len(classes) - 1} classes): `_summary/mean_abs.parquet`."]
        if len(shape) == 3 and _png(means[0].mean(0), dest / "mean_abs.png"):
            lines += ["", "![per-pixel mean |attribution|](mean_abs.png)"]
    elif tokens.rows:
        lines += tokens.write(dest / "top_tokens.parquet")
    elif ragged:
        lines.append("- attributions are ragged (token maps): no per-feature mean")
    report = dest / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report


def _png(image: np.ndarray, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(image, cmap="magma")
    ax.set_axis_off()
    ax.set_title("per-pixel mean |attribution|")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return True


def native_run(path: Path) -> dict[str, Any] | None:
    """A ``--ray-sink ray`` output as one pseudo-shard (its files are Ray's, no manifest)."""
    import json

    from pathattr.scale.ray_native import OUTPUT_DIR, RUN_FILE, read_native_output

    if not (path / RUN_FILE).exists():
        return None
    info = json.loads((path / RUN_FILE).read_text())
    files = list((path / OUTPUT_DIR).glob("*.parquet")) if (path / OUTPUT_DIR).is_dir() else []
    shards = [{"table": read_native_output(path)}] if files else []
    rows = shards[0]["table"].num_rows if shards else 0
    return {
        "spec": info.get("spec", {}), "shards": [{**x, "rows": rows} for x in shards],
        "complete": bool(info.get("complete")), "total_rows": info.get("spec", {}).get("rows"),
        "model_hash": info.get("model_hash", ""), "library_version": info.get("library_version"),
    }  # fmt: skip


class TokenTally:
    """Per (target class, token): rows, sum of scores, sum of |scores| over a text run."""

    #: a token must occur in this many rows of a class to be listed (one review is an anecdote)
    MIN_ROWS = 3

    def __init__(self) -> None:
        self.stats: dict[tuple[int, str], list[float]] = {}
        self.rows = 0

    def add(self, tokens: list[list[str]], scores: list[list[float]], targets: np.ndarray) -> None:
        """Count one shard's rows (a token repeated in a row counts once, its scores summed)."""
        for toks, sc, c in zip(tokens, scores, targets.tolist()):
            self.rows += 1
            per_row: dict[str, float] = {}
            for tok, v in zip(toks, sc):
                per_row[tok] = per_row.get(tok, 0.0) + float(v)
            for tok, v in per_row.items():
                st = self.stats.setdefault((int(c), tok), [0.0, 0.0, 0.0])
                st[0] += 1
                st[1] += v
                st[2] += abs(v)

    def write(self, path: Path) -> list[str]:
        """Write the table; return the report's lines (top 10 tokens per class by mean score)."""
        pa = _pa()
        import pyarrow.parquet as pq

        keys = sorted(self.stats)
        n = np.array([self.stats[k][0] for k in keys])
        mean = np.array([self.stats[k][1] for k in keys]) / n
        mean_abs = np.array([self.stats[k][2] for k in keys]) / n
        pq.write_table(
            pa.table({
                "class": pa.array([k[0] for k in keys], pa.int64()),
                "token": pa.array([k[1] for k in keys], pa.string()),
                "rows": pa.array(n.astype(np.int64)),
                "mean_score": pa.array(mean.astype(np.float32)),
                "mean_abs_score": pa.array(mean_abs.astype(np.float32)),
            }),
            path,
        )  # fmt: skip
        lines = [
            "",
            f"## Tokens that push each class most (in at least {self.MIN_ROWS} rows of it)",
        ]
        for c in sorted({k[0] for k in keys}):
            idx = [i for i, k in enumerate(keys) if k[0] == c and n[i] >= self.MIN_ROWS]
            top = sorted(idx, key=lambda i: -mean[i])[:10]
            lines += ["", f"Class {c}:", "", "| token | rows | mean score |", "| --- | --- | --- |"]
            lines += [f"| `{keys[i][1]}` | {int(n[i])} | {mean[i]:+.3e} |" for i in top]
        lines += ["", f"All classes and tokens: `_summary/{path.name}`."]
        return lines
