#!/bin/bash
# bench/llama: quill against llama.cpp on the same model (issue 14).  A
# distilgpt2-shape model with GPT-2-initialised random weights (gguf.py random:
# no pretrained weights can be downloaded here; speed does not depend on
# them) is written as GGUF F32, BF16 and Q8_0 by gguf.py and run by
# llama.cpp's prebuilt CPU binaries from npm's node-llama-cpp 3.21.1
# (package-lock.json; installed with `npm ci` when missing, scripts off:
# nothing is built or downloaded).  Bench only: never part of the product or
# of make test.
# - greedy ids: 20 prompts, 20 new tokens, llama.cpp's against quill's
#   `generate --greedy` (same token ids in: quill's tokenizer)
# - tokens/s summed over the batch at batch 1, 8 and 64 (the first B of 64
#   distinct 7-word prompts from the book, 50 new tokens, top-k 50 sampling,
#   2 threads), wall time from the first prefill to the last token.
#   llama.cpp's best of node-llama-cpp's defaults and UV_THREADPOOL_SIZE=1
#   (with the defaults on 2 cores it can lose 2-3x to a spinning barrier).
#   quill beside it: fp32 and bf16, the same prompts, --ignore-eos --no-store.
# Needs node/npm and numpy (python3-numpy; installed when root).  Prints a
# markdown section.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B="$ROOT/bench/llama"
Q="$ROOT/quill"
PY=/usr/bin/python3
make -s -C "$ROOT" -j2 quill >/dev/null
if [ ! -d "$B/node_modules/@node-llama-cpp/linux-x64" ]; then
    (cd "$B" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --ignore-scripts --no-audit --no-fund >&2)
fi
if ! $PY -c 'import numpy' 2>/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "bench/llama needs numpy: apt-get install python3-numpy" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-numpy >&2
fi
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
export QUILL_DB="$W/q.db" QUILL_NO_PROGRESS=1 OMP_NUM_THREADS=2

# the model: distilgpt2's shape, GPT-2's random initialisation
$PY "$B/gguf.py" random m
for k in f32 bf16 q8_0; do $PY "$B/gguf.py" m "$ROOT/models/gpt2" "m-$k.gguf" "$k"; done

# 64 distinct 7-word prompts: the first seven words of the book's lines
# (past its title pages) that have at least seven
tail -n +200 "$ROOT/recipes/corpora/frankenstein.txt" |
    awk 'NF >= 7 { print $1, $2, $3, $4, $5, $6, $7 }' | awk '!seen[$0]++ && ++n <= 64' >prompts.txt
[ "$(wc -l <prompts.txt)" = 64 ]
while IFS= read -r p; do printf '%s' "$p" | "$Q" tokenize; done <prompts.txt >ids.txt
node_run() { (cd "$B" && node llama.mjs "$@"); }

# greedy ids, 20 prompts
head -n 20 prompts.txt >p20.txt
args=()
while IFS= read -r p; do args+=(--prompt "$p"); done <p20.txt
"$Q" generate --model m "${args[@]}" --greedy --max-new-tokens 20 --json --no-store 2>/dev/null |
    $PY -c 'import json, sys; [print(" ".join(map(str, json.loads(l)["ids"]))) for l in sys.stdin]' >quill-greedy.txt
head -n 20 ids.txt >ids20.txt
agree=()
for k in f32 bf16 q8_0; do
    node_run greedy "$W/m-$k.gguf" "$W/ids20.txt" 20 >"llama-$k.txt"
    agree+=("$(paste -d'|' quill-greedy.txt "llama-$k.txt" | awk -F'|' '$1 == $2' | wc -l)")
done

# speed
quill_tps() { # batch, extra flags -> tokens/s (median of 3)
    local b=$1 a=()
    shift
    while IFS= read -r p; do a+=(--prompt "$p"); done < <(head -n "$b" prompts.txt)
    for _ in 1 2 3; do
        "$Q" generate --model m "${a[@]}" --batch "$b" --max-new-tokens 50 --top-k 50 --ignore-eos \
            --no-store --stats "$@" 2>&1 >/dev/null | sed -nE 's/.* ([0-9.]+) tokens\/s.*/\1/p'
    done | sort -n | sed -n 2p
}
llama_tps() { # format, batch -> "best default uv1"
    local d u
    d=$(node_run speed "$W/m-$1.gguf" "$W/ids.txt" "$2" 50 2 | cut -d' ' -f3)
    u=$(UV_THREADPOOL_SIZE=1 node_run speed "$W/m-$1.gguf" "$W/ids.txt" "$2" 50 2 | cut -d' ' -f3)
    echo "$(printf '%s\n%s\n' "$d" "$u" | sort -n | tail -n 1) $d $u"
}
rows=()
for b in 1 8 64; do
    qf=$(quill_tps "$b")
    qb=$(quill_tps "$b" --dtype bf16)
    row="| $b | $qf | $qb |"
    best=0
    for k in f32 bf16 q8_0; do
        read -r l d u <<<"$(llama_tps "$k" "$b")"
        row="$row $l ($d / $u) |"
        best=$(printf '%s\n%s\n' "$best" "$l" | sort -n | tail -n 1)
    done
    qbest=$(printf '%s\n%s\n' "$qf" "$qb" | sort -n | tail -n 1)
    rows+=("$row $(printf "%.2f" "$(echo "scale=3; $qbest / $best" | bc)")x |")
done

echo "## llama: quill against llama.cpp (node-llama-cpp 3.21.1's prebuilt CPU binaries)"
echo
echo "distilgpt2 shape (6 layers, 768 wide, vocabulary 50257) with random GPT-2-initialised"
echo "weights (no pretrained weights can be downloaded here; the speed is the same), written"
echo "as GGUF by bench/llama/gguf.py.  2 threads; the first B of 64 distinct 7-word prompts from"
echo "the book (same token ids for both), 50 new tokens each, top-k 50 sampling; tokens/s"
echo "summed over the batch, prefill included.  quill: \`quill generate --batch B --ignore-eos"
echo "--no-store\`, median of 3.  llama.cpp: B sequences of one context (one decode per step),"
echo "best of 3 after a warm-up, for node-llama-cpp's defaults and for UV_THREADPOOL_SIZE=1;"
echo "the cell is the better of the two (defaults / UV_THREADPOOL_SIZE=1 in brackets)."
echo
echo "| batch | quill fp32 | quill bf16 | llama.cpp F32 | llama.cpp BF16 | llama.cpp Q8_0 | quill's best / llama.cpp's best |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "Greedy ids (20 prompts, 20 new tokens) equal to quill's \`generate --greedy\`:"
echo "F32 ${agree[0]}/20, BF16 ${agree[1]}/20, Q8_0 ${agree[2]}/20 (BF16 and Q8_0 round the"
echo "weights, so they may pick another token where two are close)."
echo
echo "GGUF sizes: F32 $(du -m m-f32.gguf | cut -f1) MB, BF16 $(du -m m-bf16.gguf | cut -f1) MB," \
    "Q8_0 $(du -m m-q8_0.gguf | cut -f1) MB."
