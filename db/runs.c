/*
** Recipe runs and their lock (see runs.h).
*/
#include "runs.h"

#include "err.h"
#include "mem.h"
#include "proc.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Whether the holder (host, pid, start) of a lock row is a live process
** other than this one. */
static int holder_alive(const char *host, long long pid, long long start) {
    char me[PROC_HOST_LEN];
    proc_host(me);
    if (strcmp(host, me)) return 1; /* cannot look at another host's processes */
    return pid != (long long)getpid() && proc_alive(pid, start);
}

/* Refuse when a live process holds name's lock (err names it); a stale
** row is left for runs_start to replace. */
static int lock_check(store *st, const char *name, char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "SELECT host, pid, start_time, acquired_at FROM run_locks WHERE "
                      "recipe_name = ?",
                      &s, err))
        return -1;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *host = (const char *)sqlite3_column_text(s, 0);
        long long pid = sqlite3_column_int64(s, 1), start = sqlite3_column_int64(s, 2);
        char me[PROC_HOST_LEN];
        proc_host(me);
        if (holder_alive(host, pid, start)) {
            if (strcmp(host, me))
                err_set(err, "recipe %s is running (pid %lld on host %s, since %s)", name, pid,
                        host, sqlite3_column_text(s, 3));
            else
                err_set(err, "recipe %s is running (pid %lld, since %s)", name, pid,
                        sqlite3_column_text(s, 3));
            sqlite3_finalize(s);
            return -1;
        }
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return store_error(st, err, "lock of %s", name);
    return 0;
}

/* Run one statement whose parameters are the text values txt[0..n-1]
** followed by the integer iv when has_iv. */
static int exec_args(store *st, const char *sql, const char *const *txt, int n, int has_iv,
                     int64_t iv, char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st, sql, &s, err)) return -1;
    for (int i = 0; i < n; i++)
        if (txt[i])
            sqlite3_bind_text(s, i + 1, txt[i], -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(s, i + 1);
    if (has_iv) sqlite3_bind_int64(s, n + 1, iv);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : store_error(st, err, "recipe run");
}

int runs_start(store *st, const char *name, const char *path, const char *hash, int64_t *run_id,
               char *err) {
    assert(!sqlite3_get_autocommit(store_db(st))); /* inside the caller's transaction */
    if (lock_check(st, name, err)) return -1;
    /* With the lock free, a run still 'running' has no process left. */
    const char *n1[] = {name};
    const char *ins[] = {name, path, hash};
    if (exec_args(st,
                  "UPDATE recipe_runs SET status = 'interrupted', error = 'its process ended "
                  "before the run finished' WHERE recipe_name = ? AND status = 'running'",
                  n1, 1, 0, 0, err) ||
        exec_args(st,
                  "INSERT INTO recipe_runs (recipe_name, recipe_path, recipe_hash) VALUES "
                  "(?, ?, ?)",
                  ins, 3, 0, 0, err))
        return -1;
    *run_id = sqlite3_last_insert_rowid(store_db(st));
    char host[PROC_HOST_LEN], pid[24], start[24];
    proc_host(host);
    long long self = (long long)getpid();
    snprintf(pid, sizeof pid, "%lld", self);
    snprintf(start, sizeof start, "%lld", proc_start_time(self));
    const char *lock[] = {name, host, pid, start};
    return exec_args(st,
                     "INSERT OR REPLACE INTO run_locks (recipe_name, host, pid, start_time, "
                     "recipe_run_id) VALUES (?, ?, ?, ?, ?)",
                     lock, 4, 1, *run_id, err);
}

int runs_finish(store *st, int64_t run_id, const char *status, const char *reason, char *err) {
    assert(!strcmp(status, "done") || !strcmp(status, "failed") || !strcmp(status, "interrupted"));
    const char *upd[] = {status, reason};
    if (store_begin(st, err)) return -1;
    if (exec_args(st,
                  "UPDATE recipe_runs SET status = ?, error = ?, finished_at = "
                  "strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
                  upd, 2, 1, run_id, err) ||
        exec_args(st, "DELETE FROM run_locks WHERE recipe_run_id = ?", NULL, 0, 1, run_id, err)) {
        store_rollback(st);
        return -1;
    }
    return store_commit(st, err);
}

void runs_info_free(runs_info *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].recipe_name);
        free(v[i].status);
        free(v[i].started_at);
        free(v[i].error);
    }
    free(v);
}

int runs_latest(store *st, const char *name, runs_info **v, size_t *n, char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "SELECT recipe_name, id, status, started_at, error FROM recipe_runs r "
                      "WHERE id = (SELECT MAX(id) FROM recipe_runs WHERE recipe_name = "
                      "r.recipe_name) AND (?1 IS NULL OR recipe_name = ?1) ORDER BY recipe_name",
                      &s, err))
        return -1;
    if (name) sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    *v = NULL;
    *n = 0;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        runs_info *e = mem_push(v, n, &cap, sizeof *e);
        if (!e) break;
        e->recipe_name = store_column_dup(s, 0, 1);
        e->id = sqlite3_column_int64(s, 1);
        e->status = store_column_dup(s, 2, 1);
        e->started_at = store_column_dup(s, 3, 1);
        e->error = store_column_dup(s, 4, 1);
        if (!e->recipe_name || !e->status || !e->started_at) break;
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return 0;
    runs_info_free(*v, *n);
    *v = NULL;
    *n = 0;
    return rc == SQLITE_ROW ? err_set(err, "recipe runs: out of memory")
                            : store_error(st, err, "recipe runs");
}

/* The integer the query sql returns (with ?1 = a1 and ?2 = a2 when not
** NULL, unbound parameters being NULL), or -1. */
static long long count(store *st, const char *sql, const char *a1, const char *a2) {
    char err[ERR_LEN];
    sqlite3_stmt *s;
    if (store_prepare(st, sql, &s, err)) return -1;
    if (a1) sqlite3_bind_text(s, 1, a1, -1, SQLITE_STATIC);
    if (a2) sqlite3_bind_text(s, 2, a2, -1, SQLITE_STATIC);
    long long v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    return v;
}

void runs_store_counts(store *st, const char *name, runs_counts *c) {
    /* output_counts (db/009) holds them: no scan of the outputs */
    static const char *outputs = "SELECT COALESCE(SUM(n), 0) FROM output_counts WHERE status = ?2 "
                                 "AND (?1 IS NULL OR recipe_name = ?1)";
    c->documents = count(st, "SELECT COUNT(*) FROM documents", NULL, NULL);
    c->tokens = count(st, "SELECT COALESCE(SUM(n_tokens), 0) FROM doc_tokens", NULL, NULL);
    c->blocks = count(st, "SELECT COALESCE(SUM(n_train + n_eval), 0) FROM block_sets", NULL, NULL);
    c->steps = count(st, "SELECT COALESCE(MAX(step), 0) FROM train_logs", NULL, NULL);
    c->pending = count(st, outputs, name, "pending");
    c->approved = count(st, outputs, name, "approved");
    c->rejected = count(st, outputs, name, "rejected");
}
