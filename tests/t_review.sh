#!/bin/bash
# Review and publish through the CLI: approve, reject, edit, notes, several
# reviewers with min_approvals, the publish gate (pending, rejected,
# edited-then-rejected, approved-before-edit, marked approved by hand,
# another store), publication records; then the interactive reviewer driven
# in tmux.
. "$ROOT/tests/lib.sh"

# wait for a closing quill's checkpoint instead of failing with "locked"
sqlite3() { command sqlite3 -cmd ".timeout 5000" "$@"; }
Q() { "$QUILL_ASAN" --db rev.db "$@"; }
sql() { sqlite3 rev.db "$@"; }
# add_output ID RECIPE PROMPT CONTINUATION
add_output() {
    local recipe=${2:+"'$2'"}
    sql "INSERT INTO outputs (id, recipe_name, model_source, prompt, continuation, text, ids_json,
         params_json, seed, finish_reason) VALUES ($1, ${recipe:-NULL}, 'models/gpt2', '$3', '$4',
         '$3$4', '[1,2]', '{\"temperature\":0.9}', $((100 + $1)), 'length')"
}
status_of() { sql "SELECT status FROM outputs WHERE id = $1"; }

printf 'A document, so that ingest creates the store.\n' >seed.txt
check "store created" Q ingest seed.txt
# a rule applies to the outputs made under it: set before they are made
sql "INSERT INTO review_rules (recipe_name, min_approvals) VALUES ('r2', 2)"
add_output 1 r1 "Two roads" " diverged one"
add_output 2 r2 "It was" " a dark two"
add_output 3 r1 "Call me" " Ishmael three"
add_output 4 r1 "Once upon" " a time four"
add_output 5 r1 "In the" " beginning five"
add_output 6 r1 "All happy" " families six"
add_output 7 "" "Never" " reviewed seven"

check "list pending shows 7" bash -c "[ \$('$QUILL_ASAN' --db rev.db review list --status pending --json | wc -l) = 7 ]"
check "approve 1" Q review approve 1 --reviewer alice --note "lovely"
check "1 approved" [ "$(status_of 1)" = approved ]
check "2 needs two reviewers" Q review approve 2 --reviewer alice
check "2 still pending" [ "$(status_of 2)" = pending ]
check "same reviewer twice" Q review approve 2 --reviewer alice
check "2 still pending after same reviewer" [ "$(status_of 2)" = pending ]
check "second reviewer" Q review approve 2 --reviewer bob
check "2 approved by two" [ "$(status_of 2)" = approved ]
check "reject 3" Q review reject 3 --reviewer alice --note "dull"
check "approve 3 by another" Q review approve 3 --reviewer bob
check "any rejection rejects" [ "$(status_of 3)" = rejected ]
check "edit 4" Q review edit 4 --text "Once upon a better time" --reviewer alice
check "approve 4 after edit" Q review approve 4 --reviewer bob
check "4 approved" [ "$(status_of 4)" = approved ]
check "approve 5" Q review approve 5 --reviewer alice
check "edit 5 after approval" Q review edit 5 --text "In the end five" --reviewer bob
check "approval before an edit does not count" [ "$(status_of 5)" = pending ]
check "edit 6" Q review edit 6 --text "All happy edited" --reviewer alice
check "reject 6" Q review reject 6 --reviewer bob
check "edited-then-rejected is rejected" [ "$(status_of 6)" = rejected ]
expect_fail "unknown id fails" "no output with id 999" Q review approve 7 999 --reviewer alice
check "all-or-nothing: 7 not reviewed" [ "$(sql "SELECT COUNT(*) FROM reviews WHERE output_id = 7")" = 0 ]
expect_fail "bad id" "not an output id" Q review approve x1 --reviewer alice
expect_fail "bad status" "must be pending" Q review list --status maybe
check "show has reviews" bash -c "'$QUILL_ASAN' --db rev.db review show 4 | grep -q 'edited text: Once upon a better time'"
check "list json" bash -c "'$QUILL_ASAN' --db rev.db review list --status approved --json | grep -c '\"status\":\"approved\"' | grep -qx 3"
check "list table" bash -c "'$QUILL_ASAN' --db rev.db review list | grep -Eq '^ +2  approved  2/2 +r2'"

