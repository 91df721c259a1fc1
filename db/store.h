/*
** The store: one SQLite file holding everything quill makes.
**
** store_open_mode() creates or upgrades the schema (db/NNN_*.sql, tracked
** with PRAGMA user_version) and refuses a store written by a newer quill;
** opened read-only (STORE_READ) it neither writes nor creates anything.  The
** store runs in WAL mode with foreign keys on and a busy timeout, so
** readers (a reviewer) work while one writer (a stage) writes.
**
** Every stage writes between store_begin() and store_commit(); on any
** error it calls store_rollback(), which leaves the store as it was.
*/
#ifndef QUILL_STORE_H
#define QUILL_STORE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

typedef struct store store;

/* How a store is opened (store_open_mode()), strongest first. */
typedef enum store_mode {
    STORE_CREATE, /* like STORE_WRITE, but a missing file becomes a new store */
    STORE_WRITE,  /* an existing store, migrated if needed */
    STORE_READ    /* an existing store, read-only: never written, never locked
                  ** for writing; one that needs migrating is an error */
} store_mode;

/* Open the store at path as mode says.  A missing file is an error unless
** mode is STORE_CREATE, and then nothing is created.  auto_vacuum is set
** only on a new, empty file: on an existing one it would be a write. */
int store_open_mode(const char *path, store_mode mode, store **out, char *err);

/* store_open_mode(path, STORE_CREATE, out, err). */
int store_open(const char *path, store **out, char *err);
void store_close(store *st);

sqlite3 *store_db(store *st);
const char *store_path(store *st);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK.  Transactions do not nest. */
int store_begin(store *st, char *err);
int store_commit(store *st, char *err);
void store_rollback(store *st);

/* Nested savepoints inside a store_begin() transaction, numbered n by
** the caller (0 outermost): store_savepoint() opens number n;
** store_savepoint_end() closes it, first undoing its writes when undo. */
int store_savepoint(store *st, int n, char *err);
int store_savepoint_end(store *st, int n, int undo, char *err);

/* Run SQL with no results; err gets sqlite's message. */
int store_exec(store *st, const char *sql, char *err);

/* The integer PRAGMA name (e.g. "page_count") in *v. */
int store_pragma_int(store *st, const char *name, int *v, char *err);

/* Prepare a statement; err gets sqlite's message. */
int store_prepare(store *st, const char *sql, sqlite3_stmt **out, char *err);

/* For a process whose threads each open and use their own stores (quill
** serve), called before any store is opened: SQLite then takes no mutex
** per connection call and keeps no global allocation statistics (a
** mutex every thread would take on every allocation).  Best effort: no
** effect once a store was opened. */
void store_threaded(void);

/* Like store_prepare, for a statement run again and again (the desk's per
** request reads, whose preparing costs more than running them): it is kept
** for the next call with the same sql text.  Give it back with
** store_release, never sqlite3_finalize; store_close finalizes the kept
** ones.  A statement handed out and not yet released is not handed out
** again (a second one is prepared). */
int store_prepare_cached(store *st, const char *sql, sqlite3_stmt **out, char *err);

/* Give back s from store_prepare_cached: reset (its read ends), bindings
** cleared, ready for the next call. */
void store_release(store *st, sqlite3_stmt *s);

/* After a failed SQLite call: fill err with "STORE: <what>: <SQLite's
** message>" (what from fmt, naming the object that could not be written or
** read) and return -1. */
int store_error(store *st, char *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A malloc'd copy of text column col of the row s stands on.  A NULL
** column gives NULL when keep_null, else "".  NULL also when out of memory
** (callers treat a missing copy as an allocation failure or a missing
** value). */
char *store_column_dup(sqlite3_stmt *s, int col, int keep_null);

/* Store n raw bytes zstd-compressed; the same bytes return the same id. */
int store_put_blob(store *st, const void *data, size_t n, int64_t *id, char *err);

/* Store bytes the caller already compressed with zbuf_compress(); hash is
** the hash of the raw bytes (hash_hex), raw_n their length. */
int store_put_compressed(store *st, const char *hash, size_t raw_n, const void *z, size_t zn,
                         int64_t *id, char *err);

/* Return the free pages (left by deleted rows: pruned checkpoints) to the
** file system; the store is created with auto_vacuum=INCREMENTAL.  Whoever
** deletes rows deletes the blobs only they referenced (ckpt_prune does).
** Run it outside a transaction. */
int store_reclaim(store *st, char *err);

/* Delete blob id, or every blob when id is 0, unless a row still
** references it: any column of any table declared REFERENCES blobs(id)
** (read from the schema, so a new table is covered); blobs are shared
** (deduplicated by content), so this is the only safe way to free one.
** *freed (may be NULL) gets how many were deleted.  Inside the caller's
** transaction. */
int store_free_blobs(store *st, int64_t id, int64_t *freed, char *err);

/* Read a blob back; *data is malloc'd with a trailing NUL after n bytes. */
int store_get_blob(store *st, int64_t id, void **data, size_t *n, char *err);

#endif
