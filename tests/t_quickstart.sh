#!/bin/bash
# The README's first command end to end: scripts/quickstart.sh builds quill
# and runs recipes/quickstart.yaml to the point where outputs wait for
# review, within 10 minutes; every output keeps its constraints; a second
# run skips every stage; changing only the generate section reruns only
# generate.
. "$ROOT/tests/lib.sh"
export QUILL_DB="$SCRATCH/quickstart.db"
start=$(date +%s)
check "scripts/quickstart.sh runs to the review queue" bash -c "'$ROOT/scripts/quickstart.sh' > '$SCRATCH/run1.log' 2>&1"
secs=$(( $(date +%s) - start ))
echo "# quickstart took ${secs}s"
check "under 10 minutes (${secs}s)" test "$secs" -lt 600
n=$(sqlite3 "$QUILL_DB" "SELECT count(*) FROM outputs WHERE status = 'pending'")
check "outputs wait for review ($n)" test "$n" -gt 0
# Independent checks on the stored text (the recipe bans night/day in one
# job and the letter e in the other).
bad=$(sqlite3 "$QUILL_DB" "SELECT count(*) FROM outputs WHERE prompt LIKE 'It was%' AND (lower(continuation) GLOB '*night*' OR lower(continuation) GLOB '*day*')")
check "banned words never appear" test "$bad" = 0
bad=$(sqlite3 "$QUILL_DB" "SELECT count(*) FROM outputs WHERE prompt LIKE 'Two roads%' AND lower(continuation) GLOB '*e*'")
check "the lipogram has no e" test "$bad" = 0
"$ROOT/quill" run "$ROOT/recipes/quickstart.yaml" > "$SCRATCH/run2.log" 2>&1
check "a second run skips every stage" test "$(grep -c 'unchanged, skipping' "$SCRATCH/run2.log")" = 5
# The same recipe beside its own copy of the corpus, with one generate
# parameter changed.
mkdir -p "$SCRATCH/r/corpora"
cp "$ROOT/recipes/corpora/frankenstein.txt" "$SCRATCH/r/corpora/"
sed 's/max_new_tokens: 40/max_new_tokens: 30/' "$ROOT/recipes/quickstart.yaml" > "$SCRATCH/r/quickstart.yaml"
"$ROOT/quill" run "$SCRATCH/r/quickstart.yaml" > "$SCRATCH/run3.log" 2>&1
check "changing generate skips the four stages before it" test "$(grep -c 'unchanged, skipping' "$SCRATCH/run3.log")" = 4
check "and reruns generate" grep -q '^generate: done' "$SCRATCH/run3.log"
summary
