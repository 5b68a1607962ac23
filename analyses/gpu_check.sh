#!/usr/bin/env bash
# The GPU validation of issue 11, as one script for a lent GPU machine (about 8 minutes).
#
# That machine has torch, xarray, h5py, matplotlib, seaborn, scipy, tqdm and timm, but not
# h5netcdf, captum, kornia or torchattacks.  Prepare their wheels here once (Python 3.12, x86-64),
# into the ignored folder .whl, and carry it with the run:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#       -d .whl h5netcdf captum kornia kornia_rs torchattacks
#   (device tool) run: bash analyses/gpu_check.sh   with carry [".whl"], timeout_s 540
# What it does: installs the wheels beside the machine's packages, runs the CUDA tests, then
# `analyses.bench_gpu` (margins against the per-sample loop on the same GPU, SparseFool against
# torchattacks) and the 224×224 memory benchmark; logs land in $OUT (or ./gpu_check_out).
set -uo pipefail
out="${OUT:-gpu_check_out}"
mkdir -p "$out"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:$PWD"
else
    export PYTHONPATH="$PWD"
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
timeout 180 python3 -m pytest -q -p no:cacheprovider -k "cuda" tests/test_corruption_ops.py tests/test_scale.py \
    2>&1 | tee "$out/cuda_tests.log"
timeout 240 python3 -m analyses.bench_gpu --device cuda --n-cifar 256 --n-imagenet 32 --reference-n 2 \
    2>&1 | tee "$out/bench_gpu.jsonl"
timeout 90 python3 -m analyses.bench_scale --device cuda --cases margins-resnet50 --n 8 \
    2>&1 | tee "$out/bench_scale_gpu.jsonl"
