#!/bin/bash
# bench/sample_step: one generation step's sampling alone (samp_seq_step on
# each row over the thread pool, as core/gen.c runs it: top_k 50 with the
# UTF-8 masks, with and without a lipogram and banned words), each step
# after a decode step of a distilgpt2-shape model with random weights so
# that the logits come from the forward as in generation.  Batch 64, 1 and
# 2 threads: per-step process CPU time and wall time of the sampling (best
# of ROUNDS rounds of STEPS steps).  With BASE_BUILD=dir (another tree's
# build/, `make` run there) the same program is built against that tree too
# and the two run interleaved, old then new.
# `make bench BENCH_ONLY=sample_step`; by hand:
# BASE_BUILD=/path/to/base/build flock /tmp/bench.lock bash bench/sample_step/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS=${STEPS:-20}
ROUNDS=${ROUNDS:-5}
. bench/engine_ab.sh
engine_bins bench/sample_step/step.c sample_step
echo "## sample_step: one step's sampling alone (batch 64, top_k 50)"
echo
echo "samp_seq_step on each of 64 rows over the thread pool after each decode"
echo "step (distilgpt2 shape, random weights, fp32); GPT-2 tokenizer's UTF-8"
echo "masks; constraints = the lipogram \"e\" and 10 banned words.  Best of $ROUNDS"
echo "rounds of $STEPS steps; CPU = process CPU time per step (all threads)."
echo
echo "| build | threads | constraints | CPU ms/step | wall ms/step |"
echo "|---|---|---|---|---|"
for th in 1 2; do
    for cons in 0 1; do
        for i in "${!bins[@]}"; do
            r=$(OMP_NUM_THREADS=$th "${bins[$i]}" 64 "$STEPS" "$ROUNDS" "$cons")
            echo "| ${names[$i]} | $th | $([ "$cons" = 1 ] && echo yes || echo no) |" \
                "$(echo "$r" | field cpu_ms) | $(echo "$r" | field wall_ms) |"
        done
    done
done
