#!/bin/bash
# bench/mm_bf16: GFLOP/s of the bf16 GEMM (core/mm_bf16.h) on each path,
# beside quill's fp32 GEMM, on one thread, for the training step's
# products at distilgpt2's shape (batch 8 x 64) and a decode step at batch
# 64 with prepacked weights, against the core's measured peaks (peak.c:
# vdpbf16ps and fp32 FMA loops).  Timed by process CPU time.  Prints a
# markdown section.  `make bench BENCH_ONLY=mm_bf16`; by hand:
# flock /tmp/bench.lock bash bench/mm_bf16/run.sh   (SECS=s per case, default 1)
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${SECS:-1}
BUILD=${BUILD:-build}
make -s -j2 quill >/dev/null
mkdir -p "$BUILD/bench"
arch=$([ "${PORTABLE:-0}" = 1 ] || echo -march=native)
gcc -std=c11 -D_GNU_SOURCE -O2 $arch -o "$BUILD/bench/mm_bf16_peak" bench/mm_bf16/peak.c
gcc -std=c11 -D_GNU_SOURCE -O2 $arch -fopenmp -Icore -o "$BUILD/bench/mm_bf16_gemm" \
    bench/mm_bf16/gemm.c $BUILD/core/mm_bf16.o $BUILD/core/matmul.o $BUILD/core/pool.o $BUILD/core/mem.o \
    $BUILD/core/err.o -lm
peak=$("$BUILD/bench/mm_bf16_peak")
bpeak=$(echo "$peak" | sed -E 's/.*bf16_gflops=([^ ]+).*/\1/')
fpeak=$(echo "$peak" | sed -E 's/.*fp32_gflops=([^ ]+).*/\1/')
rows=$(OMP_NUM_THREADS=1 "$BUILD/bench/mm_bf16_gemm" "$SECS")
echo "## mm_bf16: bf16 GEMM (fp32 accumulation) per path, one thread"
echo
echo "Measured peak of one core: vdpbf16ps $bpeak GFLOP/s, fp32 FMA $fpeak GFLOP/s"
echo "(bench/mm_bf16/peak.c).  GFLOP/s = 2MNK per call by process CPU time, packing"
echo "of both operands included (\`packed\`: B packed once beforehand, as decode does)."
echo
echo "| product (M x N x K) | path | GFLOP/s | % of its peak |"
echo "|---|---|---|---|"
echo "$rows" | while read -r _ c p g; do
    c=${c#case=} p=${p#path=} g=${g#gflops=}
    case $p in sgemm*) pk=$fpeak ;; *avx512bf16*) pk=$bpeak ;; *) pk=$fpeak ;; esac
    pct=$(awk -v a="$g" -v b="$pk" 'BEGIN { if (b + 0 > 0) printf "%.0f%%", 100 * a / b; else print "n/a" }')
    echo "| $c | $p | $g | $pct |"
done
echo
echo "The fallback paths (avx512, avx2, portable) widen bf16 to fp32 and run two"
echo "fused multiply-adds per pair, so their peak is the fp32 one."
