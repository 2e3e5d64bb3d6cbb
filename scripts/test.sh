#!/usr/bin/env bash
# Set up (first run only) and run the checks: ruff, mypy and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev,vision,text,text-demo
. .venv/bin/activate
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg
lint=(); for d in src tests benchmarks experiments examples; do [ -d "$d" ] && lint+=("$d"); done
ruff check "${lint[@]}"
ruff format --check src tests
mypy
python -m pytest -q "$@"
