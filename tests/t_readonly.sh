#!/bin/bash
# Read-only commands neither write nor create (issue #11): they leave the
# store file's bytes and mtime alone, do not wait for a writer, work on a
# full disk, and a mistyped --db is an error that creates no file.
. "$ROOT/tests/lib.sh"

DB=$SCRATCH/s.db
Q() { "$QUILL_ASAN" --db "$DB" "$@"; }
READS=("review list" "review list --json" "review show 1" "docs list" "docs show 1" "status"
    "checkpoints")

printf 'It was a dark and stormy night; the rain fell in torrents.\n' >a.txt
check "setup: ingest" Q ingest a.txt
command sqlite3 "$DB" "INSERT INTO outputs (id, recipe_name, model_source, prompt, continuation,
    text, ids_json, params_json, seed, finish_reason) VALUES (1, 'r', 'models/gpt2', 'P',
    ' c', 'P c', '[1]', '{}', 1, 'length')"

# -- a missing store is not created by a command that does not add data --
for cmd in "${READS[@]}" "review approve 1 --reviewer a" "publish --out p.txt" "group" \
    "tokenize --docs" "export 1 outdir"; do
    # shellcheck disable=SC2086
    expect_fail "no store: $cmd" '^quill: no store at typo\.db \(create one with quill ingest or quill run\)$' \
        "$QUILL_ASAN" --db typo.db $cmd
    check "no store: $cmd created no file" test ! -e typo.db -a ! -e typo.db-wal -a ! -e typo.db-shm
done
check "ingest still creates a store" "$QUILL_ASAN" --db new.db ingest a.txt
check "  ... which exists" test -s new.db

# -- read commands leave the file's bytes and mtime alone --
touch -d '2001-01-01 00:00' "$DB"
before=$(stat -c '%Y %s' "$DB")$(md5sum <"$DB")
for cmd in "${READS[@]}"; do
    # shellcheck disable=SC2086
    Q $cmd >/dev/null 2>&1
done
after=$(stat -c '%Y %s' "$DB")$(md5sum <"$DB")
check "read commands leave the store's bytes and mtime unchanged" test "$before" = "$after"
check "auto_vacuum still set on a new store" test "$(command sqlite3 new.db 'PRAGMA auto_vacuum')" = 2

# -- read commands do not wait for a writer --
fifo=$SCRATCH/hold
mkfifo "$fifo"
# sqlite3 holds a write transaction until its input is closed
command sqlite3 "$DB" <"$fifo" >/dev/null 2>&1 &
holder=$!
exec 7>"$fifo"
echo "BEGIN IMMEDIATE; INSERT INTO blobs(hash, raw_size, data) VALUES ('x', 1, x'00');" >&7
sleep 0.5
for cmd in "review list" "docs list" "status" "review show 1"; do
    # shellcheck disable=SC2086
    check "'$cmd' returns promptly while another process writes" timeout 8 "$QUILL" --db "$DB" $cmd
done
exec 7>&-
wait "$holder"

# -- a store that needs migrating is refused by a reader, with advice --
cp "$DB" old.db
command sqlite3 old.db "PRAGMA user_version = 1"
before=$(md5sum <old.db)
expect_fail "old schema: read refused with advice" 'needs upgrading .*run a command that writes' \
    "$QUILL_ASAN" --db old.db review list
check "  ... and the file is untouched" test "$before" = "$(md5sum <old.db)"

# -- on a full disk the read commands still work --
mkdir full
if mount -t tmpfs -o size=600k tmpfs full 2>/dev/null; then
    "$QUILL" --db full/s.db ingest a.txt >/dev/null
    dd if=/dev/zero of=full/fill bs=4k >/dev/null 2>&1
    for cmd in "review list" "docs list" "docs show 1" "status"; do
        # shellcheck disable=SC2086
        check "full disk: $cmd" "$QUILL_ASAN" --db full/s.db $cmd
    done
    umount full
else
    echo "# skipped the full-disk checks: cannot mount a tmpfs here"
fi

summary
