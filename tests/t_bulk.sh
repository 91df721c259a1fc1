#!/bin/bash
# Bulk generation (issue 14): `quill generate --prompts FILE` (.txt, .jsonl
# with per-row parameters and meta), bad rows all reported with file:line
# and nothing generated or stored; continuous batching gives the ids of
# one-at-a-time decoding (--batch 1 = 7 = 64) with mixed per-row lengths and
# parameters; a 500-output job SIGKILLed at random moments and resumed ends
# with exactly the rows of an uninterrupted job; a recipe's
# generate[].prompts_file works and resumes.
. "$ROOT/tests/lib.sh"
unset QUILL_DB
sql() { sqlite3 "$@"; }

tiny_model m || exit 1
G() { "$QUILL" generate --model m "$@"; }

# ---- parsing: every bad line reported, nothing generated, nothing stored
cat >bad.jsonl <<'EOF'
{"prompt": "fine", "meta": {"id": 1}}
{"prompt": "x", "tempreature": 2}
not json

{"prompt": "a", "top_k": 1.5}
{"prompt": "a", "top_p": 2}
[1]
{"prompt": "a\ufffd"}
{"top_k": 3}
{"prompt": "a", "banned_words": ["ok", ""]}
{"prompt": "a", "num_return_sequences": 0}
{"prompt": 5}
{"prompt": "a", "prompt": "b"}
EOF
new_store b.db
before=$(sql b.db "SELECT count(*) FROM outputs")
"$QUILL" --db b.db generate --model m --prompts bad.jsonl >bad.out 2>bad.err
check "bad rows: exit 2" [ $? = 2 ]
check "bad rows: nothing printed" [ ! -s bad.out ]
check "bad rows: nothing stored" [ "$(sql b.db 'SELECT count(*) FROM outputs')" = "$before" ]
for want in 'bad.jsonl:2: unknown key "tempreature" \(did you mean "temperature"\?\)' \
    'bad.jsonl:3: not JSON' 'bad.jsonl:5: top_k must be a whole number' \
    'bad.jsonl:6: top_p 2 is out of range' 'bad.jsonl:7: a row must be a JSON object' \
    'bad.jsonl:8: prompt: holds U\+FFFD' 'bad.jsonl:9: no "prompt"' \
    'bad.jsonl:10: banned_words\[1\] must be a non-empty string' \
    'bad.jsonl:11: num_return_sequences 0 is out of range' 'bad.jsonl:12: prompt must be a string' \
    'bad.jsonl:13: not JSON: duplicate object key' '11 bad lines \(nothing generated\)'; do
    check "bad rows: reports /$want/" grep -Eq "$want" bad.err
done
check "bad rows: good and blank lines not reported" sh -c '! grep -Eq "bad.jsonl:(1|4):" bad.err'
printf 'good\n\377 bad\n\nok\r\nwith NUL \0 here\n' >bad.txt
G --prompts bad.txt >badtxt.out 2>&1
check "text file: exit 2" [ $? = 2 ]
check "text file: invalid UTF-8 line" grep -q 'bad.txt:2: prompt: not valid UTF-8' badtxt.out
check "text file: NUL line" grep -q 'bad.txt:5: prompt: holds NUL' badtxt.out
check "text file: 2 bad lines" grep -q 'bad.txt: 2 bad lines' badtxt.out
python3 -c 'print("\n".join("{\"prompt\": 1}" for _ in range(30)))' >many.jsonl
G --prompts many.jsonl >many.out 2>&1
check "30 bad lines: the first 20 listed" grep -q 'many.jsonl:20: prompt must be a string' many.out
check "30 bad lines: line 21 not listed" sh -c '! grep -q "many.jsonl:21:" many.out'
check "30 bad lines: the rest counted" grep -q 'many.jsonl: \.\.\. and 10 more bad lines' many.out
expect_fail "--prompt and --prompts together refused" "not both" G --prompt a --prompts bad.txt
expect_fail "a missing prompts file is named" "nope.jsonl" G --prompts nope.jsonl
printf '\n  \n' >blank.txt
expect_fail "only blank lines: no prompt" "no prompt" G --prompts blank.txt

# ---- per-row parameters, in the outputs and their stored parameters
cat >rows.jsonl <<'EOF'
{"prompt": "It was", "num_return_sequences": 3, "max_new_tokens": 4, "meta": {"line": 1, "tag": "a"}}

{"prompt": "The sea", "max_new_tokens": 9, "seed": 77, "forbid_chars": "eE", "temperature": 1.5}
{"prompt": "I am", "top_k": 1, "banned_words": ["the", "and"]}
EOF
printf 'It was\n\nThe sea\r\n' >rows.txt
new_store r.db
check "jsonl rows generate" "$QUILL" --db r.db generate --model m --prompts rows.jsonl \
    --max-new-tokens 20 --json
