/*
** The generate stage: the engine (core/gen.h) with a model loaded from a
** directory or the store's checkpoints, and its outputs recorded.
**
** Outputs go to the store's outputs table (db/outputs.h) with status
** 'pending', in one transaction; an output already stored (same model,
** prompt, parameters and seed) is reused, not copied.  The recipe runner's
** generate stage (run_generate, declared in run.h) resumes at the first
** job whose outputs are not all stored.
*/
#ifndef QUILL_STAGE_GENERATE_H
#define QUILL_STAGE_GENERATE_H

#include "gen.h"
#include "hash.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

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

/* Load the model (model_dir, or checkpoint spec from the store: an id or
** "latest"), generate, and store every output in one transaction (record
** 0, or st NULL: nothing stored).  outs/n and stats may be NULL when the
** caller does not want them. */
int stage_generate(store *st, int record, const char *model_dir, const char *checkpoint,
                   const gen_request *r, int64_t recipe_run_id, const char *recipe_name,
                   gen_output **outs, size_t *n, gen_stats *stats, char *err);

/* The recipe runner's generate stage (run.h's run_stage_fn): every job of
** r->generate, with the model of the train stage's checkpoint when the
** recipe trains, else r->model.from; a job whose outputs are all stored is
** not generated again.  Result: n_outputs. */
struct rcp_recipe;
struct stage_ctx;
int run_generate(store *st, const struct rcp_recipe *r, struct stage_ctx *ctx, char *err);

#endif
