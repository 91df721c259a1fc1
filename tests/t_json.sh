#!/bin/bash
# No JSON writer drops a field: generate --json and next --json on a random
# tiny model (whose outputs and tokens are often not valid UTF-8) carry
# every field on every line; a parameter that cannot be written (inf) is an
# error naming it, not a key missing from the stored parameters (generate)
# or a crash (train); and a store whose texts, names and sources hold
# invalid UTF-8 (as older versions stored them) lists and publishes every
# field of every line.
. "$ROOT/tests/lib.sh"
sqlite3() { command sqlite3 -cmd ".timeout 5000" "$@"; }
export QUILL_DB="$SCRATCH/q.db"
sql() { sqlite3 "$QUILL_DB" "$@"; }

# every_line FILE KEY...: each line of FILE is a JSON object with every KEY
every_line() {
    python3 - "$@" <<'PY'
import json, sys
path, keys = sys.argv[1], sys.argv[2:]
lines = open(path, encoding="utf-8").read().splitlines()
if not lines:
    sys.exit("no lines")
for n, line in enumerate(lines, 1):
    o = json.loads(line)
    missing = [k for k in keys if k not in o]
    if missing:
        sys.exit("line %d lacks %s" % (n, missing))
PY
}

head -c 3000 "$ROOT/recipes/corpora/frankenstein.txt" > c.txt
check "ingest" "$QUILL" ingest c.txt
check "group" "$QUILL" group --block-size 16
check "a random tiny model" "$QUILL" train --init n_layer=1,n_head=1,n_embd=8,n_positions=64 \
    --max-steps 1 --save-steps 0 --quiet

# 200 outputs of 20 tokens: about one in ten ends inside a character
"$QUILL" generate --checkpoint latest --prompt "Once upon a time" --prompt "The" \
    --num-return-sequences 100 --max-new-tokens 20 --forbid-chars e --json > gen.jsonl
check "generate --json exits 0" [ $? = 0 ]
check "generate --json: 200 lines" [ "$(wc -l < gen.jsonl)" = 200 ]
check "generate --json: every line has every field" every_line gen.jsonl prompt text \
    continuation ids seed finish_reason

# 3000 most likely tokens: dozens of them are parts of a character
"$QUILL_ASAN" next --checkpoint latest --prompt "The" --top 3000 --json > next.json
check "next --json exits 0" [ $? = 0 ]
check "next --json: every token has its text" python3 -c '
import json, sys
o = json.load(open("next.json"))
assert len(o["top"]) == 3000, len(o["top"])
bad = [e for e in o["top"] if not all(k in e for k in ("id", "token", "logit", "prob", "rank"))]
sys.exit("%d entries lack a field" % len(bad) if bad else 0)'

n=$(sql "SELECT count(*) FROM outputs")
expect_fail "generate --temperature inf names the parameter" "temperature" \
    "$QUILL_ASAN" generate --checkpoint latest --prompt "The" --max-new-tokens 3 --temperature inf
expect_fail "generate --repetition-penalty inf names the parameter" "repetition.penalty" \
    "$QUILL_ASAN" generate --checkpoint latest --prompt "The" --max-new-tokens 3 \
    --repetition-penalty inf
check "no output stored without its parameters" [ "$(sql "SELECT count(*) FROM outputs")" = "$n" ]
check "every stored output has its temperature" [ "$(sql "SELECT count(*) FROM outputs
    WHERE json_extract(params_json, '$.temperature') IS NULL")" = 0 ]
expect_fail "train --learning-rate inf: an error, not a crash" "learning.rate" \
    "$QUILL_ASAN" train --checkpoint 1 --max-steps 1 --learning-rate inf --quiet
expect_fail "train --weight-decay 1e309: an error, not a crash" "weight.decay" \
    "$QUILL_ASAN" train --checkpoint 1 --max-steps 1 --weight-decay 1e309 --quiet

# A store as an older quill left it: invalid UTF-8 in output texts, in a
# document's source, in a reviewer's name and note.
"$QUILL" review approve 1 2 --reviewer alice --note "fine" > /dev/null
sql "UPDATE outputs SET prompt = CAST(X'4f6e6365ff' AS TEXT),
     continuation = CAST(X'2075706f6ee2' AS TEXT), text = CAST(X'4f6e6365ff2075706f6ee2' AS TEXT)
     WHERE id = 1"
sql "UPDATE documents SET source = CAST(X'632dfe2e747874' AS TEXT) WHERE id = 1"
sql "UPDATE reviews SET reviewer = CAST(X'616cff' AS TEXT), note = CAST(X'6f6bc3' AS TEXT)
     WHERE output_id = 1"
"$QUILL_ASAN" review list --json > list.jsonl
check "review list --json exits 0" [ $? = 0 ]
check "review list --json: every line has every field" every_line list.jsonl id status \
    approvals needed recipe prompt continuation text edited model seed created_at
"$QUILL_ASAN" docs list --json > docs.jsonl
check "docs list --json exits 0" [ $? = 0 ]
check "docs list --json: every field" every_line docs.jsonl id source hash bytes chars ingested_at
"$QUILL_ASAN" checkpoints --json > ckpt.jsonl
check "checkpoints --json exits 0" [ $? = 0 ]
check "checkpoints --json: every field" every_line ckpt.jsonl id run step params stored_bytes \
    source created_at
check "publish --format jsonl" "$QUILL_ASAN" publish --out pub.jsonl --format jsonl
check "publish jsonl: two outputs" [ "$(wc -l < pub.jsonl)" = 2 ]
check "publish jsonl: every line has every field" every_line pub.jsonl id text edited recipe \
    recipe_run_id checkpoint_id model prompt continuation original_text params seed \
    finish_reason created_at reviewers notes
check "publish jsonl: the reviewer and the note of the damaged output" python3 -c '
import json
o = json.loads(open("pub.jsonl").readline())
assert o["id"] == 1 and o["reviewers"][0]["reviewer"] == "al\ufffd", o["reviewers"]
assert o["notes"][0]["note"] == "ok\ufffd" and o["text"] == "Once\ufffd upon\ufffd", o'
"$QUILL_ASAN" ingest --json c.txt "$(printf 'missing-\377.txt')" > ingest.json 2>/dev/null
check "ingest --json: the unreadable path is listed" python3 -c '
import json
o = json.load(open("ingest.json"))
assert o["duplicates"] == 1 and o["errors"][0]["source"] == "missing-\ufffd.txt", o'
summary