"$QUILL" --db r.db generate --model m --prompts rows.jsonl --max-new-tokens 20 --no-store \
    --json >rows.out 2>/dev/null
check "row 1: 3 outputs, row 2 and 3: 1 each" [ "$(sql r.db 'SELECT count(*) FROM outputs')" = 5 ]
rowq() { sql r.db "SELECT $1 FROM outputs WHERE prompt = '$2' ORDER BY id"; }
check "max_new_tokens per row" [ "$(rowq "max(json_array_length(ids_json))" "It was")" = 4 ]
check "the request's max_new_tokens elsewhere" \
    [ "$(rowq "json_extract(params_json, '\$.max_new_tokens')" "I am")" = 20 ]
check "forbid_chars per row honoured" sh -c "! sqlite3 r.db \"SELECT continuation FROM outputs WHERE prompt = 'The sea'\" | grep -qi e"
check "row parameters stored" [ "$(rowq "json_extract(params_json, '\$.temperature') || json_extract(params_json, '\$.seed') || json_extract(params_json, '\$.forbid_chars')" "The sea")" = "1.577eE" ]
check "banned words stored" [ "$(rowq "json_extract(params_json, '\$.banned_words')" "I am")" = '["the","and"]' ]
check "meta stored in the parameters" \
    [ "$(rowq "json_extract(params_json, '\$.meta.tag')" "It was" | sort -u)" = a ]
check "meta in --json" grep -q '"meta":{"line":1,"tag":"a"}' rows.out
check "meta in review show" sh -c "'$QUILL' --db r.db review show 1 | grep -q '\"meta\":{\"line\":1,\"tag\":\"a\"}'"
seed=$(rowq seed "The sea")
"$QUILL" --db r.db generate --model m --prompt "The sea" --max-new-tokens 9 --seed "$seed" \
    --raw-seed --forbid-chars eE --temperature 1.5 >/dev/null 2>&1
check "a row's output regenerates from its seed (same identity: not stored twice)" \
    [ "$(sql r.db 'SELECT count(*) FROM outputs')" = 5 ]
check "a row's seed: output j's seed is the row's (not the request's)" \
    [ "$(G --prompts rows.jsonl --seed 5 --no-store --json 2>/dev/null | grep '"The sea"' | sed 's/.*"seed":\([0-9]*\).*/\1/')" = "$seed" ]
G --prompts rows.txt --no-store --json --max-new-tokens 2 2>/dev/null | grep -o '"prompt":"[^"]*"' >txt.out
check "text file: CRLF and blank lines" [ "$(tr '\n' '|' <txt.out)" = '"prompt":"It was"|"prompt":"The sea"|' ]

# ---- continuous batching = one at a time (bit-identical ids)
python3 - >mixed.jsonl <<'EOF'
import json
for i in range(40):
    r = {"prompt": ["It was", "The sea was", "I", "Once upon a time there"][i % 4] + " " * (i % 3 == 0),
         "max_new_tokens": [3, 40, 11, 1, 25][i % 5], "num_return_sequences": 1 + i % 3}
    if i % 4 == 1: r["temperature"] = 0.7
    if i % 6 == 2: r["top_k"] = 5
    if i % 7 == 3: r["top_p"] = 0.9
    if i % 5 == 4: r["seed"] = i
    if i % 8 == 5: r["forbid_chars"] = "a"
    print(json.dumps(r))
EOF
for b in 1 7 64; do
    G --prompts mixed.jsonl --batch $b --no-store --json >mixed$b.out 2>/dev/null
done
check "mixed job: 79 outputs" [ "$(wc -l <mixed1.out)" = 79 ]
check "some outputs end on EOS or length, of different lengths" \
    [ "$(grep -o '"ids":\[[^]]*\]' mixed1.out | sort -u | awk -F, '{print NF}' | sort -u | wc -l)" -ge 5 ]
check "--batch 7 = --batch 1 (ids, seeds, texts)" cmp mixed1.out mixed7.out
check "--batch 64 = --batch 1" cmp mixed1.out mixed64.out
# a prompt whose tokens begin another's, fresh in the same step, is not its twin
for b in 1 2; do
    G --prompt "It was " --prompt "It was" --max-new-tokens 5 --batch $b --no-store --json \
        >prefix$b.out 2>/dev/null
done
check "a prompt that is a token prefix of another: --batch 2 = --batch 1" cmp prefix1.out prefix2.out

