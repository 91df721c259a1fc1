#!/bin/bash
# The outputs' layout (db/011_output_rows.sql, issue 14 "the store keeps
# up"): a store written by quill f3a2e86 (tests/fixtures/store/v10.sql:
# generated and hand-made outputs, reviews, a rule, a publication) migrates
# and shows the same outputs, reviews, verdicts, counts and publications,
# and review and publish go on working on it; a bulk job's store grows by no
# more than its text and ids (4 bytes an id), and shows them as generated;
# the outputs view takes inserts, updates and deletes.
# The fixture was made with f3a2e86's quill: ingest, generate 2 prompts x 3
# outputs from a tiny model directory, 6 rows inserted by hand, review rule,
# approve, reject, edit, note, publish, then `sqlite3 .dump` and the
# user_version.
. "$ROOT/tests/lib.sh"
unset QUILL_DB
sql() { sqlite3 "$@"; }
export QUILL_REVIEWER=ann

# ---- a store of f3a2e86 migrates with its content unchanged
sqlite3 old.db <"$ROOT/tests/fixtures/store/v10.sql"
check "fixture: schema 10" [ "$(sql old.db 'PRAGMA user_version')" = 10 ]
content() { # DB: everything a user sees of the outputs
    sql "$1" "SELECT * FROM outputs ORDER BY id;
        SELECT id, output_id, reviewer, verdict, note, edited_text, version, breaks, created_at
          FROM reviews ORDER BY id;
        SELECT * FROM output_verdicts ORDER BY output_id;
        SELECT recipe_name, status, min_approvals, n FROM output_counts WHERE n > 0 ORDER BY 1, 2, 3;
        SELECT * FROM publications ORDER BY id; SELECT * FROM review_rules;"
}
content old.db >before.txt
cp old.db new.db
check "the old store opens and migrates" "$QUILL_ASAN" --db new.db gc
check "schema 11: the outputs in output_rows" \
    [ "$(sql new.db 'PRAGMA user_version; SELECT count(*) FROM output_rows')" = "$(printf '11\n12')" ]
content new.db >after.txt
check "outputs, reviews, verdicts, counts, publications as they were" cmp before.txt after.txt
check "ids beyond 65,535 and none at all shown as stored" \
    [ "$(sql new.db "SELECT group_concat(ids_json, ' ') FROM outputs WHERE id IN (7, 8)")" = "[70000,0,65535,65536] []" ]
check "review show reads a migrated output" \
    bash -c "'$QUILL_ASAN' --db new.db review show 2 | grep -q 'The night was edited'"
"$QUILL_ASAN" --db new.db review approve 4 >/dev/null 2>&1
"$QUILL_ASAN" --db new.db review approve 9 >/dev/null 2>&1
"$QUILL_ASAN" --db new.db review approve 9 --reviewer bob >/dev/null 2>&1
check "review goes on: approvals counted, the rule of 2 kept" \
    [ "$(sql new.db "SELECT group_concat(status, ' ') FROM outputs WHERE id IN (4, 9, 11)")" = "approved approved pending" ]
check "the counts follow" \
    [ "$(sql new.db "SELECT n FROM output_counts WHERE recipe_name = 'r' AND status = 'approved'")" = 2 ]
check "publish goes on" "$QUILL_ASAN" --db new.db publish --out pub.txt
check "publish writes the edited text" grep -q "The night was edited" pub.txt
check "status shows the outputs' space" \
    bash -c "'$QUILL_ASAN' --db new.db status | grep -Eq 'outputs [1-9][0-9.]* (B|KiB)'"

