#!/bin/bash
# bench/ab.sh OLD NEW: an A/B of two quill binaries on the timed paths of
# `make bench` (generate at batch 1 and 8, with and without constraints; one
# epoch of the notebook's training job), interleaved OLD, NEW, OLD, NEW ... so
# that a drift of the machine hits both alike.  For a refactor that must not
# change speed: prints a markdown table of medians of REPS runs (default 3).
# Run it on an idle machine: flock /tmp/bench.lock bash bench/ab.sh OLD NEW
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: bench/ab.sh OLD_QUILL NEW_QUILL" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
A=$(realpath "$1") B=$(realpath "$2")
REPS=${REPS:-3}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export OMP_NUM_THREADS=2 QUILL_NO_PROGRESS=1
/usr/bin/python3 "$ROOT/bench/generate/ref.py" save "$W/m"
head -c 20000 "$ROOT/recipes/corpora/frankenstein.txt" >"$W/20k.txt"
PROMPT="The quick brown fox jumps over the lazy dog and"

gen() { # binary, batch, extra flags... -> tokens/s
    local q=$1 b=$2
    shift 2
    "$q" generate --model "$W/m" --prompt "$PROMPT" --num-return-sequences "$b" \
        --max-new-tokens 50 --ignore-eos --no-store --stats "$@" 2>&1 >/dev/null |
        sed -E 's/.* ([0-9.]+) tokens\/s.*/\1/'
}
train() { # binary -> training tokens/s over one epoch (from its logs)
    local q=$1 db="$W/t.db"
    rm -f "$db"*
    QUILL_DB=$db "$q" ingest "$W/20k.txt" >/dev/null 2>&1
    QUILL_DB=$db "$q" group --block-size 64 --mode lines >/dev/null 2>&1
    QUILL_DB=$db "$q" train --init n_layer=6,n_head=12,n_embd=768,n_positions=1024 --epochs 1 \
        --save-steps 0 --logging-steps 1 --quiet >/dev/null
    # each logged step's tokens / its tokens/s (the last batch is partial)
    sqlite3 "$db" "SELECT printf('%.0f', n * 64.0 / sum(min(8, n - (step - 1) * 8) * 64.0 / tokens_per_s))
        FROM train_logs, (SELECT n_train AS n FROM block_sets) WHERE kind = 'train'"
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

cases=("generate batch 1|gen @ 1" "generate batch 8|gen @ 8"
    "generate batch 8, constraints|gen @ 8 --banned-words night,day,was --forbid-chars e"
    "generate batch 8, bf16|gen @ 8 --dtype bf16" "train one epoch (tokens/s)|train @")
echo "| path | old | new | new / old |"
echo "|---|---|---|---|"
for c in "${cases[@]}"; do
    name=${c%%|*} cmd=${c#*|}
    : >"$W/a" && : >"$W/b"
    for _ in $(seq "$REPS"); do
        ${cmd/@/$A} >>"$W/a"
        ${cmd/@/$B} >>"$W/b"
    done
    a=$(median <"$W/a") b=$(median <"$W/b")
    echo "| $name | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }') |"
done
echo
echo "Load average after: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores."
