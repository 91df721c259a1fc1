# Shared by bench/generate/run.sh and bench/batch/run.sh (source it after
# setting ROOT): a scratch directory $W holding the distilgpt2-shape model
# $W/m (ref.py's random weights), 2 threads, and the median-of-3 helpers.
Q="$ROOT/quill"
. "$ROOT/bench/torch_env.sh"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export OMP_NUM_THREADS=2
/usr/bin/python3 "$ROOT/bench/generate/ref.py" save "$W/m"
# Each figure is the median of three runs (the machine is shared: single
# runs drift by 10% either way).  PyTorch at its best, as in bench/train_step.
median3() { sort -n -k1,1 | sed -n 2p; }
three() { for _ in 1 2 3; do "$@"; echo; done | grep . | median3; }
ref_run() { env $TORCH_ENV /usr/bin/python3 "$ROOT/bench/generate/ref.py" "$@"; }
