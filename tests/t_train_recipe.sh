#!/bin/bash
# The recipe runner's train stage (run_train): a recipe with model.init
# trains on the group stage's block set, exports its final model (which
# `quill import` reads back), feeds generate, and a rerun skips it.
. "$ROOT/tests/lib.sh"
export QUILL_DB="$SCRATCH/q.db"
cat > mini.yaml <<YAML
name: mini
seed: 42
model:
  init: {n_layer: 1, n_head: 2, n_embd: 16, n_positions: 32}
ingest:
  paths: [$ROOT/recipes/corpora/frankenstein.txt]
  max_chars: 6000
group: {block_size: 32}
train:
  max_steps: 12
  batch_size: 4
  learning_rate: 1.0e-3
  logging_steps: 4
  save_steps: 5
  export: $SCRATCH/out
generate:
  - prompts: ["It was"]
    max_new_tokens: 10
YAML
cd "$ROOT"
check "recipe with a train stage" $QUILL run "$SCRATCH/mini.yaml"
check "train logged every 4 steps" test \
    "$(sqlite3 "$QUILL_DB" "SELECT group_concat(step) FROM train_logs WHERE kind = 'train'")" = 4,8,12
check "checkpoints at 5, 10 and the end" test \
    "$(sqlite3 "$QUILL_DB" "SELECT group_concat(step) FROM checkpoints WHERE run_id = 1")" = 5,10,12
check "run done" test "$(sqlite3 "$QUILL_DB" "SELECT status FROM train_runs")" = done
check "exported model imports" $QUILL import "$SCRATCH/out"
check "generate used the trained checkpoint" test \
    "$(sqlite3 "$QUILL_DB" "SELECT count(*) FROM outputs")" -ge 1
$QUILL run "$SCRATCH/mini.yaml" > "$SCRATCH/rerun.txt" 2>&1
check "rerun skips train" grep -q "train: unchanged, skipping" "$SCRATCH/rerun.txt"
summary
