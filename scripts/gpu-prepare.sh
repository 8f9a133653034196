#!/usr/bin/env bash
# Prepare, on this machine, what a lent GPU machine needs for scripts/gpu-check.sh: that machine
# has Python 3.12 with a CUDA torch, numpy, scipy, tifffile and onnx, reaches no network, and
# gets the checkout alone. This puts in the checkout (both git-ignored):
#   .whl/           wheels of the package's other dependencies for Python 3.12
#   .gpu/shared/    the benchmark stack (../shared/data/walls)
# Then call the device tool with carry [".whl", ".gpu"] and the command `bash scripts/gpu-check.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

WHEELS="dask==2026.8.0 partd==1.4.2 locket==1.0.0 importlib_metadata==10.2.0 zarr==3.1.6
  numcodecs==0.16.6 donfig==0.8.1.post1 google-crc32c==1.9.0 torch-pruning==1.6.1"
# psfmodels has no Python 3.12 wheel on the registry here: on the GPU machine the synthetic
# z-stacks then use the Gaussian approximation of the widefield PSF (the results say which).
rm -rf .whl && mkdir -p .whl
for wheel in $WHEELS; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux_2_27_x86_64 -d .whl "$wheel"
done
mkdir -p .gpu/shared/data
rm -rf .gpu/shared/data/walls && cp -r ../shared/data/walls .gpu/shared/data/walls
du -sh .whl .gpu
