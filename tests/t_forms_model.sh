#!/bin/bash
# Poetic forms from the quickstart's trained model (issue 16): recipes/haiku.yaml
# runs as it is (it trains the quickstart's small model on Frankenstein, with
# 160 positions, and writes haiku), then that model writes haiku, ABAB
# quatrains of 8 syllables a line, acrostics, word-list haiku and forms under
# lipograms and banned words.  The independent checker
# (tests/reference/check_forms.py) finds no violation in any output, and at
# least 95% of haiku and 90% of ABAB quatrains complete within 120 new
# tokens (the rates are printed).  With t_forms.sh (random tiny models) the
# checker sees over 5 000 outputs.
. "$ROOT/tests/lib.sh"
export QUILL_DB="$SCRATCH/q.db"
CHECK="python3 $ROOT/tests/reference/check_forms.py $ROOT/data/cmudict/cmudict.dict"
mkdir -p recipes/corpora
cp "$ROOT/recipes/haiku.yaml" recipes/
cp "$ROOT/recipes/corpora/frankenstein.txt" recipes/corpora/
start=$(date +%s)
check "recipes/haiku.yaml runs as it is" "$QUILL" run recipes/haiku.yaml
echo "# haiku.yaml (training included) took $(($(date +%s) - start))s"
M=out/haiku-model
check "its haiku hold their form" sh -c "sqlite3 q.db \"SELECT json_object('continuation', \
    continuation, 'finish_reason', finish_reason) FROM outputs WHERE recipe_name = 'haiku'\" | $CHECK --form haiku"
# the 300 most frequent words of the book's first 20 000 characters
head -c 20000 "$ROOT/recipes/corpora/frankenstein.txt" | tr -cs 'A-Za-z' '\n' | tr 'A-Z' 'a-z' |
    sort | uniq -c | sort -k1,1nr -k2 | awk 'NR <= 300 {print $2}' > words.txt

# name|outputs per prompt|form options|constraints (the checker's too)|seed;
# all: 120 new tokens, temperature 0.9, top_k 50, as the recipes
RUNS=(
    "haiku|100|--form haiku||11"
    "abab|100|--syllables 8,8,8,8 --rhyme ABAB||12"
    "acrostic|50|--acrostic MOON --syllables 6,6,6,6||13"
    "wordlist|50|--vocabulary words.txt --syllables 5,7,5||14"
    "lipogram|50|--form haiku|--forbid-chars e|15"
    "banned|50|--syllables 8,8,8,8 --rhyme ABAB|--banned-words the,and,of --forbid-chars z|16"
)
total=0
for run in "${RUNS[@]}"; do
    IFS='|' read -r name n form cons seed <<<"$run"
    read -ra flags <<<"$form $cons"
    "$QUILL" generate --model "$M" --prompt "The moon" --prompt "I saw the" --seed "$seed" \
        --num-return-sequences "$n" --max-new-tokens 120 --temperature 0.9 --top-k 50 \
        --json --no-store --batch 32 "${flags[@]}" > "$name.jsonl" 2>"$name.err" ||
        fail "generate $name" "$(cat "$name.err")"
    check "$name (${flags[*]}): $((2 * n)) outputs, 0 violations" sh -c "$CHECK ${flags[*]} < $name.jsonl"
    echo "# $name: $($CHECK "${flags[@]}" < "$name.jsonl" | tail -1)"
    total=$((total + 2 * n))
done
echo "# $total outputs of the trained model checked"
rate() { # name threshold%: the share of outputs ending "form", printed and checked
    python3 - "$1.jsonl" "$2" <<'EOF'
import json, sys
rs = [json.loads(l)["finish_reason"] for l in open(sys.argv[1])]
r = 100.0 * rs.count("form") / len(rs)
print("%s: %d of %d complete within 120 new tokens (%.1f%%, need %s%%)" % (sys.argv[1], rs.count("form"), len(rs), r, sys.argv[2]))
sys.exit(r < float(sys.argv[2]))
EOF
}
rate haiku 95
rate abab 90
check "at least 95% of haiku complete" rate haiku 95
check "at least 90% of ABAB quatrains complete" rate abab 90
summary
