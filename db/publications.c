/*
** Publications' SQL (see publications.h).
*/
#include "publications.h"

#include "err.h"
#include "mem.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int publications_same(store *st, const char *set_hash, int64_t *id, char **out_path,
                      char **created_at, char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "SELECT id, out_path, created_at FROM publications WHERE set_hash = ? AND "
                      "state = 'done' ORDER BY id DESC LIMIT 1",
                      &s, err))
        return -1;
    sqlite3_bind_text(s, 1, set_hash, -1, SQLITE_STATIC);
    int found = sqlite3_step(s) == SQLITE_ROW;
    if (found) {
        *id = sqlite3_column_int64(s, 0);
        *out_path = store_column_dup(s, 1, 1);
        *created_at = store_column_dup(s, 2, 1);
    }
    sqlite3_finalize(s);
    return found;
}

int publications_add(store *st, const char *out_path, const char *format, const char *set_hash,
                     const char *ids_json, const char *tmp_path, const char *file_hash, int64_t *id,
                     char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "INSERT INTO publications (out_path, format, set_hash, output_ids, state, "
                      "tmp_path, file_hash, pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      &s, err))
        return -1;
    sqlite3_bind_text(s, 1, out_path, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, format, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, set_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, ids_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, tmp_path ? "pending" : "done", -1, SQLITE_STATIC);
    if (tmp_path) {
        sqlite3_bind_text(s, 6, tmp_path, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 7, file_hash, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 8, (int64_t)getpid());
    }
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return store_error(st, err, "cannot record the publication");
    *id = sqlite3_last_insert_rowid(store_db(st));
    return 0;
}

int publications_finish(store *st, int64_t id, const char *state, char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st, "UPDATE publications SET state = ? WHERE id = ?", &s, err)) return -1;
    sqlite3_bind_text(s, 1, state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, id);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE
               ? 0
               : store_error(st, err, "publication %lld: cannot mark it %s", (long long)id, state);
}

int publications_pending(store *st, publications_row **v, size_t *n, char *err) {
    *v = NULL;
    *n = 0;
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "SELECT id, COALESCE(pid, 0), out_path, tmp_path, file_hash FROM "
                      "publications WHERE state = 'pending' ORDER BY id",
                      &s, err))
        return -1;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        publications_row *r = mem_push(v, n, &cap, sizeof *r);
        if (!r) break;
        r->id = sqlite3_column_int64(s, 0);
        r->pid = sqlite3_column_int64(s, 1);
        r->out_path = store_column_dup(s, 2, 1);
        r->tmp_path = store_column_dup(s, 3, 1);
        r->file_hash = store_column_dup(s, 4, 1);
        if (!r->out_path) break;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        publications_rows_free(*v, *n);
        *v = NULL;
        *n = 0;
        return err_set(err, "cannot read the pending publications");
    }
    return 0;
}

void publications_rows_free(publications_row *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(v[i].out_path), free(v[i].tmp_path), free(v[i].file_hash);
    free(v);
}
