"""pathattr.report: one self-contained HTML page, checked in a real browser.

Headless Chromium from Debian's packages (``chromium`` + ``chromium-driver``) driven by Selenium
with a fresh profile and Chromium's own network traffic switched off (the machines are offline):
the page loads with no console errors and no network request, every image decodes, the
completeness table sorts on a click, and a screenshot shows the heat maps.
"""

from __future__ import annotations

import math
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import pathattr
from pathattr import axioms
from pathattr.cli.main import main as cli
from pathattr.metrics import deletion_curve, insertion_curve
from pathattr.result import load_attribution
from pathattr.text import TextAttribution

HERE = Path(__file__).parent


def tiny_cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.Linear(4 * 12 * 12, 3),
    ).eval()  # fmt: skip


def tiny_mlp() -> torch.nn.Module:
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


class Atoms:
    """One stand-in molecule: scalar figures like pathattr.chem.MoleculeAttribution."""

    def __init__(self, smiles: str, colours: list[str], output: float, baseline: float):
        self.smiles, self.colours = smiles, colours
        self.output, self.baseline_output = output, baseline
        self.delta = 0.25 * (output - baseline)  # a 25% completeness error

    def to_report_html(self) -> str:
        atoms = "".join(
            f'<circle class="atom" cx="{20 + 30 * i}" cy="20" r="12" fill="{c}"/>'
            for i, c in enumerate(self.colours)
        )
        return f'<svg class="molecule" width="200" height="40">{atoms}</svg>'


class Molecules(Sequence[Atoms]):
    """A batch stand-in (like MoleculeAttributions): the generic to_report_html hook, the
    completeness figures in .attribution, names from the items' SMILES."""

    def __init__(self, attribution: pathattr.Attribution, molecules: list[Atoms]):
        self.attribution, self.molecules = attribution, molecules

    def __len__(self) -> int:
        return len(self.molecules)

    def __getitem__(self, i: Any) -> Any:
        return self.molecules[i]

    def to_report_html(self) -> str:
        return "".join(m.to_report_html() for m in self.molecules)


def text_result() -> TextAttribution:
    """A TextAttribution built from a real IG run on a tiny 'embedding' model."""
    torch.manual_seed(2)
    emb = torch.randn(2, 4, 3)
    lin = torch.nn.Linear(3, 1)
    model = torch.nn.Sequential(lin, torch.nn.Flatten(), torch.nn.Linear(4, 1))
    res = pathattr.integrated_gradients(model, emb, steps=8)
    words = [[" the", " film", " was", " great"], [" a", " dull", " slow", " plot"]]
    return TextAttribution(
        attribution=res, texts=["the film was great", "a dull slow plot"],
        tokens=[[w.strip() for w in ws] for ws in words], words=words,
        scores=list(res.attributions.sum(-1)), targets=["positive", "positive"],
        baseline="pad", kind="classifier", input_ids=torch.zeros(2, 4, dtype=torch.long),
        attributed=torch.ones(2, 4, dtype=torch.bool),
    )  # fmt: skip


@pytest.fixture(scope="module")
def images() -> tuple[torch.Tensor, pathattr.Attribution]:
    x = torch.rand(5, 1, 12, 12, generator=torch.Generator().manual_seed(3))
    x[:, :, 3:9, 4:8] += 1.0  # a bright block the model can react to
    return x, pathattr.integrated_gradients(tiny_cnn(), x, target=0, steps=6, warn_tol=None)


