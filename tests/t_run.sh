#!/bin/bash
# quill run / quill status with the stages this build has (ingest): runs,
# skips when unchanged, reruns on a changed parameter or input, uses the
# recipe's store, reports recipe mistakes with their position.
. "$ROOT/tests/lib.sh"

mkdir -p proj/texts
printf 'It was a dark and stormy night.\n' > proj/texts/a.txt
printf 'Call me Ishmael.\n' > proj/texts/b.txt
cat > proj/recipe.yaml <<'EOS'
name: ingest-only
store: work.db
model: {from: nowhere}
ingest: {paths: [texts], max_chars: 10}
review: {min_approvals: 3}
EOS
run() { "$QUILL_ASAN" run proj/recipe.yaml "$@"; }
check "first run ingests" bash -c "'$QUILL_ASAN' run proj/recipe.yaml | grep -q 'added 2, duplicates 0'"
check "recipe's store, relative to the recipe" [ -f proj/work.db ]
check "texts cut to max_chars" [ "$(sqlite3 proj/work.db "SELECT group_concat(chars) FROM documents")" = "10,10" ]
check "second run skips" bash -c "'$QUILL_ASAN' run proj/recipe.yaml | grep -qx 'ingest: unchanged, skipping'"
check "status shows done" bash -c "'$QUILL_ASAN' status proj/recipe.yaml | grep -Eq '^  ingest +done +last run'"
check "status counts" bash -c "'$QUILL_ASAN' status proj/recipe.yaml | grep -q 'documents 2, tokens 0'"
check "status lists recipes" bash -c "'$QUILL_ASAN' --db proj/work.db status | grep -q 'recipe ingest-only: run 2 done'"
check "review rule recorded" [ "$(sqlite3 proj/work.db "SELECT min_approvals FROM review_rules")" = 3 ]
sed -i 's/max_chars: 10/max_chars: 12/' proj/recipe.yaml
check "status sees the change" bash -c "'$QUILL_ASAN' status proj/recipe.yaml | grep -Eq '^  ingest +changed'"
check "changed parameter reruns" bash -c "'$QUILL_ASAN' run proj/recipe.yaml | grep -q 'added 2, duplicates 0'"
printf 'Call you Ishmael\n' > proj/texts/b.txt
check "changed input reruns" bash -c "'$QUILL_ASAN' run proj/recipe.yaml | grep -q 'added 1, duplicates 1'"
check "--force reruns" bash -c "'$QUILL_ASAN' run proj/recipe.yaml --force ingest | grep -q 'added 0, duplicates 2'"
check "--db overrides the recipe's store" bash -c "'$QUILL_ASAN' --db other.db run proj/recipe.yaml >/dev/null && [ -f other.db ]"
check "runs recorded" [ "$(sqlite3 proj/work.db "SELECT group_concat(status) FROM recipe_runs")" = "done,done,done,done,done" ]
expect_fail "bad stage name" "expected ingest, tokenize, group, train or generate" run --force trian
# Two recipes sharing one store group only their own documents.
mkdir -p shared/one shared/two
printf 'First corpus: the quick brown fox jumps over the lazy dog again and again.\n' > shared/one/a.txt
printf 'Second corpus: a different text entirely, with other words in it, for sure.\n' > shared/two/b.txt
for k in one two; do
    cat > shared/$k.yaml <<EOS
name: corpus-$k
model: {init: {n_layer: 1, n_head: 1, n_embd: 8, n_positions: 16}}
ingest: {paths: [$k]}
group: {block_size: 4}
EOS
    "$QUILL_ASAN" --db shared/s.db run shared/$k.yaml --until group >/dev/null 2>&1
