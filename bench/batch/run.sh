#!/bin/bash
# bench/batch: generated tokens/s at large batches (issue 14), distilgpt2
# shape (random weights, 6 layers, 768 wide, 50257 tokens), distinct 7-word
# prompts from Frankenstein (as many as the batch; 4 at batch 1), 50 new
# tokens, top_k 50 sampling, EOS ignored, --no-store, 2 threads; PyTorch
# with a KV cache (bench/generate/ref.py: same weights, prompts of 10
# random tokens) in the same run.  Then the constraints' share of the step
# at batch 64 and a mixed-length bulk job (--prompts) against steady
# batch-64 decoding.  Prints a markdown section.
# BATCH_JOB_PROMPTS (default 2000) sizes the mixed-length job.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/bench/generate/lib.sh"
BOOK="$ROOT/recipes/corpora/frankenstein.txt"
# distinct 7-word prompts, one every STRIDE words of the book from word 1000 on
# (awk reads the whole book: a head closing the pipe early kills the
# pipeline with SIGPIPE under pipefail)
prompts() { # stride count
    tr -cs "A-Za-z'" '\n' <"$BOOK" | grep . | awk -v s="$1" -v n="$2" 'NR >= 1000 && (NR - 1000) % s < 7 {
        w = w (w ? " " : "") $0
        if ((NR - 1000) % s == 6) { if (!(w in seen) && c < n) { seen[w] = 1; print w; c++ } w = "" } }'
}
prompts 997 64 >"$W/prompts"
# matmul flops per token: 2 x (per layer 12 C^2, lm_head V C)
FLOPS=$(echo "2 * (6 * 12 * 768 * 768 + 50257 * 768)" | bc)
run() { # n_prompts batch flags... -> "tokens/s forward-seconds tokens cons-ms cons-share%"
    local n=$1 b=$2
    shift 2
    local args=()
    while IFS= read -r p; do args+=(--prompt "$p"); done < <(head -n "$n" "$W/prompts")
    "$Q" generate --model "$W/m" "${args[@]}" --batch "$b" --max-new-tokens 50 --ignore-eos \
        --no-store --stats "$@" 2>&1 >/dev/null |
        sed -E 's/.* ([0-9]+) tokens in .* s \(forward ([0-9.]+) s\), ([0-9.]+) tokens\/s; constraints ([0-9.]+) ms\/step \(([0-9.]+)%.*/\3 \2 \1 \4 \5/'
}
gflops() { echo "scale=0; $FLOPS * $2 / $1 / 1000000000" | bc; } # fwd-seconds tokens
echo "## batch"
echo
echo "distilgpt2 shape, distinct 7-word prompts from the book (as many as the batch, 4 at"
echo "batch 1), 50 new tokens, top_k 50 sampling, 2 threads; each figure the"
echo "median of 3 runs.  PyTorch (KV cache, OpenBLAS-openmp, OPENBLAS_CORETYPE=SkylakeX) prompts"
echo "of 10 tokens.  GFLOP/s: the matmuls' flops over the time inside the forward."
echo
echo "| batch | PyTorch KV cache tok/s | quill fp32 tok/s | speed-up | GFLOP/s | quill bf16 tok/s | speed-up | GFLOP/s |"
echo "|---|---|---|---|---|---|---|---|"
for b in 1 8 32 64; do
    n=$b
    [ "$b" = 1 ] && n=4
    ref=$(three ref_run "$b" 2)
    read -r plain pf pt _ _ <<<"$(three run "$n" "$b")"
    read -r half hf ht _ _ <<<"$(three run "$n" "$b" --dtype bf16)"
    echo "| $b | $ref | $plain | $(echo "scale=2; $plain / $ref" | bc)x | $(gflops "$pf" "$pt") |" \
        "$half | $(echo "scale=2; $half / $ref" | bc)x | $(gflops "$hf" "$ht") |"
done
# 1 000 banned words (the book's most frequent of 3 letters or more) and a
# lipogram, batch 64
words=$(tr -cs 'A-Za-z' '\n' <"$BOOK" | tr 'A-Z' 'a-z' | awk 'length($0) >= 3' | sort |
    uniq -c | sort -k1,1nr -k2 | awk 'NR <= 1000 {print $2}' | paste -sd, -)
# End to end, the constraints' cost is the time they add outside the
# forward (sampling under their ban included, which their own timer leaves
# out: top_k does part of their work), against the table's unconstrained
# batch-64 run of the same dtype; the forward's own run-to-run noise stays out.
declare -A unc=([float32]="$plain $pf $pt" [bf16]="$half $hf $ht")
for d in float32 bf16; do
    read -r tps fwd tok ms share <<<"$(three run 64 64 --dtype $d --banned-words "$words" --forbid-chars e)"
    read -r utps ufwd utok <<<"${unc[$d]}"
    echo
    echo "Constraints at batch 64 ($d, 1 000 banned words + --forbid-chars e): $tps tokens/s,"
    echo "$ms ms/step, $share% of the step by their timer; outside the forward, the step takes" \
        "$(printf %.2f "$(echo "scale=6; 1000 * ($tok / $tps - $fwd - $utok / $utps + $ufwd) / 50" | bc)")" \
        "ms more than unconstrained ($utps tokens/s):" \
        "$(printf %.1f "$(echo "scale=6; 100 * ($tok / $tps - $fwd - $utok / $utps + $ufwd) / ($tok / $tps)" | bc)")% of the step."
done
# The mixed-length job: every prompt 5 outputs, max_new_tokens 20..200
# (spread evenly), EOS allowed, batch 64, against steady decoding: 64
# prompts x 5 outputs of the mean length (110 new tokens) with EOS ignored.
echo
if ! "$Q" generate --help 2>&1 | grep -q -- '--prompts'; then
    echo "Mixed-length job: not run (this quill has no --prompts)."
    exit 0
fi
NP=${BATCH_JOB_PROMPTS:-2000}
prompts 30 "$NP" >"$W/many"
[ "$(wc -l <"$W/many")" = "$NP" ] || { echo "the book has fewer than $NP prompts" >&2; exit 1; }
/usr/bin/python3 - "$W/many" >"$W/job.jsonl" <<'PY'
import json, sys
for i, p in enumerate(open(sys.argv[1]).read().split("\n")[:-1]):
    print(json.dumps({"prompt": p, "num_return_sequences": 5, "max_new_tokens": 20 + (i * 37) % 181}))
PY
tps_of() { sed -E 's/.* ([0-9.]+) tokens\/s.*/\1/'; }
mixed=$("$Q" generate --model "$W/m" --prompts "$W/job.jsonl" --batch 64 --no-store --stats 2>&1 >/dev/null | tail -1 | tps_of)
args=()
while IFS= read -r p; do args+=(--prompt "$p"); done <"$W/prompts"
steady_run() {
    "$Q" generate --model "$W/m" "${args[@]}" --num-return-sequences 5 --batch 64 \
        --max-new-tokens 110 --ignore-eos --no-store --stats 2>&1 >/dev/null | tail -1 | tps_of
}
# the steady run lasts ~20 s against the job's ~10 minutes: a median of 3,
# so one slow or fast moment does not make the ratio
steady=$(three steady_run)
echo "Mixed-length job ($NP prompts x 5 outputs, max_new_tokens 20..200, EOS allowed, batch 64):"
echo "$mixed tokens/s against $steady steady (64 prompts x 5 outputs of 110 tokens, median of 3):"
echo "$(echo "scale=1; 100 * $mixed / $steady" | bc)% of steady."
