/*
** Training runs and their logs (db/003_training.sql train_runs,
** train_logs): a run is found again by its identity (stages/train.h), its
** status says whether it finished, and every logging step adds a line.
**
** Every function returns 0, or -1 with err naming the store and the run.
** Writers run inside the caller's transaction (store_begin).
*/
#ifndef QUILL_DB_TRAINRUNS_H
#define QUILL_DB_TRAINRUNS_H

#include "store.h"

#include <stdint.h>

/* The status column's values. */
#define TRAINRUNS_STATUS_LEN 16

/* The run with this identity: its id in *id and status in status, or *id
** 0 (status "") when there is none. */
int trainruns_find(store *st, const char *identity, int64_t *id, char status[TRAINRUNS_STATUS_LEN],
                   char *err);

/* A new run, status 'running'. */
typedef struct trainruns_new {
    const char *identity;
    int64_t block_set_id;
    const char *model_source; /* a directory, "checkpoint:N" or "init" */
    const char *config_json;
    const char *params_json;
    int64_t total_steps;
} trainruns_new;

/* Insert r; the new run's id in *id. */
int trainruns_insert(store *st, const trainruns_new *r, int64_t *id, char *err);

/* Set run id's status: 'running', 'done', 'interrupted' or 'failed'. */
int trainruns_set_status(store *st, int64_t id, const char *status, char *err);

/* One log line.  kind "train": loss is the mean step loss since the last
** line, with the step's learning rate and gradient norm and tokens/s
** (<= 0: not measured, stored NULL); kind "eval": loss is the eval loss and
** the perplexity exp(loss) is stored.  A line for the same (run, kind,
** step) replaces the old one (a resumed run logs its step again). */
typedef struct trainruns_log {
    int64_t run_id;
    const char *kind;
    int64_t step;
    double epoch, loss, learning_rate, grad_norm, tokens_per_s;
} trainruns_log;

int trainruns_add_log(store *st, const trainruns_log *l, char *err);

#endif
