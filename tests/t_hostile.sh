#!/bin/bash
# Hostile inputs that crashed or corrupted (issue #11): files that are not
# what stat() says, non-finite weights, checkpoints whose config does not
# match their tensors, control characters in names, tokenizer.json, and
# half-written export and pull directories.
. "$ROOT/tests/lib.sh"

DB=$SCRATCH/s.db
Q() { "$QUILL_ASAN" --db "$DB" "$@"; }

# no_sanitizer_report NAME: PASS when the last command's output has none
clean() { ! grep -Eq 'runtime error|AddressSanitizer|LeakSanitizer' "$SCRATCH/.out"; }

# -- ingest: read to the end, whatever stat() said --
check "ingest /proc/cpuinfo (stat size 0, more bytes to read)" Q ingest /proc/cpuinfo
check "  ... stored whole" test "$(Q docs show 1 | wc -c)" -ge "$(wc -c </proc/cpuinfo)"
mkfifo named.fifo
# (the writer gives up when nobody opens the FIFO)
timeout 20 sh -c "printf 'Text that arrives through a FIFO named on the command line.\n' >named.fifo" &
check "a FIFO named explicitly is read" Q ingest named.fifo
check "  ... and stored" grep -q 'named.fifo' <(Q docs list)
mkdir dir
printf 'A regular file in a folder.\n' >dir/a.txt
mkfifo dir/b.fifo
out=$(timeout 20 "$QUILL_ASAN" --db "$DB" ingest dir 2>&1)
check "a FIFO inside a folder is skipped (no hang)" test $? -eq 0
check "  ... with its reason" grep -q 'skipped dir/b.fifo: not a regular file (a FIFO)' <<<"$out"
# a file that grows between stat() and the read: start it empty and let a
# writer append while ingest reads it, several times
grown=0
for i in 1 2 3 4 5 6; do
    : >grow$i.txt
    (for k in $(seq 1 4000); do printf 'line %d of a file that keeps growing\n' "$k"; done >>grow$i.txt) &
    w=$!
    "$QUILL_ASAN" --db "$DB" ingest grow$i.txt >"$SCRATCH/.out" 2>&1 || grown=1
    clean || grown=1
    wait $w
done
check "files growing while read are ingested without a memory error" test $grown -eq 0

# -- control characters in names are shown, not obeyed --
/usr/bin/python3 - <<'PY'
import io, tarfile
with tarfile.open("ctl.tar", "w") as t:
    for name, data in [("evil\x1b[31mred.txt", b"Text under a name with an escape sequence.\n"),
                       ("bin\x07ary\r.dat", b"\x00\x01binary")]:
        i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
PY
out=$(Q ingest ctl.tar 2>&1)
check "ingest output: no raw control bytes" bash -c "! printf '%s' \"\$1\" | grep -q \$'[\\x01-\\x08\\x0b-\\x1f]'" _ "$out"
check "  ... escaped instead" grep -qF 'bin\x07ary\x0d.dat: binary' <<<"$out"
out=$(Q docs list)
check "docs list: no raw escape" bash -c "! printf '%s' \"\$1\" | grep -q \$'\\x1b'" _ "$out"
check "  ... escaped instead" grep -qF 'ctl.tar!evil\x1b[31mred.txt' <<<"$out"

# -- a small trained model, exported --
sed -n '1,200p' "$ROOT/recipes/corpora/frankenstein.txt" >f.txt
check "setup: ingest" Q ingest f.txt
check "setup: group" Q group --block-size 16
check "setup: train" Q train --init n_layer=2,n_head=2,n_embd=8,n_positions=16 --max-steps 2 \
    --save-steps 0 --quiet
check "setup: export" Q export latest good

