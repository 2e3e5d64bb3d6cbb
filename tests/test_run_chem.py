"""Dataset runs over molecules: per-atom IG stored ragged with the atoms, resumable."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv
import pytest
import torch

import pathattr
from pathattr.chem import attribute
from pathattr.chem.featurize import InvalidSmilesError
from pathattr.store import read_output
from pathattr.store.summary import summarize

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from dataset_models import tiny_graphnet  # noqa: E402

MODEL = "dataset_models:tiny_graphnet"
SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1Cl", "ClC(Cl)Cl", "CCN(CC)CC",
          "O=C(O)c1ccccc1", "CC(C)Cc1ccc(cc1)C(C)C(=O)O", "C1CCCCC1N", "BrCCBr", "OCC(O)CO",
          "CCOC(=O)C", "c1ccncc1"]  # fmt: skip


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("chem") / "mols.csv"
    pyarrow.csv.write_csv(pa.table({"smiles": SMILES}), path)
    return path


def test_molecule_run_equals_direct_calls_and_stores_atoms(table: Path, tmp_path: Path) -> None:
    s = pathattr.run(table, MODEL, tmp_path / "out", steps=24, shard_rows=5, batch_size=3)
    assert s.rows == 12 and s.shards == 3
    t = read_output(tmp_path / "out")
    assert t.schema.field("tokens").type == pa.list_(pa.string())
    model = tiny_graphnet()
    for start in range(0, 12, 3):  # the run's batches (3 rows, inside 5-row shards)
        stop = min(start + 3, 5 * (start // 5 + 1), 12)
        want = attribute(model, SMILES[start:stop], steps=24, groups=False, warn_tol=None)
        for j, i in enumerate(range(start, stop)):
            got = np.asarray(t.column("attributions")[i].as_py())
            np.testing.assert_allclose(got, want[j].atom_scores.numpy(), rtol=1e-5, atol=1e-6)
            atoms = [a.GetSymbol() for a in want[j].mol.GetAtoms()]
            assert [tok.rstrip("0123456789") for tok in t.column("tokens")[i].as_py()] == atoms
            assert t.column("f_x")[i].as_py() == pytest.approx(want[j].output, rel=1e-5)
    # completeness per molecule within the reported delta
    sums = np.array([sum(r) for r in t.column("attributions").to_pylist()])
    fx, fb = t.column("f_x").to_numpy(), t.column("f_baseline").to_numpy()
    np.testing.assert_allclose(sums - (fx - fb), t.column("delta").to_numpy(), atol=1e-5)
    assert (t.column("prediction").to_numpy() == -1).all()  # one output: a regression
    report = summarize(tmp_path / "out").read_text()
    assert "Tokens that push each class most" in report


def test_a_bad_smiles_row_names_the_string_and_keeps_finished_shards(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    pyarrow.csv.write_csv(pa.table({"smiles": SMILES[:6] + ["C1CC(", *SMILES[6:]]}), path)
    with pytest.raises(InvalidSmilesError, match=r"C1CC\("):
        pathattr.run(path, MODEL, tmp_path / "out", steps=8, shard_rows=3, batch_size=3)
    assert read_output(tmp_path / "out").num_rows == 6  # the two shards before it stay


def test_report_of_a_molecule_run_draws_the_molecules(table: Path, tmp_path: Path) -> None:
    pathattr.run(table, MODEL, tmp_path / "out", steps=8)
    doc = pathattr.report(tmp_path / "out", tmp_path / "r.html", max_examples=4).read_text()
    assert doc.count("<svg") >= 4
    assert "CC(=O)Nc1ccc(O)cc1Cl" in doc


def test_builtin_chem_logp_recovers_crippen_signs(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    pyarrow.csv.write_csv(pa.table({"smiles": ["CCCCCCCCO", "OCC(O)CO"]}), path)
    s = pathattr.run(path, "chem-logp", tmp_path / "out", steps=32)
    t = read_output(tmp_path / "out")
    assert s.median_relative_delta < 0.05
    f = t.column("f_x").to_numpy()
    assert f[0] > 1.5 and f[1] < 0  # octanol is lipophilic, glycerol is not (Crippen 2.3, -1.7)
    octanol = np.asarray(t.column("attributions")[0].as_py())
    assert octanol[:7].sum() > 0 > octanol[8]  # the chain raises logP, the hydroxyl lowers it
    assert torch.isfinite(torch.as_tensor(octanol)).all()
