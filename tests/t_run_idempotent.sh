#!/bin/bash
# Runs are idempotent (issue #11): generating an output again reuses the
# stored one (its review state too); a run killed at any moment and run
# again ends with exactly the outputs of an uninterrupted run; a second run
# of a recipe that is running refuses with the holder's pid, and a dead
# holder's lock is taken over; a failed run says why in `quill status`.
. "$ROOT/tests/lib.sh"
unset QUILL_DB
sql() { sqlite3 "$@"; }

# train_recipe NAME TRAIN [REST]: a recipe training a tiny model from
# scratch with the train section TRAIN, then REST (more YAML).
train_recipe() {
    cat > "$1.yaml" <<YAML
name: $1
model: {init: {n_layer: 1, n_head: 2, n_embd: 16, n_positions: 64}}
ingest: {paths: [$ROOT/recipes/corpora/frankenstein.txt], max_chars: 3000}
group: {block_size: 32}
train: $2
${3:-}
YAML
}
# A tiny trained model in a directory, for the generate-only recipes.
train_recipe base "{max_steps: 4, batch_size: 4, save_steps: 10, export: $SCRATCH/model}"
"$QUILL" --db base.db run base.yaml >base.out 2>&1 || { cat base.out; exit 1; }
# Three jobs, 64 outputs: each job commits on its own.
cat > gen.yaml <<YAML
name: gen
model: {from: $SCRATCH/model}
generate:
  - {prompts: ["It was", "The"], num_return_sequences: 16, max_new_tokens: 24, seed: 1}
  - {prompts: ["Once"], num_return_sequences: 16, max_new_tokens: 24, seed: 2}
  - {prompts: ["I am"], num_return_sequences: 16, max_new_tokens: 24, seed: 3}
YAML
N=64
outputs() { sql "$1" "SELECT seed, text FROM outputs ORDER BY seed, text"; }

# ---- --force generate reuses the stored outputs and their review state
"$QUILL_ASAN" --db ref.db run gen.yaml >ref.out 2>&1
check "uninterrupted run: $N outputs" [ "$(sql ref.db 'SELECT count(*) FROM outputs')" = $N ]
cp ref.db f.db
"$QUILL" --db f.db review approve 1 --reviewer t >/dev/null
"$QUILL" --db f.db review reject 2 --reviewer t >/dev/null
"$QUILL_ASAN" --db f.db run gen.yaml --force generate >force.out 2>&1
check "--force generate: still $N outputs" [ "$(sql f.db 'SELECT count(*), max(id) FROM outputs')" = "$N|$N" ]
check "--force generate: review states kept" \
    [ "$(sql f.db "SELECT group_concat(status) FROM (SELECT status FROM outputs WHERE id <= 3 ORDER BY id)")" = "approved,rejected,pending" ]
check "--force generate: no job generated again" [ "$(grep -c 'already in the store' force.out)" = 3 ]
check "--force generate: same texts" [ "$(outputs f.db)" = "$(outputs ref.db)" ]
# quill generate by hand: the same output twice is stored once
"$QUILL" --db f.db generate --model "$SCRATCH/model" --prompt "Once" --seed 9 --max-new-tokens 8 >/dev/null 2>&1
"$QUILL" --db f.db generate --model "$SCRATCH/model" --prompt "Once" --seed 9 --max-new-tokens 8 >/dev/null 2>&1
check "quill generate twice: stored once" [ "$(sql f.db 'SELECT count(*) FROM outputs')" = $((N + 1)) ]

# ---- SIGKILL at any moment, then a rerun: exactly the uninterrupted outputs
# killrun DB: start a run of gen.yaml on DB and SIGKILL it once the first
# job's outputs are committed (polling the store), or after $1 seconds.
killrun() {
    "$QUILL" --db "$1" run gen.yaml >/dev/null 2>&1 &
    pid=$!
    if [ -n "${2:-}" ]; then sleep "$2"; else
        for _ in $(seq 1 2000); do
            [ "$(sql "$1" 'SELECT count(*) FROM outputs' 2>/dev/null)" -gt 0 ] 2>/dev/null && break
            sleep 0.005
        done
    fi
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
}
killrun k.db
after_kill=$(sql k.db 'SELECT count(*) FROM outputs')
check "killed between jobs ($after_kill of $N stored)" [ "$after_kill" -gt 0 -a "$after_kill" -lt $N ]
check "the killed run's lock row is left" [ "$(sql k.db "SELECT pid FROM run_locks WHERE recipe_name = 'gen'")" = $pid ]
"$QUILL_ASAN" --db k.db run gen.yaml >resume.out 2>&1
check "resumed run succeeds" grep -q '^generate: done' resume.out
check "resumed: the stored job was not generated again" \
    grep -q 'generate job 1: 32 outputs, 32 of them already in the store' resume.out
