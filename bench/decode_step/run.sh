#!/bin/bash
# bench/decode_step: the decode step alone (gpt_kv_step after a 7-token
# prefill: no tokenizer, no sampling), distilgpt2 shape with random weights,
# fp32 and bf16, batch 1 / 8 / 32 / 64, 1 and 2 threads: per-step process CPU
# time and wall time (best of ROUNDS rounds of STEPS steps) and the matmuls'
# GFLOP/s by wall.  With BASE_BUILD=dir (another tree's build/, `make` run
# there) the same program is linked against that tree's engine too and the
# two run interleaved, old then new, for an A/B of the step.
# `make bench BENCH_ONLY=decode_step`; by hand:
# flock /tmp/bench.lock bash bench/decode_step/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS=${STEPS:-10}
ROUNDS=${ROUNDS:-5}
. bench/engine_ab.sh
engine_bins bench/decode_step/step.c decode_step
echo "## decode_step: one decode step alone (gpt_kv_step), distilgpt2 shape"
echo
echo "Random weights prepared for generation, after a 7-token prefill; best of"
echo "$ROUNDS rounds of $STEPS steps; CPU = process CPU time per step (all threads),"
echo "GFLOP/s = the matmuls' 2 x (12 C^2 per layer + V C) per row over the wall time."
echo
echo "| build | dtype | batch | threads | CPU ms/step | wall ms/step | GFLOP/s |"
echo "|---|---|---|---|---|---|---|"
for dt in 0 1; do
    for b in 1 8 32 64; do
        for th in 1 2; do
            for i in "${!bins[@]}"; do
                r=$(OMP_NUM_THREADS=$th "${bins[$i]}" "$b" "$dt" "$STEPS" "$ROUNDS")
                echo "| ${names[$i]} | $(echo "$r" | field dtype) | $b | $th |" \
                    "$(echo "$r" | field cpu_ms) | $(echo "$r" | field wall_ms) |" \
                    "$(echo "$r" | field gflops) |"
            done
        done
    done
done
