/*
** The generate stage: many prompts x num_return_sequences decoded together
** with the KV cache (one gpt_kv_step per step for every live sequence, a
** finished sequence's slot is refilled with the next waiting output), each
** output sampled with transformers' processors (core/sample.h) under quill's
** text constraints (core/constrain.h), each with its own seed
** rng_derive(seed, k) for output k = prompt_index * num_return_sequences + j,
** so any single output regenerates exactly (gen_request.raw_seed).
**
** Outputs go to the store's outputs table (db/outputs.h) with status
** 'pending', in one transaction; an output already stored (same model,
** prompt, parameters and seed) is reused, not copied.
*/
#ifndef QUILL_STAGE_GENERATE_H
#define QUILL_STAGE_GENERATE_H

#include "constrain.h"
#include "form.h"
#include "gpt.h"
#include "hash.h"
#include "sample.h"
#include "store.h"
#include "tok.h"

#include <stddef.h>
#include <stdint.h>

#define GEN_BATCH 32 /* live sequences at once unless gen_request.max_batch says */

typedef struct gen_request {
    const char *const *prompts;
    size_t n_prompts;
    int num_return_sequences; /* 1 */
    samp_params sp;           /* samp_defaults() */
    cons_opts co;             /* zero: no constraints */
    form_opts fo;             /* zero: no poetic form */
    uint64_t seed;            /* 42 */
    int raw_seed;             /* 1: seed is the seed of the single output itself */
    int max_batch;            /* live sequences at once (KV slots); 0: GEN_BATCH */
    int bf16;                 /* weights in bfloat16 (--dtype bf16; never the default) */
} gen_request;

typedef struct gen_output {
    size_t prompt_index;
    int seq_index;
    char *continuation; /* decoded generated tokens (EOS left out) */
    size_t cont_len;
    int32_t *ids; /* generated ids (EOS included when it ended the text) */
    size_t n_ids;
    uint64_t seed;
    const char *finish; /* length, eos, stop_string, all_masked, form, dead_end */
} gen_output;

typedef struct gen_stats {
    long steps, tokens;          /* forward calls, generated tokens */
    long shared;                 /* prompt tokens copied from another output's cache */
    double seconds;              /* whole run */
    double fwd_seconds;          /* inside gpt_kv_step */
    double cons_seconds;         /* inside the constraint masks */
    double form_seconds;         /* inside the poetic form's masks */
    long form_hits, form_misses; /* form masks from the cache, computed */
} gen_stats;

void gen_request_defaults(gen_request *r);

/* Check a prompt of n bytes: valid UTF-8 without NUL or U+FFFD (what
** generated text is, text.h); the error says what is wrong ("not valid
** UTF-8 (byte 4)") for the caller to prefix. */
int gen_check_prompt(const char *s, size_t n, char *err);

/* Generate every output (n_prompts * num_return_sequences, in that order)
** with model m and tokenizer t; *outs malloc'd (free with gen_outputs_free).
** stats may be NULL. */
int gen_run(gpt_model *m, const tok *t, const gen_request *r, gen_output **outs, size_t *n,
            gen_stats *stats, char *err);
void gen_outputs_free(gen_output *o, size_t n);

/* Every parameter of r as a JSON object (malloc'd), or NULL with err
** naming the parameter that cannot be written (a non-finite number, text
** that is not UTF-8): stored parameters never lack a key. */
char *gen_params_json(const gen_request *r, char *err);

/* The longest gen_model_key(), with its NUL. */
#define GEN_KEY_LEN 48

/* The key that names a model's weights and tokenizer exactly, for output
** identities (db/outputs.h): "checkpoint:ID" for a checkpoint of the store,
** else "dir:" and the content hash of model_dir (a model rewritten in the
** same directory is another model).  Exactly one of model_dir and
** checkpoint_id is given. */
int gen_model_key(const char *model_dir, int64_t checkpoint_id, char out[GEN_KEY_LEN], char *err);

/* The identities of the n_prompts * num_return_sequences outputs r asks
** for, in gen_run's order, into ids[] (that many), without generating. */
int gen_identities(const gen_request *r, const char *model_key, char (*ids)[HASH_HEX_LEN],
                   char *err);

/* Store the outputs (inside the caller's transaction), each identified by
** model_key (gen_model_key), its prompt, r's parameters and its seed; an
** output already stored is kept as it is (its review state too).
** recipe_run_id and checkpoint_id 0 mean none; *n_new = rows added. */
int gen_store_outputs(store *st, const gen_request *r, const gen_output *o, size_t n,
                      const char *model_source, const char *model_key, int64_t checkpoint_id,
                      int64_t recipe_run_id, const char *recipe_name, size_t *n_new, char *err);

/* For the recipe runner: load the model (model_dir, or checkpoint spec from
** the store: an id or "latest"), generate, and store every output in one
** transaction (record 0, or st NULL: nothing stored).  outs/n and stats may
** be NULL when the caller does not want them. */
int stage_generate(store *st, int record, const char *model_dir, const char *checkpoint,
                   const gen_request *r, int64_t recipe_run_id, const char *recipe_name,
                   gen_output **outs, size_t *n, gen_stats *stats, char *err);

/* The recipe runner's generate stage (run.h's run_stage_fn): every job of
** r->generate, with the model of the train stage's checkpoint when the
** recipe trains, else r->model.from; result {"n_outputs"}. */
struct rcp_recipe;
struct stage_ctx;
int run_generate(store *st, const struct rcp_recipe *r, struct stage_ctx *ctx, char *err);

#endif
