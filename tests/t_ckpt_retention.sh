#!/bin/bash
# Checkpoint retention: a run's older checkpoints lose their optimizer state
# when a newer one is saved (only the latest and pinned ones keep it, and
# the blobs are freed); `quill checkpoints pin/unpin`.
. "$ROOT/tests/lib.sh"
cd "$ROOT" # the bundled tokenizer (models/gpt2) for group
export QUILL_DB="$SCRATCH/q.db"
q() { sqlite3 "$QUILL_DB" "$1"; }

head -c 12000 recipes/corpora/frankenstein.txt > "$SCRATCH/f.txt"
$QUILL ingest "$SCRATCH/f.txt" >/dev/null 2>&1
$QUILL group --block-size 16 --eval-fraction 0.1 >/dev/null 2>&1
ARGS="--init n_layer=1,n_head=2,n_embd=32,n_positions=16 --max-steps 8 --batch-size 4
      --learning-rate 1e-3 --save-steps 2 --logging-steps 4 --quiet"
check "train with 4 saves" $QUILL_ASAN train $ARGS
check "4 checkpoints kept" test "$(q 'SELECT count(*) FROM checkpoints')" = 4
check "only the latest keeps its state" test \
    "$(q 'SELECT group_concat(step) FROM checkpoints WHERE state_blob IS NOT NULL')" = 8
check "the dropped states' blobs are deleted" test "$(q 'SELECT count(*) FROM blobs WHERE id NOT IN
    (SELECT text_blob FROM documents UNION SELECT ids_blob FROM doc_tokens UNION
     SELECT train_blob FROM block_sets UNION SELECT eval_blob FROM block_sets WHERE eval_blob
     IS NOT NULL UNION SELECT tensors_blob FROM checkpoints UNION SELECT state_blob FROM
     checkpoints WHERE state_blob IS NOT NULL)')" = 0
check "checkpoints shows the state column" sh -c "$QUILL checkpoints | grep -E '^ +4 +1 +8 .* [0-9]+ +20'"
check "checkpoints --json has state_bytes and pinned" sh -c \
    "$QUILL checkpoints --json | head -1 | grep -q '\"state_bytes\":0,\"pinned\":false'"
check "pin the latest" $QUILL_ASAN checkpoints pin 4
check "pinned shows" sh -c "$QUILL checkpoints --json | tail -1 | grep -q '\"pinned\":true'"
expect_fail "pin a dropped one warns but pins" "no optimizer state" sh -c \
    "$QUILL_ASAN checkpoints pin 2 && false"
check "2 is pinned" test "$(q 'SELECT pinned FROM checkpoints WHERE id = 2')" = 1
expect_fail "pin a missing checkpoint" "checkpoint 99 does not exist" $QUILL checkpoints pin 99
expect_fail "pin needs an id" "need one checkpoint ID" $QUILL checkpoints pin
expect_fail "pin a bad id" "ID 'x'" $QUILL checkpoints unpin x
check "unpin the latest keeps its state" $QUILL_ASAN checkpoints unpin 4
check "state still on the latest" test \
    "$(q 'SELECT count(*) FROM checkpoints WHERE id = 4 AND state_blob IS NOT NULL')" = 1
check "a finished run is not retrained" $QUILL train $ARGS
check "fine-tune from an old checkpoint's weights (state not needed)" \
    $QUILL_ASAN train --checkpoint 1 --max-steps 2 --batch-size 4 --save-steps 0 --quiet
check "the new run's checkpoint keeps its state" test \
    "$(q 'SELECT count(*) FROM checkpoints WHERE run_id = 2 AND state_blob IS NOT NULL')" = 1
check "integrity" test "$(q 'PRAGMA integrity_check')" = ok
check "foreign keys" test -z "$(q 'PRAGMA foreign_key_check')"
summary
