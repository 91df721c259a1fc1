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
summary
