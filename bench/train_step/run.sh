#!/bin/bash
# bench/train_step: tokens/s of one GPT-2 training step (forward with
# dropout, backward, clip_grad_norm, AdamW) for the distilgpt2 shape (6
# layers, 12 heads, 768 wide, vocabulary 50257) at batch 8 x 64, quill
# against the PyTorch reference (torch_ref.py) in the same run, 1 and 2
# threads, each in fp32 and in bf16 mixed precision (quill train --bf16,
# PyTorch's CPU autocast), with GFLOP/s against the measured bf16 peak.  PyTorch runs at its best here: OpenBLAS with OpenMP
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
objs="$(ls $BUILD/core/*.o) $BUILD/gen/cmudict.o"
libs="sqlite3 libzstd libarchive yaml-0.1 jansson libutf8proc libxxhash libcurl ompi-c"
gcc -std=c11 -D_GNU_SOURCE -O2 $([ "${PORTABLE:-0}" = 1 ] || echo -march=native) -fopenmp -Icore \
    -o "$bin" bench/train_step/train_step.c $objs $(pkg-config --libs $libs) -lm
. bench/torch_env.sh
field() { sed -E "s/.* $1=([^ ]+).*/\1/"; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# the machine's vdpbf16ps peak per core (bench/mm_bf16/peak.c)
gcc -std=c11 -D_GNU_SOURCE -O2 $([ "${PORTABLE:-0}" = 1 ] || echo -march=native) \
    -o "$BUILD/bench/mm_bf16_peak" bench/mm_bf16/peak.c
bpeak=$("$BUILD/bench/mm_bf16_peak" | field bf16_gflops)
torch_run() {
    if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
        env $TORCH_ENV /usr/bin/python3 bench/train_step/torch_ref.py "$@"
    else
        echo "torch tokens_per_s=n/a step_s=n/a cpu_s=n/a"
    fi
}
# each configuration in turn, per thread count, so a change of load hits all
declare -A q t qb tb
for th in 1 2; do
    q[$th]=$(env -u OMP_NUM_THREADS "$bin" "$th" "$STEPS")
    qb[$th]=$(env -u OMP_NUM_THREADS "$bin" --bf16 "$th" "$STEPS")
    t[$th]=$(torch_run "$th" "$STEPS")
    tb[$th]=$(torch_run --bf16 "$th" "$STEPS")
done
# not out of the box, for information: libgomp's idle threads sleep instead of
# spinning, which matters when other jobs share the cores
passive=$(OMP_WAIT_POLICY=passive "$bin" 2 "$STEPS")
peak=$(env $TORCH_ENV /usr/bin/python3 bench/train_step/torch_ref.py --sgemm 2 2>/dev/null |
    field gflops || echo n/a)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

echo "## train_step: GPT-2 training step, distilgpt2 shape, batch 8 x 64"
echo
echo "One step = forward (dropout 0.1) + backward + clip_grad_norm(1.0) + AdamW; mean of $STEPS"
echo "steps after a warm-up.  PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)' 2>/dev/null || echo n/a)"
echo "with OpenBLAS-openmp and bench/torch_env.sh (OPENBLAS_CORETYPE=SkylakeX, malloc keeping freed memory); quill with its own kernels ($(echo "${q[1]}" | field kernel),"
echo "bf16: $(echo "${qb[1]}" | field kernel)).  bf16: PyTorch's forward and loss under"
echo "torch.autocast(\"cpu\", dtype=torch.bfloat16) (Trainer's bf16=True); \`quill train --bf16\`"
echo "(every product's inputs in bf16, fp32 sums, fp32 weights, gradients and AdamW)."
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2fx", a / b; else print "n/a" }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.0f%%", 100 * a / b; else print "n/a" }'; }
echo "| threads | run | tokens/s | CPU s / step | GFLOP/s | % of bf16 peak |"
echo "|---|---|---|---|---|---|"
for th in 1 2; do
    for k in q qb t tb; do
        case $k in
        q) r=${q[$th]} name="quill fp32" ;;
        qb) r=${qb[$th]} name="quill --bf16" ;;
        t) r=${t[$th]} name="PyTorch fp32" ;;
        tb) r=${tb[$th]} name="PyTorch bf16 autocast" ;;
        esac
        g=$(echo "$r" | grep -q gflops= && echo "$r" | field gflops || echo n/a)
        echo "| $th | $name | $(echo "$r" | field tokens_per_s) | $(echo "$r" | field cpu_s) | $g |" \
            "$(pct "$g" "$(awk -v p="$bpeak" -v n="$th" 'BEGIN { print p * n }')") |"
    done
done
echo
echo "| threads | quill / PyTorch fp32 | quill --bf16 / PyTorch bf16 | quill --bf16 / quill fp32 | per CPU-second: --bf16 / PyTorch bf16 | per CPU-second: --bf16 / fp32 |"
echo "|---|---|---|---|---|---|"
for th in 1 2; do
    tok() { echo "$1" | field tokens_per_s; }
    cpu() { echo "$1" | field cpu_s; }
    echo "| $th | $(ratio "$(tok "${q[$th]}")" "$(tok "${t[$th]}")") |" \
        "$(ratio "$(tok "${qb[$th]}")" "$(tok "${tb[$th]}")") |" \
        "$(ratio "$(tok "${qb[$th]}")" "$(tok "${q[$th]}")") |" \
        "$(ratio "$(cpu "${tb[$th]}")" "$(cpu "${qb[$th]}")") |" \
        "$(ratio "$(cpu "${q[$th]}")" "$(cpu "${qb[$th]}")") |"
done
echo
echo "GFLOP/s counts the step's matrix products (6 per parameter per token, attention's"
echo "QK^T and AV) over its whole time; the bf16 peak is bench/mm_bf16/peak.c's vdpbf16ps"
echo "loop ($bpeak GFLOP/s per core) times the threads.  Losses: quill fp32 $(echo "${q[2]}" | field loss),"
echo "--bf16 $(echo "${qb[2]}" | field loss) (same init and batch)."
echo
echo "quill on 2 threads with OMP_WAIT_POLICY=passive (not the default): $(echo "$passive" | field tokens_per_s) tokens/s."
echo
q2=$(echo "${q[2]}" | field gflops)
echo "OpenBLAS sgemm alone (2048^3, 2 threads, same run): $peak GFLOP/s; the whole quill fp32 step on"
echo "2 threads reaches $(pct "$q2" "$peak") of it."
echo
echo "Load average before / after: $load_before / $load_after on $(nproc) cores$(awk -v l="${load_before%% *}" -v n="$(nproc)" 'BEGIN { if (l + 0 > n * 0.5) print " (other jobs were running: numbers are indicative)" }')."
