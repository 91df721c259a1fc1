#!/bin/bash
# Robustness of every command against bad input: --help, no arguments,
# unknown options, missing option arguments, bad numbers, nonexistent files,
# a directory where a file is expected, and a store that is a directory, not
# a database, from a newer quill, or under a regular file.  Each bad call
# must exit non-zero with a "quill: ..." line on stderr, no sanitizer report,
# and leave the store exactly as it was (sqlite3 .dump before and after).
. "$ROOT/tests/lib.sh"

export HF_ENDPOINT=http://127.0.0.1:9 # nothing listens there: pull fails fast
DB=$SCRATCH/robust.db
SAN='runtime error|AddressSanitizer|LeakSanitizer|Assertion|Segmentation'

# A store with something in every table the commands read.
printf 'It was a dark and stormy night.\n' >doc.txt
"$QUILL" --db "$DB" ingest doc.txt >/dev/null &&
    "$QUILL" --db "$DB" import "$ROOT/tests/fixtures/hf_f16" >/dev/null ||
    fail "setup" "could not build the test store"
mkdir adir
printf 'not a database, just text\n' >notadb
touch plainfile
dump() { sqlite3 "$DB" .dump; }
BEFORE=$(dump)

# MSG is the message every failure must print on stderr.  The tokenizer's
# commands (another branch) still let getopt print its own; they are only
# held to a message of some kind (see cmd_lenient below).
MSG='^quill: ..'

# run_bad NAME CMD...: CMD (arguments to quill --db $DB) must fail cleanly.
run_bad() {
    local name=$1; shift
    "$QUILL_ASAN" --db "$DB" "$@" </dev/null >"$SCRATCH/.o" 2>"$SCRATCH/.e"
    local rc=$?
    if [ "$rc" -eq 0 ]; then fail "$name" "exited 0"
    elif grep -Eq "$SAN" "$SCRATCH/.e"; then fail "$name" "sanitizer report"
    elif ! grep -Eq "$MSG" "$SCRATCH/.e"; then fail "$name" "no '$MSG' message"
    elif [ "$(dump)" != "$BEFORE" ]; then fail "$name" "store changed"
    else pass "$name"; return; fi
    sed 's/^/  | /' "$SCRATCH/.e" | head -4
}

# run_any NAME CMD...: CMD may succeed or fail, but must not crash; a
# failure must say why.  (For calls whose defaults are valid.)
run_any() {
    local name=$1; shift
    "$QUILL_ASAN" --db "$DB" "$@" </dev/null >"$SCRATCH/.o" 2>"$SCRATCH/.e"
    local rc=$?
    if grep -Eq "$SAN" "$SCRATCH/.e"; then fail "$name" "sanitizer report"
    elif [ "$rc" -ne 0 ] && ! grep -q '^quill: ..' "$SCRATCH/.e"; then
        fail "$name" "exit $rc without a 'quill: ...' message"
    else pass "$name"; return; fi
    sed 's/^/  | /' "$SCRATCH/.e" | head -4
}

# Which commands this tree implements: those listed in commands.def.
CMDS=$(sed -n 's/^CMD("\([a-z]*\)".*/\1/p' "$ROOT/stages/commands.def")
# Commands checked here for the exact "quill: ..." form; the others (other
# branches' work) must still fail without a crash and with some message.
STRICT=" ingest docs import export group checkpoints review publish pull run status "
cmd_lenient() { case $STRICT in *" $1 "*) MSG='^quill: ..' ;; *) MSG='.' ;; esac; }

for c in $CMDS; do
    cmd_lenient "$c"
    "$QUILL_ASAN" --db "$DB" "$c" --help >"$SCRATCH/.o" 2>"$SCRATCH/.e"
    rc=$?
    if [ $rc -eq 0 ] && grep -q '^usage: quill '"$c" "$SCRATCH/.o" && ! [ -s "$SCRATCH/.e" ]; then
        pass "$c --help"
    else fail "$c --help" "exit $rc, usage not on stdout"; fi
    run_bad "$c unknown option" "$c" --no-such-option
    run_bad "$c unknown short option" "$c" -Z
