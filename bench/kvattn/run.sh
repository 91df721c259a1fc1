#!/bin/bash
# bench/kvattn: the attention products of a batch-64 decode step
# (distilgpt2 shape, 57 cached tokens a sequence) with generation's fp32 KV
# cache against the bf16 cache of --dtype bf16 (kern_bscores, kern_bwsum;
# AVX-512 and portable paths), and fp32 by the per-key loops generation
# used before (e4258e5), one thread, process CPU time.  Prints a markdown
# section.  `make bench BENCH_ONLY=kvattn`; by hand:
# flock /tmp/bench.lock bash bench/kvattn/run.sh   (SECS=s per case, default 2)
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${SECS:-2}
BUILD=${BUILD:-build}
make -s -j2 quill >/dev/null
mkdir -p "$BUILD/bench"
arch=$([ "${PORTABLE:-0}" = 1 ] || echo -march=native)
gcc -std=c11 -D_GNU_SOURCE -O2 $arch -fopenmp -Icore -o "$BUILD/bench/kvattn" bench/kvattn/attn.c \
    $BUILD/core/kernels.o $BUILD/core/mm_bf16.o $BUILD/core/matmul.o $BUILD/core/pool.o \
    $BUILD/core/mem.o $BUILD/core/err.o -lm
rows=$(OMP_NUM_THREADS=1 "$BUILD/bench/kvattn" "$SECS" 2>/dev/null)
fp32=$(echo "$rows" | awk -F'|' '$1 == "fp32" {print $2}')
echo "## kvattn: decode attention over the KV cache, fp32 vs bf16"
echo
echo "One batch-64 decode step's attention products (6 layers x 64 sequences x 12"
echo "heads x 57 cached keys of 64; softmax excluded), one thread, ms of process CPU"
echo "time per step.  fp32: generation's kernels over an fp32 cache (the per-key loops:"
echo "kern_dot and kern_axpy per key and head, as up to e4258e5); bf16: --dtype bf16's"
echo "kernels over a cache of half the bytes."
echo
echo "| cache | ms per step | vs fp32 |"
echo "|---|---|---|"
echo "$rows" | awk -F'|' -v f="$fp32" '{printf "| %s | %.2f | %.2fx |\n", $1, $2, f / $2}'