# poison FILE TENSOR: write a NaN into the first value of an F32 tensor
poison() { # FILE TENSOR [VALUE]: the tensor's first float NaN, or all of them VALUE
    /usr/bin/python3 - "$@" <<'PY'
import json, struct, sys
path, name = sys.argv[1], sys.argv[2]
b = bytearray(open(path, "rb").read())
n = struct.unpack("<Q", b[:8])[0]
lo, hi = json.loads(b[8:8 + n])[name]["data_offsets"]
lo, hi = lo + 8 + n, hi + 8 + n if len(sys.argv) > 3 else lo + 8 + n + 4
v = float(sys.argv[3]) if len(sys.argv) > 3 else float("nan")
b[lo:hi] = struct.pack("<f", v) * ((hi - lo) // 4)
open(path, "wb").write(b)
PY
}

# -- non-finite weights are refused, naming the tensor --
cp -r good nan
poison nan/model.safetensors transformer.h.1.mlp.c_fc.bias
expect_fail "import refuses NaN weights" "tensor 'h\.1\.mlp\.c_fc\.bias' holds NaN" Q import nan
expect_fail "generate refuses NaN weights" "tensor 'h\.1\.mlp\.c_fc\.bias' holds NaN" \
    Q generate --model nan --prompt "It was" --max-new-tokens 3 --no-store
expect_fail "score refuses NaN weights" "tensor 'h\.1\.mlp\.c_fc\.bias' holds NaN" \
    Q score --model nan f.txt
# a diverging run stops before saving infinite weights; what it saved stays
# usable: finite weights so large (every query/key weight 1e30) that the
# first step's attention overflows
cp -r good huge
poison huge/model.safetensors transformer.h.0.attn.c_attn.weight 1e30
expect_fail "diverging training stops with a clear error" "diverged" \
    Q train --model huge --max-steps 8 --save-steps 1 --quiet --seed 7
check "  ... every checkpoint it kept is finite (exports)" bash -c \
    "for k in \$('$QUILL' --db '$DB' checkpoints | awk 'NR > 1 { print \$1 }'); do
         '$QUILL' --db '$DB' export \$k ck\$k 2>/dev/null || exit 1; done"

# -- a stored config that does not match the tensors --
sql() { command sqlite3 "$DB" "$@"; }
sql "UPDATE checkpoints SET config_json = json_set(config_json, '$.n_layer', 200) WHERE id = 1"
expect_fail "checkpoint with n_layer 200 over 2 layers of tensors refused" \
    "checkpoint 1: the config \(n_layer 200.*needs [0-9]+ parameters but the tensors hold" \
    Q generate --checkpoint 1 --prompt "It was" --max-new-tokens 3 --no-store
sql "UPDATE checkpoints SET config_json = json_set(config_json, '$.n_layer', 1) WHERE id = 1"
expect_fail "checkpoint with n_layer 1 over 2 layers of tensors refused" \
    "checkpoint 1: the config \(n_layer 1.*needs [0-9]+ parameters" \
    Q generate --checkpoint 1 --prompt "It was" --max-new-tokens 3 --no-store
expect_fail "  ... by export too" "checkpoint 1: the config" Q export 1 bad1
sql "UPDATE checkpoints SET config_json = json_set(config_json, '$.n_layer', 2) WHERE id = 1"
check "  ... and the right config loads again" Q export 1 good1

# -- a model folder's tokenizer.json is used by generate, next and score --
mkdir tj
cp good/config.json good/model.safetensors tj/
# GPT-2's tokenizer as tokenizer.json: in tj with the ids of " the" and " of"
# swapped, in tjb without merges (every byte a token)
mkdir tjb
cp good/config.json good/model.safetensors tjb/
/usr/bin/python3 - good <<'PY'
import json, sys
vocab = json.load(open(sys.argv[1] + "/vocab.json"))
merges = [l.rstrip("\n") for l in open(sys.argv[1] + "/merges.txt") if not l.startswith("#")]
added = [{"id": 50256, "content": "<|endoftext|>"}]
json.dump({"model": {"type": "BPE", "vocab": vocab, "merges": []}, "added_tokens": added},
          open("tjb/tokenizer.json", "w"))
vocab["\u0120the"], vocab["\u0120of"] = vocab["\u0120of"], vocab["\u0120the"]
json.dump({"model": {"type": "BPE", "vocab": vocab, "merges": [m for m in merges if m]},
           "added_tokens": added}, open("tj/tokenizer.json", "w"))
PY
the_id() { Q next --model "$1" --prompt "It was" --token " the" --json | /usr/bin/python3 -c \
    'import json, sys; print(json.load(sys.stdin)["tokens"][0]["id"])'; }
check "next: the bundled tokenizer without tokenizer.json" test "$(the_id good)" = 262
check "next: tokenizer.json used" test "$(the_id tj)" = 286
# " of the": 2 tokens with GPT-2's merges, 7 bytes without: of --max-length 10, 8 or 3 new
n_new() { Q generate --model "$1" --prompt " of the" --max-length 10 --ignore-eos --greedy --json \
    --no-store | /usr/bin/python3 -c 'import json, sys; print(len(json.load(sys.stdin)["ids"]))'; }
check "generate: the bundled tokenizer" test "$(n_new good)" = 8
check "generate: tokenizer.json used" test "$(n_new tjb)" = 3
n_scored() { Q score --model "$1" f.txt | awk '{ print $2 }'; }
check "score: tokenizer.json used" test "$(n_scored tjb)" -gt "$(n_scored good)"
mkdir tjbad
cp good/config.json good/model.safetensors tjbad/
echo '{"model": {"type": "WordPiece"}}' >tjbad/tokenizer.json
expect_fail "score: a broken tokenizer.json is an error, not the bundled one" "tokenizer.json" \
    Q score --model tjbad f.txt

# -- a failed export leaves no half folder --
expect_fail "export with a missing tokenizer fails" "tokenizer" \
    Q export 1 half --tokenizer "$SCRATCH/nowhere"
check "  ... and leaves no folder" test ! -e half
check "  ... and no temporary folder" bash -c "! ls -d half.tmp.* 2>/dev/null"
mkdir keep
echo old >keep/config.json
expect_fail "export into an existing folder fails" "tokenizer" \
    Q export 1 keep --tokenizer "$SCRATCH/nowhere"
check "  ... which is left as it was" test "$(ls keep)" = config.json -a "$(cat keep/config.json)" = old
check "export into an existing folder replaces its files" Q export 1 keep
check "  ... all of them" test -s keep/model.safetensors -a -s keep/vocab.json
check "  ... with a folder's mode" test "$(stat -c %a good)" = "$(stat -c %a "$(umask 022; mkdir m; echo m)")"

# -- a failed pull leaves no part file; the loader says how to get config.json --
HF_ENDPOINT=http://127.0.0.1:9 expect_fail "offline pull fails" "cannot reach" \
    "$QUILL_ASAN" pull org/tiny --dir pulled
check "  ... leaving no config.json.part" test ! -e pulled/config.json.part
check "  ... and no empty folder" test ! -e pulled
mkdir empty
expect_fail "no config.json: the error says how to get it" \
    "no config.json .*quill pull MODEL --dir empty" Q generate --model empty --prompt x --no-store

# -- a generated text's C1 controls (U+009B is a one-byte CSI to a terminal)
# are shown, not sent, as its C0 ones are --
c1=$(printf 'P\302\2332J \033[31m')
sqlite3 "$DB" "INSERT INTO outputs (id, model_source, prompt, continuation, text, ids_json,
     params_json, seed, finish_reason) VALUES (77, 'm', 'P', '$c1', '$c1', '[]', '{}', 1, 'length')"
check "review show: a C1 CSI is written out" bash -c "'$QUILL_ASAN' --db '$DB' review show 77 | grep -qF 'P\u009b2J ^[[31m'"
check "  ... and never sent" bash -c "! '$QUILL_ASAN' --db '$DB' review show 77 | grep -q \$'\xc2\x9b'"

summary
