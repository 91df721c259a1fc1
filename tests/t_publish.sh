#!/bin/bash
# quill publish against its own store and against crashes: refusing to
# write over the store or its -wal/-shm/-journal files (by device and inode,
# through symlinks, and by name for files that do not exist yet); a kill at
# the rename (QUILL_FAULT) leaves a pending publication that the next
# publish reports and repairs, and stale temp files of quill's naming are
# removed; Markdown headings are output ids; the usage names --recipe.
. "$ROOT/tests/lib.sh"

sqlite3() { command sqlite3 -cmd ".timeout 5000" "$@"; }
Q() { "$QUILL_ASAN" --db s.db "$@"; }
sql() { sqlite3 s.db "$@"; }
new_store s.db
for i in 3 7 9; do
    sql "INSERT INTO outputs (id, model_source, prompt, continuation, text, ids_json, params_json,
         seed, finish_reason) VALUES ($i, 'm', 'P$i', ' c$i', 'P$i c$i', '[]', '{}', $i, 'length')"
done
check "approve 3 7" Q review approve 3 7 --reviewer alice
dump() { sqlite3 s.db .dump | md5sum; }
before=$(dump)

# 5. never onto the store
expect_fail "--out the store" "--out s.db is the store .*choose another file" Q publish --out s.db
expect_fail "--out the store by another path" "is the store" Q publish --out ./sub/../s.db
check "the store is intact" [ "$(dump)" = "$before" ]
check "and still a store" [ "$(sqlite3 s.db 'PRAGMA integrity_check')" = ok ]
for sfx in -wal -shm -journal; do
    expect_fail "--out the store's $sfx" "is the store's ${sfx#-}" Q publish --out "s.db$sfx" --format txt
done
check "no -journal file made" [ ! -e s.db-journal ]
ln -s s.db link.txt
expect_fail "a symlink to the store" "is the store" Q publish --out link.txt
ln -s s.db-journal dangling.txt
expect_fail "a dangling symlink to the store's -journal" "is the store's journal" Q publish --out dangling.txt
ln s.db hard.txt
expect_fail "a hard link to the store" "is the store" Q publish --out hard.txt
mkdir -p d && ln -s .. d/up
expect_fail "through a symlinked folder" "is the store" Q publish --out d/up/s.db
check "the store survived it all" [ "$(dump)" = "$before" ]
check "a file next to the store is fine" Q publish --out s.db.txt

# 7. Markdown numbered by output id; usage names --recipe
check "publish md" Q publish --out p.md
check "headings are output ids" [ "$(grep '^## ' p.md | tr '\n' ' ')" = "## 3 ## 7 " ]
expect_fail "no arguments mentions --recipe" "--out FILE is required \(or --recipe RECIPE.yaml" Q publish

# 6. crash windows
sql "SELECT 1" >/dev/null
Q publish --out p.jsonl >/dev/null
check "a finished publication is done" [ "$(sql "SELECT state FROM publications ORDER BY id DESC LIMIT 1")" = done ]
check "approve 9" Q review approve 9 --reviewer alice
rc=0
{ QUILL_FAULT=publish-rename "$QUILL_ASAN" --db s.db publish --out p.jsonl >/dev/null 2>&1 || rc=$?; } 2>/dev/null
check "killed at the rename (exit $rc)" [ "$rc" = 137 ]
check "the temp file is left" bash -c "ls | grep -Eq '^p\.jsonl\.tmp\.[A-Za-z0-9]{6}$'"
check "the old file is untouched" [ "$(wc -l < p.jsonl)" = 2 ]
check "the publication is pending" [ "$(sql "SELECT state FROM publications ORDER BY id DESC LIMIT 1")" = pending ]
pending=$(sql "SELECT id FROM publications ORDER BY id DESC LIMIT 1")
: > p.jsonl.tmp.Zz9Yx1   # a stray temp of our naming (an older crash)
: > p.jsonl.tmp.keepme1  # not our naming: left alone
: > other.txt.tmp.Ab12Cd # another output's: left alone
check "the next publish reports the repair" bash -c "'$QUILL_ASAN' --db s.db publish --out p.jsonl | grep -q 'note: publication $pending to p.jsonl was interrupted before its file was put in place; recorded as abandoned'"
check "it is recorded abandoned" [ "$(sql "SELECT state FROM publications WHERE id = $pending")" = abandoned ]
check "no temp files of ours left" bash -c "! ls | grep -Eq '^p\.jsonl\.tmp\.[A-Za-z0-9]{6}$'"
check "other files kept" bash -c "[ -e p.jsonl.tmp.keepme1 ] && [ -e other.txt.tmp.Ab12Cd ]"
check "and it published the three" [ "$(wc -l < p.jsonl)" = 3 ]
check "approve nothing new; kill after the rename" bash -c "QUILL_FAULT=publish-renamed '$QUILL_ASAN' --db s.db publish --out q.txt; [ \$? = 137 ]"
check "the file is in place" [ "$(grep -c . q.txt)" = 3 ]
check "its publication is pending" [ "$(sql "SELECT state FROM publications ORDER BY id DESC LIMIT 1")" = pending ]
pending=$(sql "SELECT id FROM publications ORDER BY id DESC LIMIT 1")
check "the next publish completes the record" bash -c "'$QUILL_ASAN' --db s.db publish --out r.txt | grep -q 'note: publication $pending to q.txt was interrupted after its file was put in place; now recorded as done'"
check "recorded done" [ "$(sql "SELECT state FROM publications WHERE id = $pending")" = done ]
check "no pending publications left" [ "$(sql "SELECT COUNT(*) FROM publications WHERE state = 'pending'")" = 0 ]

# a FIFO is written in place (a rename would replace it) and recorded done
mkfifo pipe.txt
cat pipe.txt >from_pipe.txt &
reader=$!
check "publish into a FIFO" Q publish --out pipe.txt
wait "$reader"
check "the FIFO is still a FIFO" [ -p pipe.txt ]
check "the reader got the three texts" [ "$(grep -c . from_pipe.txt)" = 3 ]
check "recorded done, without a temp file" [ "$(sql "SELECT state || ',' || COALESCE(tmp_path, '-') FROM publications WHERE out_path = 'pipe.txt'")" = "done,-" ]
expect_fail "a folder is refused" "d: is a folder" Q publish --out d
summary
