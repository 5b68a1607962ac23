# Sourced by the lane scripts (analyses/thesis_runs.sh, analyses/lanes/*.sh): work from the
# repository root, results under $OUT (default runs/thesis) with logs in $OUT/logs, the
# interpreter $PYTHON, the image data $DATA, one thread per lane unless the caller says otherwise.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT=${OUT:-runs/thesis}
PYTHON=${PYTHON:-.venv/bin/python}
DATA=${DATA:-fashion-mnist}
mkdir -p "$OUT/logs"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
# `nice` only ranks the processes of one session (Linux scheduler autogroups): a lane started
# with setsid, the leader of its own session, lowers its whole group so that interactive work
# keeps the CPU.  A lane run from a terminal leaves the terminal's group as it is.
if [ "$(ps -o sid= -p $$ | tr -d ' ')" = "$$" ]; then
    echo 19 2>/dev/null > /proc/self/autogroup || true
fi
