#!/bin/bash
# Run the libFuzzer target tests/fuzz/fuzz_NAME.c (built by `make
# fuzz-NAME` with clang, ASan and UBSan) for SECONDS (default 300) on one
# core at low priority, starting from the committed corpus
# tests/fuzz/corpus_NAME, then merge what it found into that corpus (only
# inputs that add coverage, so it stays small).  A crash is left in
# BUILD/fuzz/ as crash-*, leak-* or timeout-*: fix it, then copy the input
# into the corpus (tests/test_fuzz.c and tests/test_tok.c replay them).
# Usage: tests/fuzz/run.sh NAME [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
name=${1:?usage: tests/fuzz/run.sh NAME [SECONDS]}
secs=${2:-300}
out=${BUILD:-build}/fuzz
bin=$out/fuzz_$name
corpus=tests/fuzz/corpus_$name
work=$out/work_$name
case $name in
recipe) max_len=16384 ;;
ingest) max_len=65536 ;;
*) max_len=4096 ;;
esac
mkdir -p "$corpus" "$work"
export OMP_NUM_THREADS=1
nice -n 10 "$bin" -max_total_time="$secs" -max_len="$max_len" -timeout=10 -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="$out/" "$work" "$corpus"
nice -n 10 "$bin" -merge=1 -max_len="$max_len" -timeout=10 "$corpus" "$work"
