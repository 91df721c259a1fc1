#!/bin/bash
# bench/train: the notebook's fine-tuning job end to end through `quill
# train` — distilgpt2's shape (6 layers, 12 heads, 768 wide, 1024
# positions, vocabulary 50257), the first 20 000 characters of Frankenstein
# loaded as datasets' 'text' does (lines mode), blocks of 64, batch 8, one
# epoch, Trainer's defaults — against the PyTorch reference
# (bench/train_step/torch_ref.py, at its best: OpenBLAS-openmp,
# OPENBLAS_CORETYPE=SkylakeX, 2 threads) running the same number of steps.
# The model is GPT-2-initialised from the config (distilgpt2's weights are not
# available offline; the compute is the same).  Also the checkpoint's size in
# the store (byte-plane fp32 + zstd; AdamW state) against raw fp32.
# Prints a markdown section.  `make bench` runs it under /tmp/bench.lock; by
# hand: flock /tmp/bench.lock bash bench/train/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/torch_env.sh
ROOT=$PWD
make -s -j2 quill >/dev/null
Q="$ROOT/quill"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export QUILL_DB="$W/q.db" QUILL_NO_PROGRESS=1
# the notebook: open(...).read()[:20000] (characters, universal newlines)
/usr/bin/python3 -c "import sys; open(sys.argv[2], 'w').write(open(sys.argv[1], encoding='utf-8').read()[:20000])" \
    recipes/corpora/frankenstein.txt "$W/84-0-20k.txt" 2>/dev/null ||
    head -c 20000 recipes/corpora/frankenstein.txt >"$W/84-0-20k.txt"
"$Q" ingest "$W/84-0-20k.txt" >/dev/null 2>&1
"$Q" group --block-size 64 --mode lines >/dev/null 2>&1
blocks=$(sqlite3 "$QUILL_DB" "SELECT n_train FROM block_sets")
steps=$(( (blocks + 7) / 8 ))
tokens=$(( blocks * 64 ))
field() { sed -E "s/.* $1=([^ ]+).*/\1/"; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$(date +%s.%N)
"$Q" train --init n_layer=6,n_head=12,n_embd=768,n_positions=1024 --epochs 1 --save-steps 0 \
    --logging-steps 1 --quiet >/dev/null
t1=$(date +%s.%N)
wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
# each logged step's tokens / its tokens/s (the last batch is partial)
train_s=$(sqlite3 "$QUILL_DB" "SELECT sum(min(8, $blocks - (step - 1) * 8) * 64.0 / tokens_per_s)
    FROM train_logs WHERE kind = 'train'")
q_tps=$(awk -v t="$tokens" -v s="$train_s" 'BEGIN { printf "%.0f", t / s }')
loss=$(sqlite3 "$QUILL_DB" "SELECT printf('%.3f', avg(loss)) FROM train_logs WHERE kind = 'train'")
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    t=$(env $TORCH_ENV /usr/bin/python3 bench/train_step/torch_ref.py 2 "$steps")
    t_tps=$(echo "$t" | field tokens_per_s)
    t_epoch=$(awk -v s="$(echo "$t" | field step_s)" -v n="$steps" 'BEGIN { printf "%.1f", s * n }')
else
    t_tps=n/a t_epoch=n/a
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
read -r n tz sz < <(sqlite3 -separator ' ' "$QUILL_DB" "SELECT c.n_params, length(t.data), length(s.data)
    FROM checkpoints c JOIN blobs t ON t.id = c.tensors_blob JOIN blobs s ON s.id = c.state_blob")
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }

echo "## train: the notebook's fine-tuning job (distilgpt2 shape, Frankenstein 20k chars)"
echo
echo "$blocks blocks of 64 tokens (lines mode, as datasets' 'text'), batch 8, one epoch = $steps"
echo "optimizer steps (the notebook's Trainer: 67 examples, 9 steps), dropout 0.1, Trainer defaults."
echo "quill: \`quill train\` end to end (training time from its logs; wall includes loading, init"
echo "and the final checkpoint).  PyTorch: bench/train_step/torch_ref.py, $steps steps of 8 x 64"
echo "on 2 threads (OpenBLAS-openmp, SkylakeX kernels)."
echo
echo "| | tokens/s | time per epoch |"
echo "|---|---|---|"
echo "| quill (2 threads, out of the box) | $q_tps | $(awk -v s="$train_s" 'BEGIN { printf "%.1f", s }') s (wall $wall s) |"
echo "| PyTorch reference | $t_tps | $t_epoch s |"
echo
echo "Mean training loss over the epoch: $loss (from GPT-2 init; the notebook's"
echo "pretrained distilgpt2 reports 4.91)."
echo
echo "Checkpoint in the store: parameters $(mb "$tz") for $n fp32 parameters ($(mb $((n * 4))) raw,"
echo "$(awk -v a="$tz" -v b=$((n * 4)) 'BEGIN { printf "%.0f%%", 100 * a / b }')); training state (AdamW moments + step, rng, position) $(mb "$sz")"
echo "($(mb $((n * 8))) raw).  Freshly initialised weights compress less than trained ones."
echo
echo "Load average before / after: $load_before / $load_after on $(nproc) cores$(awk -v l="${load_before%% *}" -v n="$(nproc)" 'BEGIN { if (l + 0 > n * 0.5) print " (other jobs were running: numbers are indicative)" }')."
