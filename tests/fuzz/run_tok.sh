#!/bin/bash
# Build tests/fuzz/fuzz_tok.c with clang's libFuzzer (ASan + UBSan) and run
# it for SECONDS (default 300) on 1 core, growing tests/fuzz/corpus_tok/
# (the corpus is committed; tests/test_tok.c replays it).  Not part of
# `make test`.  Usage: tests/fuzz/run_tok.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-300}
out=${BUILD:-build}/fuzz
mkdir -p "$out"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fopenmp -D_GNU_SOURCE -std=c11 -Icore \
    $(pkg-config --cflags jansson libutf8proc libxxhash) \
    tests/fuzz/fuzz_tok.c core/tok.c core/tok_encode.c core/err.c core/hash.c core/slurp.c \
    $(pkg-config --libs jansson libutf8proc libxxhash) -o "$out/fuzz_tok"
mkdir -p tests/fuzz/corpus_tok
"$out/fuzz_tok" -max_total_time="$secs" -max_len=4096 -timeout=10 \
    -artifact_prefix="$out/" tests/fuzz/corpus_tok
