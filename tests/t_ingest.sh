#!/bin/bash
# Ingest: files, folders, every archive kind, skips with reasons, corrupt
# archives, idempotent reruns, --max-chars on multi-byte text, and store
# integrity after a kill.
source "$ROOT/tests/lib.sh"

Q() { "$QUILL_ASAN" --db "$SCRATCH/$DB" "$@"; }
sqlq() { sqlite3 "$SCRATCH/$DB" "$@"; }

# A tree with three distinct texts, a duplicate, an empty file, a binary
# file and one with invalid UTF-8 (0xff at byte 5).
mkdir -p tree/sub/deeper
printf 'Alpha text.\n' > tree/a.txt
printf 'Beta text in a subfolder.\n' > tree/sub/b.txt
printf 'Gamma\r\nwith CRLF\r\n' > tree/sub/deeper/c.txt
cp tree/a.txt tree/sub/dup.txt
: > tree/empty.txt
printf 'bin\0ary' > tree/bin.dat
printf 'abcde\xffghi' > tree/bad.txt

check_counts() { # JSON, added, duplicates, skipped
    local out=$1
    echo "$out" | grep -q "\"added\":$2," && echo "$out" | grep -q "\"duplicates\":$3," &&
        [ "$(echo "$out" | grep -o '"reason"' | wc -l)" -eq "$4" ]
}

DB=dir.db
out=$(Q ingest --json tree)
check "directory: 3 added, 1 duplicate, 3 skipped" check_counts "$out" 3 1 3
check "directory: empty file reason" grep -q '"source":"tree/empty.txt","reason":"empty file"' <<<"$out"
check "directory: binary reason" grep -q '"source":"tree/bin.dat","reason":"binary' <<<"$out"
check "directory: invalid UTF-8 names the byte offset" grep -q 'invalid UTF-8 at byte offset 5' <<<"$out"
check "directory: sorted recursive order" \
    test "$(sqlq 'SELECT group_concat(source, " ") FROM (SELECT source FROM documents ORDER BY id)')" = \
    "tree/a.txt tree/sub/b.txt tree/sub/deeper/c.txt"
check "CRLF kept by default" test "$(Q docs show 3 | od -c | grep -c '\\r')" -ge 1
out=$(Q ingest --json tree)
check "rerun is idempotent" check_counts "$out" 0 4 3
check "rerun stores nothing new" test "$(sqlq 'SELECT count(*) FROM documents')" = 3

DB=nl.db
Q ingest --normalize-newlines tree/sub/deeper/c.txt >/dev/null
check "--normalize-newlines" test "$(Q docs show 1)" = "$(printf 'Gamma\nwith CRLF')"

DB=replace.db
Q ingest --on-invalid-utf8 replace tree/bad.txt >/dev/null
check "--on-invalid-utf8 replace stores U+FFFD" test "$(Q docs show 1)" = "$(printf 'abcde\xef\xbf\xbdghi')"

# Every archive kind, made from the same tree plus a ../ member.
mkdir -p evil/x && printf 'escaping member\n' > evil/evil.txt
(cd tree && tar cf ../plain.tar .)
(cd evil/x && tar rf ../../plain.tar -P ../evil.txt)
gzip -c plain.tar > t.tar.gz; bzip2 -c plain.tar > t.tar.bz2
xz -c plain.tar > t.tar.xz; zstd -q -c plain.tar > t.tar.zst
(cd tree && zip -qr ../t.zip .)
for a in plain.tar t.tar.gz t.tar.bz2 t.tar.xz t.tar.zst; do
    DB=$a.db
    out=$(Q ingest --json "$a")
    check "$a: 3 added, 1 duplicate, 4 skipped" check_counts "$out" 3 1 4
    check "$a: member named archive!inner" \
        test "$(sqlq "SELECT count(*) FROM documents WHERE source = '$a!./sub/b.txt'")" = 1
    check "$a: ../ member skipped with reason" grep -q "unsafe member path" <<<"$out"
done
DB=zip.db
out=$(Q ingest --json t.zip)
check "zip: 3 added, 1 duplicate, 3 skipped" check_counts "$out" 3 1 3
check "zip: member name" test "$(sqlq "SELECT count(*) FROM documents WHERE source = 't.zip!sub/deeper/c.txt'")" = 1

