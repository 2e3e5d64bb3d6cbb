#!/usr/bin/env bash
# Set up (first run only) and run the main job: Integrated Gradients on EfficientNet-Lite0 for
# bundled photos; heatmaps and a results table land in ./demo_out.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh vision
. .venv/bin/activate
pathattr demo --out demo_out "$@"
