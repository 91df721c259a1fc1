/*
** Model checkpoints in the store: a gpt_config (as config.json text), the
** flat fp32 parameters (gpt_layout order) and an opaque training state
** (optimizer moments, RNG, data position: the train stage's format), each
** a zstd blob.  Parameters are stored byte-plane shuffled (every float's
** byte 0, then every byte 1, ...): the sign/exponent bytes of trained
** weights are highly repetitive, so zstd compresses the planes well where
** it barely touches interleaved fp32.
**
** ckpt_put() and ckpt_prune() write but do not open a transaction: the
** caller wraps them (with its logs, run status ...) in store_begin/commit.
*/
#ifndef QUILL_CKPT_H
#define QUILL_CKPT_H

#include "gpt_layout.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

/* Store a checkpoint of run run_id (0: none, an imported model) at step.
** n must equal gpt_layout()'s count for cfg; state may be NULL. */
int ckpt_put(store *st, int64_t run_id, int64_t step, const gpt_config *cfg, const float *params,
             size_t n, const void *state, size_t state_n, int64_t *id, char *err);

/* Read checkpoint id.  *params (n floats) and *state (state_n bytes, NULL
** when none) are malloc'd; state, run_id and step may be NULL when not
** wanted.  *run_id is 0 for an imported model. */
int ckpt_get(store *st, int64_t id, gpt_config *cfg, float **params, size_t *n, void **state,
             size_t *state_n, int64_t *run_id, int64_t *step, char *err);

/* Resolve spec to a checkpoint id: a number, or "latest" (the highest step
** of run_id when run_id > 0, else the newest checkpoint of any run or
** import).  Errors say what does not exist. */
int ckpt_resolve(store *st, const char *spec, int64_t run_id, int64_t *id, char *err);

/* Keep the newest `keep` unpinned checkpoints of run_id and the pinned
** ones, delete the others and the blobs nothing else uses (their pages are
** reused by the store). */
int ckpt_prune(store *st, int64_t run_id, int keep, char *err);

/* Load the Hugging Face directory dir and store it as a checkpoint with no
** run (source = dir), in its own transaction.  Importing the same model
** (tensors and config) again returns the existing checkpoint's id. */
int ckpt_import(store *st, const char *dir, int64_t *id, char *err);

/* Byte-plane shuffle of n floats into out (4n bytes), and its inverse. */
void ckpt_planes(const float *in, size_t n, unsigned char *out);
void ckpt_unplanes(const unsigned char *in, size_t n, float *out);

#endif
