/*
** Recipe runs (db/001_init.sql recipe_runs, db/007_runs.sql run_locks):
** one row per `quill run RECIPE`, and a lock so that one recipe runs once
** at a time on a store.
**
** The lock is a row, not a file lock: it names the holder (host, pid and
** the process's start time from /proc/PID/stat, which tells a live holder
** from a reused pid), lives in the store it protects, and a holder that
** died (SIGKILL, a crash, a reboot) leaves a row that the next run sees is
** stale and takes over.  A holder on another host cannot be checked and
** counts as live.
*/
#ifndef QUILL_DB_RUNS_H
#define QUILL_DB_RUNS_H

#include "store.h"

#include <stdint.h>

/* Start a run of recipe name (recipe file path, its bytes' hash) by this
** process: take the recipe's lock, mark the recipe's runs still 'running'
** (their process is gone) 'interrupted', add a 'running' row, its id in
** *run_id.  Inside the caller's transaction (store_begin).  When a live
** process holds the lock: -1 and err "recipe NAME is running (pid P)", the
** store unchanged. */
int runs_start(store *st, const char *name, const char *path, const char *hash, int64_t *run_id,
               char *err);

/* End run run_id with status ('done', 'failed' or 'interrupted') and, for
** a failure, the reason (NULL: none), and release its lock, in one
** transaction of its own. */
int runs_finish(store *st, int64_t run_id, const char *status, const char *reason, char *err);

/* The newest run of a recipe, as `quill status` shows it. */
typedef struct runs_info {
    char *recipe_name;
    int64_t id;
    char *status;
    char *started_at;
    char *error; /* NULL unless it failed or was interrupted */
} runs_info;

/* The newest run of each recipe (of recipe name only, when name is not
** NULL), by recipe name, into *v (malloc'd, *n entries; free with
** runs_info_free).  Read-only. */
int runs_latest(store *st, const char *name, runs_info **v, size_t *n, char *err);
void runs_info_free(runs_info *v, size_t n);

/* What the store holds, as `quill status` shows it; outputs of recipe
** name only when name is not NULL.  A count that cannot be read is -1. */
typedef struct runs_counts {
    long long documents, tokens, blocks, steps;
    long long pending, approved, rejected; /* outputs by review status */
} runs_counts;

/* Fill *c.  Read-only. */
void runs_store_counts(store *st, const char *name, runs_counts *c);

#endif
