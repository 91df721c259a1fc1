#!/bin/bash
# The README's first command, scripts/quickstart.sh, in both of its branches,
# each in a copy of the repository's scripts/ and recipes/ (so that a
# models/distilgpt2 in the repository changes nothing) with the tests' quill:
# - online: distilgpt2 comes from a local stand-in for the hub
#   (tests/hf_server.py serves a tiny GPT-2 under that name); the script
#   pulls it, runs the notebook's job (recipes/quickstart-distilgpt2.yaml),
#   reports the eval loss and where the outputs are; a second run uses the
#   model already there without asking the hub.
# - offline (nothing listens at HF_ENDPOINT): the pull fails at once, one
#   line says so with the command that gets the real model, and the
#   from-scratch demo on the whole book runs within 10 minutes to the review
#   queue with its eval loss.  Every output keeps its constraints; a second
#   run skips every stage; changing only the generate section reruns only
#   generate.
. "$ROOT/tests/lib.sh"
export QUICKSTART_QUILL="$QUILL"
tree() {
    mkdir -p "$1/scripts" "$1/recipes/corpora"
    cp "$ROOT/scripts/quickstart.sh" "$1/scripts/"
    cp "$ROOT"/recipes/quickstart*.yaml "$1/recipes/"
    cp "$ROOT/recipes/corpora/frankenstein.txt" "$1/recipes/corpora/"
}
# constraints DB RECIPE: no output of RECIPE breaks its job's constraints
# (checked on the stored text: one job bans night/day, the other the letter e)
constraints() {
    local n
    n=$(sqlite3 "$1" "SELECT count(*) FROM outputs WHERE recipe_name = '$2' AND (
        (prompt LIKE 'It was%' AND (lower(continuation) GLOB '*night*' OR lower(continuation) GLOB '*day*'))
        OR (prompt LIKE 'Two roads%' AND lower(continuation) GLOB '*e*'))")
    [ "$n" = 0 ]
}
pending() { sqlite3 "$1" "SELECT count(*) FROM outputs WHERE status = 'pending' AND recipe_name = '$2'"; }

# --- online: a tiny GPT-2 with the real tokenizer, served as "distilgpt2"
mkdir -p tiny/corpora
head -c 3000 "$ROOT/recipes/corpora/frankenstein.txt" >tiny/corpora/f.txt
cat >tiny/tiny.yaml <<'EOF'
name: tiny
model:
  init: {n_layer: 1, n_head: 2, n_embd: 16, n_positions: 64}
ingest: {paths: [corpora/f.txt]}
group: {block_size: 32}
train: {max_steps: 1, export: ../hub/distilgpt2}
EOF
QUILL_DB=tiny.db "$QUILL" run tiny/tiny.yaml >/dev/null 2>&1
tree on
PY=/usr/bin/python3
$PY "$ROOT/tests/hf_server.py" hub port hub.log &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null; rm -rf "$SCRATCH"' EXIT
for _ in $(seq 100); do [ -s port ] && break; sleep 0.05; done
export QUILL_DB="$SCRATCH/on.db"
HF_ENDPOINT="http://127.0.0.1:$(cat port)" check "online: the quickstart runs" \
    bash -c "on/scripts/quickstart.sh >on1.log 2>&1"
check "online: it pulled distilgpt2" grep -q "GET /cdn/distilgpt2/model.safetensors" hub.log
check "online: into models/distilgpt2" cmp hub/distilgpt2/model.safetensors on/models/distilgpt2/model.safetensors
check "online: the notebook's job ran" grep -Eq "^  train run [0-9]+: [0-9]+ steps" on1.log
check "online: no fallback" bash -c "! grep -q 'offline demo' on1.log"
check "online: the eval loss is reported" grep -Eq "^Eval loss [0-9]+\.[0-9]{2} on held-out text \(perplexity [0-9]+" on1.log
check "online: where the outputs are" grep -q "^8 outputs wait for review in $QUILL_DB" on1.log
n=$(pending "$QUILL_DB" quickstart-distilgpt2)
check "online: outputs wait for review ($n)" test "$n" = 8
check "online: constraints hold" constraints "$QUILL_DB" quickstart-distilgpt2
kill $SERVER_PID
wait $SERVER_PID 2>/dev/null
: >hub.log
HF_ENDPOINT=http://127.0.0.1:9 check "online: a second run uses the model already there" \
    bash -c "on/scripts/quickstart.sh >on2.log 2>&1 && grep -q 'fine-tuning models/distilgpt2' on2.log"
check "online: without asking the hub" test ! -s hub.log
check "online: and skips every stage" test "$(grep -c 'unchanged, skipping' on2.log)" = 5

# --- offline: nothing listens at the hub
tree off
export QUILL_DB="$SCRATCH/off.db" HF_ENDPOINT=http://127.0.0.1:9
start=$(date +%s)
check "offline: the quickstart runs to the review queue" bash -c "off/scripts/quickstart.sh >off1.log 2>&1"
secs=$(($(date +%s) - start))
echo "# offline quickstart took ${secs}s"
sed 's/^/  | /' off1.log | grep -v '^  | step ' | tail -12
check "offline: under 10 minutes (${secs}s)" test "$secs" -lt 600
check "offline: one line says so, why, and the command that gets the real model" \
    test "$(grep 'offline demo' off1.log | grep -c 'cannot reach http://127.0.0.1:9.*\./quill pull distilgpt2')" = 1
check "offline: the pull's own error is not repeated" test "$(grep -c 'cannot reach' off1.log)" = 1
check "offline: no models/distilgpt2 left behind" test ! -e off/models/distilgpt2
check "offline: the eval loss is reported" grep -Eq "^Eval loss [0-9]+\.[0-9]{2} on held-out text" off1.log
tokens=$(sed -nE 's/^  block set [0-9]+: ([0-9]+) train, [0-9]+ eval blocks of ([0-9]+) tokens.*/\1 \2/p' off1.log |
    awk '{ print $1 * $2 }')
check "offline: it trained on the whole book (${tokens:-no} tokens)" test "${tokens:-0}" -gt 80000
n=$(pending "$QUILL_DB" quickstart)
check "offline: outputs wait for review ($n)" test "$n" = 8
check "offline: constraints hold" constraints "$QUILL_DB" quickstart
"$QUILL" run off/recipes/quickstart.yaml >run2.log 2>&1
check "a second run skips every stage" test "$(grep -c 'unchanged, skipping' run2.log)" = 5
# the same recipe beside its own copy of the corpus, with one generate
# parameter changed
mkdir -p r/corpora
cp "$ROOT/recipes/corpora/frankenstein.txt" r/corpora/
sed 's/max_new_tokens: 40/max_new_tokens: 30/' "$ROOT/recipes/quickstart.yaml" >r/quickstart.yaml
"$QUILL" run r/quickstart.yaml >run3.log 2>&1
check "changing generate skips the four stages before it" test "$(grep -c 'unchanged, skipping' run3.log)" = 4
check "and reruns generate" grep -q '^generate: done' run3.log
summary
