/*
** The outputs (db/011_output_rows.sql): generated texts with their
** provenance, one row per distinct output, written in batches that share
** their source, prompt and parameters.
**
** An output's identity is its identity key, hash(model key, prompt,
** generation parameters), with its own seed: together they determine its
** text, so storing the same output again (a rerun, a resumed run, `quill
** generate` twice) finds the stored row and leaves it, and its reviews, as
** they are.  Outputs stored before 011 keep the identity they had (a hash
** of the same four things, `legacy` below).
*/
#ifndef QUILL_DB_OUTPUTS_H
#define QUILL_DB_OUTPUTS_H

#include "hash.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

/* What identifies an output (outputs_identity). */
typedef struct outputs_ident {
    int64_t key;               /* hash(model key, prompt, parameters), 64 bits */
    uint64_t seed;             /* the output's own seed (< 2^63) */
    char legacy[HASH_HEX_LEN]; /* hash(model key, prompt, parameters, seed): 007's identity */
} outputs_ident;

typedef struct outputs_row {
    int64_t recipe_run_id;    /* 0: made outside a recipe run */
    const char *recipe_name;  /* NULL: none */
    const char *model_source; /* a directory, or checkpoint:ID */
    int64_t checkpoint_id;    /* 0: a directory model */
    const char *prompt;       /* prompt_len bytes */
    size_t prompt_len;
    const char *continuation; /* cont_len bytes */
    size_t cont_len;
    const int32_t *ids; /* generated token ids (>= 0), n_ids of them */
    size_t n_ids;
    const char *params_json;    /* every generation parameter */
    const char *finish_reason;  /* length, eos, stop_string, all_masked, form, dead_end */
    const outputs_ident *ident; /* outputs_identity() of the above (its seed is the row's) */
} outputs_row;

/* The identity of the output that model (a key naming the weights and
** tokenizer exactly: "checkpoint:ID", or "dir:" and the directory's content
** hash) makes from prompt (prompt_len bytes) with the generation parameters
** params (JSON; must not hold what varies between one request's outputs,
** such as the request seed or the number of outputs) and the output's own
** seed.  Pure: the same arguments give the same identity. */
void outputs_identity(const char *model, const char *prompt, size_t prompt_len, const char *params,
                      uint64_t seed, outputs_ident *out);

/* The identity of id as the outputs view shows it for an output stored
** after 011: the key and the seed in 32 hex digits. */
void outputs_identity_hex(const outputs_ident *id, char out[HASH_HEX_LEN]);

/* The finish reason stored as code (db/011: "length" 0, "eos" 1, ...);
** NULL for none. */
const char *outputs_finish_name(int64_t code);

/* Store row (status 'pending', the recipe's review rule) unless an output
** with its identity is already stored, or one of the same checkpoint,
** prompt, params_json and seed stored before identities existed (which
** then takes the identity); *created is 1 when a row was added, 0 when the
** stored one was kept (its text and review state untouched).  The row
** joins the newest batch when that is of the same source, prompt and
** parameters, else starts one.  Call inside the caller's transaction
** (store_begin). */
int outputs_insert(store *st, const outputs_row *row, int *created, char *err);

/* Which of the n identities ids[] name stored outputs: known[i] 1 or 0
** (known may be NULL), how many in *found.  Read-only. */
int outputs_known(store *st, const outputs_ident *ids, size_t n, uint8_t *known, size_t *found,
                  char *err);

#endif
