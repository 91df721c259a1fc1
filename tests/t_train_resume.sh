#!/bin/bash
# quill train killed with SIGKILL at random moments, several times, then run
# to the end: the exported weights equal an uninterrupted run's byte for
# byte, the store passes integrity_check after every kill, and Ctrl-C
# (SIGINT) saves a checkpoint, exits 130 and resumes the same way.
. "$ROOT/tests/lib.sh"
cd "$ROOT" # the bundled tokenizer (models/gpt2) for group
export QUILL_DB="$SCRATCH/none.db"
now() { date +%s.%N; }
frac() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a * b }'; }

head -c 12000 recipes/corpora/frankenstein.txt > "$SCRATCH/f.txt"
ARGS="--init n_layer=1,n_head=2,n_embd=16,n_positions=16 --max-steps 24 --batch-size 4
      --learning-rate 1e-3 --warmup-steps 3 --weight-decay 0.01 --save-steps 2
      --save-total-limit 2 --logging-steps 5 --quiet"
for db in ref kill int; do
    QUILL_DB="$SCRATCH/$db.db" $QUILL ingest "$SCRATCH/f.txt" >/dev/null 2>&1
    QUILL_DB="$SCRATCH/$db.db" $QUILL group --block-size 16 --eval-fraction 0.1 >/dev/null 2>&1
done

start=$(now)
check "uninterrupted run" env QUILL_DB="$SCRATCH/ref.db" $QUILL train $ARGS
dur=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
check "export uninterrupted" env QUILL_DB="$SCRATCH/ref.db" $QUILL export latest "$SCRATCH/ref"

seed=${KILL_SEED:-$RANDOM}
echo "# uninterrupted run ${dur}s, kill seed $seed"
RANDOM=$seed
killed=0
for i in 1 2 3 4 5; do
    QUILL_DB="$SCRATCH/kill.db" $QUILL train $ARGS >/dev/null 2>&1 &
    pid=$!
    # 5-50% of a whole run: most kills land mid-run, some before any checkpoint
    at=$(frac "$dur" "$((50 + RANDOM % 450))e-3")
    sleep "$at"
    kill -9 $pid 2>/dev/null && killed=$((killed + 1))
    echo "# kill $i after ${at}s: killed=$killed"
    wait $pid 2>/dev/null
    check "integrity after kill $i" test "$(sqlite3 "$SCRATCH/kill.db" 'PRAGMA integrity_check')" = ok
done
check "at least one kill landed mid-run ($killed)" test $killed -gt 0
check "resumed run finishes" env QUILL_DB="$SCRATCH/kill.db" $QUILL train $ARGS
check "export resumed" env QUILL_DB="$SCRATCH/kill.db" $QUILL export latest "$SCRATCH/kill"
check "weights identical after kills" cmp "$SCRATCH/ref/model.safetensors" "$SCRATCH/kill/model.safetensors"
check "save_total_limit kept 2 checkpoints" \
    test "$(sqlite3 "$SCRATCH/kill.db" 'SELECT count(*) FROM checkpoints')" = 2
# The ref run kept 2 of 12 checkpoints; the same run keeping all of them
# shows the pruned ones' space went back to the file system.
QUILL_DB="$SCRATCH/all.db" $QUILL ingest "$SCRATCH/f.txt" >/dev/null 2>&1
QUILL_DB="$SCRATCH/all.db" $QUILL group --block-size 16 --eval-fraction 0.1 >/dev/null 2>&1
QUILL_DB="$SCRATCH/all.db" $QUILL train ${ARGS/--save-total-limit 2/--save-total-limit 0} >/dev/null 2>&1
for db in ref all; do sqlite3 "$SCRATCH/$db.db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null; done
kept=$(stat -c %s "$SCRATCH/ref.db") all=$(stat -c %s "$SCRATCH/all.db")
check "pruning shrinks the store file ($kept vs $all bytes)" test $((kept * 3)) -lt "$all"
check "logs identical but for speed" test \
    "$(sqlite3 "$SCRATCH/kill.db" 'SELECT kind, step, loss, grad_norm FROM train_logs ORDER BY 1, 2')" = \
    "$(sqlite3 "$SCRATCH/ref.db" 'SELECT kind, step, loss, grad_norm FROM train_logs ORDER BY 1, 2')"
check "a finished run is not retrained" env QUILL_DB="$SCRATCH/kill.db" $QUILL train $ARGS

# SIGINT: stop at a step boundary with a checkpoint, exit 130, then resume
QUILL_DB="$SCRATCH/int.db" $QUILL train $ARGS >/dev/null 2>"$SCRATCH/int.err" &
pid=$!
sleep "$(frac "$dur" 0.33)"
kill -INT $pid
wait $pid
rc=$?
check "SIGINT exits 130 ($rc)" test $rc = 130
check "SIGINT says interrupted" grep -q "interrupted at step" "$SCRATCH/int.err"
check "SIGINT marks the run" test "$(sqlite3 "$SCRATCH/int.db" 'SELECT status FROM train_runs')" = interrupted
check "resume after SIGINT" env QUILL_DB="$SCRATCH/int.db" $QUILL train $ARGS
check "export after SIGINT" env QUILL_DB="$SCRATCH/int.db" $QUILL export latest "$SCRATCH/int"
check "weights identical after SIGINT" cmp "$SCRATCH/ref/model.safetensors" "$SCRATCH/int/model.safetensors"
expect_fail "no model source" "give one of --model" $QUILL train --max-steps 2
expect_fail "bad scheduler" "lr-scheduler 'step'" $QUILL train --init n_layer=1 --lr-scheduler step
expect_fail "bad init key" "unknown key 'layers'" $QUILL train --init layers=2
check "help" $QUILL train --help
summary
