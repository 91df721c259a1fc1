#!/bin/bash
# Poetic forms by construction (issue 16): outputs of random tiny models
# under haiku, ABAB quatrains of 8 syllables, acrostics, word lists and
# combinations with lipograms and banned words, checked by an independent
# checker (tests/reference/check_forms.py, written from the issue's
# definitions): every output is a whole form ending "form" or a correct
# beginning of one ending "length"/"dead_end", never a broken poem; an
# output regenerates exactly from its recorded seed; the recipe keys work;
# bad forms are refused.
. "$ROOT/tests/lib.sh"
export QUILL_DB="$SCRATCH/q.db"
CHECK="python3 $ROOT/tests/reference/check_forms.py $ROOT/data/cmudict/cmudict.dict"
head -c 2000 "$ROOT/recipes/corpora/frankenstein.txt" > text.txt
"$QUILL" ingest text.txt >/dev/null
"$QUILL" group --block-size 16 >/dev/null
for seed in 1 2; do
    check "random tiny model $seed" "$QUILL" train --init n_layer=1,n_head=2,n_embd=16,n_positions=96 \
        --seed $seed --max-steps 1 --save-steps 0 --quiet
    "$QUILL" export latest m$seed >/dev/null
done
printf 'the\nsea\nand\nI\nsky\nblue\nbe\nme\nsee\nthee\ndon'"'"'t\nfree\n' > words.txt