done
MSG='^quill: ..'

# Global options.
run_bad "no command" ""
run_bad "unknown command" frobnicate
run_bad "--db without a path" --db
expect_fail "--db with an empty path" "quill: --db: .*empty" "$QUILL_ASAN" --db "" ingest doc.txt
expect_fail "--db= with an empty path" "quill: --db: .*empty" "$QUILL_ASAN" --db= docs list
run_bad "unknown global option" --frob docs list
check "quill --help" bash -c "'$QUILL_ASAN' --help | grep -q '^usage: quill'"
check "quill --version" bash -c "'$QUILL_ASAN' --version | grep -Eq '^quill [0-9]'"

# Commands that need arguments.
for c in ingest docs import export publish pull run; do
    run_bad "$c without arguments" "$c"
done
# Commands whose defaults are valid must still not crash.
for c in checkpoints status review; do
    run_any "$c without arguments" "$c"
done

# ingest
run_bad "ingest --max-chars missing" ingest doc.txt --max-chars
run_bad "ingest --max-chars abc" ingest --max-chars abc doc.txt
run_bad "ingest --max-chars -1" ingest --max-chars -1 doc.txt
run_bad "ingest --max-chars huge" ingest --max-chars 99999999999999999999999 doc.txt
run_bad "ingest --max-member-bytes 1x" ingest --max-member-bytes 1x doc.txt
run_bad "ingest --on-invalid-utf8 maybe" ingest --on-invalid-utf8 maybe doc.txt
run_bad "ingest nonexistent" ingest /nonexistent/file.txt
run_bad "ingest empty path" ingest ""

# docs
run_bad "docs show abc" docs show abc
run_bad "docs show 999" docs show 999
run_bad "docs show -1" docs show -1
run_bad "docs show huge" docs show 99999999999999999999999
run_bad "docs show without id" docs show
run_bad "docs bogus" docs bogus
run_bad "docs list extra" docs list extra
run_bad "docs show two ids" docs show 1 2

# import / export / checkpoints
run_bad "import nonexistent" import /nonexistent/model
run_bad "import a file" import doc.txt
run_bad "import empty dir" import adir
run_bad "import two dirs" import adir adir
# configs that ask for far more than model.safetensors holds (no huge malloc)
for bad in '"vocab_size": 2000000000' '"n_positions": 2000000000' '"n_layer": 3' \
    '"n_embd": 7' '"n_head": 0' '"vocab_size": "11"' '"n_layer": 1e3'; do
    rm -rf badcfg && cp -r "$ROOT/tests/fixtures/hf_f16" badcfg
    key=${bad%%:*}
    sed -i "s/^\(  $key: \)[^,]*/\1${bad#*: }/" badcfg/config.json
    grep -qF "$bad" badcfg/config.json || fail "import config $bad" "fixture not edited"
    run_bad "import config $bad" import badcfg
done
printf '{"n_layer": 2' >badcfg/config.json
run_bad "import truncated config.json" import badcfg
head -c 100 "$ROOT/tests/fixtures/hf_f16/model.safetensors" >badcfg/model.safetensors
cp "$ROOT/tests/fixtures/hf_f16/config.json" badcfg/
run_bad "import truncated model.safetensors" import badcfg
run_bad "export abc" export abc out
run_bad "export 999" export 999 out
run_bad "export -1" export -1 out
run_bad "export one arg" export 1
run_bad "export into a file" export 1 plainfile
run_bad "export under a file" export 1 plainfile/out
run_bad "export --run abc" export latest out --run abc
run_bad "export --run missing" export latest out --run
run_bad "export latest of no run" export latest out --run 999
run_bad "export --tokenizer nonexistent" export 1 out2 --tokenizer /nonexistent
run_bad "checkpoints --run abc" checkpoints --run abc
run_bad "checkpoints --run missing" checkpoints --run
run_bad "checkpoints extra" checkpoints extra

