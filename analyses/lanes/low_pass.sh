#!/usr/bin/env bash
# Issue 27, item 3: the low-pass invariance runs (analyses.low_pass_invariance) on full Fashion-MNIST,
# 30 epochs, margins on 200 low-passed test images, at one thread, niced.  Resumable: rerun the same
# command to continue (finished models and margin chunks are reused).  The baseline goes first, then
# the control (no training: the baseline behind a fixed low-pass), then the two trained variants.
#
#   OUT=/work/thesis-runs PYTHON=/work/main/.venv/bin/python \
#       nohup setsid analyses/lanes/low_pass.sh > /work/thesis-runs/logs/low_pass.log 2>&1 &
#
# Results go to $OUT/low_pass (the folder `python -m analyses.reproduction --runs $OUT` reads).
source "$(dirname "$0")/common.sh"
export PYTHONPATH=$PWD
exec nice -n 19 "$PYTHON" -m analyses.low_pass_invariance --out "$OUT/low_pass" --data "$DATA" --n 200 \
    --variants baseline low_pass_input weight_decay low_init
