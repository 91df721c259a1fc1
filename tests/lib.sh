# shellcheck shell=bash
# Shared helpers for the shell tests (tests/t_*.sh), sourced by each.
#
# The runner exports QUILL (optimised binary), QUILL_ASAN (sanitised binary)
# and ROOT (the repository).  Each test runs in a fresh scratch directory.
# check NAME CMD... runs CMD and records PASS/FAIL; summary prints the line
# "# tests: P passed, F failed" that tests/run.sh adds up.

set -u
: "${QUILL:?QUILL must name the quill binary}"
: "${QUILL_ASAN:=$QUILL}"
: "${ROOT:?ROOT must name the repository}"
T_PASS=0
T_FAIL=0
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/quill-test.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
cd "$SCRATCH" || exit 1

pass() { T_PASS=$((T_PASS + 1)); echo "PASS $1"; }
fail() { T_FAIL=$((T_FAIL + 1)); echo "FAIL $1${2:+: $2}"; }

# check NAME CMD...: PASS when CMD exits 0.
check() {
    local name=$1; shift
    if ( "$@" ) >"$SCRATCH/.out" 2>&1; then pass "$name"; else
        fail "$name"; sed 's/^/  | /' "$SCRATCH/.out" | tail -20; fi
}

# expect_fail NAME PATTERN CMD...: PASS when CMD exits non-zero and its
# stderr+stdout matches the extended regex PATTERN.
expect_fail() {
    local name=$1 pat=$2; shift 2
    if ( "$@" ) >"$SCRATCH/.out" 2>&1; then
        fail "$name" "exited 0"; sed 's/^/  | /' "$SCRATCH/.out" | tail -5
    elif grep -Eq -- "$pat" "$SCRATCH/.out"; then pass "$name"
    else fail "$name" "output does not match /$pat/"; sed 's/^/  | /' "$SCRATCH/.out" | tail -5; fi
}

# new_store DB: a store at DB, made as users make one: by ingesting a
# document (read commands never create a store).
new_store() {
    printf 'A document, so that ingest creates the store.\n' >new_store_seed.txt
    "$QUILL" --db "$1" ingest new_store_seed.txt >/dev/null
}

# tiny_model DIR: a random tiny model (1 layer, 16 wide, 128 positions, one
# training step on a bit of Frankenstein) exported to DIR, for generation.
tiny_model() {
    head -c 2000 "$ROOT/recipes/corpora/frankenstein.txt" >tiny_model.txt
    (cd "$ROOT" && "$QUILL" --db "$SCRATCH/tiny_model.db" ingest "$SCRATCH/tiny_model.txt" &&
        "$QUILL" --db "$SCRATCH/tiny_model.db" group --block-size 16 &&
        "$QUILL" --db "$SCRATCH/tiny_model.db" train --quiet --seed 3 --max-steps 1 \
            --init n_layer=1,n_head=2,n_embd=16,n_positions=128 --save-steps 0 &&
        "$QUILL" --db "$SCRATCH/tiny_model.db" export latest "$SCRATCH/$1") >/dev/null
}

# prompts_recipe FILE [JOB]: rc/r.yaml, a recipe generating from the model
# m/ with FILE as its first job's prompts_file (copied to rc/sub/p.jsonl, named
# relative to the recipe), then JOB (YAML flow mapping) when given.
prompts_recipe() {
    mkdir -p rc/sub
    cp "$1" rc/sub/p.jsonl
    printf 'name: bulk\nmodel: {from: %s/m}\ngenerate:\n' "$SCRATCH" >rc/r.yaml
    echo "  - {prompts_file: sub/p.jsonl, max_new_tokens: 12, seed: 4}" >>rc/r.yaml
    [ -z "${2:-}" ] || echo "  - $2" >>rc/r.yaml
}

summary() {
    echo "# tests: $T_PASS passed, $T_FAIL failed"
    [ "$T_FAIL" -eq 0 ]
}
