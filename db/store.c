/*
** The SQLite store: opening, migrations, transactions and blobs.
*/
#include "store.h"

#include "err.h"
#include "hash.h"
#include "zbuf.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char *const store_migrations[];
extern const int store_migration_count;

/* Statements kept by store_prepare_cached, at most this many. */
#define STORE_CACHED 16

struct store {
    sqlite3 *db;
    char *path;
    struct {
        char *sql;
        sqlite3_stmt *s;
        int out; /* handed out, not yet released */
    } cached[STORE_CACHED];
    int ncached;
};

/* The SQLite connection of st, for statements the store API does not wrap. */
sqlite3 *store_db(store *st) {
    return st->db;
}

/* The file name st was opened with (for messages). */
const char *store_path(store *st) {
    return st->path;
}

int store_exec(store *st, const char *sql, char *err) {
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        err_set(err, "%s: %s", st->path, msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int store_error(store *st, char *err, const char *fmt, ...) {
    char what[ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return err_set(err, "%s: %s: %s", st->path, what, sqlite3_errmsg(st->db));
}

char *store_column_dup(sqlite3_stmt *s, int col, int keep_null) {
    if (keep_null && sqlite3_column_type(s, col) == SQLITE_NULL) return NULL;
    const unsigned char *t = sqlite3_column_text(s, col);
    return strdup(t ? (const char *)t : "");
}

int store_prepare(store *st, const char *sql, sqlite3_stmt **out, char *err) {
    if (sqlite3_prepare_v2(st->db, sql, -1, out, NULL) != SQLITE_OK)
        return err_set(err, "%s: %s", st->path, sqlite3_errmsg(st->db));
    return 0;
}

void store_threaded(void) {
    /* best effort: they fail (SQLITE_MISUSE, nothing changed) once SQLite
    ** started, and they only save time */
    sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int store_prepare_cached(store *st, const char *sql, sqlite3_stmt **out, char *err) {
    for (int i = 0; i < st->ncached; i++)
        if (!st->cached[i].out && !strcmp(st->cached[i].sql, sql)) {
            st->cached[i].out = 1;
            *out = st->cached[i].s;
            return 0;
        }
    if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK)
        return err_set(err, "%s: %s", st->path, sqlite3_errmsg(st->db));
    char *copy = st->ncached < STORE_CACHED ? strdup(sql) : NULL;
    if (copy) { /* else it is finalized when released */
        st->cached[st->ncached].sql = copy;
        st->cached[st->ncached].s = *out;
        st->cached[st->ncached++].out = 1;
    }
    return 0;
}

void store_release(store *st, sqlite3_stmt *s) {
    for (int i = 0; i < st->ncached; i++)
        if (st->cached[i].s == s) {
            assert(st->cached[i].out);
            sqlite3_reset(s); /* ends its read: no snapshot is held between requests */
            sqlite3_clear_bindings(s);
            st->cached[i].out = 0;
            return;
        }
    sqlite3_finalize(s);
}

/* The value of the integer PRAGMA name (e.g. "page_count") in *v. */
int store_pragma_int(store *st, const char *name, int *v, char *err) {
    char sql[64];
    sqlite3_stmt *s;
    snprintf(sql, sizeof sql, "PRAGMA %s", name);
    if (store_prepare(st, sql, &s, err)) return -1;
    int rc = sqlite3_step(s);
    *v = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW) return store_error(st, err, "cannot read %s", name);
    return 0;
}

/* The store's schema version (PRAGMA user_version) in *version; a store
** written by a newer quill is refused. */
static int store_version(store *st, int *version, char *err) {
    if (store_pragma_int(st, "user_version", version, err)) return -1;
    if (*version > store_migration_count)
        return err_set(err,
                       "%s: store has schema version %d but this quill knows only up to %d; "
                       "use a newer quill",
                       st->path, *version, store_migration_count);
    return 0;
}

/* Apply every migration newer than the store's version, each in its own
** transaction together with the user_version bump. */
static int store_migrate(store *st, char *err) {
    int version;
    if (store_version(st, &version, err)) return -1;
    for (int v = version; v < store_migration_count; v++) {
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", v + 1);
        if (store_begin(st, err)) return -1;
        if (store_exec(st, store_migrations[v], err) || store_exec(st, bump, err)) {
            store_rollback(st);
            return err_prefix(err, "migration %d", v + 1);
        }
        if (store_commit(st, err)) return -1;
    }
    return 0;
}

/* The connection settings and schema work of store_open_mode(). */
static int store_setup(store *st, store_mode mode, char *err) {
    /* A file that is not SQLite fails here, on the first read. */
    if (store_exec(st, "PRAGMA foreign_keys=ON", err)) return -1;
    if (mode == STORE_READ) {
        /* migrating would be a write */
        int version;
        if (store_version(st, &version, err)) return -1;
        if (version < store_migration_count)
            return err_set(err,
                           "%s: store has schema version %d and needs upgrading to %d, which "
                           "a read-only command does not do: run a command that writes to it "
                           "(e.g. quill ingest or quill run) first",
                           st->path, version, store_migration_count);
        return 0;
    }
    int pages;
    if (store_pragma_int(st, "page_count", &pages, err)) return -1;
    /* auto_vacuum takes effect only on a new file (before its first table):
    ** store_reclaim() can then give freed pages back to the file system.
    ** On an existing store the pragma is a write, so it runs only here. */
    if (!pages && store_exec(st, "PRAGMA auto_vacuum=INCREMENTAL", err)) return -1;
    if (store_exec(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", err)) return -1;
    return store_migrate(st, err);
}

/* "file:" + path percent-encoded + "?immutable=1", malloc'd: the URI that
** opens path without locks or -shm/-wal files. */
static char *immutable_uri(const char *path) {
    static const char hex[] = "0123456789ABCDEF";
    char *u = malloc(strlen(path) * 3 + 32), *o = u;
    if (!u) return NULL;
    o += sprintf(o, "file:");
    for (const unsigned char *p = (const unsigned char *)path; *p; p++)
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("/._-~", *p)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    strcpy(o, "?immutable=1");
    return u;
}

/* Open st->db from name with flags and set it up; 0, or -1 with err. */
static int store_connect(store *st, const char *name, int flags, store_mode mode, char *err) {
    if (sqlite3_open_v2(name, &st->db, flags, NULL) != SQLITE_OK)
        return err_set(err, "%s: cannot open store: %s", st->path,
                       st->db ? sqlite3_errmsg(st->db) : "out of memory");
    sqlite3_busy_timeout(st->db, 30000);
    return store_setup(st, mode, err);
}

int store_open_mode(const char *path, store_mode mode, store **out, char *err) {
    store *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) {
        free(st);
        return err_set(err, "out of memory");
    }
    int flags = mode == STORE_READ    ? SQLITE_OPEN_READONLY
                : mode == STORE_WRITE ? SQLITE_OPEN_READWRITE
                                      : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = store_connect(st, path, flags, mode, err);
    int code = st->db ? sqlite3_errcode(st->db) : SQLITE_NOMEM;
    if (rc && mode == STORE_READ &&
        (code == SQLITE_IOERR || code == SQLITE_CANTOPEN || code == SQLITE_FULL ||
         code == SQLITE_READONLY)) {
        /* A reader of a WAL store needs its -shm file; when that cannot be
        ** made (a full disk, a read-only folder), no writer has the store
        ** open (it would have made it), so read the file as it is. */
        char *uri = immutable_uri(path);
        sqlite3_close_v2(st->db);
        st->db = NULL;
        rc = uri ? store_connect(st, uri, flags | SQLITE_OPEN_URI, mode, err)
                 : err_set(err, "out of memory");
        free(uri);
    }
    if (rc) {
        store_close(st);
        return -1;
    }
    *out = st;
    return 0;
}

int store_open(const char *path, store **out, char *err) {
    return store_open_mode(path, STORE_CREATE, out, err);
}

/* Close st and free it; NULL is a no-op.  A transaction still open is
** rolled back by SQLite. */
void store_close(store *st) {
    if (!st) return;
    for (int i = 0; i < st->ncached; i++) {
        sqlite3_finalize(st->cached[i].s);
        free(st->cached[i].sql);
    }
    sqlite3_close_v2(st->db);
    free(st->path);
    free(st);
}

int store_reclaim(store *st, char *err) {
    return store_exec(st, "PRAGMA incremental_vacuum", err);
}

int store_begin(store *st, char *err) {
    return store_exec(st, "BEGIN IMMEDIATE", err);
}

/* COMMIT the transaction store_begin() opened; 0, or -1 with err. */
int store_commit(store *st, char *err) {
    return store_exec(st, "COMMIT", err);
}

/* Roll back the open transaction, if any (safe to call when none is open). */
void store_rollback(store *st) {
    if (!sqlite3_get_autocommit(st->db)) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/* VERB (SAVEPOINT, RELEASE, ROLLBACK TO) on savepoint sp_N. */
static int savepoint(store *st, const char *verb, int n, char *err) {
    char sql[64];
    snprintf(sql, sizeof sql, "%s sp_%d", verb, n);
    return store_exec(st, sql, err);
}

int store_savepoint(store *st, int n, char *err) {
    return savepoint(st, "SAVEPOINT", n, err);
}

int store_savepoint_end(store *st, int n, int undo, char *err) {
    if (undo && savepoint(st, "ROLLBACK TO", n, err)) return -1;
    return savepoint(st, "RELEASE", n, err);
}

/* The id of the blob whose content hash is hash, in *id (0 when none). */
static int store_find_blob(store *st, const char *hash, int64_t *id, char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st, "SELECT id FROM blobs WHERE hash = ?", &s, err)) return -1;
    sqlite3_bind_text(s, 1, hash, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    *id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return store_error(st, err, "blob %s", hash);
    return 0;
}

int store_put_compressed(store *st, const char *hash, size_t raw_n, const void *z, size_t zn,
                         int64_t *id, char *err) {
    if (store_find_blob(st, hash, id, err)) return -1;
    if (*id) return 0;
    sqlite3_stmt *s;
    if (store_prepare(st, "INSERT INTO blobs(hash, raw_size, data) VALUES (?, ?, ?)", &s, err))
        return -1;
    sqlite3_bind_text(s, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)raw_n);
    sqlite3_bind_blob64(s, 3, z, zn, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return store_error(st, err, "cannot store blob %s", hash);
    *id = sqlite3_last_insert_rowid(st->db);
    return 0;
}

int store_put_blob(store *st, const void *data, size_t n, int64_t *id, char *err) {
    char hash[HASH_HEX_LEN];
    hash_hex(data, n, hash);
    if (store_find_blob(st, hash, id, err)) return -1;
    if (*id) return 0;
    void *z;
    size_t zn;
    if (zbuf_compress(data, n, 3, &z, &zn, err)) return -1;
    int rc = store_put_compressed(st, hash, n, z, zn, id, err);
    free(z);
    return rc;
}

/* "SELECT col FROM tbl WHERE col IS NOT NULL UNION ALL ..." over every
** column that references blobs(id), sqlite3_malloc'd into *out (NULL when
** none does). */
static int blob_refs_sql(store *st, char **out, char *err) {
    sqlite3_stmt *s;
    *out = NULL;
    if (store_prepare(st,
                      "SELECT m.name, f.\"from\" FROM sqlite_schema m JOIN "
                      "pragma_foreign_key_list(m.name) f WHERE m.type = 'table' AND "
                      "f.\"table\" = 'blobs'",
                      &s, err))
        return -1;
    int rc;
    char *sql = NULL;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(s, 0);
        const char *c = (const char *)sqlite3_column_text(s, 1);
        char *more = sqlite3_mprintf("%z%sSELECT \"%w\" FROM \"%w\" WHERE \"%w\" IS NOT NULL", sql,
                                     sql ? " UNION ALL " : "", c, t, c);
        if (!more) {
            rc = SQLITE_NOMEM;
            break;
        }
        sql = more;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        sqlite3_free(sql);
        return rc == SQLITE_NOMEM ? err_set(err, "%s: out of memory", st->path)
                                  : store_error(st, err, "blob references");
    }
    *out = sql;
    return 0;
}

int store_free_blobs(store *st, int64_t id, int64_t *freed, char *err) {
    char *refs;
    if (blob_refs_sql(st, &refs, err)) return -1;
    char *sql = sqlite3_mprintf("DELETE FROM blobs WHERE (?1 = 0 OR id = ?1)%s%s%s",
                                refs ? " AND id NOT IN (" : "", refs ? refs : "", refs ? ")" : "");
    sqlite3_free(refs);
    if (!sql) return err_set(err, "%s: out of memory", st->path);
    sqlite3_stmt *s;
    int bad = store_prepare(st, sql, &s, err);
    sqlite3_free(sql);
    if (bad) return -1;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return store_error(st, err, "cannot delete unused blobs");
    if (freed) *freed = sqlite3_changes64(st->db);
    return 0;
}

int store_get_blob(store *st, int64_t id, void **data, size_t *n, char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st, "SELECT raw_size, data FROM blobs WHERE id = ?", &s, err)) return -1;
    sqlite3_bind_int64(s, 1, id);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        return err_set(err, "%s: blob %lld not found", st->path, (long long)id);
    }
    size_t raw = (size_t)sqlite3_column_int64(s, 0);
    int rc = zbuf_decompress(sqlite3_column_blob(s, 1), (size_t)sqlite3_column_bytes(s, 1), raw,
                             data, err);
    sqlite3_finalize(s);
    if (rc) return err_prefix(err, "%s: blob %lld", st->path, (long long)id);
    *n = raw;
    return 0;
}