# ---- SIGKILL at random moments, resumed: the rows of an uninterrupted job
python3 - >job.jsonl <<'EOF'
for i in range(250):
    print('{"prompt": "Line %d of the poem", "num_return_sequences": 2, "max_new_tokens": %d}' % (i, 2 + i * 7 % 30))
EOF
rows() { sql "$1" "SELECT id, identity, seed, prompt, text, ids_json, params_json, finish_reason FROM outputs ORDER BY id"; }
new_store ref.db
"$QUILL_ASAN" --db ref.db generate --model m --prompts job.jsonl --batch 16 >/dev/null 2>ref.err
check "uninterrupted: 500 outputs" [ "$(rows ref.db | wc -l)" = 500 ]
# Each run is killed at a random moment after it has stored something of
# its own (waiting for progress, not for a fixed delay, which lands after
# the end on a fast machine and before the first commit on a loaded one).
count() { sql k.db "SELECT count(*) FROM outputs"; }
new_store k.db
kills=0 mid=0
for _ in $(seq 12); do # kill each run midway until one ends by itself
    before=$(count)
    # --batch 4 (the outputs do not depend on it): a run spans several of
    # the writer's 200 ms commits, so it is killed between two of them
    "$QUILL" --db k.db generate --model m --prompts job.jsonl --batch 4 >/dev/null 2>&1 &
    pid=$!
    while kill -0 $pid 2>/dev/null && [ "$(count)" -le "$before" ]; do sleep 0.01; done
    # within 50 ms: the job (a tiny model, fast sampling) ends in well under 1 s
    sleep "0.$(printf '%03d' $((RANDOM % 50)))"
    kill -9 $pid 2>/dev/null || break
    kills=$((kills + 1))
    wait $pid 2>/dev/null
    n=$(count)
    echo "# killed after storing $((n - before)) more: $n outputs stored"
    [ "$n" -gt 0 ] && [ "$n" -lt 500 ] && mid=$((mid + 1))
done
wait
partial=$(sql k.db "SELECT count(*) FROM outputs")
"$QUILL" --db k.db generate --model m --prompts job.jsonl --batch 4 >/dev/null 2>k.err
echo "# killed $kills times; $partial outputs stored before the last run"
check "killed at least twice" [ "$kills" -ge 2 ]
check "killed at least once midway (some outputs stored, not all)" [ "$mid" -ge 1 ]
check "the last run resumed (skipped the stored ones)" grep -q "$partial already stored" k.err
check "resumed = uninterrupted (ids, identities, seeds, texts, token ids)" \
    [ "$(rows k.db | md5sum)" = "$(rows ref.db | md5sum)" ]
check "none twice" [ "$(sql k.db 'SELECT count(*) - count(DISTINCT identity) FROM outputs')" = 0 ]
check "the summary says why outputs ended" grep -Eq "ended: (length|eos) [0-9]+" ref.err
check "no progress bar when stderr is not a terminal" sh -c "! grep -q $'\r' ref.err"
script -qc "'$QUILL' generate --model m --prompts rows.jsonl --no-store >/dev/null" /dev/null \
    >tty.out 2>&1
check "a progress bar with rate and ETA on a terminal" grep -Eq $'generate \\[#+\\] 100% [0-9.]+ outputs/s ETA' tty.out

# ---- recipes: generate[].prompts_file, relative to the recipe; resumes
prompts_recipe rows.jsonl
check "recipe with prompts_file runs" "$QUILL" --db rc.db run rc/r.yaml
check "recipe: the rows' outputs" [ "$(sql rc.db 'SELECT count(*) FROM outputs')" = 5 ]
check "recipe: row meta stored" [ "$(sql rc.db "SELECT count(*) FROM outputs WHERE json_extract(params_json, '\$.meta.tag') = 'a'")" = 3 ]
sql rc.db "DELETE FROM outputs WHERE id > 2"
check "recipe rerun (--force generate) regenerates only the missing ones" \
    sh -c "'$QUILL' --db rc.db run rc/r.yaml --force generate | grep -q '5 outputs, 2 of them already in the store'"
check "recipe: the same 5 outputs again" [ "$(sql rc.db 'SELECT count(*) FROM outputs')" = 5 ]
printf '{"prompt": "ok"}\n{"prompt": "x", "top_k": "many"}\n' >rc/sub/p.jsonl
expect_fail "recipe: a bad prompts file fails the stage with file:line" \
    'sub/p.jsonl:2: top_k must be a whole number' "$QUILL" --db rc.db run rc/r.yaml
printf 'name: x\nmodel: {from: m}\ngenerate:\n  - {max_new_tokens: 3}\n' >np.yaml
expect_fail "recipe: a job without prompts or prompts_file refused" "prompts_file" \
    "$QUILL" --db np.db run np.yaml

summary
