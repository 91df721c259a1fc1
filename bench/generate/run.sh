#!/bin/bash
# bench/generate: generated tokens/s for the distilgpt2 shape (6 layers, 768
# wide, 50257 tokens), prompt of 10 tokens, 50 new tokens (top_k 50
# sampling, EOS ignored so every output has 50), batch 1 and 8, with and
# without constraints (banned words "night,day,was" + lipogram "e"), on 2
# threads, against PyTorch with a KV cache (ref.py, same weights) in the same
# run; quill also with --dtype bf16 (weights and
# the products' inputs in bfloat16, sums in fp32: core/mm_bf16.h).
# Prints a markdown section.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/bench/generate/lib.sh"
PROMPT="The quick brown fox jumps over the lazy dog and"  # 10 tokens
run() { # batch, extra flags... -> "tokens/s constraint-share%"
    local b=$1
    shift
    "$Q" generate --model "$W/m" --prompt "$PROMPT" --num-return-sequences "$b" \
        --max-new-tokens 50 --ignore-eos --no-store --stats "$@" 2>&1 >/dev/null |
        sed -E 's/.* ([0-9.]+) tokens\/s; constraints ([0-9.]+) ms\/step \(([0-9.]+)%.*/\1 \2 \3/'
}
echo "## generate"
echo
echo "distilgpt2 shape, prompt 10 tokens, 50 new tokens, top_k 50 sampling, 2 threads;"
echo "each figure the median of 3 runs.  PyTorch with OpenBLAS-openmp and bench/torch_env.sh (OPENBLAS_CORETYPE=SkylakeX, malloc keeping freed memory)."
echo "Constraints: --banned-words night,day,was --forbid-chars e."
echo "Batch 8 is one prompt with 8 return sequences: quill computes the prompt once and copies"
echo "its keys and values to the other 7 (transformers' generate, like ref.py, prefills it 8 times)."
echo
echo "| batch | PyTorch KV cache tok/s | quill fp32 tok/s | speed-up | quill bf16 tok/s | speed-up | quill fp32 + constraints tok/s | constraint ms/step | share of step |"
echo "|---|---|---|---|---|---|---|---|---|"
for b in 1 8; do
    ref=$(three ref_run "$b" 2)
    read -r plain _ _ <<<"$(three run "$b")"
    read -r half _ _ <<<"$(three run "$b" --dtype bf16)"
    read -r cons ms share <<<"$(three run "$b" --banned-words night,day,was --forbid-chars e)"
    echo "| $b | $ref | $plain | $(echo "scale=2; $plain / $ref" | bc)x | $half |" \
        "$(echo "scale=2; $half / $ref" | bc)x | $cons | $ms | $share% |"
done
# 1 000 banned words: the most frequent words of Frankenstein (3 letters or
# more), so the automaton is busy
words=$(tr -cs 'A-Za-z' '\n' <"$ROOT/recipes/corpora/frankenstein.txt" | tr 'A-Z' 'a-z' |
    awk 'length($0) >= 3' | sort | uniq -c | sort -k1,1nr -k2 | awk 'NR <= 1000 {print $2}' |
    paste -sd, -)
read -r many ms share <<<"$(three run 8 --banned-words "$words")"
echo
echo "With 1 000 banned words (the book's most frequent words of 3 letters or more), batch 8:"
echo "$many tokens/s, constraints $ms ms/step ($share% of the step)."
# Poetic forms (issue 16), batch 8: the form's masks per step (time holding
# the form's lock: its work, serialised) and their share of the whole step
# (forward, sampling and masks).  8 outputs: one batch, every mask computed
# cold (the outputs complete in ~20 tokens); 64 outputs: 8 batches of 8
# sharing the form's mask cache, as a recipe's or a test's job does.
form_run() { # n, form flags... -> "ms/step share%"
    local n=$1
    shift
    "$Q" generate --model "$W/m" --prompt "$PROMPT" --num-return-sequences "$n" --batch 8 \
        --max-new-tokens 50 --no-store --stats "$@" 2>&1 >/dev/null |
        sed -E 's/.* in ([0-9]+) steps, ([0-9.]+) s .*; form ([0-9.]+) ms\/step.*/\3 \1 \2/' |
        awk '{ printf "%s %.1f\n", $1, 100 * $1 / (1000 * $3 / $2) }'
}
echo
for f in "8 --form haiku" "64 --form haiku" "64 --syllables 8,8,8,8 --rhyme ABAB"; do
    read -r fms fshare <<<"$(three form_run $f)"
    echo "Form ${f#* } with ${f%% *} outputs, batch 8: the form's masks $fms ms/step ($fshare% of the step)."
done
# The form's set-up before the first step: the dictionary opened (linked in
# at build time) and its trie walked against the 50,257 tokens.
setup_ms() {
    "$Q" generate --model "$W/m" --prompt "$PROMPT" --form haiku --max-new-tokens 1 --no-store \
        --stats 2>&1 >/dev/null | sed -nE 's/.*set up in ([0-9.]+) ms.*/\1/p'
}
echo
echo "--form haiku set up (the dictionary opened, its words walked into the job's trie, masks and token trie built): $(three setup_ms) ms."
