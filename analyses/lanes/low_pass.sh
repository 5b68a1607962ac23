#!/usr/bin/env bash
# Issue 27, item 3: the low-pass invariance runs (analyses.low_pass_invariance) on full Fashion-MNIST,
# 30 epochs, margins on 200 low-passed test images, at one thread, niced.  Resumable: rerun the same
# command to continue (finished models and margin chunks are reused).  The baseline goes first, then
# the control (no training: the baseline behind a fixed low-pass), then the two trained variants.
#
#   OUT=/work/thesis-runs/low_pass PYTHON=/work/main/.venv/bin/python \
#       nohup setsid analyses/lanes/low_pass.sh > /work/thesis-runs/logs/low_pass.log 2>&1 &
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/thesis/low_pass}
PYTHON=${PYTHON:-.venv/bin/python}
DATA=${DATA:-fashion-mnist}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=$PWD
exec nice -n 19 "$PYTHON" -m analyses.low_pass_invariance --out "$OUT" --data "$DATA" --n 200 \
    --variants baseline low_pass_input weight_decay low_init
