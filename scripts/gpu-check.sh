#!/usr/bin/env bash
# The one prepared run on a lent GPU machine (see scripts/gpu-prepare.sh): every accelerator code
# path of the engine (bench/gpu_paths.py), then training/prediction speed, 2D quality at 1 minute
# and the 3D designs at 1 minute on CUDA. Logs and JSON results go to $OUT (or gpu_out/).
# About 9 minutes on an H100.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-gpu_out}"
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH="$PWD/src:/tmp/site" PYTHONUNBUFFERED=1 DECONOISING_SHARED="$PWD/.gpu/shared"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
cd bench
run() {  # run NAME COMMAND...: log to $out/NAME.log, go on after a failure
  local name=$1
  shift
  echo "== $name: $*"
  timeout 300 "$@" 2>&1 | tee "../$out/$name.log" | grep -v Warning
}
run paths python3 gpu_paths.py --device cuda
run speed python3 bench_speed.py --device cuda
run quality python3 bench_quality.py --minutes 1 --name quality_gpu
run 3d python3 bench_3d.py --minutes 1 --designs 2d 3d-two-stage --stacks water --device cuda \
  --name 3d_gpu
cp results/gpu_paths_cuda.json results/speed_cuda_*.json results/quality_gpu.json \
  results/3d_gpu.json "../$out/" 2>/dev/null
ls "../$out"