# model|outputs|form options|other options ("P" = punctuation and h, which
# carry the 0-syllable words hm, sh, ths, forbidden so random models finish)
P='h-.,;:!?"'
RUNS=(
    "m1|500|--form haiku|--forbid-chars '$P' --max-new-tokens 50 --seed 1"
    "m2|500|--syllables 5,7,5|--forbid-chars '${P}e' --max-new-tokens 50 --temperature 2 --seed 2"
    "m1|500|--syllables 8,8,8,8 --rhyme ABAB|--forbid-chars '$P' --max-new-tokens 90 --seed 3"
    "m2|300|--syllables 8,8,8,8 --rhyme ABAB|--forbid-chars '$P' --banned-words the,and --max-new-tokens 90 --seed 4"
    "m1|500|--acrostic SAD --vocabulary words.txt --syllables 2,2,2|--forbid-chars '$P' --max-new-tokens 30 --seed 5"
    "m2|500|--vocabulary words.txt --syllables 2,3|--forbid-chars '$P' --max-new-tokens 30 --seed 6"
    "m1|500|--vocabulary words.txt --syllables 3,2 --rhyme AA|--forbid-chars '${P}o' --max-new-tokens 40 --seed 7"
    "m2|500|--acrostic OWL --syllables 4,4,4|--forbid-chars '$P' --max-new-tokens 40 --seed 8"
    "m1|500|--acrostic SEA|--max-new-tokens 20 --temperature 3 --top-k 0 --seed 9"
)
total=0
for i in "${!RUNS[@]}"; do
    IFS='|' read -r model n form other <<<"${RUNS[$i]}"
    eval "fopts=($form) oopts=($other)"
    "$QUILL" generate --model "$model" --prompt "Once upon a time" --prompt "The sea" \
        --num-return-sequences $((n / 2)) --json --batch 32 "${fopts[@]}" "${oopts[@]}" \
        > run$i.jsonl 2>run$i.err || fail "generate run $i" "$(cat run$i.err)"
    cflags=("${fopts[@]}")
    for ((k = 0; k < ${#oopts[@]}; k++)); do
        case ${oopts[$k]} in --forbid-chars | --banned-words) cflags+=("${oopts[$k]}" "${oopts[$((k + 1))]}") ;; esac
    done
    check "run $i (${form}): $n outputs, 0 violations" sh -c "$CHECK ${cflags[*]@Q} < run$i.jsonl"
    $CHECK "${cflags[@]}" < run$i.jsonl | tail -1
    total=$((total + n))
    # output 0 regenerates exactly from its recorded seed
    s=$(head -1 run$i.jsonl | python3 -c 'import json,sys; print(json.load(sys.stdin)["seed"])')
    "$QUILL" generate --model "$model" --prompt "Once upon a time" --raw-seed --no-store --json \
        "${fopts[@]}" "${oopts[@]}" --seed "$s" > regen$i.jsonl
    check "run $i: output 0 regenerates from its seed" python3 - run$i.jsonl regen$i.jsonl <<'EOF'
import json, sys
a = json.loads(open(sys.argv[1]).readline())
b = json.loads(open(sys.argv[2]).readline())
assert (a["continuation"], a["finish_reason"]) == (b["continuation"], b["finish_reason"]), (a, b)
EOF
done
echo "# $total outputs checked"
check "some outputs of every form complete" python3 - run?.jsonl <<'EOF'
import json, sys
for p in sys.argv[1:-1]:  # the last: an acrostic of any words, where random models ramble
    rs = [json.loads(l)["finish_reason"] for l in open(p)]
    assert rs.count("form") > 0, (p, rs[:20])
    assert set(rs) <= {"form", "length", "dead_end"}, (p, set(rs))
EOF
check "a form's outputs record it in their params" sh -c \
    "sqlite3 q.db \"SELECT params_json FROM outputs LIMIT 1 OFFSET 1250\" | grep -q '\"rhyme\":\"ABAB\"'"

# the same keys in a recipe's generate job
cat > r.yaml <<EOF
name: forms
model: {from: m1}
generate:
  - prompts: ["The sea"]
    num_return_sequences: 6
    max_new_tokens: 50
    forbid_chars: '$P'
    form: haiku
  - prompts: ["The sea"]
    num_return_sequences: 4
    max_new_tokens: 30
    vocabulary: words.txt
    syllables: [3, 2]
    rhyme: AA
EOF
check "a recipe's generate job takes form, syllables, rhyme, vocabulary" "$QUILL" run r.yaml
check "the recipe's outputs hold their forms" sh -c \
    "sqlite3 q.db \"SELECT json_object('continuation', continuation, 'finish_reason', finish_reason) FROM outputs WHERE recipe_name = 'forms' AND params_json LIKE '%\\\"rhyme\\\":\\\"\\\"%'\" | $CHECK --form haiku --forbid-chars '$P' && sqlite3 q.db \"SELECT json_object('continuation', continuation, 'finish_reason', finish_reason) FROM outputs WHERE recipe_name = 'forms' AND params_json LIKE '%AA%'\" | $CHECK --syllables 3,2 --rhyme AA --vocabulary words.txt"

# review show states a form's facts; an edit breaking a complete form is
# refused, kept flagged only with --allow-constraint-breaks
id=$(sqlite3 q.db "SELECT id FROM outputs WHERE recipe_name = 'forms' AND finish_reason = 'form' AND params_json LIKE '%AA%' LIMIT 1")
"$QUILL" review show "$id" > show.txt
check "review show: the form holds, each line's syllables, the rhyme pair" sh -c \
    "grep -q '^form: 2 lines of 2, holds' show.txt && grep -Eq '^  line 1: 3 syllables \\(of 3\\), ends \"[a-z]+\"' show.txt && grep -Eq '^  line 2: 2 syllables \\(of 2\\), .*rhymes with line 1' show.txt"
expect_fail "an edit breaking the form is refused" "breaks the output's constraints: it has the broken form \\(line 2 has 1 syllables, not 2\\)" \
    "$QUILL" review edit "$id" --text "$(printf 'The sea\nthe sea I\nbe\n')" --reviewer ann
check "with --allow-constraint-breaks it is kept, flagged" "$QUILL" review edit "$id" \
    --text "$(printf 'The sea\nthe sea I\nbe\n')" --reviewer ann --allow-constraint-breaks
check "review show: the form is broken" sh -c "'$QUILL' review show $id | grep -q '^form: 2 lines of 2, BROKEN: line 2 has 1 syllables, not 2'"

# bad forms are refused, naming the problem
G=("$QUILL" generate --model m1 --prompt x --no-store)
"${G[@]}" --form haiku --max-new-tokens 1 --stats >/dev/null 2>stats.err
check "--stats gives the form's set-up time" grep -Eq "set up in [0-9]+\.[0-9] ms" stats.err
expect_fail "syllables not numbers" "syllables.*expected counts" "${G[@]}" --syllables 5,x
expect_fail "lines disagree" "--syllables gives 3 lines, --lines 2" "${G[@]}" --form haiku --lines 2
expect_fail "rhyme without lines" "rhyme scheme|rhyme" "${G[@]}" --rhyme AB --syllables 5,5,5
expect_fail "unknown form" "known form is haiku" "${G[@]}" --form sonnet
expect_fail "vocabulary file missing" "vocabulary" "${G[@]}" --vocabulary nope.txt --lines 1
expect_fail "no word can start a line" "no words can fill line 1 \\(no word starts" "${G[@]}" \
    --vocabulary words.txt --acrostic ZA
expect_fail "acrostic of a non-letter" "not an ASCII letter" "${G[@]}" --acrostic "A1"
summary
