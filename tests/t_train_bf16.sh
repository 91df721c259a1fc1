#!/bin/bash
# quill train --bf16 and a recipe's train.bf16: mixed precision (every
# matrix product's inputs in bfloat16, fp32 sums; see gpt.h).  A small
# from-scratch run's bf16 loss curve stays within 1% (relative) of the fp32
# one at every logged step without equalling it; the run is its own run
# (a different identity, the flag recorded in its parameters); its weights
# are the same bits on 1 and 2 threads; Ctrl-C then a rerun gives the
# uninterrupted run's weights byte for byte; a recipe's train.bf16 trains
# in bf16, and switching it on makes `quill run` retrain instead of
# skipping.
. "$ROOT/tests/lib.sh"
cd "$ROOT" # the bundled tokenizer (models/gpt2) for group
export QUILL_DB="$SCRATCH/none.db"

head -c 16000 recipes/corpora/frankenstein.txt > "$SCRATCH/f.txt"
ARGS="--init n_layer=2,n_head=2,n_embd=32,n_positions=32 --max-steps 30 --batch-size 4
      --learning-rate 2e-3 --warmup-steps 3 --weight-decay 0.01 --save-steps 3
      --logging-steps 3 --seed 7 --quiet"
for db in fp32 bf16 t1 int; do
    QUILL_DB="$SCRATCH/$db.db" $QUILL ingest "$SCRATCH/f.txt" >/dev/null 2>&1
    QUILL_DB="$SCRATCH/$db.db" $QUILL group --block-size 32 --eval-fraction 0.1 >/dev/null 2>&1
done
losses() { sqlite3 "$SCRATCH/$1.db" "SELECT kind, step, loss FROM train_logs ORDER BY kind, step"; }

check "fp32 run" env QUILL_DB="$SCRATCH/fp32.db" $QUILL train $ARGS
check "bf16 run" env QUILL_DB="$SCRATCH/bf16.db" $QUILL train $ARGS --bf16
losses fp32 > "$SCRATCH/fp32.loss"
losses bf16 > "$SCRATCH/bf16.loss"
worst=$(paste -d'|' "$SCRATCH/fp32.loss" "$SCRATCH/bf16.loss" | awk -F'|' '
    $1 != $4 || $2 != $5 { print "mismatch"; exit }
    { d = ($6 - $3) / $3; d = d < 0 ? -d : d; if (d > w) w = d; n++ }
    END { if (n < 10) print "only " n; else printf "%.5f\n", w }')
echo "# bf16 vs fp32 loss, worst relative difference over the logged steps: $worst"
check "loss curves within 1% ($worst)" awk -v w="$worst" 'BEGIN { exit !(w + 0 == w && w <= 0.01) }'
check "bf16 is not fp32" test "$(cat "$SCRATCH/fp32.loss")" != "$(cat "$SCRATCH/bf16.loss")"
check "bf16 recorded with the run" test \
    "$(sqlite3 "$SCRATCH/bf16.db" "SELECT json_extract(params_json, '\$.bf16') FROM train_runs")" = 1
check "fp32 run's parameters have no bf16" test \
    "$(sqlite3 "$SCRATCH/fp32.db" "SELECT json_type(params_json, '\$.bf16') IS NULL FROM train_runs")" = 1
QUILL_DB="$SCRATCH/fp32.db" $QUILL train $ARGS --bf16 >/dev/null 2>"$SCRATCH/again.err"
check "--bf16 after an fp32 run is a new run" test \
    "$(sqlite3 "$SCRATCH/fp32.db" "SELECT count(*) FROM train_runs WHERE status = 'done'")" = 2

check "bf16 on 1 thread" env OMP_NUM_THREADS=1 QUILL_DB="$SCRATCH/t1.db" $QUILL train $ARGS --bf16
for db in bf16 t1; do QUILL_DB="$SCRATCH/$db.db" $QUILL export latest "$SCRATCH/$db" >/dev/null; done
check "same weights on 1 and 2 threads" cmp "$SCRATCH/bf16/model.safetensors" \
    "$SCRATCH/t1/model.safetensors"

# Ctrl-C once a few checkpoints are in, then the same command resumes
QUILL_DB="$SCRATCH/int.db" $QUILL train $ARGS --bf16 >/dev/null 2>"$SCRATCH/int.err" &
pid=$!
for _ in $(seq 600); do
    n=$(sqlite3 "$SCRATCH/int.db" "SELECT count(*) FROM checkpoints" 2>/dev/null || echo 0)
    [ "${n:-0}" -ge 2 ] && break
    sleep 0.05
done
kill -INT $pid
wait $pid
rc=$?
check "SIGINT exits 130 ($rc)" test $rc = 130
check "resumed bf16 run finishes" env QUILL_DB="$SCRATCH/int.db" $QUILL train $ARGS --bf16
QUILL_DB="$SCRATCH/int.db" $QUILL export latest "$SCRATCH/int" >/dev/null
check "resumed weights identical" cmp "$SCRATCH/bf16/model.safetensors" \
    "$SCRATCH/int/model.safetensors"
check "resumed logs identical" test "$(losses int)" = "$(losses bf16)"

# recipes: train.bf16
export QUILL_DB="$SCRATCH/r.db"
recipe() {
    cat <<YAML
name: mini
seed: 42
model:
  init: {n_layer: 1, n_head: 2, n_embd: 16, n_positions: 32}
ingest:
  paths: [$SCRATCH/f.txt]
group: {block_size: 32}
train:
  max_steps: 6
  batch_size: 4
  logging_steps: 3
$1
YAML
}
recipe "" > "$SCRATCH/fp32.yaml"
recipe "  bf16: true" > "$SCRATCH/bf16.yaml"
recipe "  bf16: false" > "$SCRATCH/off.yaml"
check "recipe in fp32" $QUILL run "$SCRATCH/fp32.yaml"
$QUILL run "$SCRATCH/off.yaml" > "$SCRATCH/off.txt" 2>&1
check "bf16: false is the fp32 recipe (skipped)" grep -q "train: unchanged, skipping" "$SCRATCH/off.txt"
$QUILL run "$SCRATCH/bf16.yaml" > "$SCRATCH/on.txt" 2>&1
check "bf16: true retrains" test "$(grep -c "train: unchanged" "$SCRATCH/on.txt")" = 0
check "recipe's bf16 run recorded" test "$(sqlite3 "$QUILL_DB" \
    "SELECT count(*) FROM train_runs WHERE json_extract(params_json, '\$.bf16') = 1")" = 1
expect_fail "bf16 must be a boolean" "bf16" $QUILL run /dev/stdin <<<"$(recipe "  bf16: maybe")"
summary