for z in gz bz2 xz zst; do
    case $z in gz) c="gzip -c";; bz2) c="bzip2 -c";; xz) c="xz -c";; zst) c="zstd -q -c";; esac
    $c tree/sub/b.txt > "b.txt.$z"
    DB=single-$z.db
    Q ingest "b.txt.$z" >/dev/null
    check "single .$z file" test "$(Q docs show 1)" = "Beta text in a subfolder."
done

# Archive bombs: a member over the limit is skipped with a reason.
head -c 5000 /dev/zero | tr '\0' 'x' > big.txt
tar cf bomb.tar big.txt tree/a.txt
DB=bomb.db
out=$(Q ingest --json --max-member-bytes 1000 bomb.tar)
check "member over the limit skipped" grep -q '"source":"bomb.tar!big.txt","reason":"member of 5000 bytes exceeds the limit of 1000 bytes"' <<<"$out"
check "the rest of the archive kept" check_counts "$out" 1 0 1

# Truncated and corrupt archives: an error naming them, nothing kept from
# them, the other paths still ingested, exit status non-zero.
head -c $(( $(stat -c %s t.tar.gz) / 2 )) t.tar.gz > trunc.tar.gz
cp t.zip corrupt.zip
printf 'garbage garbage garbage' | dd of=corrupt.zip bs=1 seek=40 conv=notrunc 2>/dev/null
head -c 3000 plain.tar > trunc.tar
for bad in trunc.tar.gz corrupt.zip trunc.tar; do
    DB=$bad.db
    expect_fail "$bad: error names it" "quill: ingest: $bad: corrupt or truncated archive" \
        Q ingest "$bad" tree/sub/b.txt
    check "$bad: nothing from it committed" test "$(sqlq 'SELECT group_concat(source) FROM documents')" = "tree/sub/b.txt"
done
DB=emptydir.db
mkdir -p emptydir
check "an empty folder adds nothing" test "$(Q ingest emptydir)" = "added 0, duplicates 0, skipped 0"
DB=missing.db
expect_fail "missing path named" "quill: ingest: no/such/file: No such file or directory" Q ingest no/such/file

# --max-chars never cuts a UTF-8 sequence.
printf 'h\xc3\xa9llo w\xc3\xb6rld \xe2\x98\x83\xe2\x98\x83 \xf0\x9f\x98\x80!' > multi.txt
DB=chars.db
Q ingest --max-chars 16 multi.txt >/dev/null
check "--max-chars 16 keeps 16 characters" test "$(sqlq 'SELECT chars || "/" || bytes FROM documents')" = "16/25"
check "--max-chars keeps whole sequences" test "$(Q docs show 1)" = "$(printf 'h\xc3\xa9llo w\xc3\xb6rld \xe2\x98\x83\xe2\x98\x83 \xf0\x9f\x98\x80')"

# BOM dropped; Gutenberg boilerplate stripped.
printf '\xef\xbb\xbfWith a BOM\n' > bom.txt
printf 'Header\nlicence\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\nThe body.\n\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\nFooter\n' > pg.txt
DB=clean.db
Q ingest --strip-gutenberg bom.txt pg.txt >/dev/null
check "BOM dropped" test "$(Q docs show 1)" = "With a BOM"
check "--strip-gutenberg keeps the body" test "$(Q docs show 2)" = "The body."

# Bad options are clear errors.
expect_fail "bad --max-chars" "max-chars: 'x' is not" Q ingest --max-chars x tree
expect_fail "bad --on-invalid-utf8" "'maybe' is not reject or replace" Q ingest --on-invalid-utf8 maybe tree

# A kill in the middle leaves the store consistent: all or nothing.
mkdir -p many
head -c 60000000 /dev/urandom | base64 -w 76 | (cd many && split -l 10000 -a 3)
DB=kill.db
Q ingest tree/a.txt >/dev/null
total=$(ls many | wc -l)
for delay in 0.05 0.2 0.5; do
    "$QUILL" --db "$SCRATCH/$DB" ingest many >/dev/null 2>&1 & pid=$!
    sleep $delay; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
    check "kill after ${delay}s: integrity ok" test "$(sqlq 'PRAGMA integrity_check')" = ok
    n=$(sqlq 'SELECT count(*) FROM documents')
    check "kill after ${delay}s: all or nothing ($n docs)" test "$n" = 1 -o "$n" = $((total + 1))
done

# Read-only store directory: a clear error, non-zero exit.
mkdir ro && chmod 555 ro
if [ "$(id -u)" != 0 ]; then
    expect_fail "unwritable store" "quill: store: " "$QUILL" --db ro/x.db ingest tree
fi
summary
