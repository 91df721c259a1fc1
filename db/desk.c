/*
** The review desk's read-only queries (desk.h).
*/
#include "desk.h"

#include "err.h"
#include "mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int desk_counts(store *st, const char *recipe, int64_t *pending, int64_t *approved,
                int64_t *rejected, int64_t *needed, char *err) {
    sqlite3_stmt *s;
    if (store_prepare_cached(
            st,
            "SELECT COALESCE(SUM(n * (status = 'pending')), 0), "
            "COALESCE(SUM(n * (status = 'approved')), 0), "
            "COALESCE(SUM(n * (status = 'rejected')), 0), "
            "COALESCE(MAX(CASE WHEN status = 'pending' THEN min_approvals END), 1) "
            "FROM output_counts WHERE n > 0 AND (?1 IS NULL OR recipe_name = ?1)",
            &s, err))
        return -1;
    if (recipe) sqlite3_bind_text(s, 1, recipe, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *pending = sqlite3_column_int64(s, 0);
        *approved = sqlite3_column_int64(s, 1);
        *rejected = sqlite3_column_int64(s, 2);
        *needed = sqlite3_column_int64(s, 3);
    }
    if (rc != SQLITE_ROW) store_error(st, err, "cannot count the outputs");
    store_release(st, s);
    return rc == SQLITE_ROW ? 0 : -1;
}

int desk_runs(store *st, desk_run **v, size_t *n, char *err) {
    *v = NULL;
    *n = 0;
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "SELECT id, total_steps, (SELECT COALESCE(MAX(step), 0) FROM train_logs "
                      "WHERE run_id = r.id), status, model_source, created_at FROM train_runs r "
                      "ORDER BY id DESC",
                      &s, err))
        return -1;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        desk_run *r = mem_push(v, n, &cap, sizeof *r);
        if (!r) break;
        r->id = sqlite3_column_int64(s, 0);
        r->total_steps = sqlite3_column_int64(s, 1);
        r->last_step = sqlite3_column_int64(s, 2);
        r->status = store_column_dup(s, 3, 0);
        r->model = store_column_dup(s, 4, 0);
        r->created_at = store_column_dup(s, 5, 0);
        if (!r->status || !r->model || !r->created_at) break;
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return 0;
    desk_runs_free(*v, *n);
    *v = NULL;
    *n = 0;
    return rc == SQLITE_ROW ? err_set(err, "out of memory")
                            : store_error(st, err, "cannot list the training runs");
}

void desk_runs_free(desk_run *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(v[i].status), free(v[i].model), free(v[i].created_at);
    free(v);
}

int desk_logs(store *st, int64_t id, desk_log **v, size_t *n, char *err) {
    *v = NULL;
    *n = 0;
    sqlite3_stmt *s;
    if (store_prepare(st, "SELECT 1 FROM train_runs WHERE id = ?", &s, err)) return -1;
    sqlite3_bind_int64(s, 1, id);
    int found = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
    if (!found) return err_set(err, "no training run %lld", (long long)id);
    if (store_prepare(st,
                      "SELECT kind = 'eval', step, epoch, loss, learning_rate, grad_norm "
                      "FROM train_logs WHERE run_id = ? ORDER BY step, kind DESC",
                      &s, err))
        return -1;
    sqlite3_bind_int64(s, 1, id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        desk_log *l = mem_push(v, n, &cap, sizeof *l);
        if (!l) break;
        l->eval = sqlite3_column_int(s, 0);
        l->step = sqlite3_column_int64(s, 1);
        l->epoch = sqlite3_column_double(s, 2);
        l->loss = sqlite3_column_double(s, 3);
        l->lr = sqlite3_column_type(s, 4) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 4);
        l->grad_norm = sqlite3_column_type(s, 5) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 5);
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return 0;
    free(*v);
    *v = NULL;
    *n = 0;
    return rc == SQLITE_ROW
               ? err_set(err, "out of memory")
               : store_error(st, err, "training run %lld: cannot read its log", (long long)id);
}