# someone marks unreviewed 7 approved behind the reviewers' back
sql "UPDATE outputs SET status = 'approved' WHERE id = 7"

check "publish md" Q publish --out out.md
check "md has the approved" grep -q "Two roads diverged one" out.md
check "md has the two-reviewer one" grep -q "It was a dark two" out.md
check "md has the edited text" grep -q "Once upon a better time" out.md
for bad in "Ishmael three" "a time four" "beginning five" "In the end five" "families six" \
    "All happy edited" "reviewed seven"; do
    check "gate keeps out '$bad'" bash -c "! grep -q '$bad' out.md"
done
check "exactly three sections" [ "$(grep -c '^## ' out.md)" = 3 ]
check "publish jsonl" Q publish --out out.jsonl
check "jsonl three lines" [ "$(wc -l < out.jsonl)" = 3 ]
check "jsonl provenance" python3 -c "
import json
rows = [json.loads(l) for l in open('out.jsonl')]
assert [r['id'] for r in rows] == [1, 2, 4], rows
assert [x['reviewer'] for x in rows[1]['reviewers']] == ['alice', 'alice', 'bob']
assert rows[0]['notes'][0]['note'] == 'lovely'
assert rows[2]['edited'] and rows[2]['text'] == 'Once upon a better time'
assert rows[2]['original_text'] == 'Once upon a time four'
assert rows[0]['params'] == {'temperature': 0.9} and rows[0]['seed'] == 101
assert rows[0]['recipe'] == 'r1' and rows[0]['model'] == 'models/gpt2' and rows[0]['prompt'] == 'Two roads'
"
check "same set again says so" bash -c "'$QUILL_ASAN' --db rev.db publish --out again.txt | grep -q 'already published as publication 2'"
check "txt format" grep -qx "Two roads diverged one" again.txt
check "publications recorded" [ "$(sql "SELECT COUNT(*) || ':' || group_concat(format) FROM publications")" = "3:md,jsonl,txt" ]
check "publication says what and where" [ "$(sql "SELECT output_ids || ' ' || out_path FROM publications WHERE id = 1")" = "[1,2,4] out.md" ]
printf 'name: r1\nmodel: {from: m}\npublish: {out: r1.md}\n' > r1.yaml
check "publish --recipe" Q publish --recipe r1.yaml
check "only that recipe's outputs" [ "$(grep -c '^## ' r1.md)" = 2 ]
check "that recipe's edited output" grep -q "Once upon a better time" r1.md
check "not the other recipe's output" bash -c '! grep -q "It was a dark two" r1.md'
check "no temp files left" bash -c "! ls | grep -q tmp"

# nothing approved: nothing written
"$QUILL_ASAN" --db other.db ingest seed.txt >/dev/null
expect_fail "other store has nothing approved" "no approved outputs" "$QUILL_ASAN" --db other.db publish --out other.md
check "nothing written" [ ! -e other.md ]
sqlite3 other.db "INSERT INTO outputs (recipe_name, model_source, prompt, continuation, text, ids_json, params_json, seed, finish_reason, status) VALUES ('r', 'm', 'p', 'c', 'pc', '[]', '{}', 1, 'length', 'approved')"
expect_fail "hand-approved in another store" "no approved outputs" "$QUILL_ASAN" --db other.db publish --out other.md
check "still nothing written" [ ! -e other.md ]
check "allow-empty writes an empty file" "$QUILL_ASAN" --db other.db publish --out empty.txt --allow-empty
check "empty file" [ -f empty.txt ]
check "empty file is empty" [ ! -s empty.txt ]
expect_fail "bad format" "must be txt, md or jsonl" Q publish --out x --format pdf
expect_fail "missing out" "--out FILE is required" Q publish
: > not-a-dir
expect_fail "a folder that cannot be made" "not-a-dir/x.md: Not a directory" Q publish --out not-a-dir/x.md
check "failed publish is not recorded" [ "$(sql "SELECT COUNT(*) FROM publications")" = 4 ]
check "missing folders are made" Q publish --out new/dir/x.md --allow-empty
check "into the new folder" [ -f new/dir/x.md ]
expect_fail "into a folder" "quill: publish: .*is a folder" Q publish --out .
# a pipe (like /dev/stdout) is written to, not replaced by a file
mkfifo pipe
timeout 20 cat pipe >piped.txt &
check "publish into a pipe" Q publish --out pipe --format txt
wait
check "the pipe is still a pipe" [ -p pipe ]
check "the pipe carried the text" grep -qx "Two roads diverged one" piped.txt

