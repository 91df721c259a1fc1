#!/bin/bash
# Property test of text integrity (issue 11): 5 000 constrained outputs of
# random tiny models (two seeds; lipograms of several letters, banned words,
# stop strings, length limits down to one token, flat temperatures that
# favour the byte tokens) are all valid UTF-8 without NUL or U+FFFD, every
# --json line carries every field, a few regenerate exactly from their
# recorded seed, batching changes nothing, and once approved they publish
# to txt, md and jsonl with byte-identical texts.  Bad prompts are refused.
. "$ROOT/tests/lib.sh"
export QUILL_DB="$SCRATCH/q.db"
head -c 2000 "$ROOT/recipes/corpora/frankenstein.txt" > text.txt
"$QUILL" ingest text.txt >/dev/null
"$QUILL" group --block-size 16 >/dev/null
for seed in 1 2; do
    check "random tiny model $seed" "$QUILL" train --init n_layer=1,n_head=2,n_embd=16,n_positions=32 \
        --seed $seed --max-steps 1 --save-steps 0 --quiet
    "$QUILL" export latest m$seed >/dev/null
done

# model|options (each run: 2 prompts x 250 outputs = 500; 10 runs = 5 000)
RUNS=(
    "m1|--forbid-chars e --banned-words night,day,the --max-new-tokens 8 --seed 1"
    "m1|--forbid-chars aeiou --max-new-tokens 5 --temperature 3 --top-k 0 --seed 2"
    "m1|--forbid-chars sé’ --stop-string . --stop-string é --max-new-tokens 6 --seed 3"
    "m1|--banned-words a,of,and --match substring --max-new-tokens 3 --temperature 2 --seed 4"
    "m1|--forbid-chars e --max-new-tokens 1 --temperature 4 --top-k 0 --seed 5"
    "m2|--forbid-chars t --stop-string ' ' --max-new-tokens 4 --temperature 2 --seed 6"
    "m2|--max-new-tokens 2 --top-k 0 --temperature 5 --seed 7"
    "m2|--ignore-eos --forbid-chars nE --banned-words it,is --case-sensitive --max-new-tokens 7 --seed 8"
    "m2|--forbid-chars o --banned-words the --stop-string th --max-new-tokens 5 --temperature 3 --seed 9"
    "m2|--forbid-chars iu --max-new-tokens 2 --temperature 6 --top-k 0 --seed 10"
)
PROMPTS=("Once upon a time" "naïve café –")
: > all.jsonl
for i in "${!RUNS[@]}"; do
    model=${RUNS[$i]%%|*}
    eval "opts=(${RUNS[$i]#*|})"
    "$QUILL" generate --model "$model" --prompt "${PROMPTS[0]}" --prompt "${PROMPTS[1]}" \
        --num-return-sequences 250 --json "${opts[@]}" > run$i.jsonl 2>run$i.err ||
        fail "generate run $i" "$(cat run$i.err)"
    cat run$i.jsonl >> all.jsonl
    # output 0 of prompt 0 regenerates from its recorded seed alone
    s=$(head -1 run$i.jsonl | python3 -c 'import json,sys; print(json.load(sys.stdin)["seed"])')
    "$QUILL" generate --model "$model" --prompt "${PROMPTS[0]}" --raw-seed --no-store --json \
        "${opts[@]}" --seed "$s" > regen$i.jsonl
done
check "5 000 outputs, each valid UTF-8 without NUL or U+FFFD, every field present" python3 - <<'EOF'
import json
n = 0
for raw in open("all.jsonl", "rb"):
    line = raw.decode("utf-8")  # strict: invalid bytes raise
    d = json.loads(line)
    for k in ("prompt", "text", "continuation", "ids", "seed", "finish_reason"):
        assert k in d, (k, line)
    assert d["text"] == d["prompt"] + d["continuation"], line
    for k in ("text", "continuation"):
        d[k].encode("utf-8")  # a lone surrogate (\udcxx) would raise
        assert "\ufffd" not in d[k] and "\0" not in d[k], line
    n += 1
assert n == 5000, n
EOF
regen_ok=1
for i in "${!RUNS[@]}"; do
    python3 -c '
import json, sys
a = json.loads(open(sys.argv[1]).readline()); b = json.loads(open(sys.argv[2]).readline())
sys.exit(0 if (a["ids"], a["text"]) == (b["ids"], b["text"]) else 1)' run$i.jsonl regen$i.jsonl ||
        { regen_ok=0; echo "run $i does not regenerate"; }
done
check "an output regenerates exactly from its recorded seed (each run)" test $regen_ok = 1
eval "opts=(${RUNS[0]#*|})"
check "batching changes no output" bash -c '"$0" generate --model m1 --prompt "$1" --prompt "$2" \
    --num-return-sequences 250 --json --no-store --batch 5 "${@:3}" | cmp - run0.jsonl' \
    "$QUILL" "${PROMPTS[@]}" "${opts[@]}"
check "the sanitised build generates under the same rules" bash -c '"$0" generate --model m2 \
    --prompt "${1}" --num-return-sequences 20 --json --no-store --forbid-chars e \
    --banned-words the --stop-string . --max-new-tokens 3 --temperature 4 --top-k 0 |
    python3 -c "import sys, json; [json.loads(l.encode().decode()) for l in sys.stdin]"' \
    "$QUILL_ASAN" "${PROMPTS[1]}"

# approve everything, publish in each format: the same bytes everywhere
ids=$(seq 1 5000)
# shellcheck disable=SC2086
check "approve the 5 000 outputs" "$QUILL" review approve $ids --reviewer X
for f in txt md jsonl; do
    check "publish $f" "$QUILL" publish --out pub.$f
done
check "txt, md and jsonl hold byte-identical texts, the ones generated" python3 - <<'EOF'
import json
recs = [json.loads(l.decode("utf-8")) for l in open("pub.jsonl", "rb")]
texts = [r["text"] for r in recs]
assert len(texts) == 5000
gen = sorted(json.loads(l)["text"] for l in open("all.jsonl", encoding="utf-8"))
assert sorted(texts) == gen
txt = open("pub.txt", "rb").read()
assert txt == "".join(("\n" if i else "") + t + "\n" for i, t in enumerate(texts)).encode("utf-8")
md = open("pub.md", "rb").read()
def md_of(labels):
    return "".join(("\n" if i else "") + "## %s\n\n%s\n" % (l, t)
                   for i, (l, t) in enumerate(zip(labels, texts))).encode("utf-8")
assert md in (md_of(range(1, 5001)), md_of([r["id"] for r in recs])), "md differs"
EOF

# prompts that are not valid UTF-8 (or hold U+FFFD) are refused with exit 2
for cmd in generate next; do
    "$QUILL" $cmd --model m1 --prompt $'bad \xff\xfe' >out 2>&1
    rc=$?
    check "$cmd refuses a prompt that is not UTF-8 (exit 2)" test $rc = 2
    check "$cmd names the prompt and the byte" grep -Eq -- "--prompt( 1)?: not valid UTF-8 \(byte 4\)" out
done
expect_fail "a prompt holding U+FFFD" "--prompt 2: holds U\+FFFD" \
    "$QUILL" generate --model m1 --prompt ok --prompt $'x \xef\xbf\xbd' --no-store
summary
