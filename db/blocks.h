/*
** The block_sets table: a grouped corpus, its train and eval blocks stored
** as u32 little-endian id blobs, found again by the identity hash of its
** inputs (see stages/group.h).
**
** Every function returns 0, or -1 with err naming the store and the set.
** Writers run inside the caller's transaction (store_begin).
*/
#ifndef QUILL_DB_BLOCKS_H
#define QUILL_DB_BLOCKS_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

/* One block set.  The id arrays are n_train (n_eval) blocks of block_size
** ids each; eval is NULL when n_eval is 0. */
typedef struct blocks_set {
    int64_t id;
    const char *identity;
    int64_t tokenizer_id;
    int block_size;
    const char *mode;        /* "document" or "lines" */
    const char *params_json; /* what made it and what it holds */
    int32_t *train, *eval;
    size_t n_train, n_eval;
} blocks_set;

/* The id of the set with this identity in *id, 0 when there is none. */
int blocks_find(store *st, const char *identity, int64_t *id, char *err);

/* Insert b (every field but id, which *id receives); n_train > 0. */
int blocks_insert(store *st, const blocks_set *b, int64_t *id, char *err);

/* Read set id into *b (identity, mode and params_json malloc'd; the blocks
** themselves only when with_ids, else train and eval are NULL); free it with
** blocks_free().  An error when there is no such set. */
int blocks_get(store *st, int64_t id, int with_ids, blocks_set *b, char *err);

/* The newest set's id in *id (0 when there is none). */
int blocks_latest(store *st, int64_t *id, char *err);

/* Free what blocks_get() allocated; leaves *b zeroed. */
void blocks_free(blocks_set *b);

#endif
