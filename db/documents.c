/*
** The documents table (see documents.h).
*/
#include "documents.h"

#include "err.h"

#include <assert.h>
#include <stdlib.h>

int documents_find(store *st, const char *hash, int64_t *id, char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st, "SELECT id FROM documents WHERE hash = ?", &s, err)) return -1;
    sqlite3_bind_text(s, 1, hash, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    *id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return store_error(st, err, "document %s", hash);
    return 0;
}

int documents_insert(store *st, const documents_row *row, int64_t *id, char *err) {
    assert(row->source && row->hash && row->text_blob > 0);
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "INSERT INTO documents(source, hash, bytes, chars, text_blob) "
                      "VALUES (?, ?, ?, ?, ?)",
                      &s, err))
        return -1;
    sqlite3_bind_text(s, 1, row->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, row->hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, row->bytes);
    sqlite3_bind_int64(s, 4, row->chars);
    sqlite3_bind_int64(s, 5, row->text_blob);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return store_error(st, err, "cannot store %s", row->source);
    *id = sqlite3_last_insert_rowid(store_db(st));
    return 0;
}

int documents_each(store *st, documents_fn fn, void *ctx, char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "SELECT id, source, hash, bytes, chars, ingested_at, text_blob FROM "
                      "documents ORDER BY id",
                      &s, err))
        return -1;
    int rc = 0, step = SQLITE_DONE;
    while (!rc && (step = sqlite3_step(s)) == SQLITE_ROW) {
        const documents_row row = {
            .id = sqlite3_column_int64(s, 0),
            .source = (const char *)sqlite3_column_text(s, 1),
            .hash = (const char *)sqlite3_column_text(s, 2),
            .bytes = sqlite3_column_int64(s, 3),
            .chars = sqlite3_column_int64(s, 4),
            .ingested_at = (const char *)sqlite3_column_text(s, 5),
            .text_blob = sqlite3_column_int64(s, 6),
        };
        rc = fn(ctx, &row);
    }
    if (!rc && step != SQLITE_DONE) rc = store_error(st, err, "documents");
    sqlite3_finalize(s);
    return rc;
}

int documents_text(store *st, int64_t id, void **text, size_t *n, int *found, char *err) {
    *text = NULL;
    *n = 0;
    *found = 0;
    sqlite3_stmt *s;
    if (store_prepare(st, "SELECT text_blob FROM documents WHERE id = ?", &s, err)) return -1;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    int64_t blob = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_error(st, err, "document %lld", (long long)id);
    if (rc == SQLITE_DONE) return 0;
    if (store_get_blob(st, blob, text, n, err)) return -1;
    *found = 1;
    return 0;
}
