#!/bin/bash
# Bulk generation across processes (issue 14): `mpirun -np N quill generate
# --prompts FILE` stores exactly the rows one process stores (ids, seeds,
# texts, token ids, parameters), for N = 1, 2, 3, and so does a recipe's
# generate stage under mpirun (resumed too); a worker killed midway
# ends the job with a clear error and a non-zero exit, and the job run
# again resumes to the same rows; a bad prompts file is refused once.
. "$ROOT/tests/lib.sh"
unset QUILL_DB
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 # 3 processes on 2 cores
unset OMP_NUM_THREADS                      # quill shares the cores out itself
MPI="timeout 120 mpirun -np"
sql() { sqlite3 "$@"; }

tiny_model m || exit 1
python3 - >job.jsonl <<'EOF'
import json
for i in range(24):
    r = {"prompt": ["It was", "The sea was", "I", "It was "][i % 4] + " row %d" % (i % 5),
         "max_new_tokens": [3, 30, 11, 1, 20][i % 5], "num_return_sequences": 1 + i % 3}
    if i % 4 == 1: r["temperature"] = 0.7
    if i % 5 == 4: r["seed"] = i
    if i % 7 == 5: r["forbid_chars"] = "a"
    if i % 3 == 0: r["meta"] = {"row": i}
    print(json.dumps(r))
EOF
rows() { sql "$1" "SELECT id, identity, seed, prompt, continuation, text, ids_json, params_json, finish_reason, status FROM outputs ORDER BY id"; }
new_store one.db
"$QUILL" --db one.db generate --model m --prompts job.jsonl --batch 5 >one.out 2>/dev/null
check "one process: 48 outputs" [ "$(sql one.db 'SELECT count(*) FROM outputs')" = 48 ]
for n in 1 2 3; do
    new_store np$n.db
    check "mpirun -np $n runs" $MPI $n "$QUILL" --db np$n.db generate --model m \
        --prompts job.jsonl --batch 5
    check "mpirun -np $n: the stored rows are one process's, byte for byte" \
        [ "$(rows np$n.db | md5sum)" = "$(rows one.db | md5sum)" ]
done
$MPI 3 "$QUILL" generate --model m --prompts job.jsonl --batch 5 --no-store >np3.out 2>np3.err
check "mpirun -np 3 --no-store: process 0 prints one's outputs in order" cmp one.out np3.out
check "one summary line (process 0 only)" [ "$(grep -c '^generate: 48 outputs' np3.err)" = 1 ]

# a worker killed midway: a clear error, non-zero exit; the job resumes
python3 -c '
for i in range(300): print("{\"prompt\": \"Line %d\", \"num_return_sequences\": 2, \"max_new_tokens\": %d}" % (i, 2 + i * 7 % 30))' >long.jsonl
new_store ref.db
"$QUILL" --db ref.db generate --model m --prompts long.jsonl --batch 16 >/dev/null 2>&1
new_store k.db
# --batch 2 (the outputs do not depend on it): the job spans several of the
# writer's 200 ms commits, so process 1 is killed with it midway
mpirun -np 2 "$QUILL" --db "$SCRATCH/k.db" generate --model m --prompts long.jsonl --batch 2 \
    >/dev/null 2>k.err &
mpid=$!
killed=
for _ in $(seq 200); do # once some outputs are stored, kill process 1
    n=$(sql k.db "SELECT count(*) FROM outputs" 2>/dev/null || echo 0)
    if [ "${n:-0}" -ge 20 ]; then
        for p in $(pgrep -f "$SCRATCH/[k].db generate"); do
            if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1; then
                kill -9 "$p" && killed=$p
            fi
        done
        break
    fi
    sleep 0.05
done
wait $mpid
rc=$?
stored=$(sql k.db "SELECT count(*) FROM outputs")
echo "# killed process 1 ($killed) with $stored of 600 outputs stored, exit $rc"
check "process 1 was killed midway" [ -n "$killed" ]
check "the job exits non-zero" [ "$rc" != 0 ]
check "mpirun names the dead process" grep -Eqi "rank 1|process.*(exited|killed|signal)" k.err
check "no process left behind" sh -c "! pgrep -f '$SCRATCH/[k].db generate' >/dev/null"
check "store intact" [ "$(sql k.db 'PRAGMA integrity_check')" = ok ]
check "resumed under mpirun -np 2" $MPI 2 "$QUILL" --db k.db generate --model m \
    --prompts long.jsonl --batch 16
check "resumed job: the rows of an uninterrupted single process" \
    [ "$(rows k.db | md5sum)" = "$(rows ref.db | md5sum)" ]

# a recipe's generate stage under mpirun (prompts_file relative to the recipe)
prompts_recipe job.jsonl '{prompts: ["Once", "The"], num_return_sequences: 3, max_new_tokens: 5}'
"$QUILL" --db rone.db run rc/r.yaml >/dev/null 2>&1
check "recipe, one process: 54 outputs" [ "$(sql rone.db 'SELECT count(*) FROM outputs')" = 54 ]
for n in 2 3; do
    check "recipe under mpirun -np $n" $MPI $n "$QUILL" --db r$n.db run rc/r.yaml
    check "recipe under mpirun -np $n: one process's rows" \
        [ "$(rows r$n.db | md5sum)" = "$(rows rone.db | md5sum)" ]
done
check "recipe under mpirun, run again: the stage is skipped, every process ends" \
    $MPI 2 "$QUILL" --db r2.db run rc/r.yaml
sql r2.db "DELETE FROM outputs WHERE id > 20"
check "recipe under mpirun, --force generate: resumes" \
    $MPI 2 "$QUILL" --db r2.db run rc/r.yaml --force generate
check "recipe under mpirun resumed: one process's rows" \
    [ "$(rows r2.db | md5sum)" = "$(rows rone.db | md5sum)" ]

printf '{"prompt": "ok"}\n{"prompt": 1}\n' >bad.jsonl
$MPI 2 "$QUILL" generate --model m --prompts bad.jsonl --no-store >bad.out 2>&1
check "bad prompts file under mpirun: non-zero exit" [ $? != 0 ]
check "bad prompts file: the line reported once" [ "$(grep -c 'bad.jsonl:2: prompt must be a string' bad.out)" = 1 ]
check "mpirun refuses other commands still" sh -c "! $MPI 2 '$QUILL' --db one.db status >/dev/null 2>&1"

summary