check "resumed: exactly $N outputs" [ "$(sql k.db 'SELECT count(*) FROM outputs')" = $N ]
check "resumed: same seeds and texts as uninterrupted" [ "$(outputs k.db)" = "$(outputs ref.db)" ]
check "resumed: the killed run marked interrupted" \
    [ "$(sql k.db "SELECT group_concat(status) FROM recipe_runs")" = "interrupted,done" ]
check "resumed: the lock is released" [ "$(sql k.db 'SELECT count(*) FROM run_locks')" = 0 ]
# SIGKILL at random moments (seeded from $RANDOM: printed when it fails)
seed=$RANDOM
RANDOM=$seed
for _ in 1 2 3 4 5 6; do killrun r.db "$((RANDOM % 2)).$((RANDOM % 100))"; done
"$QUILL" --db r.db run gen.yaml >/dev/null 2>&1
check "random kills (RANDOM=$seed): exactly $N outputs" [ "$(sql r.db 'SELECT count(*) FROM outputs')" = $N ]
check "random kills (RANDOM=$seed): same seeds and texts" [ "$(outputs r.db)" = "$(outputs ref.db)" ]

# ---- the lock row: a live holder refuses, a dead or reused pid is taken over
start_time() { sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f20; }
sleep 60 &
live=$!
runid=$(sql k.db 'SELECT max(id) FROM recipe_runs')
sql k.db "INSERT INTO run_locks (recipe_name, recipe_run_id, host, pid, start_time) VALUES ('gen', $runid, '$(hostname)', $live, $(start_time $live))"
expect_fail "live holder: refused with its pid" "recipe gen is running \(pid $live" "$QUILL_ASAN" --db k.db run gen.yaml
check "live holder: its lock is kept" [ "$(sql k.db 'SELECT pid FROM run_locks')" = $live ]
check "live holder: no run recorded" [ "$(sql k.db 'SELECT max(id) FROM recipe_runs')" = "$runid" ]
sql k.db "UPDATE run_locks SET start_time = start_time + 1"
check "same pid, other start time: taken over" "$QUILL_ASAN" --db k.db run gen.yaml
kill $live 2>/dev/null
wait $live 2>/dev/null
sql k.db "INSERT INTO run_locks (recipe_name, recipe_run_id, host, pid, start_time) VALUES ('gen', $runid, '$(hostname)', $live, 1)"
check "dead holder: taken over" "$QUILL_ASAN" --db k.db run gen.yaml
check "dead holder: lock released after" [ "$(sql k.db 'SELECT count(*) FROM run_locks')" = 0 ]

# ---- two runs of one recipe at once: the second refuses, one trains
train_recipe conc "{max_steps: 70, batch_size: 4, save_steps: 10}" 'generate:
  - {prompts: ["It was"], num_return_sequences: 20, max_new_tokens: 8}'
"$QUILL" --db c.db run conc.yaml >a.out 2>&1 &
a=$!
for _ in $(seq 1 2000); do
    [ "$(sql c.db "SELECT count(*) FROM recipe_runs WHERE status = 'running'" 2>/dev/null)" = 1 ] && break
    sleep 0.005
done
expect_fail "second run refused: recipe is running (pid)" "recipe conc is running \(pid $a" "$QUILL" --db c.db run conc.yaml
wait $a
check "first run finished" grep -q '^generate: done' a.out
check "one training: 7 checkpoints" [ "$(sql c.db 'SELECT count(*) FROM checkpoints')" = 7 ]
check "one generation: 20 outputs" [ "$(sql c.db 'SELECT count(*) FROM outputs')" = 20 ]

# ---- a failed run records why, and status shows it
printf 'name: miss\nmodel: {from: m}\ningest: {paths: [missing.txt]}\n' > miss.yaml
"$QUILL_ASAN" --db m.db run miss.yaml >/dev/null 2>&1
check "status shows why the run failed" \
    bash -c "'$QUILL_ASAN' --db m.db status | grep -Eq '^recipe miss: run 1 failed \(started [^)]*\): ingest: .*missing.txt: No such file'"
check "status RECIPE shows it too" \
    bash -c "'$QUILL_ASAN' --db m.db status miss.yaml | grep -q '^recipe miss: run 1 failed.*missing.txt: No such file'"

