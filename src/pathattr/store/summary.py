"""``pathattr summarize OUT``: aggregate a run's shards without loading them all at once.

Writes ``OUT/_summary/`` (the leading ``_`` keeps it out of readers of the shard folder):

* ``mean_abs.parquet``: one row per target class (and ``class = -1`` for all rows) with the row
  count and the mean |attribution| per feature as an ``arrow.fixed_shape_tensor`` of the
  attribution shape (for images ``(C, H, W)``; the per-pixel map is its mean over channels);
* ``completeness.parquet``: id, target and relative completeness error of every row;
* ``report.md``: rows, classes, quantiles of the relative completeness error, rows over the
  warning threshold, the top features; and ``mean_abs.png`` (per-pixel mean map of all rows)
  for image-shaped attributions when matplotlib is installed.
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
    data = Manifest.read(path)
    if data is None:
        raise StoreError(
            f"out: expected a pathattr run's output (with _manifest.json), got {str(path)!r}"
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
    for s in data["shards"]:
        t = pq.read_table(path / s["file"])
        col = t.column("attributions").combine_chunks()
        tg = t.column("target").to_numpy()
        ids.extend(t.column("id").to_pylist())
        targets.append(tg)
        rel.append(t.column("relative_delta").to_numpy())
        if not hasattr(col, "to_numpy_ndarray"):  # ragged list<float>: no per-feature mean
            ragged = True
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
