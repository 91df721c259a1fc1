#!/bin/bash
# quill group against the reference of tests/reference/gen_group_fixture.js
# (Hugging Face's tokenizer, datasets' line splitting, run_clm's group_texts)
# on the notebook's 20 000 characters of Frankenstein; reruns change nothing.
. "$ROOT/tests/lib.sh"
export QUILL_DB="$SCRATCH/q.db"
FIX="$ROOT/tests/fixtures/group"

# The stored blocks of block set $1 (train, or eval with $2 = eval) as raw bytes.
blocks() {
    local col=${2:-train}_blob
    sqlite3 q.db "SELECT writefile('b.zst', data) FROM blobs WHERE id = \
        (SELECT $col FROM block_sets WHERE id = $1)" >/dev/null && zstd -qdf b.zst -o b.bin
}
same_blocks() { blocks "$1" && cmp b.bin "$2"; }
count() { sqlite3 q.db "$1"; }

check "ingest" $QUILL ingest "$FIX/frankenstein-20k.txt"
check "stored text unchanged" sh -c "$QUILL docs show 1 | cmp - '$FIX/frankenstein-20k.txt'"
check "lines mode" $QUILL_ASAN group --mode lines
check "lines blocks = HF reference" same_blocks 1 "$FIX/lines-b1000.u32"
check "rerun is a no-op" sh -c "$QUILL group --mode lines | grep -q 'already in the store'"
check "one block set" test "$(count 'SELECT count(*) FROM block_sets')" = 1
check "batches of 100 examples" $QUILL group --mode lines --batch-examples 100
check "per-batch remainders dropped = reference" same_blocks 2 "$FIX/lines-b100.u32"
check "document mode" $QUILL_ASAN group --mode document
check "document blocks = reference" same_blocks 3 "$FIX/document.u32"
check "held-out split" $QUILL group --eval-fraction 0.1 --seed 3
check "split sizes" test "$(count 'SELECT n_train || "+" || n_eval FROM block_sets WHERE id = 4')" = "66+8"
check "split covers every block once" sh -c "
    . '$ROOT/tests/lib.sh' >/dev/null 2>&1; cd '$SCRATCH'
    $(declare -f blocks); blocks 4 train && mv b.bin t.bin && blocks 4 eval &&
    cat t.bin b.bin | od -An -tu4 -w256 -v | sort > got && od -An -tu4 -w256 -v '$FIX/document.u32' | sort > want && cmp got want"
check "another seed, another split" $QUILL group --eval-fraction 0.1 --seed 4
check "five block sets" test "$(count 'SELECT count(*) FROM block_sets')" = 5
expect_fail "bad mode" "must be document or lines" $QUILL group --mode words
expect_fail "bad number" "--block-size .6x. is not a whole number" $QUILL group --block-size 6x
expect_fail "too big a block" "tokens make no block of 100000" $QUILL_ASAN group --block-size 100000
expect_fail "eval fraction out of range" "--eval-fraction .1. is not a number in \[0, 0.9\]" $QUILL group --eval-fraction 1
check "failures added nothing" test "$(count 'SELECT count(*) FROM block_sets')" = 5
check "help" $QUILL group --help
check "integrity" test "$(count 'PRAGMA integrity_check')" = ok
summary
