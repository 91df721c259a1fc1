#!/bin/bash
# quill pull against a local stand-in for the hub (tests/hf_server.py):
# every file arrives intact, tokenizer.json is optional, HF_TOKEN is sent,
# an interrupted download resumes with a Range request, a corrupt download
# is caught by its checksum, a missing model and no network fail clearly.
. "$ROOT/tests/lib.sh"

PY=/usr/bin/python3
mkdir -p hub/org/tiny hub/org/notok
head -c 300000 /dev/urandom > hub/org/tiny/model.safetensors
echo '{"n_layer": 2}' > hub/org/tiny/config.json
echo '{"a": 0}' > hub/org/tiny/vocab.json
printf '#version: 0.2\na b\n' > hub/org/tiny/merges.txt
echo '{"version": "1.0"}' > hub/org/tiny/tokenizer.json
cp hub/org/tiny/{model.safetensors,config.json,vocab.json,merges.txt} hub/org/notok/

SERVER_PID=""
start_server() {
    rm -f port
    $PY "$ROOT/tests/hf_server.py" hub port log "$@" &
    SERVER_PID=$!
    for _ in $(seq 100); do [ -s port ] && break; sleep 0.05; done
    export HF_ENDPOINT="http://127.0.0.1:$(cat port)"
}
stop_server() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""; }
trap 'stop_server; rm -rf "$SCRATCH"' EXIT
same() { cmp -s "hub/org/$1/$2" "$3/$2"; }

start_server --token s3cret
export HF_TOKEN=s3cret
check "pull" "$QUILL_ASAN" pull org/tiny --dir out1
for f in config.json vocab.json merges.txt tokenizer.json model.safetensors; do
    check "$f arrived intact" same tiny $f out1
done
check "bearer token sent" grep -q "Bearer s3cret" log
check "no part files left" bash -c "! ls out1 | grep -q part"
check "checksums reported" bash -c "'$QUILL' pull org/tiny --dir out1b | grep -c 'checksum ok' | grep -qx 5"
check "second pull is up to date" bash -c "'$QUILL' pull org/tiny --dir out1 | grep -c 'up to date' | grep -qx 5"
check "optional tokenizer.json skipped" bash -c "'$QUILL' pull org/notok --dir out2 | grep -q 'tokenizer.json: not in org/notok, skipped'"
check "default dir" bash -c "'$QUILL' pull org/notok && cmp hub/org/notok/config.json models/org/notok/config.json"
expect_fail "missing model" "not found \(HTTP 404\)" "$QUILL_ASAN" pull org/nothing --dir out3
HF_TOKEN=wrong expect_fail "wrong token" "access denied \(HTTP 401\); check HF_TOKEN" "$QUILL" pull org/tiny --dir out4
stop_server

# an interrupted download leaves a part file; the next pull resumes it
: > log
start_server --truncate-once model.safetensors
unset HF_TOKEN
expect_fail "interrupted download fails" "model.safetensors|transfer closed|Partial" "$QUILL_ASAN" pull org/tiny --dir out5
check "part file kept" [ -s out5/model.safetensors.part ]
check "part is a prefix" bash -c "cmp -n \$(stat -c %s out5/model.safetensors.part) out5/model.safetensors.part hub/org/tiny/model.safetensors"
check "resume" bash -c "'$QUILL_ASAN' pull org/tiny --dir out5 | grep -q 'model.safetensors: 300000 bytes (resumed), checksum ok'"
check "resumed file intact" same tiny model.safetensors out5
check "resumed with a Range request" grep -Eq "GET /cdn/org/tiny/model.safetensors bytes=[1-9][0-9]*-" log
stop_server

# corrupt bytes are caught and nothing is kept
start_server --corrupt model.safetensors
expect_fail "corrupt download" "checksum mismatch: the hub says sha256" "$QUILL_ASAN" pull org/tiny --dir out6
check "corrupt file not kept" [ ! -e out6/model.safetensors ]
check "corrupt partial not kept" [ ! -e out6/model.safetensors.part ]
stop_server
start_server --corrupt vocab.json
expect_fail "corrupt small file" "vocab.json: checksum mismatch: the hub says git sha1" "$QUILL_ASAN" pull org/tiny --dir out7
stop_server

# offline: nothing listens
HF_ENDPOINT=http://127.0.0.1:9 expect_fail "offline" "cannot reach http://127.0.0.1:9 .*offline" "$QUILL_ASAN" pull org/tiny --dir out8
expect_fail "bad model name" "not a model name" "$QUILL" pull ../etc
summary