@pytest.fixture(scope="module")
def full_report(images, tmp_path_factory) -> tuple[Path, list[float]]:
    """A page with every kind of result; returns it and every example's relative delta."""
    x, ig = images
    model = tiny_cnn()
    eg = pathattr.expected_gradients(model, x, references=x, target=0, samples=8, seed=0,
                                     warn_tol=None)  # fmt: skip
    tab = pathattr.integrated_gradients(tiny_mlp(), torch.rand(3, 5), steps=8)
    mols = [Atoms("CCO", ["#1e9e3e", "#d0312d", "#888"], 1.0, 0.2),
            Atoms("C=O", ["#1e9e3e", "#888"], 0.5, 0.1)]  # fmt: skip
    mol = Molecules(pathattr.integrated_gradients(tiny_mlp(), torch.rand(2, 5), steps=4), mols)
    mlp, xs = tiny_mlp(), torch.rand(2, 5)
    checks = ("completeness", "dummy", "linearity")
    reports = [
        axioms.check(pathattr.integrated_gradients, mlp, xs, checks=checks, name="IG"),
        axioms.check(pathattr.saliency, mlp, xs, checks=checks, name="saliency"),
    ]
    curves = {"IG deletion": deletion_curve(model, x, ig, 0, steps=6),
              "IG insertion": insertion_curve(model, x, ig, 0, steps=6)}  # fmt: skip
    txt = text_result()
    results = {"IG": (ig, x), "EG": (eg, x), "tabular": tab, "molecules": mol, "text": txt,
               "one molecule": mols[0], "axioms": reports, **curves}  # fmt: skip
    out = tmp_path_factory.mktemp("report") / "sub" / "report.html"
    pathattr.report(results, out, title="Test report")
    rel = [float(v) for r in (ig, eg, tab, mol.attribution, txt.attribution)
           for v in r.relative_delta] + [0.25]  # fmt: skip
    return out, rel


def _need_browser() -> tuple[str, str]:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if exe is None or driver is None:
        pytest.fail(
            "chromium and chromedriver are needed: the report must be checked in a real browser; "
            "install them with `apt-get install -y chromium chromium-driver` (scripts/test.sh "
            "does)"
        )
    return exe, driver


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    exe, driver = _need_browser()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: pip install -e '.[dev]' (scripts/test.sh does)")
    with tempfile.TemporaryDirectory() as profile:
        opts = webdriver.ChromeOptions()
        opts.binary_location = exe
        for flag in ("--headless=new", "--no-sandbox", f"--user-data-dir={profile}",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--disable-gpu", "--no-first-run",
                     "--window-size=1280,1000"):  # fmt: skip
            opts.add_argument(flag)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # the Debian driver by path: Selenium Manager must not try to download one
        drv = webdriver.Chrome(service=Service(executable_path=driver), options=opts)
        try:
            yield drv
        finally:
            drv.quit()


def _column(drv: Any, header: str) -> list[str]:
    return drv.execute_script(
        """const t = document.getElementById('completeness-table');
        const i = [...t.tHead.rows[0].cells].findIndex(c => c.textContent === arguments[0]);
        return [...t.tBodies[0].rows].map(r => r.cells[i].getAttribute('data-v'));""",
        header,
    )


def _numbers(keys: list[str]) -> list[float]:
    return [float(k) if k else math.nan for k in keys]


def test_page_in_a_real_browser(full_report, browser, tmp_path) -> None:
    import matplotlib.image as mpimg

    path, rel = full_report
    browser.get(path.as_uri())
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, f"console errors: {errors}"
    # self-contained: the page fetched nothing (every image is a data: URI, styles inline)
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    imgs = browser.execute_script(
        "return [...document.images].map(i => [i.complete, i.naturalWidth, i.src.slice(0, 15)])"
    )
    # 5 + 5 image examples × (input, attribution, top regions) and the curves
    assert len(imgs) == 31
    assert all(c and w > 0 and s.startswith("data:image/png") for c, w, s in imgs), imgs
    # every example is a row; the table starts with the worst relative error first
    keys = _column(browser, "relative delta")
    assert len(keys) == len(rel)
    assert sorted(_numbers(keys)) == pytest.approx(sorted(rel), rel=1e-6, nan_ok=True)
    start = _numbers(keys)
    finite = [v for v in start if math.isfinite(v)]
    assert finite == sorted(finite, reverse=True) and len(finite) > 5
    header = browser.find_element(
        "xpath", "//table[@id='completeness-table']//th[.='relative delta']"
    )
    header.click()
    after = _numbers(_column(browser, "relative delta"))
    fin_after = [v for v in after if math.isfinite(v)]
    assert fin_after == sorted(finite) and fin_after != finite
    assert header.get_attribute("aria-sort") == "ascending"
    browser.find_element("xpath", "//table[@id='completeness-table']//th[.='F(x)']").click()
    fx = [v for v in _numbers(_column(browser, "F(x)")) if math.isfinite(v)]
    assert fx == sorted(fx, reverse=True) and len(set(fx)) > 3  # numbers first big to small
    # text tokens, the molecule hook's atoms and the axiom matrix made it in
    assert len(browser.find_elements("css selector", ".pathattr-text span.tok")) == 8
    assert len(browser.find_elements("css selector", "svg.molecule circle.atom")) == 5 + 3
    names = _column(browser, "example")
    assert names.count("CCO") == 2 and names.count("C=O") == 1  # the batch's and the single one
    evaluations = _column(browser, "evaluations")
    assert evaluations.count("") == 1  # the single molecule's count is unknown: "—", sorted last
    cells = [c.text for c in browser.find_elements("css selector", "table.axioms td")]
    assert any(c.startswith("✓ pass") for c in cells)
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot))
    img = (mpimg.imread(shot)[..., :3] * 255).astype(int)
    assert img.std() > 20  # not blank
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    assert int(((g > 150) & (r < 140) & (b < 140)).sum()) > 100  # green heat on screen