# --- issue 11: the gate cannot be fooled ---
G() { "$QUILL_ASAN" --db gate.db "$@"; }
gsql() { sqlite3 gate.db "$@"; }
new_store gate.db
# gadd ID PROMPT CONTINUATION PARAMS [RECIPE]
gadd() {
    local recipe=NULL
    [ -n "${5:-}" ] && recipe="'$5'"
    gsql "INSERT INTO outputs (id, recipe_name, model_source, prompt, continuation, text, ids_json,
          params_json, seed, finish_reason) VALUES ($1, $recipe, 'm', '$2', '$3',
          '$2$3', '[]', '$4', $1, 'length')"
}
LIPO='{"forbid_chars":"e","forbid_case_sensitive":false,"banned_words":["night","dark sky"],"match":"word","case_sensitive":false}'
gadd 1 "Once upon" " a tim" "$LIPO"
gadd 2 "It was" " a stormy day" "$LIPO"
gadd 3 "Plain" " output" '{}'
gstatus() { gsql "SELECT status FROM outputs WHERE id = $1"; }
# 1. edits checked against the output's own constraints
expect_fail "edit adding a forbidden char refused" "forbidden character 'e'" \
    G review edit 1 --text "Once upon a time" --reviewer m
expect_fail "edit adding a forbidden capital refused (any case)" "forbidden character 'E'" \
    G review edit 1 --text "Once upon a tim ENDS" --reviewer m
expect_fail "edit adding a banned word refused" "banned word 'night'" \
    G review edit 2 --text "It was a stormy Night" --reviewer m
expect_fail "edit adding a banned phrase refused" "banned word 'dark sky'" \
    G review edit 2 --text "It was a Dark Sky" --reviewer m
check "refused edits stored nothing" [ "$(gsql "SELECT COUNT(*) FROM reviews")" = 0 ]
check "an edit keeping the constraints is saved" G review edit 2 --text "It was a stormy nightfall" --reviewer m
check "the prompt's own 'e' is not the edit's" G review edit 1 --text "Once upon a tiny town" --reviewer m
check "kept with --allow-constraint-breaks, flagged" bash -c "'$QUILL_ASAN' --db gate.db review edit 1 --text 'Once upon a time' --reviewer m --allow-constraint-breaks | grep -q \"WARNING: the edit breaks the output's constraints: it has the forbidden character 'e'\""
check "show warns about the break" bash -c "'$QUILL_ASAN' --db gate.db review show 1 | grep -q \"WARNING: the text breaks the output's constraints: it has the forbidden character 'e'\""
check "list marks the break" bash -c "'$QUILL_ASAN' --db gate.db review list | grep -Eq '^ +1 .*BREAKS CONSTRAINTS'"
check "list --json carries the break" bash -c "'$QUILL_ASAN' --db gate.db review list --json | grep '\"id\":1,' | grep -q '\"breaks\":\"forbidden character'"
check "approve the flagged output" G review approve 1 --reviewer r
expect_fail "publish refuses a constraint break" "output 1: its edited text breaks its constraints.*--allow-constraint-breaks" \
    G publish --out gate.txt
