/*
** The checkpoints table; see checkpoints.h.
*/
#include "checkpoints.h"

#include "err.h"
#include "mem.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* Run sql with ?1 = a (when it has ?1) and ?2 = b (when b_set), then *out (when not NULL)
** gets the first column of the first row, 0 when there is no row. */
static int one_int(store *st, const char *sql, int64_t a, int b_set, int64_t b, int64_t *out,
                   char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st, sql, &s, err)) return -1;
    sqlite3_bind_int64(s, 1, a);
    if (b_set) sqlite3_bind_int64(s, 2, b);
    int rc = sqlite3_step(s);
    if (out) *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return store_error(st, err, "checkpoints");
    return 0;
}

int checkpoints_insert(store *st, const checkpoints_row *r, int64_t *id, char *err) {
    assert(r->config_json && r->tensors_blob > 0 && r->n_params > 0);
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "INSERT INTO checkpoints(run_id, step, config_json, n_params, "
                      "tensors_codec, tensors_blob, state_blob) VALUES (?, ?, ?, ?, "
                      "'f32-planes', ?, ?)",
                      &s, err))
        return -1;
    if (r->run_id > 0) sqlite3_bind_int64(s, 1, r->run_id);
    sqlite3_bind_int64(s, 2, r->step);
    sqlite3_bind_text(s, 3, r->config_json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, r->n_params);
    sqlite3_bind_int64(s, 5, r->tensors_blob);
    if (r->state_blob) sqlite3_bind_int64(s, 6, r->state_blob);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return store_error(st, err, "cannot store the checkpoint");
    *id = sqlite3_last_insert_rowid(store_db(st));
    return 0;
}

int checkpoints_get(store *st, int64_t id, checkpoints_row *r, int *found, char *err) {
    sqlite3_stmt *s;
    *found = 0;
    if (store_prepare(st,
                      "SELECT run_id, step, config_json, n_params, tensors_codec, tensors_blob, "
                      "state_blob, pinned FROM checkpoints WHERE id = ?",
                      &s, err))
        return -1;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        char *config = store_column_dup(s, 2, 0);
        if (!config) {
            sqlite3_finalize(s);
            return err_set(err, "checkpoint %lld: out of memory", (long long)id);
        }
        *found = 1;
        r->run_id = sqlite3_column_int64(s, 0);
        r->step = sqlite3_column_int64(s, 1);
        r->config_json = config;
        r->n_params = sqlite3_column_int64(s, 3);
        r->planar = !strcmp((const char *)sqlite3_column_text(s, 4), "f32-planes");
        r->tensors_blob = sqlite3_column_int64(s, 5);
        r->state_blob = sqlite3_column_int64(s, 6);
        r->pinned = sqlite3_column_int(s, 7);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_error(st, err, "checkpoint %lld", (long long)id);
    return 0;
}

int checkpoints_exists(store *st, int64_t id, int64_t *out, char *err) {
    return one_int(st, "SELECT id FROM checkpoints WHERE id = ?1", id, 0, 0, out, err);
}

int checkpoints_latest(store *st, int64_t run_id, int64_t *id, char *err) {
    if (run_id > 0)
        return one_int(st,
                       "SELECT id FROM checkpoints WHERE run_id = ?1 ORDER BY step DESC, id DESC "
                       "LIMIT 1",
                       run_id, 0, 0, id, err);
    /* no ?1: one_int's binding of it is ignored */
    return one_int(st, "SELECT id FROM checkpoints ORDER BY id DESC LIMIT 1", 0, 0, 0, id, err);
}

/* Run query (binding ?1 = a): each row's first column is a blob id; then
** run change (when not NULL, binding ?1 = a), after which no checkpoint
** references those blobs any more; free the ones nothing else uses.  *rows
** (may be NULL) gets the number of query rows. */
static int free_listed(store *st, const char *query, const char *change, int64_t a, int64_t *rows,
                       char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st, query, &s, err)) return -1;
    sqlite3_bind_int64(s, 1, a);
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t *e = mem_push(&ids, &n, &cap, sizeof *e);
        if (!e) break;
        *e = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    int bad = rc == SQLITE_ROW    ? err_set(err, "checkpoints: out of memory")
              : rc != SQLITE_DONE ? store_error(st, err, "checkpoints")
                                  : 0;
    if (!bad && change) bad = one_int(st, change, a, 0, 0, NULL, err);
    for (size_t i = 0; i < n && !bad; i++)
        if (ids[i]) bad = store_free_blobs(st, ids[i], NULL, err);
    free(ids);
    if (rows) *rows = (int64_t)n;
    return bad ? -1 : 0;
}

