/*
** Training runs and their logs; see trainruns.h.
*/
#include "trainruns.h"

#include "err.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

int trainruns_find(store *st, const char *identity, int64_t *id, char status[TRAINRUNS_STATUS_LEN],
                   char *err) {
    sqlite3_stmt *s;
    *id = 0;
    status[0] = 0;
    if (store_prepare(st, "SELECT id, status FROM train_runs WHERE identity = ?", &s, err))
        return -1;
    sqlite3_bind_text(s, 1, identity, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        snprintf(status, TRAINRUNS_STATUS_LEN, "%s", (const char *)sqlite3_column_text(s, 1));
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return store_error(st, err, "train runs");
    return 0;
}

int trainruns_insert(store *st, const trainruns_new *r, int64_t *id, char *err) {
    assert(r->identity && r->model_source && r->config_json && r->params_json);
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "INSERT INTO train_runs(identity, block_set_id, model_source, "
                      "config_json, params_json, status, total_steps) VALUES "
                      "(?, ?, ?, ?, ?, 'running', ?)",
                      &s, err))
        return -1;
    sqlite3_bind_text(s, 1, r->identity, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, r->block_set_id);
    sqlite3_bind_text(s, 3, r->model_source, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, r->config_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, r->params_json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, r->total_steps);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return store_error(st, err, "train run");
    *id = sqlite3_last_insert_rowid(store_db(st));
    return 0;
}

int trainruns_set_status(store *st, int64_t id, const char *status, char *err) {
    assert(!strcmp(status, "running") || !strcmp(status, "done") ||
           !strcmp(status, "interrupted") || !strcmp(status, "failed"));
    sqlite3_stmt *s;
    if (store_prepare(st, "UPDATE train_runs SET status = ?2 WHERE id = ?1", &s, err)) return -1;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, status, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : store_error(st, err, "train run %lld", (long long)id);
}

int trainruns_add_log(store *st, const trainruns_log *l, char *err) {
    int eval = !strcmp(l->kind, "eval");
    assert(eval || !strcmp(l->kind, "train"));
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "INSERT OR REPLACE INTO train_logs(run_id, kind, step, epoch, loss, "
                      "learning_rate, grad_norm, tokens_per_s, perplexity) VALUES "
                      "(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      &s, err))
        return -1;
    sqlite3_bind_int64(s, 1, l->run_id);
    sqlite3_bind_text(s, 2, l->kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, l->step);
    sqlite3_bind_double(s, 4, l->epoch);
    sqlite3_bind_double(s, 5, l->loss);
    if (!eval) {
        sqlite3_bind_double(s, 6, l->learning_rate);
        sqlite3_bind_double(s, 7, l->grad_norm);
        if (l->tokens_per_s > 0) sqlite3_bind_double(s, 8, l->tokens_per_s);
    } else {
        sqlite3_bind_double(s, 9, exp(l->loss));
    }
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : store_error(st, err, "train log");
}