# group
run_bad "group --block-size 0" group --block-size 0
run_bad "group --block-size -3" group --block-size -3
run_bad "group --block-size abc" group --block-size abc
run_bad "group --block-size huge" group --block-size 99999999999
run_bad "group --block-size missing" group --block-size
run_bad "group --eval-fraction 2" group --eval-fraction 2
run_bad "group --eval-fraction nan" group --eval-fraction nan
run_bad "group --eval-fraction -0.5" group --eval-fraction -0.5
run_bad "group --seed x" group --seed x
run_bad "group --seed -1" group --seed -1
run_bad "group --batch-examples -1" group --batch-examples -1
run_bad "group --mode bogus" group --mode bogus
run_bad "group --tokenizer nonexistent" group --tokenizer /nonexistent
run_bad "group extra argument" group extra

# review
run_bad "review show abc" review show abc
run_bad "review show 999" review show 999
run_bad "review show without id" review show
run_bad "review approve without id" review approve
run_bad "review approve 0" review approve 0
run_bad "review approve huge" review approve 99999999999999999999999
run_bad "review reject abc" review reject abc
run_bad "review edit without --text" review edit 1
run_bad "review edit 999" review edit 999 --text x
run_bad "review note without --note" review note 1
run_bad "review list --status bogus" review list --status bogus
run_bad "review list --status missing" review list --status
run_bad "review bogus" review bogus
run_bad "review interactive without a tty" review --reviewer x

# publish
run_bad "publish --format bogus" publish --out x.txt --format bogus
run_bad "publish nothing approved" publish --out x.txt
run_bad "publish --out missing" publish --out
run_bad "publish into a directory" publish --out adir --allow-empty
run_bad "publish under a file" publish --out plainfile/x.txt --allow-empty
run_bad "publish --recipe nonexistent" publish --recipe /nonexistent.yaml
run_bad "publish --recipe a directory" publish --recipe adir
run_bad "publish extra" publish --out x.txt extra
check "publish wrote nothing" [ ! -e x.txt ]

# pull
run_bad "pull --dir missing" pull distilgpt2 --dir
run_bad "pull --dir empty" pull distilgpt2 --dir ""
run_bad "export into an empty path" export 1 ""
run_bad "publish --out empty" publish --out "" --allow-empty
run_bad "import an empty path" import ""
run_bad "run an empty path" run ""
run_bad "pull two models" pull a b
run_bad "pull bad name" pull "../../etc"
run_bad "pull offline" pull distilgpt2 --dir pulled
run_bad "pull into a file" pull distilgpt2 --dir plainfile

# run / status
run_bad "run nonexistent" run /nonexistent.yaml
expect_fail "run a directory" "quill: adir: cannot read: Is a directory" "$QUILL_ASAN" --db "$DB" run adir
run_bad "run not yaml" run notadb
run_bad "run --from bogus" run notadb --from bogus
run_bad "run --until missing" run notadb --until
run_bad "run two recipes" run notadb notadb
run_bad "status nonexistent" status /nonexistent.yaml
run_bad "status a directory" status adir
run_bad "status two recipes" status a b

