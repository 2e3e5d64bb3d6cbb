#!/usr/bin/env bash
# Set up (first run only) and run the checks: ruff, mypy and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# the text HTML and the report are checked in a real browser (tests/test_text.py,
# tests/test_report.py): headless Chromium from Debian, driven by Selenium through Debian's
# chromedriver; a no-op when both are already installed
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  as_root=(); [ "$(id -u)" = 0 ] || as_root=(sudo)
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
    >/dev/null
fi
bash scripts/setup.sh dev,vision,text,text-demo,data,ray
. .venv/bin/activate
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg
lint=(); for d in src tests benchmarks experiments examples; do [ -d "$d" ] && lint+=("$d"); done
ruff check "${lint[@]}"
ruff format --check src tests
mypy
python -m pytest -q "$@"
