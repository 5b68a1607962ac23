#!/usr/bin/env bash
# Issue 15: every long run reproducing the thesis' findings, in priority order, in two lanes that
# can run side by side (one thread each, niced).  Every step is resumable: rerunning a lane skips
# what is finished and continues what was interrupted, so a later session just starts it again.
#
#   nohup analyses/thesis_runs.sh synthetic > runs/thesis/lane_synthetic.log 2>&1 &
#   nohup analyses/thesis_runs.sh images    > runs/thesis/lane_images.log 2>&1 &
#
# Results go to $OUT (default runs/thesis): t1/, t2/, frequency/, few_samples/, forgetting/,
# prime_primitives/; each step's output in $OUT/logs/STEP.log.  A failing step is reported and the
# lane goes on with the next one.
source "$(dirname "$0")/lanes/common.sh"

step() {   # step NAME MODULE ARGS...: run one analysis, niced, logging to $OUT/logs/NAME.log
    local name=$1
    shift
    echo "$(date '+%F %T') start $name: python -m $*"
    if nice -n 10 "$PYTHON" -m "$@" > "$OUT/logs/$name.log" 2>&1; then
        echo "$(date '+%F %T') done  $name"
    else
        echo "$(date '+%F %T') FAILED $name (exit $?): see $OUT/logs/$name.log"
    fi
}

synthetic() {
    step t1 analyses.margins_synthetic --out "$OUT/t1" --models logistic mlp
    # T2 (thesis Fig. 4.10): the whole ε grid with seed 0, the switch (0.5, 0.7) and the ends first;
    # then seeds 1 and 2 only at the ε where seed 0 did not fit its training set
    local grid="0.5 0.7 0 1 0.3 0.6 0.4 0.8 0.2 0.9 0.1"
    step t2_seed0 analyses.t2_transition --out "$OUT/t2" --epsilons $grid --seeds 0
    step t2_retry analyses.t2_transition --out "$OUT/t2" --epsilons $grid --seeds 1 2 --only-unfit
}

images() {
    local frequency="$OUT/frequency"
    step frequency_standard analyses.margins_frequency --out "$frequency" --data "$DATA" --models standard
    step few_samples analyses.few_samples --model "$frequency/standard.pt" --out "$OUT/few_samples" --data "$DATA"
    step frequency_flipped analyses.margins_frequency --out "$frequency" --data "$DATA" --models flipped
    step frequency_low_pass analyses.margins_frequency --out "$frequency" --data "$DATA" --models low_pass
    step forgetting analyses.forgetting --out "$OUT/forgetting" --data "$DATA"
    step frequency_adversarial analyses.margins_frequency --out "$frequency" --data "$DATA" --models adversarial
    step prime_a analyses.prime_primitives --out "$OUT/prime_primitives" --data "$DATA" \
        --models standard prime spectral spatial colour prime_no_mix
    step prime_b analyses.prime_primitives --out "$OUT/prime_primitives" --data "$DATA" \
        --models spectral_no_mix spatial_no_mix colour_no_mix
}

case "${1:-}" in
    synthetic) synthetic ;;
    images) images ;;
    *) echo "usage: $0 synthetic|images" >&2; exit 2 ;;
esac
