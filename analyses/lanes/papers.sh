#!/usr/bin/env bash
# Issue 27: the runs behind the reproduction page's non-thesis rows (SparseFool, the Lp-corruption
# paper's overlap radii and training, ESP, AdA and its corruption networks), one thread, niced, into
# the folders `python -m analyses.reproduction --runs $OUT` reads.  Resumable: a step whose final
# result exists is skipped, so rerunning the lane continues where it stopped (the analyses also
# reuse the checkpoints they find).  Each step's output goes to $OUT/logs/papers_STEP.log.
#
#   OUT=/work/thesis-runs nohup analyses/lanes/papers.sh > "$OUT/logs/lane_papers.log" 2>&1 &
#
# SparseFool attacks the frequency lane's standard LeNet (`analyses/thesis_runs.sh images`):
# $OUT/frequency/standard.pt, else $OUT/frequency26/standard.pt; without either the step waits
# for a later run of the lane.  A failing step is reported and the lane goes on with the next one.
source "$(dirname "$0")/common.sh"

step() {   # step NAME RESULT MODULE ARGS...: run one module unless RESULT exists, niced, logging
    local name=$1 result=$2
    shift 2
    if [ -e "$result" ]; then
        echo "$(date '+%F %T') skip  $name: $result exists"
        return 0
    fi
    echo "$(date '+%F %T') start $name: python -m $*"
    if nice -n 10 "$PYTHON" -m "$@" >> "$OUT/logs/papers_$name.log" 2>&1 && [ -e "$result" ]; then
        echo "$(date '+%F %T') done  $name"
    else
        echo "$(date '+%F %T') FAILED $name: see $OUT/logs/papers_$name.log"
        return 1
    fi
}

model=""
for candidate in "$OUT/frequency/standard.pt" "$OUT/frequency26/standard.pt"; do
    if [ -e "$candidate" ] && [ ! -e "$candidate.state" ]; then model=$candidate; break; fi
done

step overlap "$OUT/overlap/overlap.nc" probe.overlap --samples 1000 --out "$OUT/overlap/overlap.nc" &&
    step overlap_figure "$OUT/overlap/lp_overlap.png" figures.lp_overlap "$OUT/overlap" --format png
if [ -n "$model" ]; then
    step sparsefool "$OUT/sparsefool/attribution_overlap.nc" analyses.sparsefool_sweeps "$model" --data "$DATA" --n 100 \
        --out "$OUT/sparsefool"
else
    echo "$(date '+%F %T') wait  sparsefool: no finished standard LeNet in $OUT/frequency or $OUT/frequency26 yet"
fi
step reconstruction "$OUT/reconstruction/reconstruction.png" analyses.corruption_net_reconstruction \
    --out "$OUT/reconstruction" --data "$DATA" &&
    step reconstruction_figure "$OUT/reconstruction/ada_reconstruction.png" figures.ada_reconstruction \
        "$OUT/reconstruction" --format png
step lp_training "$OUT/lp_training/lp_training.png" analyses.lp_training --out "$OUT/lp_training" --data "$DATA"
step ada_training "$OUT/ada_training/pgd_accuracy.nc" analyses.ada_training --out "$OUT/ada_training" --data "$DATA" \
    --jobs 1
echo "$(date '+%F %T') lane papers: finished"
