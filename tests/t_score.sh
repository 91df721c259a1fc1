#!/bin/bash
# quill score through the CLI: a checkpoint and its exported Hugging Face
# directory give the same numbers; tokens counted as `quill tokenize` does;
# perplexity = exp(loss); long texts (several windows) work; errors.
. "$ROOT/tests/lib.sh"
export QUILL_DB="$SCRATCH/q.db"
head -c 3000 "$ROOT/recipes/corpora/frankenstein.txt" > text.txt
"$QUILL" ingest text.txt >/dev/null
"$QUILL" group --block-size 16 >/dev/null
check "a tiny model trains" "$QUILL" train --init n_layer=1,n_head=2,n_embd=16,n_positions=32 \
    --max-steps 3 --save-steps 0 --quiet
check "export (making its parent folders)" "$QUILL" export latest deep/er/model
mv deep/er/model model
out=$("$QUILL" score --checkpoint latest --json text.txt)
check "the sanitised build scores too" "$QUILL_ASAN" score --checkpoint latest --json text.txt
n=$("$QUILL" tokenize text.txt | wc -w)
check "tokens counted as tokenize does ($n)" grep -q "\"tokens\": $n," <<<"$out"
check "the exported directory scores the same" test "$("$QUILL" score --model model --json text.txt)" = "$out"
check "perplexity is exp(loss)" python3 -c "
import json, math, sys
d = json.loads(sys.argv[1])
assert 9 < d['loss'] < 12 and abs(d['perplexity'] - math.exp(d['loss'])) < 1e-3 * d['perplexity']
" "$out"
check "stdin and plain output" bash -c "'$QUILL' score --checkpoint latest < text.txt | grep -Eq '^tokens $n  loss [0-9.]+  perplexity [0-9.]+$'"
printf 'Hi' > one.txt
expect_fail "one token cannot be scored" "score: one.txt: the text has 1 token; scoring needs at least 2" "$QUILL_ASAN" score --checkpoint latest one.txt
expect_fail "no model" "give exactly one of --model DIR and --checkpoint ID" "$QUILL_ASAN" score text.txt
expect_fail "missing model directory" "quill: score: no/such" "$QUILL_ASAN" score --model no/such text.txt
expect_fail "missing text" "quill: score: missing.txt" "$QUILL_ASAN" score --checkpoint latest missing.txt
summary
