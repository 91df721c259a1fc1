/*
** The checkpoints table (db/003_training.sql): one row per stored model,
** its tensors and training state in blobs (store_put_blob).  The format of
** those blobs (byte planes, config JSON, state) is stages/ckpt.h's; this
** module only reads and writes rows.
**
** Every function returns 0, or -1 with err naming the store and what could
** not be read or written.  Writers run inside the caller's transaction
** (store_begin).
*/
#ifndef QUILL_DB_CHECKPOINTS_H
#define QUILL_DB_CHECKPOINTS_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

/* One checkpoint row. */
typedef struct checkpoints_row {
    int64_t run_id; /* 0: an imported model (NULL in the table) */
    int64_t step;
    char *config_json; /* malloc'd by checkpoints_get */
    int64_t n_params;  /* floats in the tensors blob */
    int planar;        /* tensors codec 'f32-planes' (else 'f32') */
    int64_t tensors_blob;
    int64_t state_blob; /* 0: none */
    int pinned;         /* keeps its state (read by checkpoints_get) */
} checkpoints_row;

/* Insert r (codec 'f32-planes', config_json as given); the new id in *id. */
int checkpoints_insert(store *st, const checkpoints_row *r, int64_t *id, char *err);

/* Read row id into *r (config_json malloc'd: free it).  *found is 0 and *r
** untouched when there is no such row; -1 only when the store fails. */
int checkpoints_get(store *st, int64_t id, checkpoints_row *r, int *found, char *err);

/* *id: id itself when the row exists, else 0. */
int checkpoints_exists(store *st, int64_t id, int64_t *out, char *err);

/* *id: the highest step of run run_id when run_id > 0, else the newest
** checkpoint of any run or import; 0 when there is none. */
int checkpoints_latest(store *st, int64_t run_id, int64_t *id, char *err);

/* Keep the newest keep (>= 1) unpinned checkpoints of run_id and every
** pinned one; delete the older rows and the blobs nothing references any
** more (store_free_blobs). */
int checkpoints_prune(store *st, int64_t run_id, int keep, char *err);

/* The retention rule: the optimizer state (state_blob) is kept only by the
** latest checkpoint of each run (checkpoints_latest) and by pinned ones.
** Drop it from the others of run_id (0: of every run) and free the blobs
** nothing references any more; *dropped (may be NULL) gets how many
** checkpoints lost their state. */
int checkpoints_drop_state(store *st, int64_t run_id, int64_t *dropped, char *err);

/* Pin (pinned 1) or unpin (0) checkpoint id; *run_id gets its run (0: an
** import), -1 when there is no such checkpoint.  Unpinning does not drop
** the state by itself: call checkpoints_drop_state. */
int checkpoints_set_pinned(store *st, int64_t id, int pinned, int64_t *run_id, char *err);

/* An imported checkpoint id was just inserted from directory dir: when an
** earlier import has the same tensors and config, delete id and put that
** one's id in *out (importing is idempotent); else record dir as id's
** source and *out = id. */
int checkpoints_settle_import(store *st, int64_t id, const char *dir, int64_t *out, char *err);

/* One line of `quill checkpoints`. */
typedef struct checkpoints_info {
    int64_t id, run_id, step, n_params, stored_bytes;
    int64_t state_bytes; /* stored bytes of the optimizer state, 0: none */
    int pinned;
    char *source; /* "" when none */
    char *created_at;
} checkpoints_info;

/* Every checkpoint (of run run_id when > 0) by id into *v (malloc'd, *n
** entries; free with checkpoints_info_free).  Read-only. */
int checkpoints_list(store *st, int64_t run_id, checkpoints_info **v, size_t *n, char *err);
void checkpoints_info_free(checkpoints_info *v, size_t n);

#endif