# ---- a store that already holds copies (made before outputs had an
# identity) still opens; rerunning a recipe that generates from a checkpoint
# adopts the oldest copies, one from a model directory adds its outputs once
# (that directory's contents then are unknown); later reruns add nothing.
downgrade() { # DB: schema 6 (before 007_runs .. 011_output_rows) again, every output stored twice
    sql "$1" "DROP TRIGGER output_counts_insert; DROP TRIGGER output_counts_delete; DROP TRIGGER output_counts_update;
    DROP TABLE output_counts; ALTER TABLE checkpoints DROP COLUMN pinned;
    CREATE TABLE outputs6 (id INTEGER PRIMARY KEY, recipe_run_id INTEGER REFERENCES recipe_runs(id), recipe_name TEXT,
      model_source TEXT NOT NULL, checkpoint_id INTEGER REFERENCES checkpoints(id), prompt TEXT NOT NULL,
      continuation TEXT NOT NULL, text TEXT NOT NULL, ids_json TEXT NOT NULL, params_json TEXT NOT NULL,
      seed INTEGER NOT NULL, finish_reason TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending'
      CHECK (status IN ('pending', 'approved', 'rejected')),
      created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
      min_approvals INTEGER CHECK (min_approvals >= 1)) STRICT;
    INSERT INTO outputs6 SELECT id, recipe_run_id, recipe_name, model_source, checkpoint_id, prompt, continuation, text,
      ids_json, params_json, seed, finish_reason, status, created_at, min_approvals FROM outputs;
    CREATE TABLE reviews6 (id INTEGER PRIMARY KEY, output_id INTEGER NOT NULL REFERENCES outputs(id),
      reviewer TEXT NOT NULL, verdict TEXT NOT NULL, note TEXT, edited_text TEXT, version INTEGER NOT NULL,
      breaks TEXT, created_at TEXT NOT NULL) STRICT;
    INSERT INTO reviews6 SELECT * FROM reviews;
    DROP VIEW output_verdicts; DROP VIEW outputs; DROP TABLE reviews; DROP TABLE output_identities;
    DROP TABLE output_legacy; DROP TABLE output_rows; DROP TABLE output_batches; DROP TABLE output_params;
    ALTER TABLE outputs6 RENAME TO outputs; ALTER TABLE reviews6 RENAME TO reviews;
    CREATE INDEX outputs_status ON outputs(status); CREATE INDEX reviews_output ON reviews(output_id);
    CREATE TRIGGER outputs_review_rule AFTER INSERT ON outputs WHEN NEW.min_approvals IS NULL
    BEGIN UPDATE outputs SET min_approvals = 1 WHERE id = NEW.id; END;
    CREATE VIEW output_verdicts (output_id, rejects, approvals, needed, status) AS
      SELECT id, 0, 0, 1, status FROM outputs;
    ALTER TABLE recipe_runs DROP COLUMN error; DROP TABLE run_locks; DROP TABLE sessions; DROP TABLE reviewers; PRAGMA user_version = 6;
    INSERT INTO outputs (recipe_run_id, recipe_name, model_source, checkpoint_id, prompt, continuation, text, ids_json, params_json, seed, finish_reason)
      SELECT recipe_run_id, recipe_name, model_source, checkpoint_id, prompt, continuation, text, ids_json, params_json, seed, finish_reason FROM outputs;"
}
cp c.db oldc.db
downgrade oldc.db
"$QUILL" --db oldc.db review approve 1 --reviewer t >/dev/null 2>&1
check "old store with copies migrates" "$QUILL_ASAN" --db oldc.db status
"$QUILL_ASAN" --db oldc.db run conc.yaml --force generate >/dev/null 2>&1
check "old store, checkpoint: no more copies" [ "$(sql oldc.db 'SELECT count(*), max(id) FROM outputs')" = "40|40" ]
check "old store, checkpoint: the oldest copies adopted" \
    [ "$(sql oldc.db 'SELECT min(id), max(id), count(*) FROM outputs WHERE identity IS NOT NULL')" = "1|20|20" ]
check "old store, checkpoint: review state kept" [ "$(sql oldc.db 'SELECT status FROM outputs WHERE id = 1')" = approved ]
cp ref.db old.db
downgrade old.db
"$QUILL" --db old.db run gen.yaml --force generate >/dev/null 2>&1
"$QUILL" --db old.db run gen.yaml --force generate >/dev/null 2>&1
check "old store, model directory: outputs added once" [ "$(sql old.db 'SELECT count(*) FROM outputs')" = $((3 * N)) ]
summary