done
blocks_of() { # recipe -> its group result's first block, as text
    local id
    id=$(sqlite3 shared/s.db "SELECT json_extract(result_json, '$.block_set_id') FROM stage_runs WHERE recipe_name = '$1' AND stage = 'group'")
    sqlite3 shared/s.db "SELECT n_train FROM block_sets WHERE id = $id"
}
check "two recipes, two block sets" [ "$(sqlite3 shared/s.db 'SELECT count(*) FROM block_sets')" = 2 ]
check "each recipe groups only its documents" [ "$(sqlite3 shared/s.db "SELECT group_concat(json_array_length(json_extract(result_json, '$.doc_ids'))) FROM stage_runs WHERE stage = 'ingest'")" = "1,1" ]
n1=$(blocks_of corpus-one); n2=$(blocks_of corpus-two)
t1=$("$QUILL" tokenize shared/one/a.txt | wc -w); t2=$("$QUILL" tokenize shared/two/b.txt | wc -w)
check "block counts follow each corpus alone ($n1=$t1/4, $n2=$t2/4)" [ "$n1" = $((t1 / 4)) -a "$n2" = $((t2 / 4)) ]
cat > bad.yaml <<'EOS'
name: x
model: {from: m}
ingest:
  paths: [a]
  max_char: 5
EOS
expect_fail "recipe error with position" "^quill: bad.yaml:5:3: unknown key 'max_char' in ingest \(did you mean 'max_chars'\?\)" "$QUILL" run bad.yaml
printf 'name: x\nmodel: {from: m}\ntrain: {batch_size: -1}\n' > bad2.yaml
expect_fail "range error" "bad2.yaml:3:21: train.batch_size: expected an integer in 1..1048576, got -1" "$QUILL" status bad2.yaml
expect_fail "missing recipe" "nope.yaml: No such file" "$QUILL" run nope.yaml
printf 'name: x\nmodel: {from: m}\ningest: {paths: [missing.txt]}\n' > miss.yaml
expect_fail "missing input" "ingest: ./missing.txt: No such file|ingest: missing.txt: No such file" "$QUILL" --db m.db run miss.yaml
check "failed run recorded" [ "$(sqlite3 m.db "SELECT status FROM recipe_runs")" = failed ]

# with the tokenize and group stages: the notebook's 20000 characters of
# Frankenstein in 64-token blocks, then 32-token blocks (twice as many)
export QUILL_HOME="$ROOT"
cat > nb.yaml <<EOS
name: notebook-blocks
model: {from: nowhere}
ingest: {paths: ["$ROOT/recipes/corpora/frankenstein.txt"], max_chars: 20000}
tokenize: {}
group: {block_size: 64, mode: lines}
EOS
check "ingest, tokenize, group" bash -c "'$QUILL_ASAN' --db nb.db run nb.yaml > nb1.out"
check "tokenized" grep -q "tokenized 1 document" nb1.out
check "68 blocks of 64" grep -q "68 train, 0 eval blocks of 64 tokens" nb1.out
check "rerun skips all three" bash -c "[ \$('$QUILL' --db nb.db run nb.yaml | grep -c 'unchanged, skipping') = 3 ]"
sed -i 's/block_size: 64/block_size: 32/' nb.yaml
check "block_size change reruns only group" bash -c "'$QUILL' --db nb.db run nb.yaml > nb2.out && grep -q 'ingest: unchanged' nb2.out && grep -q 'tokenize: unchanged' nb2.out && grep -q '136 train, 0 eval blocks of 32 tokens' nb2.out"
check "status counts blocks and tokens" bash -c "'$QUILL' --db nb.db status nb.yaml | grep -Eq 'documents 1, tokens [1-9][0-9]+, blocks 204'"
# The stages' recorded results are read back typed: a key missing from a
# skipped stage's result fails the run naming it (not a silent 0), and a
# store whose stage_runs cannot be read fails instead of rerunning.
cp nb.db nbk.db
sqlite3 nbk.db "UPDATE stage_runs SET result_json = '{\"n_done\":1}' WHERE stage = 'tokenize'"
expect_fail "recorded result missing a key" "tokenize's recorded result: \"tokenizer_id\" is missing" "$QUILL" --db nbk.db run nb.yaml
cp nb.db nbe.db
sqlite3 nbe.db "ALTER TABLE stage_runs RENAME TO stage_runs_real; CREATE VIEW stage_runs AS SELECT id, recipe_run_id, recipe_name, stage, identity, params_json, CASE WHEN abs(-9223372036854775807 - 1) THEN result_json END AS result_json, status, started_at, finished_at FROM stage_runs_real"
expect_fail "stage_runs unreadable: an error, no rerun" "ingest: .*stage runs: integer overflow" "$QUILL" --db nbe.db run nb.yaml
summary
