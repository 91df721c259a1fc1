#!/bin/bash
# Every stage writes in one transaction: a failure forced at its last write
# (a trigger that aborts) must leave the store exactly as it was (.dump
# before and after, integrity_check), print "quill: ..." with the reason and
# exit non-zero.
# Covers ingest, import, group, review, publish and a recipe run.
. "$ROOT/tests/lib.sh"

# wait for a closing quill's checkpoint instead of failing with "locked"
sqlite3() { command sqlite3 -cmd ".timeout 5000" "$@"; }
DB=$SCRATCH/txn.db
Q() { "$QUILL_ASAN" --db "$DB" "$@"; }
sql() { sqlite3 "$DB" "$@"; }

printf 'It was a dark and stormy night; the rain fell in torrents.\n' >a.txt
printf 'Call me Ishmael. Some years ago, never mind how long precisely.\n' >b.txt
printf 'Happy families are all alike; every unhappy family is unhappy.\n' >c.txt
check "setup: ingest" Q ingest a.txt
check "setup: group" Q group --block-size 4
for i in 1 2 3; do
    sql "INSERT INTO outputs (id, recipe_name, model_source, prompt, continuation, text, ids_json,
         params_json, seed, finish_reason) VALUES ($i, 'r', 'models/gpt2', 'P$i', ' c$i', 'P$i c$i',
         '[1]', '{}', $i, 'length')"
done
check "setup: approve 3" Q review approve 3 --reviewer alice

# forced NAME TABLE EVENT WHEN CMD...: with a trigger aborting EVENT on TABLE
# (when WHEN holds), CMD fails cleanly and the store is unchanged.
forced() {
    local name=$1 table=$2 event=$3 when=$4; shift 4
    sql "CREATE TRIGGER forced BEFORE $event ON $table WHEN $when
         BEGIN SELECT RAISE(ABORT, 'forced failure'); END"
    local before
    before=$(sql .dump)
    "$QUILL_ASAN" --db "$DB" "$@" </dev/null >"$SCRATCH/.o" 2>"$SCRATCH/.e"
    local rc=$?
    if [ $rc -eq 0 ]; then fail "$name" "exited 0"
    elif ! grep -q '^quill: .*forced failure' "$SCRATCH/.e"; then
        fail "$name" "no 'quill: ...' message with SQLite's reason"
    elif grep -Eq 'runtime error|AddressSanitizer|LeakSanitizer' "$SCRATCH/.e"; then
        fail "$name" "sanitizer report"
    elif [ "$(sql .dump)" != "$before" ]; then fail "$name" "store changed"
    elif [ "$(sql 'PRAGMA integrity_check')" != ok ]; then fail "$name" "integrity_check"
    else pass "$name"; fi
    sed 's/^/  | /' "$SCRATCH/.e" | head -3
    sql "DROP TRIGGER forced"
}

# the last of three documents fails: the first two must not stay
forced "ingest: third document fails" documents INSERT "NEW.source LIKE '%c.txt'" \
    ingest a.txt b.txt c.txt
forced "ingest: a folder's last file fails" documents INSERT "NEW.source LIKE '%c.txt'" \
    ingest "$SCRATCH"
forced "import: naming the checkpoint fails" checkpoints UPDATE 1 \
    import "$ROOT/tests/fixtures/hf_f16"
forced "import: the checkpoint row fails" checkpoints INSERT 1 \
    import "$ROOT/tests/fixtures/hf_f16"
forced "group: storing the block set fails" block_sets INSERT 1 group --block-size 5
forced "review: the second of two approvals fails" reviews INSERT "NEW.output_id = 2" \
    review approve 1 2 --reviewer bob
forced "review: the edit fails" reviews INSERT 1 review edit 1 --text "new" --reviewer bob
forced "publish: recording the publication fails" publications INSERT 1 publish --out pub.txt
check "publish wrote no file" [ ! -e pub.txt ]
# publishing under a file (a folder that cannot be made): the record is rolled back
before=$(sql .dump)
: > nodir
expect_fail "publish where no folder can be made" "quill: publish: .*nodir" Q publish --out nodir/p.txt
check "publish where no folder can be made: store unchanged" [ "$(sql .dump)" = "$before" ]

# A recipe run: the ingest stage's documents are rolled back; the run
# itself is recorded as failed.
cat >r.yaml <<EOS
name: txn
model: {from: nowhere}
ingest: {paths: [$SCRATCH/b.txt, $SCRATCH/c.txt]}
EOS
sql "CREATE TRIGGER forced BEFORE INSERT ON documents WHEN NEW.source LIKE '%c.txt'
     BEGIN SELECT RAISE(ABORT, 'forced failure'); END"
docs_before=$(sql "SELECT count(*) FROM documents")
expect_fail "run: the ingest stage fails" "quill: run txn: .*forced failure" Q run r.yaml
check "run: no document from the failed stage" [ "$(sql "SELECT count(*) FROM documents")" = "$docs_before" ]
check "run: no stage recorded done" [ "$(sql "SELECT count(*) FROM stage_runs WHERE status = 'done'")" = 0 ]
check "run: the run is marked failed" [ "$(sql "SELECT status FROM recipe_runs ORDER BY id DESC LIMIT 1")" = failed ]
sql "DROP TRIGGER forced"
check "run: succeeds once the failure is gone" Q run r.yaml
check "integrity at the end" [ "$(sql 'PRAGMA integrity_check')" = ok ]
summary
