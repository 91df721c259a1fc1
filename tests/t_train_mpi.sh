#!/bin/bash
# Data-parallel training under mpirun: W processes with grad_accum 1 end
# with the weights and logs of one process accumulating W micro-batches,
# byte for byte; Ctrl-C stops every process at the same step with a
# checkpoint and the run resumes to the same bytes; commands other than
# train, and a failure of process 0, end the whole job with a clear error.
. "$ROOT/tests/lib.sh"
cd "$ROOT" # the bundled tokenizer (models/gpt2) for group
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 # 3 processes on 2 cores
unset OMP_NUM_THREADS                      # quill shares the cores out itself
MPI="timeout 120 mpirun -np"

head -c 12000 recipes/corpora/frankenstein.txt >"$SCRATCH/f.txt"
ARGS="--init n_layer=1,n_head=2,n_embd=16,n_positions=16 --batch-size 4 --learning-rate 1e-3
      --warmup-steps 3 --weight-decay 0.01 --save-steps 4 --logging-steps 2 --quiet"
for db in one1 one2 one3 two three int; do
    QUILL_DB="$SCRATCH/$db.db" $QUILL ingest "$SCRATCH/f.txt" >/dev/null 2>&1
    QUILL_DB="$SCRATCH/$db.db" $QUILL group --block-size 16 --eval-fraction 0.1 >/dev/null 2>&1
done
logs() { sqlite3 "$SCRATCH/$1.db" "SELECT step, loss, grad_norm FROM train_logs WHERE kind = 'train' ORDER BY step"; }
evals() { sqlite3 "$SCRATCH/$1.db" "SELECT step, loss FROM train_logs WHERE kind = 'eval' ORDER BY step"; }
export_to() { QUILL_DB="$SCRATCH/$1.db" $QUILL export latest "$SCRATCH/$1" >/dev/null 2>&1; }

# reference: one process accumulating 2 (then 3) micro-batches a step
check "one process, 2 micro-batches a step" env QUILL_DB="$SCRATCH/one2.db" $QUILL train $ARGS \
    --max-steps 16 --gradient-accumulation-steps 2
check "two processes, 1 micro-batch each" env QUILL_DB="$SCRATCH/two.db" $MPI 2 $QUILL train $ARGS \
    --max-steps 16
export_to one2
export_to two
check "weights identical (2 processes)" cmp "$SCRATCH/one2/model.safetensors" "$SCRATCH/two/model.safetensors"
check "training logs identical (2 processes)" test "$(logs one2)" = "$(logs two)"
check "logs are there" test "$(logs two | wc -l)" -ge 8
e1=$(evals one2) e2=$(evals two)
check "eval loss equal to 1e-9" awk -v a="${e1##*|}" -v b="${e2##*|}" \
    'BEGIN { d = a - b; exit !(a > 0 && (d < 0 ? -d : d) <= 1e-9 * a) }'
check "the run records its processes" \
    sh -c "sqlite3 '$SCRATCH/two.db' 'SELECT params_json FROM train_runs' | grep -q '\"processes\":2'"

check "one process, 3 micro-batches a step" env QUILL_DB="$SCRATCH/one3.db" $QUILL train $ARGS \
    --max-steps 10 --gradient-accumulation-steps 3
check "three processes" env QUILL_DB="$SCRATCH/three.db" $MPI 3 $QUILL train $ARGS --max-steps 10
export_to one3
export_to three
check "weights identical (3 processes)" cmp "$SCRATCH/one3/model.safetensors" "$SCRATCH/three/model.safetensors"
check "training logs identical (3 processes)" test "$(logs one3)" = "$(logs three)"

# Ctrl-C: mpirun passes SIGINT on; every process stops at the same step
LONG="$ARGS --max-steps 150 --save-steps 2 --save-total-limit 2"
QUILL_DB="$SCRATCH/one1.db" $QUILL train $LONG --gradient-accumulation-steps 2 >/dev/null 2>&1
export_to one1
mpirun -np 2 $QUILL --db "$SCRATCH/int.db" train $LONG >/dev/null 2>"$SCRATCH/int.err" &
pid=$!
for _ in $(seq 100); do # until a few steps are logged
    n=$(sqlite3 "$SCRATCH/int.db" "SELECT count(*) FROM train_logs" 2>/dev/null || echo 0)
    [ "${n:-0}" -ge 3 ] && break
    sleep 0.1
done
kill -INT $pid
wait $pid
rc=$?
check "interrupted job exits non-zero ($rc)" test $rc -ne 0
status=$(sqlite3 "$SCRATCH/int.db" "SELECT status FROM train_runs")
check "the run is marked interrupted ($status)" test "$status" = interrupted
check "no process left behind" sh -c "! pgrep -f '$SCRATCH/[i]nt.db' >/dev/null"
check "integrity after the interrupt" test "$(sqlite3 "$SCRATCH/int.db" 'PRAGMA integrity_check')" = ok
check "resumed job finishes" env QUILL_DB="$SCRATCH/int.db" $MPI 2 $QUILL train $LONG
export_to int
check "weights identical after the interrupt" cmp "$SCRATCH/one1/model.safetensors" "$SCRATCH/int/model.safetensors"

# errors end the whole job and leave the store alone
runs=$(sqlite3 "$SCRATCH/two.db" "SELECT count(*) FROM train_runs")
expect_fail "only train, generate and run run on several processes" "only .quill train., .quill generate. and .quill run. run on several processes" \
    env QUILL_DB="$SCRATCH/two.db" $MPI 2 $QUILL ingest "$SCRATCH/f.txt"
expect_fail "process 0's error ends every process" "checkpoint 999 does not exist" \
    env QUILL_DB="$SCRATCH/two.db" $MPI 2 $QUILL train --checkpoint 999 --quiet
check "no run added by the failures" \
    test "$(sqlite3 "$SCRATCH/two.db" "SELECT count(*) FROM train_runs")" = "$runs"
check "integrity after the failures" test "$(sqlite3 "$SCRATCH/two.db" 'PRAGMA integrity_check')" = ok
summary
