"""pathattr.chem: featurisation, padding, completeness, invariance and exact ground truth."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import torch

try:
    from rdkit import Chem, RDConfig
    from rdkit.Chem import Crippen, rdMolDescriptors
except ImportError:  # a missing dependency is a failure, never a skip
    pytest.fail(
        "rdkit is not installed: pathattr.chem's tests need it; install the dev extra "
        "(scripts/setup.sh dev) or `pip install 'pathattr[chem]'`",
        pytrace=False,
    )

from pathattr.chem import (
    ATOM_FEATURES,
    AtomLinear,
    GraphNet,
    InvalidSmilesError,
    assign_groups,
    atom_column,
    attribute,
    bond_channel,
    crippen_contributions,
    featurize,
    fit,
    tpsa_contributions,
)
from pathattr.chem.scoring import score_atoms, spearman
from pathattr.chem.truth import molecule_values

ROOT = Path(__file__).resolve().parents[1]
SMILES = [
    "CC(=O)Nc1ccc(O)cc1",  # paracetamol
    "OC(=O)c1ccccc1[N+](=O)[O-]",
    "CCO",
    "c1ccc2ccccc2c1Cl",
    "CN1CCC[C@H]1c1cccnc1",  # nicotine
]


def nci() -> list[str]:
    path = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def graphnet(seed: int = 0, **kw) -> GraphNet:
    torch.manual_seed(seed)
    return GraphNet(hidden=kw.pop("hidden", 16), layers=kw.pop("layers", 2), **kw).eval()


# --- featurisation -------------------------------------------------------------------------


def test_featurisation_round_trips_on_the_nci_set() -> None:
    smiles = nci()
    assert len(smiles) == 4999
    checked = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for start in range(0, len(smiles), 250):
            batch = featurize(smiles[start : start + 250], errors="skip")
            assert batch.atoms.shape[:2] == batch.mask.shape
            for k, mol in enumerate(batch.mols):
                n = mol.GetNumAtoms()
                assert int(batch.n_atoms[k]) == n
                a, e = batch.atoms[k], batch.bonds[k]
                assert torch.equal(e, e.transpose(0, 1))
                present = e[:n, :n, :4].sum(-1)
                assert int(present.triu(1).sum()) == mol.GetNumBonds()
                aromatic = torch.tensor([at.GetIsAromatic() for at in mol.GetAtoms()])
                assert torch.equal(a[:n, atom_column("aromatic")].bool(), aromatic)
                for bond in mol.GetBonds():
                    i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
                    assert bool(e[i, j, bond_channel("type=AROMATIC")]) == bond.GetIsAromatic()
                # every atom has exactly one element, degree, H-count, charge, hybridisation
                assert torch.equal(a[:n].sum(-1), 5 + a[:n, atom_column("aromatic")]
                                   + a[:n, atom_column("in_ring")])  # fmt: skip
                assert not a[n:].any() and not e[n:].any() and not e[:, n:].any()
                checked += 1
    skipped = [w for w in caught if "skipped" in str(w.message)]
    assert checked == 4991 and len(skipped) > 0  # 8 NCI strings RDKit does not parse


def test_invalid_smiles_names_the_string_and_skip_keeps_the_rest() -> None:
    batch = ["CCO", "C1CC(", "c1ccccc1"]
    with pytest.raises(InvalidSmilesError, match=r"'C1CC\(' \(position 1\)"):
        featurize(batch)
    with pytest.raises(InvalidSmilesError, match="'xyz'"):
        featurize("xyz")
    with pytest.warns(UserWarning, match="skipped 1 of 3"):
        got = featurize(batch, errors="skip")
    assert got.smiles == ["CCO", "c1ccccc1"] and got.indices == [0, 2]
    assert got.skipped[0][0] == 1 and "C1CC(" in got.skipped[0][1]
    with pytest.warns(UserWarning, match="skipped"):
        res = attribute(graphnet(), batch, errors="skip", steps=32, warn_tol=None)
    assert [r.smiles for r in res] == ["CCO", "c1ccccc1"] and res.skipped[0][0] == 1
    with pytest.raises(InvalidSmilesError, match="C1CC"):
        attribute(graphnet(), batch, steps=8)
    with pytest.raises(ValueError, match="errors: expected 'raise' or 'skip'"):
        featurize(batch, errors="ignore")


def test_explicit_hydrogens_are_nodes() -> None:
    b = featurize("CCO", hydrogens="explicit")
    assert int(b.n_atoms[0]) == 9
    assert int(b.atoms[0, :, atom_column("element=H")].sum()) == 6


# --- ground truth --------------------------------------------------------------------------


def test_truth_sums_to_rdkit_descriptors() -> None:
    for s in nci()[:300]:
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            continue
        assert float(crippen_contributions(mol).sum()) == pytest.approx(
            Crippen.MolLogP(mol), abs=1e-9
        )
        assert float(tpsa_contributions(mol).sum()) == pytest.approx(
            rdMolDescriptors.CalcTPSA(mol), abs=1e-9
        )


def test_ig_recovers_exact_contributions_of_an_additive_network() -> None:
    # F = Σ_i (w · a_i + b): the true contribution of atom i is w · a_i + b; IG from the zero
    # baseline gives w · a_i, the baseline carrying b per atom
    torch.manual_seed(3)
    w = torch.randn(len(ATOM_FEATURES), dtype=torch.float64)
    bias = 0.7
    model = AtomLinear(w, bias).eval()
    batch = featurize(SMILES, dtype=torch.float64)
    res = attribute(model, batch, steps=4, groups=False)
    for k, r in enumerate(res):
        n = int(batch.n_atoms[k])
        truth = batch.atoms[k, :n] @ w + bias
        torch.testing.assert_close(r.atom_scores + bias, truth, rtol=0, atol=1e-12)
        assert r.baseline_output == pytest.approx(bias * n)
        assert abs(r.delta) < 1e-10


def test_bias_free_network_outputs_zero_at_the_zero_baseline() -> None:
    # positively homogeneous in the atom features: F(0) = 0 exactly, and IG from 0 equals
    # gradient x input (F(αx) = αF(x)); the biased network's F(0) is not 0
    torch.manual_seed(7)
    model = GraphNet(hidden=16, layers=2, bias=False).double().eval()
    batch = featurize(SMILES, dtype=torch.float64)
    ig = attribute(model, batch, steps=16, groups=False)
    ixg = attribute(model, batch, method="input_x_gradient", groups=False)
    for a, b in zip(ig, ixg):
        assert a.baseline_output == 0.0
        torch.testing.assert_close(a.atom_scores, b.atom_scores, rtol=1e-9, atol=1e-12)
    biased = attribute(graphnet(7).double(), batch, steps=16, groups=False, warn_tol=None)
    assert all(r.baseline_output != 0 for r in biased)


# --- completeness, padding, invariance -----------------------------------------------------


@pytest.mark.filterwarnings("ignore::pathattr.ConvergenceWarning")  # ReLU kinks: 1024 nodes
@pytest.mark.parametrize("over", ["atoms", "bonds", "both"])
def test_completeness_per_molecule_and_group_shares_add_up(over: str) -> None:
    model = graphnet(1).double()
    batch = featurize(SMILES, dtype=torch.float64)
    res = attribute(model, batch, over=over, steps="auto")
    for r in res:
        total = float(r.atom_scores.sum()) + (0.0 if r.bond_scores is None else
                                              float(r.bond_scores.sum()))  # fmt: skip
        # the reported delta is exactly the residual of the per-atom / per-bond scores
        assert total - (r.output - r.baseline_output) == pytest.approx(r.delta, abs=1e-9)
        assert abs(r.delta) <= 2e-2 * abs(r.output - r.baseline_output) + 1e-9
        assert sum(g.share for g in r.groups) == pytest.approx(1.0, abs=1e-9)
        assert sum(g.attribution for g in r.groups) == pytest.approx(
            r.output - r.baseline_output, abs=1e-9
        )
        if over == "atoms":
            assert r.bond_scores is None
        if over == "bonds":
            assert not r.atom_scores.any()


@pytest.mark.parametrize(
    "method", ["integrated_gradients", "expected_gradients", "saliency", "input_x_gradient",
               "deeplift"],
)  # fmt: skip
def test_padding_gets_exactly_zero(method: str) -> None:
    model = graphnet(2)
    batch = featurize(SMILES)
    kw = {"references": batch, "seed": 0, "samples": 16} if method == "expected_gradients" else {}
    over = "atoms" if method == "expected_gradients" else "both"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = attribute(model, batch, method=method, over=over, groups=False, **kw)
    attrs = res.attribution.attributions
    atoms = attrs if over == "atoms" else attrs[0]
    pad = batch.mask == 0
    assert pad.any()
    assert torch.count_nonzero(atoms[pad]) == 0
    assert atoms[~pad].abs().sum() > 0
    if over == "both":
        bonds = attrs[1]
        assert torch.count_nonzero(bonds[pad]) == 0
        assert torch.count_nonzero(bonds.transpose(1, 2)[pad]) == 0


def test_atom_attributions_do_not_depend_on_atom_order() -> None:
    model = graphnet(4).double()
    for s in SMILES:
        mol = Chem.MolFromSmiles(s)
        variants = [s] + [Chem.MolToSmiles(mol, doRandom=True) for _ in range(3)]
        res = attribute(model, featurize(variants, dtype=torch.float64), steps=16, groups=False,
                        warn_tol=None)  # fmt: skip
        ref = None
        for r in res:
            ranks = list(Chem.CanonicalRankAtoms(r.mol, breakTies=True))
            by_rank = torch.empty_like(r.atom_scores)
            by_rank[ranks] = r.atom_scores
            if ref is None:
                ref = by_rank
            torch.testing.assert_close(by_rank, ref, rtol=0, atol=1e-10)
        assert len({r.smiles for r in res}) > 1 or len(s) < 5


# --- baselines -----------------------------------------------------------------------------


def test_carbon_and_single_baselines_equal_a_saturated_hydrocarbon() -> None:
    # an alkane is its own carbon skeleton with single bonds: x = x', so every score is 0
    model = graphnet(5)
    res = attribute(model, ["CC(C)CC", "C1CCCC1"], baseline="carbon", steps=8)
    for r in res:
        assert not r.atom_scores.any() and r.output == r.baseline_output
    res = attribute(model, ["CC(C)CC", "C1CCCC1"], over="bonds", baseline="single", steps=8)
    assert all(not r.bond_scores.any() for r in res)
    # a heteroatom differs from carbon: it gets the attribution
    r = attribute(model, "CCCO", baseline="carbon", steps=32, warn_tol=None)[0]
    assert r.atom_scores[3] != 0 and not r.atom_scores[:2].any()


def test_bad_arguments_are_named() -> None:
    model, batch = graphnet(), featurize(SMILES[:2])
    with pytest.raises(ValueError, match="method: expected one of"):
        attribute(model, batch, method="lime")
    with pytest.raises(ValueError, match="over: expected one of"):
        attribute(model, batch, over="rings")
    with pytest.raises(ValueError, match="references: Expected Gradients needs"):
        attribute(model, batch, method="expected_gradients")
    with pytest.raises(ValueError, match="over: Expected Gradients"):
        attribute(model, batch, method="expected_gradients", over="bonds", references=batch)
    with pytest.raises(ValueError, match=r"baseline: expected a tensor of shape \(31,\)"):
        attribute(model, batch, baseline=torch.zeros(3))
    with pytest.raises(ValueError, match="baseline: expected one of"):
        attribute(model, batch, over="bonds", baseline="carbon")


# --- groups and drawings -------------------------------------------------------------------


def test_functional_groups_partition_the_atoms() -> None:
    mol = Chem.MolFromSmiles("OC(=O)c1ccccc1[N+](=O)[O-]")
    groups = assign_groups(mol)
    assert groups["carboxylic acid"] == (0, 1, 2)
    assert groups["nitro"] == (9, 10, 11)
    assert groups["aromatic ring"] == (3, 4, 5, 6, 7, 8)
    every = sorted(i for atoms in groups.values() for i in atoms)
    assert every == list(range(mol.GetNumAtoms()))
    paracetamol = assign_groups(Chem.MolFromSmiles("CC(=O)Nc1ccc(O)cc1Cl"))
    assert paracetamol["amide"] == (1, 2, 3) and paracetamol["hydroxyl"] == (8,)
    assert paracetamol["halogen"] == (11,) and paracetamol["other (skeleton)"] == (0,)
    with pytest.raises(ValueError, match="cannot parse the SMARTS"):
        assign_groups(mol, {"bad": ("[C",)})


def test_drawings_and_report_fragment(tmp_path: Path) -> None:
    r = attribute(graphnet(6), SMILES[:1], steps=16, warn_tol=None)[0]
    svg = r.draw_svg()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert re.search(r"full colour at \|score\| = [0-9.e+-]+", svg)
    png = r.save_png(tmp_path / "m.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    html = r.to_report_html()
    assert "<svg" in html and "amide" in html and "completeness residual" in html
    assert not re.search(r"(src|href)=['\"]?http", html)  # self-contained: nothing to fetch
    assert "<?xml" not in html
    assert r.png_data_uri().startswith("data:image/png;base64,")


# --- a trained network against the truth ---------------------------------------------------


def test_trained_network_ig_tracks_crippen_contributions() -> None:
    smiles = [s for s in nci()[:700] if (m := Chem.MolFromSmiles(s)) and m.GetNumAtoms() <= 24]
    batch = featurize(smiles)
    train, test = (
        batch.subset(range(len(batch) - 60)),
        batch.subset(range(len(batch) - 60, len(batch))),
    )
    torch.manual_seed(0)
    model = GraphNet(hidden=32, layers=3)
    fit(model, train, molecule_values(train.mols, "logp"), epochs=30, seed=0)
    truths = [crippen_contributions(m) for m in test.mols]

    def mean_pearson(method: str) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = attribute(model, test, method=method, steps=32, groups=False)
        vals = [score_atoms(r.atom_scores, t).pearson for r, t in zip(res, truths)]
        ok = [v for v in vals if v == v]
        return sum(ok) / len(ok)

    ig, sal = mean_pearson("integrated_gradients"), mean_pearson("saliency")
    # seeds 0-3 gave IG 0.65-0.81 and saliency -0.69 to 0.43 (signed gradients sum over one-hot
    # features, which says little about the atom)
    assert ig > 0.6 and ig > sal + 0.3


def test_committed_table_reports_ig_above_plain_gradients() -> None:
    table = (ROOT / "experiments" / "results" / "chem_ground_truth.md").read_text()
    for prop in ("logp", "tpsa"):
        block = table.split(f"### {prop}:")[1].split("\n\n")[1]  # the first table after it
        rows = {
            cells[0]: float(cells[1])
            for line in block.splitlines()[2:]
            for cells in [[c.strip() for c in line.strip("|").split("|")]]
        }
        ig = rows["IG, zero baseline, 50 steps"]
        assert ig > 0.7 and ig > rows["saliency (signed)"] + 0.2
        assert rows["IG, zero baseline, steps='auto'"] > 0.7


def test_spearman_averages_ties() -> None:
    a = torch.tensor([1.0, 2.0, 2.0, 3.0])
    assert spearman(a, a) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