check "nothing published" [ ! -e gate.txt ]
check "publish --allow-constraint-breaks publishes it" bash -c "'$QUILL_ASAN' --db gate.db publish --out gate.txt --allow-constraint-breaks 2>&1 | grep -q 'warning: output 1 breaks its constraints'"
check "with the edited text" grep -qx "Once upon a time" gate.txt
check "a later clean edit clears the flag" bash -c "'$QUILL_ASAN' --db gate.db review edit 1 --text 'Once upon a tiny hill' --reviewer m && ! '$QUILL_ASAN' --db gate.db review show 1 | grep -q WARNING"

# 2. an approval is for the text version shown
check "approve prints the version approved" bash -c "'$QUILL_ASAN' --db gate.db review approve 2 --reviewer r | grep -q 'output 2: approved (text version 2) by r'"
check "edit bumps the version" bash -c "'$QUILL_ASAN' --db gate.db review edit 2 --text 'It was a calm morning' --reviewer m | grep -q 'text version 3'"
check "the approval of version 2 does not count for version 3" [ "$(gstatus 2)" = pending ]
expect_fail "approving a version no longer current is refused" "changed since version 2 was shown \(now version 3\)" \
    G review approve 2 --version 2 --reviewer r
check "still pending" [ "$(gstatus 2)" = pending ]
check "approving the current version" G review approve 2 --version 3 --reviewer r
check "approved" [ "$(gstatus 2)" = approved ]
check "the approval records its version" [ "$(gsql "SELECT version FROM reviews WHERE output_id = 2 AND verdict = 'approve' ORDER BY id DESC LIMIT 1")" = 3 ]
expect_fail "no such version" "output 3 has no text version 2 \(it is at version 1\)" \
    G review approve 3 --version 2 --reviewer r
check "edit 3 from version 1" G review edit 3 --version 1 --text "Plain edited" --reviewer m
expect_fail "edit from a stale version is refused" "changed since version 1 was shown \(now version 2\); look at it again" \
    G review edit 3 --version 1 --text x --reviewer m
expect_fail "--version with several ids" "--version goes with approve or edit of one output" \
    G review approve 2 3 --version 3 --reviewer r

# 4. reviewer names
gadd 4 "Four" " score" '{}' adv0
gsql "UPDATE outputs SET min_approvals = 2 WHERE id = 4"
check "A approves" G review approve 4 --reviewer A
check "a approves" G review approve 4 --reviewer a
check "'A ' approves" G review approve 4 --reviewer "A "
check "A, a and 'A ' are one reviewer" [ "$(gstatus 4)" = pending ]
check "names are stored folded" [ "$(gsql "SELECT group_concat(DISTINCT reviewer) FROM reviews WHERE output_id = 4")" = a ]
check "Unicode case folds too" bash -c "'$QUILL_ASAN' --db gate.db review approve 3 --reviewer 'ÉLODIE' | grep -q 'by élodie'"
expect_fail "empty reviewer refused" "reviewer.*is empty" G review approve 4 --reviewer "  "
expect_fail "control character refused" "control character" G review approve 4 --reviewer "$(printf 'b\033[2J')"
expect_fail "no USER and no --reviewer: refused" "pass --reviewer NAME or set QUILL_REVIEWER" \
    env -u USER -u QUILL_REVIEWER "$QUILL_ASAN" --db gate.db review approve 4
check "nothing recorded as unknown" [ "$(gsql "SELECT COUNT(*) FROM reviews WHERE reviewer = 'unknown'")" = 0 ]
check "QUILL_REVIEWER names the reviewer" bash -c "env -u USER QUILL_REVIEWER=Zed '$QUILL_ASAN' --db gate.db review approve 4 | grep -q 'by zed, now approved'"
gadd 5 "Five" " rejected" '{}'
check "b rejects 5" G review reject 5 --reviewer b
expect_fail "b's own approval after their rejection is refused" "b rejected it and any rejection rejects; withdraw" \
    G review approve 5 --reviewer B
