/*
** The outputs table (db/004_outputs.sql, db/007_runs.sql): generated texts
** with their provenance, one row per distinct output.
**
** An output's identity is hash(model key, prompt, generation parameters,
** output seed), which together determine its text: storing the same
** output again (a rerun, a resumed run, `quill generate` twice) finds the
** stored row and leaves it, and its reviews, as they are.
*/
#ifndef QUILL_DB_OUTPUTS_H
#define QUILL_DB_OUTPUTS_H

#include "hash.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct outputs_row {
    int64_t recipe_run_id;    /* 0: made outside a recipe run */
    const char *recipe_name;  /* NULL: none */
    const char *model_source; /* a directory, or checkpoint:ID */
    int64_t checkpoint_id;    /* 0: a directory model */
    const char *prompt;       /* prompt_len bytes */
    size_t prompt_len;
    const char *continuation; /* cont_len bytes */
    size_t cont_len;
    const char *ids_json;      /* generated token ids, a JSON array */
    const char *params_json;   /* every generation parameter */
    uint64_t seed;             /* the output's own seed (< 2^63) */
    const char *finish_reason; /* length, eos, stop_string, all_masked */
    const char *identity;      /* outputs_identity() of the above */
} outputs_row;

/* The identity of the output that model (a key naming the weights and
** tokenizer exactly: "checkpoint:ID", or "dir:" and the directory's content
** hash) makes from prompt (prompt_len bytes) with the generation parameters
** params (JSON; must not hold what varies between one request's outputs,
** such as the request seed or the number of outputs) and the output's own
** seed.  Pure: the same arguments give the same 32 hex digits. */
void outputs_identity(const char *model, const char *prompt, size_t prompt_len, const char *params,
                      uint64_t seed, char out[HASH_HEX_LEN]);

/* Store row (text = prompt + continuation, status 'pending') unless an
** output with row->identity is already stored, or one of the same
** checkpoint, prompt, params_json and seed stored before identities
** existed (which then takes the identity); *created is 1 when a row was
** added, 0 when the stored one was kept (its text and review state
** untouched).  Call inside the caller's transaction (store_begin). */
int outputs_insert(store *st, const outputs_row *row, int *created, char *err);

/* Which of the n identities ids[] name stored outputs: known[i] 1 or 0
** (known may be NULL), how many in *found.  Read-only. */
int outputs_known(store *st, char (*const ids)[HASH_HEX_LEN], size_t n, uint8_t *known,
                  size_t *found, char *err);

#endif