def test_report_is_self_contained_and_linked(full_report) -> None:
    html = full_report[0].read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", html)  # no external asset
    # every drawn example is a card the table links to
    links = set(re.findall(r'<a href="#([^"]+)"', html))
    cards = set(re.findall(r'class="example" id="([^"]+)"', html))
    assert cards and cards <= links


def test_saved_file_and_cli(images, tmp_path, browser) -> None:
    x, ig = images
    ig.extras["callback"] = print  # not storable: left out with a warning
    with pytest.warns(UserWarning, match="callback"):
        saved = ig.save(tmp_path / "ig.pt", inputs=x)
    del ig.extras["callback"]
    back, inputs = load_attribution(saved)
    assert torch.equal(back.attributions, ig.attributions) and torch.equal(inputs, x)
    torch.testing.assert_close(back.relative_delta, ig.relative_delta, equal_nan=True)
    assert back.method == ig.method
    assert pathattr.Attribution.load(saved).extras == {k: v for k, v in ig.extras.items()}
    out = tmp_path / "saved.html"
    assert cli(["report", str(saved), "--out", str(out), "--max-examples", "2"]) == 0
    html = out.read_text(encoding="utf-8")
    assert html.count('class="example"') == 2 and html.count("<tr>") >= 5
    browser.get(out.as_uri())
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert browser.execute_script("return [...document.images].every(i => i.naturalWidth > 0)")


def test_run_directory(tmp_path, browser) -> None:
    from PIL import Image

    sys.path.insert(0, str(HERE))
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    run = tmp_path / "run"
    pathattr.run(folder, "dataset_models:image_cnn", run, steps=4, shard_rows=5, progress=False)
    out = tmp_path / "run.html"
    assert cli(["report", str(run), "--out", str(out), "--max-examples", "3",
                "--max-rows", "10"]) == 0  # fmt: skip
    html = out.read_text(encoding="utf-8")
    assert html.count('class="example"') == 3
    assert "dataset_models:image_cnn" in html  # the manifest's settings
    browser.get(out.as_uri())
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    captions = [f.text for f in browser.find_elements("css selector", "figcaption")]
    assert captions.count("input") == 3  # the photos have the model's size: overlays
    assert browser.execute_script("return [...document.images].every(i => i.naturalWidth > 0)")
    # max_rows keeps the 10 worst of the 12 rows
    from pathattr.store import read_output

    worst = sorted(read_output(run, columns=["relative_delta"]).column(0).to_pylist())[-10:]
    assert sorted(_numbers(_column(browser, "relative delta"))) == pytest.approx(worst)


def test_bad_sources_are_named(tmp_path, capsys) -> None:
    with pytest.raises(TypeError, match="results: expected"):
        pathattr.report(42, tmp_path / "r.html")
    with pytest.raises(ValueError, match="not found"):
        pathattr.report(tmp_path / "missing", tmp_path / "r.html")
    with pytest.raises(ValueError, match="max_examples"):
        pathattr.report([], tmp_path / "r.html", max_examples=-1)
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    assert cli(["report", str(tmp_path / "junk.pt"), "--out", str(tmp_path / "r.html")]) == 2
    assert "Attribution.save" in capsys.readouterr().err
    x = torch.rand(2, 1, 12, 12)
    res = pathattr.integrated_gradients(tiny_cnn(), x, target=0, steps=2, warn_tol=None)
    with pytest.raises(ValueError, match="inputs: expected the shape"):
        pathattr.report(res, tmp_path / "r.html", inputs=x[:, :, :6])
    # inputs= draws every Attribution given alone over its inputs
    html = pathattr.report(res, tmp_path / "r.html", inputs=x).read_text(encoding="utf-8")
    assert html.count("<figcaption>input</figcaption>") == 2
