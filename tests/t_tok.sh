#!/bin/bash
# The tokenizer commands: tokenize (ids, --pieces, --jsonl, --no-special,
# --model), detokenize, vocab, the tokenize stage (tokenize --docs), and
# their errors.
. "$ROOT/tests/lib.sh"
Q=$QUILL_ASAN
NB='Behold! An alabaster anemone. Zzzzap!'
NB_IDS='3856 2946 0 1052 435 397 1603 281 368 505 13 1168 3019 89 499 0'

check "notebook ids" bash -c "[ \"\$(printf '%s' '$NB' | $Q tokenize)\" = '$NB_IDS' ]"
printf '%s' "$NB" >nb.txt
check "file argument" bash -c "[ \"\$($Q tokenize nb.txt)\" = '$NB_IDS' ]"
check "explicit --model" bash -c "[ \"\$($Q tokenize --model '$ROOT/models/gpt2' nb.txt)\" = '$NB_IDS' ]"
check "pieces like the notebook" bash -c "$Q tokenize --pieces nb.txt >p.txt && [ \$(wc -l <p.txt) -eq 16 ] &&
    head -1 p.txt | grep -qx \"3856 → 'Be'\" && sed -n 4p p.txt | grep -qx \"1052 → ' An'\""
check "pieces escape newlines" bash -c "printf 'a\n' | $Q tokenize --pieces | grep -qx \"198 → '\\\\\\\\n'\""
check "special token" bash -c "[ \"\$(printf 'a<|endoftext|>b' | $Q tokenize)\" = '64 50256 65' ]"
check "--no-special" bash -c "[ \"\$(printf 'a<|endoftext|>b' | $Q tokenize --no-special)\" = '64 27 91 437 1659 5239 91 29 65' ]"
check "empty input" bash -c "[ \"\$(printf '' | $Q tokenize)\" = '' ]"

# round trip through detokenize, on Frankenstein and on invalid UTF-8
check "frankenstein round trip" bash -c "$Q tokenize '$ROOT/recipes/corpora/frankenstein.txt' | $Q detokenize | cmp - '$ROOT/recipes/corpora/frankenstein.txt'"
printf 'ok \xff\xfe\xc3 bytes\x00\n' >bad.bin
check "invalid UTF-8 round trip" bash -c "$Q tokenize bad.bin | $Q detokenize | cmp - bad.bin"
check "detokenize notebook" bash -c "[ \"\$(echo '$NB_IDS' | $Q detokenize)\" = '$NB' ]"

# jsonl
printf '{"text": "this is a test"}\n{"text": "this is another test"}\n\n{"text": "a\\u0000<|endoftext|>"}\n' >in.jsonl
check "jsonl" bash -c "$Q tokenize --jsonl in.jsonl >out.jsonl && [ \$(wc -l <out.jsonl) -eq 3 ] &&
    sed -n 1p out.jsonl | grep -qx '{\"ids\": \[5661, 318, 257, 1332\]}' &&
    sed -n 2p out.jsonl | grep -qx '{\"ids\": \[5661, 318, 1194, 1332\]}' &&
    sed -n 3p out.jsonl | grep -qx '{\"ids\": \[64, 188, 50256\]}'"
printf '{"text": "fine"}\n{"text": "fine"}\n{"text": broken}\n' >bad.jsonl
expect_fail "malformed jsonl names its line" "line 3" $Q tokenize --jsonl bad.jsonl
printf '{"text": "fine"}\n{"txt": "no"}\n' >bad2.jsonl
expect_fail "jsonl without text names its line" "line 2.*text" $Q tokenize --jsonl bad2.jsonl

# errors
expect_fail "out-of-range id named" "50257" bash -c "echo '1 2 50257' | $Q detokenize"
expect_fail "negative id named" "'-1'|-1" bash -c "echo '1 -1' | $Q detokenize"
expect_fail "non-number named" "'abc'" bash -c "echo '1 abc 2' | $Q detokenize"
expect_fail "missing model dir named" "/no/such/dir" $Q tokenize --model /no/such/dir nb.txt
expect_fail "missing file named" "nope.txt" $Q tokenize nope.txt
expect_fail "bundled model not found names where it looked" "looked in.*models/gpt2" \
    env QUILL_HOME=/nowhere bash -c "cp $QUILL ./q && ./q tokenize nb.txt"
check "bundled model found next to the executable" bash -c "cd / && [ \"\$($QUILL tokenize '$SCRATCH/nb.txt')\" = '$NB_IDS' ]"
check "help" bash -c "$Q tokenize --help | grep -q -- --jsonl && $Q detokenize --help | grep -q ids && $Q vocab --help | grep -q -- --sample"

# vocab
check "vocab size" bash -c "[ \"\$($Q vocab --size)\" = 50257 ]"
check "vocab summary" bash -c "$Q vocab | grep -q 'special    <|endoftext|> 50256'"
check "vocab sample is seeded" bash -c "$Q vocab --sample 12 --seed 7 >a && $Q vocab --sample 12 --seed 7 >b &&
    $Q vocab --sample 12 --seed 8 >c && cmp a b && ! cmp -s a c && [ \$(wc -l <a) -eq 12 ]"
expect_fail "vocab bad sample" "--sample .x. is not a whole number" $Q vocab --sample x

# the tokenize stage's command (the stage itself: tests/test_tokenize_stage.c)
expect_fail "tokenize --docs without a store" "no store at s.db" $Q --db s.db tokenize --docs
check "tokenize --docs on an empty store" bash -c "$Q --db e.db ingest /dev/null >/dev/null &&
    $Q --db e.db tokenize --docs | grep -qx 'tokenized 0 documents (tokenizer 1)'"
printf 'Behold! An alabaster anemone. Zzzzap!' >a.txt
printf 'this is a test' >b.txt
check "tokenize --docs after ingest, then nothing to do" bash -c "$Q --db s.db ingest a.txt b.txt >/dev/null &&
    $Q --db s.db tokenize --docs | grep -qx 'tokenized 2 documents (tokenizer 1)' &&
    $Q --db s.db tokenize --docs | grep -qx 'tokenized 0 documents (tokenizer 1)'"
check "tokenize --docs stores the ids as u16" bash -c "[ \"\$(sqlite3 s.db 'SELECT group_concat(n_tokens || dtype, \" \") FROM (SELECT * FROM doc_tokens ORDER BY doc_id)')\" = '16u16 4u16' ]"
summary
