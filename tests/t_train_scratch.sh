#!/bin/bash
# Training from scratch: a small GPT-2 (2 layers, 64 wide, GPT-2's
# vocabulary) trained by `quill train` for 400 steps on 10 000 characters of
# Frankenstein (lines mode, as the notebook) reaches a loss
# far below the text's unigram entropy (computed here from its token ids),
# and its sampled continuation is made of the book's words.  The test
# prints its training time: 106 s measured here on 2 cores shared with
# other jobs (loss 3.60 against an entropy of 5.72).
. "$ROOT/tests/lib.sh"
cd "$ROOT" # the bundled tokenizer
export QUILL_DB="$SCRATCH/q.db"
# 10 000 characters of the narrative (from Walton's first letter)
sed -n '/^You will rejoice/,$p' recipes/corpora/frankenstein.txt | head -c 10000 > "$SCRATCH/f.txt"
check "ingest" $QUILL ingest "$SCRATCH/f.txt"
check "group" $QUILL group --block-size 32 --mode lines

# unigram entropy (nats) of the text's GPT-2 tokens: the loss of the best
# model that ignores context
H=$(tr '\n' ' ' < "$SCRATCH/f.txt" | $QUILL tokenize | tr ' ' '\n' |
    awk 'NF { c[$1]++; n++ } END { for (k in c) { p = c[k] / n; h -= p * log(p) }; printf "%.4f", h }')
start=$(date +%s)
check "train 400 steps from scratch" $QUILL train --init n_layer=2,n_head=2,n_embd=64,n_positions=32 \
    --max-steps 400 --learning-rate 1e-2 --warmup-steps 10 --save-steps 0 --logging-steps 50 \
    --dropout 0 --quiet
secs=$(( $(date +%s) - start ))
loss=$(sqlite3 "$QUILL_DB" "SELECT loss FROM train_logs WHERE kind = 'train' ORDER BY step DESC LIMIT 1")
first=$(sqlite3 "$QUILL_DB" "SELECT loss FROM train_logs WHERE kind = 'train' ORDER BY step LIMIT 1")
echo "# unigram entropy $H nats; loss at step 50 $first, at step 400 $loss; training took ${secs}s"
check "final loss ($loss) over 1.5 nats below the unigram entropy ($H)" \
    awk -v l="$loss" -v h="$H" 'BEGIN { exit !(l < h - 1.5) }'

# the book's words, and the 100 most frequent of 4+ letters
tr -cs 'A-Za-z' '\n' < "$SCRATCH/f.txt" | tr 'A-Z' 'a-z' | sort > "$SCRATCH/words"
uniq "$SCRATCH/words" > "$SCRATCH/vocab"
awk 'length($0) >= 4' "$SCRATCH/words" | uniq -c | sort -rn | head -100 | awk '{ print $2 }' \
    | sort > "$SCRATCH/top"
$QUILL generate --checkpoint latest --prompt "I" --greedy --max-new-tokens 31 \
    > "$SCRATCH/greedy.txt" 2>/dev/null
$QUILL generate --checkpoint latest --prompt "The" --seed 1 --max-new-tokens 31 \
    > "$SCRATCH/sample.txt" 2>/dev/null
echo "# greedy: $(tr '\n' ' ' < "$SCRATCH/greedy.txt" | cut -c1-300)"
echo "# sampled: $(tr '\n' ' ' < "$SCRATCH/sample.txt" | cut -c1-300)"
# the sampled text (the greedy one of so small a model soon repeats punctuation);
# a model that learnt nothing samples GPT-2 tokens at random: no book words
grep -v '^--- ' "$SCRATCH/sample.txt" | tr -cs 'A-Za-z' '\n' | tr 'A-Z' 'a-z' | awk NF > "$SCRATCH/gen"
n=$(wc -l < "$SCRATCH/gen")
known=$(grep -cxFf "$SCRATCH/vocab" "$SCRATCH/gen" || true)
distinct=$(sort -u "$SCRATCH/gen" | wc -l)
frequent=$(sort -u "$SCRATCH/gen" | comm -12 - "$SCRATCH/top" | wc -l)
echo "# sampled words: $n, of the book: $known, distinct: $distinct, among its 100 most frequent: $frequent"
check "sampled text has words ($n)" test "$n" -ge 12
# (uniformly random GPT-2 tokens would rarely be whole words of the book)
check "75% of its words are the book's ($known of $n)" test $((known * 4)) -ge $((n * 3))
check "varied ($distinct distinct words)" test "$distinct" -ge 6
check "frequent Frankenstein words ($frequent)" test "$frequent" -ge 2
summary