check "5 stays rejected" [ "$(gstatus 5)" = rejected ]
expect_fail "withdraw needs a rejection" "c has no rejection to withdraw" G review withdraw 5 --reviewer c
check "b withdraws" G review withdraw 5 --reviewer b
check "5 pending after the withdrawal" [ "$(gstatus 5)" = pending ]
check "b approves now" G review approve 5 --reviewer b
check "5 approved" [ "$(gstatus 5)" = approved ]
gsql "INSERT INTO reviews (output_id, reviewer, verdict, note, version) VALUES (5, 'x' || char(27) || '[31m', 'note', 'n' || char(7) || char(27) || ']0;t', 1)"
check "show escapes control characters in names and notes" bash -c "'$QUILL_ASAN' --db gate.db review show 5 | grep -qF 'x^[[31m  note: n^G^[]0;t'"
check "show sends no raw escape" bash -c "! '$QUILL_ASAN' --db gate.db review show 5 | grep -q \$'\\033'"

# 3. a recipe of the same name does not lower the bar of existing outputs
mkdir -p adv
printf 'It was a dark and stormy night.\n' > adv/a.txt
printf 'name: adv1\nmodel: {from: nowhere}\ningest: {paths: [a.txt]}\nreview: {min_approvals: 2}\n' > adv/one.yaml
printf 'name: adv1\nmodel: {from: nowhere}\ningest: {paths: [a.txt], max_chars: 5}\n' > adv/two.yaml
check "recipe adv1 (2 approvals) runs" G run adv/one.yaml
gadd 6 "Six" " of adv1" '{}' adv1
check "the output takes its recipe's rule" [ "$(gsql "SELECT min_approvals FROM outputs WHERE id = 6")" = 2 ]
check "approved once" G review approve 6 --reviewer r
check "another adv1 without a review section runs" G run adv/two.yaml
check "the new rule is for new outputs" [ "$(gsql "SELECT min_approvals FROM review_rules WHERE recipe_name = 'adv1'")" = 1 ]
check "the existing output still needs 2" [ "$(gstatus 6)" = pending ]
expect_fail "and is not published" "no approved outputs for recipe adv1" G publish --recipe adv/two.yaml --out adv.txt
check "review rule lowers it explicitly" bash -c "'$QUILL_ASAN' --db gate.db review rule adv1 --min-approvals 1 --reviewer Boss | grep -q 'review rule for adv1: min_approvals 1 -> 1 (1 existing output), by boss'"
check "now approved" [ "$(gstatus 6)" = approved ]
check "the change is recorded" [ "$(gsql "SELECT changed_by || ':' || COALESCE(old_min, '-') || '->' || new_min || ':' || outputs FROM review_rule_changes")" = "boss:1->1:1" ]
expect_fail "rule for an unknown recipe" "no recipe named 'nope'" G review rule nope --min-approvals 2 --reviewer boss
expect_fail "rule needs a valid number" "--min-approvals must be 1..1000" G review rule adv1 --min-approvals 0 --reviewer boss

# a store made before the gate (schema 5) is read by the new rules
for f in "$ROOT"/db/00[1-5]_*.sql; do sqlite3 old.db < "$f"; done
sqlite3 old.db "PRAGMA user_version = 5;
  INSERT INTO review_rules (recipe_name, min_approvals) VALUES ('r', 2);
  INSERT INTO outputs (id, recipe_name, model_source, prompt, continuation, text, ids_json,
    params_json, seed, finish_reason, status) VALUES
    (1, 'r', 'm', 'p', ' c', 'p c', '[]', '{}', 1, 'length', 'approved'),
    (2, NULL, 'm', 'p', ' d', 'p d', '[]', '{}', 2, 'length', 'approved');
  INSERT INTO reviews (output_id, reviewer, verdict) VALUES (1, 'Alice', 'approve'),
    (1, 'alice ', 'approve'), (2, 'bob', 'approve');
  INSERT INTO reviews (output_id, reviewer, verdict, edited_text) VALUES (2, 'bob', 'edit', 'p e');
  INSERT INTO reviews (output_id, reviewer, verdict) VALUES (2, 'carl', 'approve');"
