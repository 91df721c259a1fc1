/*
** Completed stages of recipe runs; see stageruns.h.
*/
#include "stageruns.h"

#include "err.h"

#include <assert.h>
#include <stdlib.h>

/* Step s (the text parameters bound) once; the first row's columns 0 and
** 1 into *a and *b (when not NULL; NULL when there is no row). */
static int first_row(store *st, sqlite3_stmt *s, char **a, char **b, char *err) {
    *a = NULL;
    if (b) *b = NULL;
    int rc = sqlite3_step(s);
    int oom = 0;
    if (rc == SQLITE_ROW) {
        *a = store_column_dup(s, 0, 0);
        if (b) *b = store_column_dup(s, 1, 0);
        oom = !*a || (b && !*b);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return store_error(st, err, "stage runs");
    if (oom) {
        free(*a), *a = NULL;
        if (b) free(*b), *b = NULL;
        return err_set(err, "stage runs: out of memory");
    }
    return 0;
}

int stageruns_find_done(store *st, const char *recipe, const char *stage, const char *identity,
                        char **result, char *err) {
    sqlite3_stmt *s;
    *result = NULL;
    if (store_prepare(st,
                      "SELECT result_json FROM stage_runs WHERE recipe_name = ? AND stage = ? "
                      "AND identity = ? AND status = 'done' ORDER BY id DESC LIMIT 1",
                      &s, err))
        return -1;
    sqlite3_bind_text(s, 1, recipe, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, stage, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, identity, -1, SQLITE_STATIC);
    return first_row(st, s, result, NULL, err);
}

int stageruns_record(store *st, const stageruns_done *d, char *err) {
    assert(!sqlite3_get_autocommit(store_db(st))); /* inside the caller's transaction */
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "INSERT INTO stage_runs (recipe_run_id, recipe_name, stage, identity, "
                      "params_json, result_json, status, started_at) VALUES (?, ?, ?, ?, ?, ?, "
                      "'done', ?)",
                      &s, err))
        return -1;
    sqlite3_bind_int64(s, 1, d->recipe_run_id);
    const char *text[] = {d->recipe,      d->stage,       d->identity,
                          d->params_json, d->result_json, d->started_at};
    for (int i = 0; i < 6; i++)
        sqlite3_bind_text(s, i + 2, text[i], -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : store_error(st, err, "cannot record the run");
}

int stageruns_last(store *st, const char *recipe, const char *stage, char **finished_at,
                   char **result, char *err) {
    sqlite3_stmt *s;
    *finished_at = *result = NULL;
    if (store_prepare(st,
                      "SELECT finished_at, result_json FROM stage_runs WHERE recipe_name = ? "
                      "AND stage = ? ORDER BY id DESC LIMIT 1",
                      &s, err))
        return -1;
    sqlite3_bind_text(s, 1, recipe, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, stage, -1, SQLITE_STATIC);
    return first_row(st, s, finished_at, result, err);
}