# ---- a bulk job: 2,000 outputs grow the store by no more than text + ids
tiny_model m || exit 1
python3 -c "
for i in range(200): print('{\"prompt\": \"Line %d of the long poem\", \"num_return_sequences\": 10}' % i)" >p.jsonl
new_store s.db
size() { sql "$1" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null; stat -c %s "$1"; }
before=$(size s.db)
"$QUILL" --db s.db generate --model m --prompts p.jsonl --max-new-tokens 8 --batch 64 --json >gen.jsonl 2>/dev/null
after=$(size s.db)
raw=$(sql s.db "SELECT sum(length(CAST(text AS BLOB)) + 4 * json_array_length(ids_json)) FROM outputs")
echo "# store growth $((after - before)) B, raw text + ids $raw B"
check "2,000 outputs stored" [ "$(sql s.db 'SELECT count(*) FROM outputs')" = 2000 ]
check "the store grows by no more than the text and ids" [ $((after - before)) -le "$raw" ]
python3 -c "
import json, sys
for l in open('gen.jsonl'):
    o = json.loads(l)
    print('%s|%s|%s|%d|%s' % (o['prompt'], o['continuation'], json.dumps(o['ids'], separators=(',', ':')), o['seed'], o['finish_reason']))" >printed.txt
sql s.db "SELECT prompt, continuation, ids_json, seed, finish_reason FROM outputs ORDER BY id" >stored.txt
check "stored as generated (prompt, continuation, ids, seed, finish)" cmp printed.txt stored.txt
check "one batch a prompt" [ "$(sql s.db 'SELECT count(*) FROM output_batches')" = 200 ]
"$QUILL" --db s.db generate --model m --prompts p.jsonl --max-new-tokens 8 --batch 64 >/dev/null 2>&1
check "the same job again adds nothing" [ "$(sql s.db 'SELECT count(*) FROM outputs')" = 2000 ]
check "identities distinct" [ "$(sql s.db 'SELECT count(DISTINCT identity) FROM outputs')" = 2000 ]

# ---- the outputs view: insert, update, delete
sql s.db "INSERT INTO outputs (id, recipe_name, model_source, prompt, continuation, text, ids_json,
    params_json, seed, finish_reason) VALUES (5000, 'h', 'x', 'hand', ' made', 'hand made', '[1,2]',
    '{}', 1, 'eos')"
check "a row inserted by hand reads back" \
    [ "$(sql s.db "SELECT text, ids_json, finish_reason, status, min_approvals FROM outputs WHERE id = 5000")" = "hand made|[1,2]|eos|pending|1" ]
sql s.db "UPDATE outputs SET status = 'approved' WHERE id = 5000"
check "its status updated, counted" \
    [ "$(sql s.db "SELECT status FROM outputs WHERE id = 5000; SELECT n FROM output_counts WHERE recipe_name = 'h' AND status = 'approved'")" = "$(printf 'approved\n1')" ]
expect_fail "its text stays prompt || continuation" "text must be prompt" \
    sql s.db "UPDATE outputs SET text = 'x' WHERE id = 5000"
sql s.db "DELETE FROM outputs WHERE id > 1995"
check "deleted, with their batches" \
    [ "$(sql s.db 'SELECT count(*), max(id) FROM outputs; SELECT max(id) FROM output_batches')" = "$(printf '1995|1995\n1991')" ]
"$QUILL" --db s.db generate --model m --prompts p.jsonl --max-new-tokens 8 --batch 64 >/dev/null 2>&1
check "a rerun stores the deleted ones again, at the same ids" \
    [ "$(sql s.db 'SELECT count(*), max(id) FROM outputs')" = "2000|2000" ]
sql s.db "SELECT prompt, continuation, ids_json, seed, finish_reason FROM outputs ORDER BY id" >again.txt
check "as they were" cmp stored.txt again.txt
sql s.db "UPDATE outputs SET prompt = 'P', continuation = ' c', text = 'P c', recipe_name = 'g'
    WHERE id = 11"
check "a change of prompt and recipe moves the output alone to a batch of its own" \
    [ "$(sql s.db "SELECT id, prompt, recipe_name FROM outputs WHERE id IN (10, 11, 12) AND (id = 11 OR recipe_name IS NULL)")" = "$(printf '10|Line 0 of the long poem|\n11|P|g\n12|Line 1 of the long poem|')" ]
check "the counts follow the recipe" \
    [ "$(sql s.db "SELECT n FROM output_counts WHERE recipe_name = 'g'")" = 1 ]
summary