expect_fail "a read command does not upgrade it" "needs upgrading to" "$QUILL_ASAN" --db old.db review list
new_store old.db # ingest writes, so it upgrades the store
check "an old store upgrades" "$QUILL_ASAN" --db old.db review list
check "old names folded, 'Alice' and 'alice ' are one: 1 pending" [ "$(sqlite3 old.db "SELECT status || ':' || min_approvals FROM outputs WHERE id = 1")" = "pending:2" ]
check "old edits give versions" [ "$(sqlite3 old.db "SELECT group_concat(version) FROM (SELECT version FROM reviews WHERE output_id = 2 ORDER BY id)")" = "1,2,2" ]
check "2 approved (carl approved the edit)" [ "$(sqlite3 old.db "SELECT status FROM outputs WHERE id = 2")" = approved ]

# --- the interactive reviewer, driven in tmux ---
rm -f tui.db
"$QUILL" --db tui.db ingest seed.txt >/dev/null
for i in 1 2 3; do
    sqlite3 tui.db "INSERT INTO outputs (id, model_source, prompt, continuation, text, ids_json, params_json, seed, finish_reason) VALUES ($i, 'ckpt', 'PROMPT$i', ' continued$i', 'PROMPT$i continued$i', '[]', '{\"top_k\":50}', $i, 'length')"
done
cat > ed.sh <<'EOS'
#!/bin/sh
printf 'EDITED TEXT\n' > "$1"
EOS
chmod +x ed.sh
SOCK="quill-test-$$"
TM() { tmux -L "$SOCK" "$@"; }
trap 'tmux -L "$SOCK" kill-server 2>/dev/null; rm -rf "$SCRATCH"' EXIT
screen() { TM capture-pane -p -t rev; }
# wait_for TEXT: poll the pane until TEXT shows (10 s at most)
wait_for() {
    for _ in $(seq 100); do screen | grep -qF -- "$1" && return 0; sleep 0.1; done
    echo "--- screen:"; screen; return 1
}
start_tui() {
    TM new-session -d -s rev -x 150 -y 40 \
        "cd '$SCRATCH' && EDITOR='$SCRATCH/ed.sh' '$QUILL' --db tui.db review --reviewer carol; echo EXITED; sleep 30"
}
start_tui
check "tui shows output 1" wait_for "output 1  (1 of 3)"
check "tui shows model and seed" bash -c "tmux -L '$SOCK' capture-pane -p -t rev | grep -q 'model: ckpt.*seed: 1'"
check "prompt highlighted apart" bash -c "tmux -L '$SOCK' capture-pane -e -p -t rev | grep -q '43mPROMPT1.*continued1'"
TM send-keys -t rev a
check "approve moves on" wait_for "output 2  (2 of 3)"
TM send-keys -t rev e
check "edit saved" wait_for "edit saved beside the original"
check "edited text shown" wait_for "EDITED TEXT"
TM send-keys -t rev n
check "note prompt" wait_for "note:"
TM send-keys -t rev "good rhythm" Enter
check "note saved" wait_for "note saved"
TM send-keys -t rev s
check "skip moves on" wait_for "output 3  (3 of 3)"
TM send-keys -t rev b
check "back" wait_for "output 2  (2 of 3)"
TM send-keys -t rev q
check "quit" wait_for "EXITED"
TM kill-session -t rev
check "1 approved by carol" [ "$(sqlite3 tui.db "SELECT status || ':' || (SELECT reviewer FROM reviews WHERE output_id = 1) FROM outputs WHERE id = 1")" = "approved:carol" ]
check "edit kept beside the original" [ "$(sqlite3 tui.db "SELECT (SELECT edited_text FROM reviews WHERE output_id = 2 AND verdict = 'edit') || '|' || text FROM outputs WHERE id = 2")" = "EDITED TEXT|PROMPT2 continued2" ]
check "note recorded" [ "$(sqlite3 tui.db "SELECT note FROM reviews WHERE output_id = 2 AND verdict = 'note'")" = "good rhythm" ]
start_tui
check "resumes where it stopped" wait_for "output 2  (1 of 2)"
TM send-keys -t rev r
check "reject moves on" wait_for "output 3  (2 of 2)"
TM send-keys -t rev a
check "end of queue" wait_for "No more pending outputs for carol"
check "quits at the end" wait_for "EXITED"
TM kill-server
# Ctrl-C gives the terminal back in its normal mode
sqlite3 tui.db "INSERT INTO outputs (id, model_source, prompt, continuation, text, ids_json, params_json, seed, finish_reason) VALUES (4, 'ckpt', 'PROMPT4', ' more' || char(27) || '[2J', 'PROMPT4 more', '[]', '{}', 4, 'length')"
TM new-session -d -s rev -x 150 -y 40 \
    "cd '$SCRATCH' && '$QUILL' --db tui.db review --reviewer carol; echo \"TTY:\$(stty -a | grep -Eo -- '-?icanon') rc=\$?\"; sleep 30"
