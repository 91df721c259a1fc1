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

# MSG is the message every failure must print on stderr.
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

# run_usage NAME PATTERN CMD...: CMD is a usage error: exit status 2, one
# line on stderr, "quill: COMMAND: " then something matching PATTERN (an
# extended regex), nothing on stdout, the store untouched.
run_usage() {
    local name=$1 pat=$2 cmd=$3; shift 2
    "$QUILL_ASAN" --db "$DB" "$@" </dev/null >"$SCRATCH/.o" 2>"$SCRATCH/.e"
    local rc=$?
    if [ "$rc" -ne 2 ]; then fail "$name" "exit $rc, not 2"
    elif grep -Eq "$SAN" "$SCRATCH/.e"; then fail "$name" "sanitizer report"
    elif [ "$(wc -l <"$SCRATCH/.e")" -ne 1 ]; then fail "$name" "not one line on stderr"
    elif ! grep -Eq -- "^quill: $cmd: .*$pat" "$SCRATCH/.e"; then fail "$name" "message not /$pat/"
    elif [ -s "$SCRATCH/.o" ]; then fail "$name" "output on stdout"
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

# Every command (those listed in commands.def) parses its options in the
# one style: --help on stdout, and a usage error is one message and exit 2.
CMDS=$(sed -n 's/^CMD("\([a-z]*\)".*/\1/p' "$ROOT/stages/commands.def")
for c in $CMDS; do
    "$QUILL_ASAN" --db "$DB" "$c" --help >"$SCRATCH/.o" 2>"$SCRATCH/.e"
    rc=$?
    if [ $rc -eq 0 ] && grep -q '^usage: quill '"$c" "$SCRATCH/.o" && ! [ -s "$SCRATCH/.e" ]; then
        pass "$c --help"
    else fail "$c --help" "exit $rc, usage not on stdout"; fi
    run_usage "$c unknown option" "--no-such-option" "$c" --no-such-option
    run_usage "$c unknown short option" "-Z" "$c" -Z
done

# Global options.
run_bad "no command" ""
run_bad "unknown command" frobnicate
run_bad "--db without a path" --db
expect_fail "--db with an empty path" "quill: --db: .*empty" "$QUILL_ASAN" --db "" ingest doc.txt
expect_fail "--db= with an empty path" "quill: --db: .*empty" "$QUILL_ASAN" --db= docs list
run_bad "unknown global option" --frob docs list
check "quill --help" bash -c "'$QUILL_ASAN' --help | grep -q '^usage: quill'"
check "quill --help ends its sentences" bash -c "'$QUILL_ASAN' --help | grep -qF -- '--help       this help (\`quill COMMAND --help\`: a command'\''s own)'"
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

# Number options: each family, each value that is not a finite number in
# range or does not fit the integer it fills, is a usage error naming the
# option (never a crash, a truncation or a store without the value).
M="$ROOT/tests/fixtures/hf_f16"
NONFINITE="inf -inf nan 1e309 -1e309 1x"
TRAIN="--init n_layer=1,n_head=2,n_embd=16,n_positions=16"
for o in learning-rate weight-decay adam-epsilon epochs max-grad-norm adam-beta1 adam-beta2 \
    dropout; do
    for v in $NONFINITE; do
        # shellcheck disable=SC2086
        run_usage "train --$o $v" "--$o '$v' is not a number" train $TRAIN --$o "$v"
    done
done
for ov in "epochs 0" "epochs 2e6" "learning-rate 0" "learning-rate 11" "dropout 1" \
    "batch-size 0" "batch-size 99999999999" "gradient-accumulation-steps 0" "max-steps -2" \
    "warmup-steps -1" "seed -1" "seed 99999999999999999999" "logging-steps 0" \
    "save-steps -1" "save-total-limit 99999999999" "max-steps 1.5" "checkpoint 0" \
    "checkpoint abc" "block-set 99999999999999999999"; do
    o=${ov% *} v=${ov#* }
    # shellcheck disable=SC2086
    run_usage "train --$o $v" "--$o '$v' is not a" train $TRAIN --$o "$v"
done
for init in n_layer=2,n_layer=3 n_layer=99999999999 n_layer=1e3 n_layer=inf embd_pdrop=nan \
    layer_norm_epsilon=0 resid_pdrop=2 n_head=; do
    run_usage "train --init $init" "--init: " train --init "$init"
done
GEN="--model $M --prompt x --no-store"
for o in temperature top-p min-p typical-p repetition-penalty; do
    for v in $NONFINITE; do
        # shellcheck disable=SC2086
        run_usage "generate --$o $v" "--$o '$v' is not a number" generate $GEN --$o "$v"
    done
done
for ov in "top-k 99999999999" "top-k -1" "seed 99999999999999999999" "seed -1" \
    "max-new-tokens -1" "max-new-tokens 99999999999" "max-length 0" "min-new-tokens -1" \
    "num-return-sequences 0" "num-return-sequences 4294967297" "no-repeat-ngram-size -1" \
    "batch 0" "batch 99999999999" "top-p 0" "top-p 1.5" "min-p -0.1" "repetition-penalty 0" \
    "temperature -1" "temperature 101"; do
    o=${ov% *} v=${ov#* }
    # shellcheck disable=SC2086
    run_usage "generate --$o $v" "--$o '$v' is not a" generate $GEN --$o "$v"
done
NEXT="--model $M --prompt x"
for ov in "top -1" "top 99999999999" "temperature inf" "temperature nan" "temperature 1e309"; do
    o=${ov% *} v=${ov#* }
    # shellcheck disable=SC2086
    run_usage "next --$o $v" "--$o '$v' is not a" next $NEXT --$o "$v"
done
for ov in "sample -1" "sample 99999999999" "seed 99999999999999999999"; do
    o=${ov% *} v=${ov#* }
    run_usage "vocab --$o $v" "--$o '$v' is not a" vocab --$o "$v"
done
for v in nan inf 1e309 0.95; do
    run_usage "group --eval-fraction $v" "--eval-fraction '$v' is not a" group --eval-fraction "$v"
done
# generate and next take only their own options
# shellcheck disable=SC2086
{
    run_usage "generate takes no --top" "unknown option '--top'" generate $GEN --top 3
    run_usage "generate takes no --token" "unknown option '--token'" generate $GEN --token x
    run_usage "next takes no --max-new-tokens" "unknown option '--max-new-tokens'" next $NEXT --max-new-tokens 3
    run_usage "next takes no --banned-words" "unknown option '--banned-words'" next $NEXT --banned-words a
    run_usage "next takes one --prompt" "one --prompt" next $NEXT --prompt y
    run_usage "generate --bogus" "unknown option '--bogus'" generate $GEN --bogus
    run_usage "generate --temperature 0 names --greedy" "--temperature 0 .*--greedy" generate $GEN --temperature 0
    run_usage "generate without a prompt" "give a --prompt" generate --model "$M"
}
check "generate --temperature 0 says generate once" bash -c \
    "! '$QUILL_ASAN' --db '$DB' generate $GEN --temperature 0 2>&1 | grep -q 'generate: generate:'"

# Smaller things a new user meets.
"$QUILL_ASAN" --db "$DB" next --model "$M" --prompt x --token ' stormy weather' >/dev/null 2>next.err
check "next --token ' stormy weather' lists its tokens" grep -qF "' storm' 'y' ' weather'" next.err
check "next --token suggests no doubled space" bash -c "! grep -qF \"'  \" next.err"
"$QUILL_ASAN" --db "$DB" tokenize --pieces "Call it a day" >/dev/null 2>tok.err
check "tokenize of a text in place of FILE says it reads FILE or stdin" \
    grep -q "Call it a day.*FILE.*echo TEXT | quill tokenize" tok.err
"$QUILL_ASAN" --db "$DB" ingest /nonexistent/nope.txt >nope.out 2>nope.err
rc=$?
check "ingest of a missing file fails" [ $rc -ne 0 ]
check "ingest of a missing file prints no summary" [ ! -s nope.out ]
check "ingest of a missing file prints one error" \
    bash -c "[ \$(wc -l <nope.err) = 1 ] && grep -q '^quill: ingest: /nonexistent/nope.txt: ' nope.err"

# quill train's defaults are the recipe's (Trainer's): 3 epochs, logging
# every 500 steps (shown by --help); a trained checkpoint's source names
# its run and step.
"$QUILL_ASAN" train --help >train.help
check "train --help shows 3 epochs" grep -qF -- "--epochs N (3)" train.help
check "train --help shows logging every 500 steps" grep -qF -- "--logging-steps N (500)" train.help
T() { "$QUILL" --db t.db "$@"; }
T ingest doc.txt >/dev/null && T group --block-size 4 >/dev/null &&
    T train --init n_layer=1,n_head=2,n_embd=16,n_positions=16 --quiet >/dev/null ||
    fail "train with the defaults" "could not train"
check "train without --epochs trains 3 epochs" \
    bash -c "sqlite3 t.db 'SELECT params_json FROM train_runs' | grep -q '\"epochs\":3.0'"
steps=$(sqlite3 t.db "SELECT max(step) FROM checkpoints")
check "checkpoints names a trained checkpoint's run and step" \
    bash -c "T() { '$QUILL' --db t.db \"\$@\"; }; T checkpoints | grep -q ' train run 1 step $steps\$'"
check "checkpoints --json too" \
    bash -c "'$QUILL' --db t.db checkpoints --json | grep -qF '\"source\":\"train run 1 step $steps\"'"

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