int checkpoints_prune(store *st, int64_t run_id, int keep, char *err) {
    static const char *sql[] = {
        "CREATE TEMP TABLE IF NOT EXISTS ckpt_pruned(id INTEGER PRIMARY KEY, t INTEGER, "
        "s INTEGER)",
        "DELETE FROM temp.ckpt_pruned",
        "INSERT INTO temp.ckpt_pruned SELECT id, tensors_blob, state_blob FROM checkpoints "
        "WHERE run_id = ?1 AND NOT pinned ORDER BY step DESC, id DESC LIMIT -1 OFFSET ?2",
        "DELETE FROM checkpoints WHERE id IN (SELECT id FROM temp.ckpt_pruned)",
    };
    assert(keep >= 1);
    for (size_t i = 0; i < sizeof sql / sizeof *sql; i++) {
        sqlite3_stmt *s;
        if (store_prepare(st, sql[i], &s, err)) return err_prefix(err, "prune checkpoints");
        if (i == 2) {
            sqlite3_bind_int64(s, 1, run_id);
            sqlite3_bind_int(s, 2, keep);
        }
        int rc = sqlite3_step(s);
        sqlite3_finalize(s);
        if (rc != SQLITE_DONE) return store_error(st, err, "prune checkpoints");
    }
    return free_listed(st,
                       "SELECT t FROM temp.ckpt_pruned UNION SELECT s FROM temp.ckpt_pruned "
                       "WHERE s IS NOT NULL",
                       NULL, 0, NULL, err);
}

/* The checkpoints whose state the retention rule drops (of run ?1, 0:
** every run); the latest of a run is checkpoints_latest's choice, the one
** resume loads. */
#define DROPPABLE                                                                                  \
    " WHERE state_blob IS NOT NULL AND NOT pinned AND run_id IS NOT NULL AND (?1 = 0 OR run_id "   \
    "= ?1) AND id != (SELECT l.id FROM checkpoints l WHERE l.run_id = k.run_id ORDER BY l.step "   \
    "DESC, l.id DESC LIMIT 1)"

int checkpoints_drop_state(store *st, int64_t run_id, int64_t *dropped, char *err) {
    return free_listed(st, "SELECT state_blob FROM checkpoints k" DROPPABLE,
                       "UPDATE checkpoints AS k SET state_blob = NULL" DROPPABLE, run_id, dropped,
                       err);
}

int checkpoints_set_pinned(store *st, int64_t id, int pinned, int64_t *run_id, char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "UPDATE checkpoints SET pinned = ?2 WHERE id = ?1 RETURNING "
                      "coalesce(run_id, 0)",
                      &s, err))
        return -1;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int(s, 2, !!pinned);
    int rc = sqlite3_step(s);
    *run_id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    if (rc == SQLITE_ROW) rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return store_error(st, err, "checkpoint %lld", (long long)id);
    return 0;
}

int checkpoints_settle_import(store *st, int64_t id, const char *dir, int64_t *out, char *err) {
    int64_t old = 0;
    if (one_int(st,
                "SELECT o.id FROM checkpoints o JOIN checkpoints n ON n.id = ?1 AND "
                "o.id != n.id AND o.run_id IS NULL AND o.tensors_blob = n.tensors_blob "
                "AND o.config_json = n.config_json ORDER BY o.id LIMIT 1",
                id, 0, 0, &old, err))
        return -1;
    *out = old ? old : id;
    if (old) return one_int(st, "DELETE FROM checkpoints WHERE id = ?1", id, 0, 0, NULL, err);
    sqlite3_stmt *s;
    if (store_prepare(st, "UPDATE checkpoints SET source = ?2 WHERE id = ?1", &s, err)) return -1;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, dir, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : store_error(st, err, "checkpoint %lld", (long long)id);
}

void checkpoints_info_free(checkpoints_info *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].source);
        free(v[i].created_at);
    }
    free(v);
}

int checkpoints_list(store *st, int64_t run_id, checkpoints_info **v, size_t *n, char *err) {
    sqlite3_stmt *s;
    *v = NULL;
    *n = 0;
    if (store_prepare(st,
                      "SELECT k.id, k.run_id, k.step, k.n_params, length(b.data), "
                      "coalesce(k.source, ''), k.created_at, coalesce(length(sb.data), 0), "
                      "k.pinned FROM checkpoints k JOIN blobs b ON b.id = k.tensors_blob LEFT "
                      "JOIN blobs sb ON sb.id = k.state_blob WHERE ?1 = 0 OR k.run_id = ?1 "
                      "ORDER BY k.id",
                      &s, err))
        return -1;
    sqlite3_bind_int64(s, 1, run_id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        checkpoints_info *e = mem_push(v, n, &cap, sizeof *e);
        if (!e) break;
        e->id = sqlite3_column_int64(s, 0);
        e->run_id = sqlite3_column_int64(s, 1);
        e->step = sqlite3_column_int64(s, 2);
        e->n_params = sqlite3_column_int64(s, 3);
        e->stored_bytes = sqlite3_column_int64(s, 4);
        e->source = store_column_dup(s, 5, 0);
        e->created_at = store_column_dup(s, 6, 0);
        e->state_bytes = sqlite3_column_int64(s, 7);
        e->pinned = sqlite3_column_int(s, 8);
        if (!e->source || !e->created_at) break;
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return 0;
    checkpoints_info_free(*v, *n);
    *v = NULL;
    *n = 0;
    return rc == SQLITE_ROW ? err_set(err, "checkpoints: out of memory")
                            : store_error(st, err, "checkpoints");
}
