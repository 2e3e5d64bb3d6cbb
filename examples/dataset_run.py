"""Attribute a whole table (digits as a Parquet file), kill-safe, then summarise and read it back.

Run: python examples/dataset_run.py   (needs pathattr[data]; writes ./digits.parquet and
./digits_attr/)
"""

import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.datasets import load_digits

import pathattr
from pathattr.store.summary import summarize

# 1. a dataset: 600 digits, 64 pixel features, with an id and a label column
digits = load_digits()
table = pa.table({"id": [f"digit-{i:04d}" for i in range(600)], "label": digits.target[:600],
                  **{f"p{j:02d}": digits.data[:600, j] / 16.0 for j in range(64)}})  # fmt: skip
pq.write_table(table, "digits.parquet")

# 2. a model, as an importable "module:function" (this file's folder is on sys.path)
Path("digits_model.py").write_text('''
import torch
from sklearn.datasets import load_digits

def build():
    d = load_digits()
    x = torch.tensor(d.data / 16.0, dtype=torch.float32); y = torch.tensor(d.target)
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad(); torch.nn.functional.cross_entropy(m(x), y).backward(); opt.step()
    return m.eval()
''')
sys.path.insert(0, ".")

# 3. attribute every row: IG of the labelled class, shards of 200 rows (rerun = resume)
summary = pathattr.run("digits.parquet", "digits_model:build", "digits_attr", method="ig",
                       steps=32, target="label", shard_rows=200, batch_size=50)  # fmt: skip
print(summary.text())
print("rerun:", pathattr.run("digits.parquet", "digits_model:build", "digits_attr", steps=32,
                             target="label", shard_rows=200, batch_size=50).rows_computed,
      "rows computed (everything was committed)")  # fmt: skip

# 4. aggregate, and read the shards with plain pyarrow
print("report:", summarize("digits_attr"))
t = pq.read_table("digits_attr")
maps = t["attributions"].combine_chunks().to_numpy_ndarray()
print("read back:", t.num_rows, "rows, maps", maps.shape, "- ids", t["id"][0], "...")
print("mean |attribution| of pixel 36 (centre):", float(abs(maps[:, 36]).mean()))
print((Path("digits_attr") / "_summary" / "report.md").read_text()[:400])
