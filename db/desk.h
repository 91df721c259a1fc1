/*
** The review desk's read-only queries (quill serve): the queue's counts, training runs and their
*logs.  The
** review rules themselves, and the queue's page (reviews_page), stay in
** db/reviews.h.
*/
#ifndef QUILL_DESK_H
#define QUILL_DESK_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

/* How many outputs (of recipe; NULL: all) are pending, approved, rejected,
** and the largest number of approvals any pending one needs: from the
** counts 009_desk_counts.sql's triggers keep, a few rows however many
** outputs there are. */
int desk_counts(store *st, const char *recipe, int64_t *pending, int64_t *approved,
                int64_t *rejected, int64_t *needed, char *err);

typedef struct desk_run {
    int64_t id, total_steps, last_step;
    char *status, *model, *created_at; /* malloc'd */
} desk_run;

/* Every training run, newest first; free with desk_runs_free. */
int desk_runs(store *st, desk_run **v, size_t *n, char *err);
void desk_runs_free(desk_run *v, size_t n);

typedef struct desk_log {
    int eval; /* 1: an eval line (loss = eval loss) */
    int64_t step;
    double epoch, loss, lr, grad_norm; /* lr, grad_norm NaN when absent */
} desk_log;

/* The log of training run id by step (*v malloc'd); fails "no training run
** N" when there is none. */
int desk_logs(store *st, int64_t id, desk_log **v, size_t *n, char *err);

#endif
