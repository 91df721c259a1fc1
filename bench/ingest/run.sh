#!/bin/bash
# Ingest throughput: a generated corpus of BENCH_INGEST_MB (default 500) MB
# as plain files and as one tar.zst, each into a fresh store.  Prints a
# markdown section.  The corpus lives in bench/data (never committed).
set -euo pipefail
cd "$(dirname "$0")/../.."
MB=${BENCH_INGEST_MB:-500}
DATA=bench/data/ingest-$MB
if [ ! -d "$DATA/files" ]; then
    mkdir -p "$DATA"
    python3 bench/ingest/make_corpus.py recipes/corpora/frankenstein.txt "$DATA/files" "$MB"
    tar -C "$DATA" -cf - files | zstd -q -T0 -o "$DATA/corpus.tar.zst"
fi
bytes=$(du -sb "$DATA/files" | cut -f1)
measure() { # label, path
    local db=$DATA/bench.db
    rm -f "$db" "$db-wal" "$db-shm"
    sync
    local t0 t1
    t0=$(date +%s.%N)
    ./quill --db "$db" ingest "$2" >/dev/null
    t1=$(date +%s.%N)
    local secs mbs store
    secs=$(echo "$t1 - $t0" | bc -l)
    mbs=$(echo "$bytes / 1000000 / $secs" | bc -l)
    store=$(du -sb "$db" | cut -f1)
    printf '| %s | %d | %.2f | %.0f | %.0f |\n' "$1" $((bytes / 1000000)) "$secs" "$mbs" $((store / 1000000))
    rm -f "$db" "$db-wal" "$db-shm"
}
echo "## Ingest (bench/ingest)"
echo
echo "Corpus: $((bytes / 1000000)) MB of shuffled Frankenstein prose in $(ls "$DATA/files" | wc -l) files; OMP_NUM_THREADS=${OMP_NUM_THREADS:-all cores}."
echo
echo "| input | MB | seconds | MB/s | store MB |"
echo "|---|---|---|---|---|"
measure "plain files (folder)" "$DATA/files"
measure "one tar.zst" "$DATA/corpus.tar.zst"
zs=$(zstd -b3 -i2 "$DATA/files/doc00000.txt" 2>&1 | tr '\r' '\n' | grep 'MB/s' | tail -1 | grep -o '[0-9.]* MB/s' | head -1)
echo
echo "What bounds it: every text is zstd-compressed (level 3) before it is stored;"
echo "zstd alone compresses this text at $zs on one core (\`zstd -b3\`), so two"
echo "cores top out near twice that, less the one thread that reads files and"
echo "writes SQLite (a single writer) while the other compresses."
