#!/usr/bin/env python3
"""Run Captum's own tests for the classes pathattr.captum mirrors, against pathattr.captum.

Usage::

    PYTHONPATH=src OMP_NUM_THREADS=1 python scripts/run_captum_tests.py /path/to/captum-checkout
    ... --baseline     # the same files, imports untouched (Captum itself; a sanity check)
    ... --keep DIR     # leave the rewritten files in DIR

For each test file below, the file is copied from ``<checkout>/tests/attr/`` into a temporary
directory, the ``from captum... import`` lines of the classes under test are rewritten to
``from pathattr.captum import ...``, pytest runs it and the pass / fail counts are printed.
Nothing of Captum is stored in this repository: the files are read from the checkout given.
Captum's test helpers (``captum.testing``) come from the installed Captum package.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: test file -> the classes whose import is switched to pathattr.captum
FILES: dict[str, tuple[str, ...]] = {
    "test_integrated_gradients_basic.py": ("IntegratedGradients", "NoiseTunnel"),
    "test_integrated_gradients_classification.py": ("IntegratedGradients", "NoiseTunnel"),
    "test_saliency.py": ("Saliency", "NoiseTunnel"),
    "test_input_x_gradient.py": ("InputXGradient", "NoiseTunnel"),
    "test_guided_backprop.py": ("GuidedBackprop",),
    "test_deconvolution.py": ("Deconvolution",),
    "test_deeplift_basic.py": ("DeepLift",),
    "test_deeplift_classification.py": ("DeepLift",),
    "test_gradient_shap.py": ("GradientShap",),
    "layer/test_layer_integrated_gradients.py": ("LayerIntegratedGradients",),
}

_IMPORT = re.compile(r"^from captum\.attr[\w.]* import (?P<names>\([^)]*\)|[^\n]*)", re.M)


def rewrite(source: str, classes: tuple[str, ...]) -> str:
    """Move ``classes`` from their ``from captum... import`` lines to ``pathattr.captum``."""

    def fix(m: re.Match[str]) -> str:
        raw = m.group("names").strip("()")
        names = [n.strip() for n in raw.replace("\n", " ").split(",") if n.strip()]
        ours = [n for n in names if n in classes]
        if not ours:
            return m.group(0)
        rest = [n for n in names if n not in classes]
        head = m.group(0)[: m.start("names") - m.start(0)]
        lines = [f"from pathattr.captum import {', '.join(ours)}"]
        if rest:
            lines.append(head + ", ".join(rest))
        return "\n".join(lines)

    out = _IMPORT.sub(fix, source)
    switched = {
        n.strip()
        for line in re.findall(r"^from pathattr\.captum import (.*)$", out, re.M)
        for n in line.split(",")
    }
    missing = [c for c in classes if c not in switched]
    if missing:
        raise SystemExit(f"could not switch the import of {missing}")
    return out


def run(checkout: Path, baseline: bool, keep: Path | None) -> int:
    """Copy, rewrite and run every file; print per-file counts; return the number failing."""
    src = checkout / "tests" / "attr"
    if not src.is_dir():
        raise SystemExit(f"{src}: not a Captum checkout (no tests/attr)")
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="captum_tests_"))
    work.mkdir(parents=True, exist_ok=True)
    total_pass = total_fail = 0
    rows = []
    for name, classes in FILES.items():
        text = (src / name).read_text()
        dest = work / Path(name).name
        dest.write_text(text if baseline else rewrite(text, classes))
        env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf",
             "--no-header", "-W", "ignore", str(dest)],
            cwd=work, env=env, capture_output=True, text=True,
        )  # fmt: skip
        tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr
        passed = int(m.group(1)) if (m := re.search(r"(\d+) passed", tail)) else 0
        failed = sum(int(v) for v in re.findall(r"(\d+) (?:failed|error)", tail))
        total_pass += passed
        total_fail += failed
        broken = "error during collection" in proc.stdout.lower() or "errors during collection" in (
            proc.stdout.lower()
        )
        rows.append((name, passed, passed + failed, broken))
        for line in proc.stdout.splitlines():
            if line.startswith(("FAILED", "ERROR")):
                print(f"    {line}")
    for name, passed, total, broken in rows:
        note = "  (the file did not import: collection error)" if broken else ""
        print(f"{name:48s} {passed:3d}/{total:3d} passed{note}")
    print(f"{'total':48s} {total_pass:3d}/{total_pass + total_fail:3d} passed")
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return total_fail


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("checkout", type=Path, help="a Captum source checkout (with tests/attr)")
    ap.add_argument("--baseline", action="store_true", help="run the files unmodified")
    ap.add_argument("--keep", type=Path, default=None, help="write the files here and keep them")
    args = ap.parse_args()
    sys.exit(1 if run(args.checkout, args.baseline, args.keep) else 0)


if __name__ == "__main__":
    main()