check "tui up again" wait_for "output 4  (1 of 1)"
check "an escape in the text is shown, not sent" wait_for "more^[[2J"
TM send-keys -t rev C-c
check "terminal restored after Ctrl-C" wait_for "TTY:icanon"
TM kill-server
check "2 rejected, 3 approved" [ "$(sqlite3 tui.db "SELECT group_concat(status) FROM (SELECT status FROM outputs ORDER BY id)")" = "approved,rejected,approved,pending" ]
check "published from tui reviews" bash -c "'$QUILL' --db tui.db publish --out tui.txt && [ \"\$(cat tui.txt)\" = \"\$(printf 'PROMPT1 continued1\n\nPROMPT3 continued3')\" ]"
# issue 11 in the TUI: the version shown is the version approved; edits
# are checked against the constraints; flagged text is shown flagged
rm -f race.db
new_store race.db
LIPO='{"forbid_chars":"e","banned_words":["night"],"match":"word"}'
for i in 1 2; do
    sqlite3 race.db "INSERT INTO outputs (id, model_source, prompt, continuation, text, ids_json, params_json, seed, finish_reason) VALUES ($i, 'ckpt', 'Once', ' upon a tim$i', 'Once upon a tim$i', '[]', '$LIPO', $i, 'length')"
done
"$QUILL" --db race.db review edit 2 --text "Once upon a time" --reviewer M --allow-constraint-breaks >/dev/null
printf '#!/bin/sh\nprintf "Once there was a hero\\n" > "$1"\n' > ed2.sh
chmod +x ed2.sh
TM new-session -d -s rev -x 200 -y 40 \
    "cd '$SCRATCH' && EDITOR='$SCRATCH/ed2.sh' '$QUILL' --db race.db review --reviewer R; echo EXITED; sleep 30"
check "tui shows output 1 at version 1" wait_for "text version 1"
check "meanwhile M edits output 1" "$QUILL" --db race.db review edit 1 --text "Once upon a tiny cat" --reviewer M
TM send-keys -t rev a
check "approving the text shown before the edit is refused" wait_for "changed since version 1 was shown (now version 2)"
check "the new text is shown for review" wait_for "Once upon a tiny cat"
check "nothing approved" [ "$(sqlite3 race.db "SELECT status || ':' || (SELECT COUNT(*) FROM reviews WHERE verdict = 'approve') FROM outputs WHERE id = 1")" = "pending:0" ]
TM send-keys -t rev a
check "approving what is shown now works" wait_for "output 2  (2 of 2)"
check "the approval is of version 2" [ "$(sqlite3 race.db "SELECT reviewer || ':' || version FROM reviews WHERE verdict = 'approve'")" = "r:2" ]
check "flagged text is shown with a warning" wait_for "WARNING: the edited text breaks the output's constraints: it has the forbidden character 'e'"
TM send-keys -t rev e
check "a TUI edit breaking the constraints is refused" wait_for "the edit breaks the output's constraints: it has the forbidden character 'e'"
check "the refused edit is not stored" [ "$(sqlite3 race.db "SELECT COUNT(*) FROM reviews WHERE output_id = 2 AND verdict = 'edit'")" = 1 ]
TM send-keys -t rev q
check "quit the race session" wait_for "EXITED"
TM kill-server
expect_fail "no terminal" "needs a terminal" bash -c "'$QUILL' --db tui.db review --reviewer carol </dev/null"
summary
