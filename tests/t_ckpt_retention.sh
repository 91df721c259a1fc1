#!/bin/bash
# Checkpoint retention: a run's older checkpoints lose their optimizer state
# when a newer one is saved (only the latest and pinned ones keep it, and
# the blobs are freed); `quill checkpoints pin/unpin`; `quill status` shows
# the store's size by kind without writing; `quill gc` shrinks the file,
# refuses while another process writes, and loses nothing: export, generate
# and a resume after it give the same results.
. "$ROOT/tests/lib.sh"
cd "$ROOT" # the bundled tokenizer (models/gpt2) for group
export QUILL_DB="$SCRATCH/q.db"
q() { sqlite3 "$QUILL_DB" "$1"; }

head -c 12000 recipes/corpora/frankenstein.txt > "$SCRATCH/f.txt"
$QUILL ingest "$SCRATCH/f.txt" >/dev/null 2>&1
$QUILL group --block-size 16 --eval-fraction 0.1 >/dev/null 2>&1
ARGS="--init n_layer=1,n_head=2,n_embd=16,n_positions=16 --max-steps 8 --batch-size 4
      --learning-rate 1e-3 --save-steps 2 --logging-steps 4 --quiet"
check "train with 4 saves" $QUILL train $ARGS
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
    $QUILL train --checkpoint 1 --max-steps 2 --batch-size 4 --save-steps 0 --quiet
check "the new run's checkpoint keeps its state" test \
    "$(q 'SELECT count(*) FROM checkpoints WHERE run_id = 2 AND state_blob IS NOT NULL')" = 1
check "integrity" test "$(q 'PRAGMA integrity_check')" = ok
check "foreign keys" test -z "$(q 'PRAGMA foreign_key_check')"

# status: the size by kind, read-only
sum0=$(sha1sum "$QUILL_DB")
$QUILL_ASAN status >"$SCRATCH/status.out" 2>&1
check "status shows the size by kind" grep -Eq '^store [0-9.]+ MiB: documents [0-9.]+ KiB, tokens [0-9.]+ KiB, blocks [0-9.]+ KiB, weights [0-9.]+ MiB, optimizer state [0-9.]+ MiB, outputs [0-9.]+ KiB, other [0-9.]+ KiB, free' "$SCRATCH/status.out"
check "status wrote nothing" test "$sum0" = "$(sha1sum "$QUILL_DB")"

# A store as an older quill left it: the state on an old checkpoint, and a
# blob nothing references.
q "INSERT INTO blobs(hash, raw_size, data) VALUES ('old state', 4000000, randomblob(4000000));
   UPDATE checkpoints SET state_blob = last_insert_rowid() WHERE id = 1;
   INSERT INTO blobs(hash, raw_size, data) VALUES ('orphan', 3000000, randomblob(3000000));"
$QUILL export latest "$SCRATCH/before" >/dev/null 2>&1
$QUILL generate --checkpoint 1 --prompt "The" --seed 1 --max-new-tokens 8 >"$SCRATCH/gen1" 2>/dev/null
size0=$(stat -c %s "$QUILL_DB")
# another process in a write transaction: gc refuses at once
(echo "BEGIN IMMEDIATE; INSERT INTO meta VALUES ('x', 'y');"; sleep 3; echo "ROLLBACK;") |
    sqlite3 "$QUILL_DB" & holder=$!
sleep 0.5
expect_fail "gc refuses while another process writes" "another quill process is writing" \
    $QUILL_ASAN gc
wait $holder
# a recipe run holding the store (a live process: this shell)
q "INSERT INTO recipe_runs(id, recipe_name, recipe_path, recipe_hash) VALUES (99, 'r', 'r', 'h');
   INSERT INTO run_locks(recipe_name, recipe_run_id, host, pid, start_time) VALUES
   ('r', 99, '$(hostname)', $$, $(awk '{print $22}' /proc/$$/stat))"
expect_fail "gc refuses during a recipe run" "recipe r is running" $QUILL_ASAN gc
q "DELETE FROM run_locks"
check "refused gc changed nothing" test "$(q 'SELECT count(*) FROM blobs WHERE hash = "orphan"')" = 1
check "gc" $QUILL_ASAN gc
grep -q "dropped the optimizer state of 1 checkpoints, deleted 1 other unused blobs" "$SCRATCH/.out" ||
    fail "gc reports what it did" "$(cat "$SCRATCH/.out")"
size1=$(stat -c %s "$QUILL_DB")
echo "# store file: $size0 bytes before gc, $size1 after"
check "gc shrinks the file by the 7 MB freed ($size0 -> $size1)" test $((size0 - size1)) -gt 6500000
check "integrity after gc" test "$(q 'PRAGMA integrity_check')" = ok
check "foreign keys after gc" test -z "$(q 'PRAGMA foreign_key_check')"
check "state kept by the latest and the pinned one" test \
    "$(q 'SELECT group_concat(id) FROM checkpoints WHERE state_blob IS NOT NULL')" = 4,5
check "export after gc" $QUILL export latest "$SCRATCH/after"
check "same weights after gc" cmp "$SCRATCH/before/model.safetensors" "$SCRATCH/after/model.safetensors"
check "generate after gc" sh -c "$QUILL generate --checkpoint 1 --prompt 'The' --seed 1 \
    --max-new-tokens 8 2>/dev/null | cmp - '$SCRATCH/gen1'"
check "gc again: nothing to do" $QUILL gc
check "usage error" test "$($QUILL gc x >/dev/null 2>&1; echo $?)" = 2

# resume after gc: a run stopped by SIGINT after its first checkpoints,
# gc, resumed: the same weights as an uninterrupted run
LONG="--init n_layer=1,n_head=2,n_embd=16,n_positions=16 --max-steps 60 --batch-size 4
      --learning-rate 1e-3 --save-steps 2 --logging-steps 10 --quiet"
for db in ref int; do
    QUILL_DB="$SCRATCH/$db.db" $QUILL ingest "$SCRATCH/f.txt" >/dev/null 2>&1
    QUILL_DB="$SCRATCH/$db.db" $QUILL group --block-size 16 --eval-fraction 0.1 >/dev/null 2>&1
done
QUILL_DB="$SCRATCH/ref.db" $QUILL train $LONG >/dev/null 2>&1
QUILL_DB="$SCRATCH/ref.db" $QUILL export latest "$SCRATCH/ref" >/dev/null 2>&1
QUILL_DB="$SCRATCH/int.db" $QUILL train $LONG >/dev/null 2>&1 & pid=$!
for _ in $(seq 200); do
    [ "$(sqlite3 "$SCRATCH/int.db" 'SELECT count(*) FROM checkpoints' 2>/dev/null)" -ge 2 ] 2>/dev/null && break
    sleep 0.02
done
kill -INT $pid; wait $pid
n=$(sqlite3 "$SCRATCH/int.db" 'SELECT count(*) FROM checkpoints')
check "stopped mid-run ($n checkpoints)" test "$(sqlite3 "$SCRATCH/int.db" 'SELECT status FROM train_runs')" = interrupted
check "gc on the stopped run" env QUILL_DB="$SCRATCH/int.db" $QUILL_ASAN gc
check "resume after gc" env QUILL_DB="$SCRATCH/int.db" $QUILL train $LONG
check "export resumed" env QUILL_DB="$SCRATCH/int.db" $QUILL export latest "$SCRATCH/int"
check "resumed weights identical" cmp "$SCRATCH/ref/model.safetensors" "$SCRATCH/int/model.safetensors"
summary