# Names and notes that are not UTF-8 (a file name in Latin-1, a note typed
# in another encoding): --json output stays valid JSON, nothing is dropped.
mkdir u8
printf 'latin-1 name\n' >"u8/$(printf 'caf\xe9.txt')"
: >"u8/$(printf 'empty\xff.txt')"
mkdir "$(printf 'model\xe9')"
cp "$ROOT/tests/fixtures/hf_f16/"* "$(printf 'model\xe9')/"
U() { "$QUILL_ASAN" --db u8.db "$@"; }
json_ok() { python3 -c 'import json, sys; [json.loads(l) for l in open(sys.argv[1]) if l.strip()]' "$1"; }
check "ingest --json with a non-UTF-8 skip" bash -c "'$QUILL_ASAN' --db u8.db ingest --json u8 >u8-ingest.json"
check "the skip is listed, with U+FFFD" grep -qF '{"source":"u8/empty\uFFFD.txt","reason":"empty file"}' u8-ingest.json
check "docs list --json with a non-UTF-8 name" bash -c "'$QUILL_ASAN' --db u8.db docs list --json >u8-docs.json"
check "the name is there, with U+FFFD" grep -qF '"source":"u8/caf\uFFFD.txt"' u8-docs.json
check "import from a non-UTF-8 folder" U import "$(printf 'model\xe9')"
check "checkpoints --json with a non-UTF-8 source" bash -c "'$QUILL_ASAN' --db u8.db checkpoints --json >u8-ckpt.json"
check "the source is there, with U+FFFD" grep -qF "\"source\":\"model$(printf '\xef\xbf\xbd')\"" u8-ckpt.json
sqlite3 u8.db "INSERT INTO outputs (id, model_source, prompt, continuation, text, ids_json,
    params_json, seed, finish_reason) VALUES (1, 'm', 'P', ' c', 'P c', '[1]', '{}', 1, 'length')"
expect_fail "a non-UTF-8 reviewer name is refused" "--reviewer: not valid UTF-8 at byte 1" U review approve 1 --reviewer "$(printf 'r\xe9')"
check "approve with a non-UTF-8 note" U review approve 1 --reviewer r --note "$(printf 'n\xe9')"
check "review list --json" bash -c "'$QUILL_ASAN' --db u8.db review list --json >u8-list.json"
check "review list --json lists it" grep -qF '"status":"approved"' u8-list.json
check "publish jsonl with a non-UTF-8 note" U publish --out u8.jsonl
check "the note and reviewer are kept" grep -qF '"notes":[{"reviewer":"r","note":"n\uFFFD"' u8.jsonl
for f in u8-ingest.json u8-docs.json u8-ckpt.json u8-list.json u8.jsonl; do
    check "$f is JSON" json_ok $f
done

# The store itself: a directory, not a database, newer, under a file.
store_bad() {
    local name=$1 db=$2; shift 2
    "$QUILL_ASAN" --db "$db" "$@" </dev/null >"$SCRATCH/.o" 2>"$SCRATCH/.e"
    local rc=$?
    if [ $rc -eq 0 ]; then fail "$name" "exited 0"
    elif grep -Eq "$SAN" "$SCRATCH/.e"; then fail "$name" "sanitizer report"
    elif ! grep -q "^quill: .*$db" "$SCRATCH/.e"; then fail "$name" "message does not name $db"
    else pass "$name"; return; fi
    sed 's/^/  | /' "$SCRATCH/.e" | head -4
}
cp "$DB" newer.db
sqlite3 newer.db "PRAGMA user_version = 999"
for c in "docs list" "ingest doc.txt" "checkpoints" "status" "review list" "group" \
    "publish --out p.txt --allow-empty" "import $ROOT/tests/fixtures/hf_f16"; do
    # shellcheck disable=SC2086
    {
        store_bad "store is a directory: $c" adir $c
        store_bad "store is not a database: $c" notadb $c
        store_bad "store under a regular file: $c" plainfile/q.db $c
        store_bad "store from a newer quill: $c" newer.db $c
    }
done
check "not-a-database file untouched" [ "$(cat notadb)" = "not a database, just text" ]
check "newer store untouched" [ "$(sqlite3 newer.db 'PRAGMA user_version')" = 999 ]
check "no store files left in the directory" [ -z "$(ls adir)" ]
check "store intact" [ "$(sqlite3 "$DB" 'PRAGMA integrity_check')" = ok ]
check "store unchanged overall" [ "$(dump)" = "$BEFORE" ]
summary
