/*
** The recipe runner: `quill run RECIPE [--from STAGE] [--until STAGE]
** [--force STAGE]` and `quill status [RECIPE]`.
**
** The stages run in order (RCP_INGEST, RCP_TOKENIZE, RCP_GROUP, RCP_TRAIN,
** RCP_GENERATE; recipe.h says which a recipe enables).  Each stage has an
** identity:
**     identity = hash(stage name, params_hash (recipe.h), identity of the
**                     previous enabled stage, hash of its external inputs)
** where the external inputs are the files a stage reads from outside the
** store: ingest.paths for ingest, the tokenizer directory for tokenize,
** model.from for train and generate (run_inputs_hash: names and contents,
** directories recursively in sorted order).  A stage whose identity has a
** stage_runs row with status 'done' for this recipe name is skipped
** ("train: unchanged, skipping") and its recorded result is passed on;
** otherwise it runs, and so does every later stage.  --force STAGE reruns
** STAGE (and what follows) even when unchanged; --from STAGE does the same
** and requires the earlier stages to be done already; --until STAGE stops
** after STAGE.  Each run is a recipe_runs row ('running' -> 'done' or
** 'failed'; a row left 'running' by a killed process is marked
** 'interrupted' by the next run of that recipe).  A stage that completes is
** recorded in stage_runs at once, so an interrupted run resumes at the
** first stage that did not finish (and the generate stage at the first
** job whose outputs are not all stored: generate.h).  A failed run records
** why, which `quill status` shows.  One recipe runs once at a time on a
** store: a second `quill run` of it fails with "recipe R is running (pid
** P)" while the first lives (db/runs.h; a killed run's lock is taken over).
** Before the stages run, the recipe's review.min_approvals is recorded
** (review.h, review_set_rule).
**
** ---- What a stage provides (for wiring tokenize, group, train, generate)
**
** One function with the run_stage_fn signature, put in run_stages[] in
** run.c (a NULL entry makes `quill run` fail with "STAGE: not available in
** this build" when the recipe enables it).  Its contract:
**   - read its parameters from the recipe (r->tokenize, r->group, r->train,
**     r->generate[0..n_generate-1], r->model, r->seed);
**   - read what earlier stages made from ctx->results[RCP_...] (the
**     result_json each returned, whether it ran now or in an earlier run);
**   - do all its writes inside its own store_begin/store_commit (the runner
**     holds no transaction while a stage runs), rolling back on error;
**   - on success set ctx->result_json to a malloc'd JSON object naming what
**     it made, for the next stages and `quill status`, and return 0;
**   - on failure fill err and return -1 (the runner records the recipe run
**     as failed and stops).
** Results each stage is expected to return (keys the next stage reads):
**   ingest:   {"added","duplicates","skipped","content_hash"} (wired, run.c)
**   tokenize: {"tokenizer_id","n_done"}                         (wired)
**   group:    {"block_set_id","created","n_train","n_eval"}     (wired)
**   train:    {"train_run_id","checkpoint_id","steps","final_loss"}
**   generate: {"n_outputs"}
** Adapters still to write (train, generate: their functions on the train
** and gen branches as of this writing):
**   NOTE: tokenize and group work on every document in the store, so two
**   recipes sharing a store share one corpus; scoping them to the ingest
**   result's documents needs doc ids from stage_ingest.
**   train: train_params_default(&p) then every r->train field (grad_accum =
**     gradient_accumulation_steps, scheduler from lr_scheduler, dropout -1
**     = config's); train_source: model_dir = r->model.from, or init = a
**     gpt_config from r->model.init; stage_train(st, &p, block_set_id from
**     results[RCP_GROUP], &src, &res); export with the checkpoint helper
**     when r->train.export is set.  train_stop (SIGINT) makes an
**     interrupted stage fail; the next `quill run` resumes it (same
**     identity, stage_train resumes from its checkpoint).
**   generate: for each job r->generate[j]: gen_request_defaults(&q), prompts,
**     num_return_sequences, seed; samp_params from the job (max_new_tokens
**     0 -> -1 so max_length rules; max_length 0 -> keep the default;
**     bad_words_ids/suppress_tokens flattened); cons_opts: words =
**     banned_words, substring = match == "substring", case_sensitive and
**     forbid_case_sensitive = case_sensitive, forbid_chars ("" -> NULL);
**     stage_generate(st, model_dir, checkpoint, &q, ctx->recipe_run_id,
**     r->name, NULL, NULL, err) with checkpoint = results[RCP_TRAIN]'s
**     checkpoint_id when the recipe trains, else model_dir = r->model.from.
*/
#ifndef QUILL_RUN_H
#define QUILL_RUN_H

#include "recipe.h"
#include "store.h"

#include <stdint.h>

typedef struct stage_ctx {
    int64_t recipe_run_id;
    int stage;                         /* RCP_* */
    const char *identity;              /* this stage's identity */
    const char *results[RCP_N_STAGES]; /* result_json of earlier stages, NULL if disabled */
    char *result_json;                 /* out: malloc'd JSON object (NULL: "{}") */
} stage_ctx;

typedef int (*run_stage_fn)(store *st, const rcp_recipe *r, stage_ctx *ctx, char *err);

/* Integer key of earlier stage's result (ctx->results[stage]) into *out:
** 0, or -1 with err naming the stage and the key when the stage left no
** result or its result has no such integer (a result is read by name and
** type, never guessed at). */
int run_result_int(const stage_ctx *ctx, int stage, const char *key, int64_t *out, char *err);

/* The generate stage (stages/generate.c): every job of r->generate, with
** the model of the train stage's checkpoint (its result's checkpoint_id)
** when the recipe trains, else r->model.from; a job whose outputs are all
** stored is not generated again.  Result {"n_outputs"}. */
int run_generate(store *st, const rcp_recipe *r, stage_ctx *ctx, char *err);

/* The stages quill runs, indexed by RCP_*; NULL: not in this build. */
extern const run_stage_fn run_stages[RCP_N_STAGES];

typedef struct run_opts {
    int from, until, force; /* stage index, or -1 */
} run_opts;

/* Run the recipe's enabled stages with the given table (run_stages, or a
** test's).  Prints one line per stage to stdout.  Returns 0 when every
** stage ran or was skipped. */
int run_recipe(store *st, const rcp_recipe *r, const run_stage_fn *table, const run_opts *o,
               char *err);

/* Hash of the files under paths (names relative to each path, and
** contents; directories recursively in sorted order). */
int run_inputs_hash(char *const *paths, size_t n, char out[HASH_HEX_LEN], char *err);

#endif
