#!/bin/bash
# bench/train_step: tokens/s of one GPT-2 training step (forward with
# dropout, backward, clip_grad_norm, AdamW) for the distilgpt2 shape (6
# layers, 12 heads, 768 wide, vocabulary 50257) at batch 8 x 64, quill
# against the PyTorch reference (torch_ref.py) in the same run, 1 and 2
# threads.  PyTorch runs at its best here: OpenBLAS with OpenMP
# (libopenblas0-openmp), OPENBLAS_CORETYPE=SkylakeX (Debian 12's OpenBLAS
# 0.3.21 does not recognise this CPU otherwise), torch.set_num_threads, the
# fused tanh GELU.  quill runs as users run it: no environment variables.
# Prints a markdown section.  `make bench` runs it under /tmp/bench.lock;
# by hand: flock /tmp/bench.lock bash bench/train_step/run.sh
# STEPS=n changes the number of timed steps (default 5, after 1 warm-up).
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS=${STEPS:-5}
BUILD=${BUILD:-build}
make -s -j2 quill >/dev/null
bin=$BUILD/bench/train_step
mkdir -p "$(dirname "$bin")"
# The engine's objects (core/ has no SQLite) and the libraries they use.
objs=$(ls $BUILD/core/*.o)
libs="sqlite3 libzstd libarchive yaml-0.1 jansson libutf8proc libxxhash libcurl ompi-c"
gcc -std=c11 -D_GNU_SOURCE -O2 $([ "${PORTABLE:-0}" = 1 ] || echo -march=native) -fopenmp -Icore \
    -o "$bin" bench/train_step/train_step.c $objs $(pkg-config --libs $libs) -lm
field() { sed -E "s/.* $1=([^ ]+).*/\1/"; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A q t
for th in 1 2; do
    q[$th]=$(env -u OMP_NUM_THREADS "$bin" "$th" "$STEPS")
    if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
        t[$th]=$(OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/train_step/torch_ref.py "$th" "$STEPS")
    else
        t[$th]="torch tokens_per_s=n/a step_s=n/a cpu_s=n/a"
    fi
done
# not out of the box, for information: libgomp's idle threads sleep instead of
# spinning, which matters when other jobs share the cores
passive=$(OMP_WAIT_POLICY=passive "$bin" 2 "$STEPS")
peak=$(OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/train_step/torch_ref.py --sgemm 2 2>/dev/null |
    field gflops || echo n/a)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

echo "## train_step: GPT-2 training step, distilgpt2 shape, batch 8 x 64"
echo
echo "One step = forward (dropout 0.1) + backward + clip_grad_norm(1.0) + AdamW; mean of $STEPS"
echo "steps after a warm-up.  PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)' 2>/dev/null || echo n/a)"
echo "with OpenBLAS-openmp and OPENBLAS_CORETYPE=SkylakeX; quill with its own kernels ($(echo "${q[1]}" | field kernel))."
echo
echo "| threads | quill tokens/s | quill GFLOP/s | PyTorch tokens/s | quill / PyTorch | quill / PyTorch per CPU-second |"
echo "|---|---|---|---|---|---|"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2fx", a / b; else print "n/a" }'; }
for th in 1 2; do
    qt=$(echo "${q[$th]}" | field tokens_per_s)
    tt=$(echo "${t[$th]}" | field tokens_per_s)
    # CPU seconds per step: less sensitive to other jobs (but includes spinning)
    qc=$(echo "${q[$th]}" | field cpu_s)
    tc=$(echo "${t[$th]}" | field cpu_s)
    echo "| $th | $qt | $(echo "${q[$th]}" | field gflops) | $tt | $(ratio "$qt" "$tt") | $(ratio "$tc" "$qc") |"
done
echo
echo "quill on 2 threads with OMP_WAIT_POLICY=passive (not the default): $(echo "$passive" | field tokens_per_s) tokens/s."
echo
q2=$(echo "${q[2]}" | field gflops)
echo "OpenBLAS sgemm alone (2048^3, 2 threads, same run): $peak GFLOP/s; the whole quill step on"
echo "2 threads reaches $(awk -v a="$q2" -v b="$peak" 'BEGIN { if (b + 0 > 0) printf "%.0f%%", 100 * a / b; else print "n/a" }') of it."
echo
echo "Load average before / after: $load_before / $load_after on $(nproc) cores$(awk -v l="${load_before%% *}" -v n="$(nproc)" 'BEGIN { if (l + 0 > n * 0.5) print " (other jobs were running: numbers are indicative)" }')."
