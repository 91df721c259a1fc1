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
** (db/reviews.h, reviews_set_rule).
**
** ---- What a stage provides
**
** One function with the run_stage_fn signature, put in run_stages[]
** (stages/run_stages.c; a NULL entry makes `quill run` fail with "STAGE:
** not available in this build" when the recipe enables it).  Its contract:
**   - read its parameters from the recipe (r->tokenize, r->group, r->train,
**     r->generate[0..n_generate-1], r->model, r->seed);
**   - read what earlier stages made from ctx->in[RCP_...] (a run_result,
**     run_result.h; NULL when that stage is not in the recipe), whether it
**     ran now or in an earlier run (then the runner read it back from the
**     store, failing on a missing key);
**   - do all its writes inside its own store_begin/store_commit (the runner
**     holds no transaction while a stage runs), rolling back on error;
**   - on success fill ctx->out (already run_result_init'ed for its stage)
**     with what it made, and return 0; the runner records it as the
**     stage's result_json (run_result_json) for later runs and `quill
**     status`;
**   - on failure fill err and return -1 (the runner records the recipe run
**     as failed and stops).
** The results (run_result.h):
**   ingest:   added, duplicates, skipped, content_hash, doc_ids
**   tokenize: tokenizer_id, n_done
**   group:    block_set_id, created, n_train, n_eval
**   train:    checkpoint_id, run_id, steps, final_loss[, eval_loss]
**   generate: n_outputs
** The adapters (run_stages.c, and generate.c's run_generate) map a
** recipe's sections onto each stage's own parameters.
** NOTE: tokenize works on every document in the store, so two recipes
** sharing a store share one tokenized corpus; group takes the ingest
** result's documents.
*/
#ifndef QUILL_RUN_H
#define QUILL_RUN_H

#include "cli.h"
#include "recipe.h"
#include "run_result.h"
#include "store.h"

#include <stdint.h>

typedef struct stage_ctx {
    int64_t recipe_run_id;
    int stage;                          /* RCP_* */
    const char *identity;               /* this stage's identity */
    const run_result *in[RCP_N_STAGES]; /* earlier stages' results, NULL if disabled */
    run_result out;                     /* out: what this stage made */
} stage_ctx;

typedef int (*run_stage_fn)(store *st, const rcp_recipe *r, stage_ctx *ctx, char *err);

typedef struct run_opts {
    int from, until, force; /* stage index, or -1 */
} run_opts;

/* Run the recipe's enabled stages with the given table (run_stages, or a
** test's).  Prints one line per stage to stdout.  Returns 0 when every
** stage ran or was skipped. */
int run_recipe(store *st, const rcp_recipe *r, const run_stage_fn *table, const run_opts *o,
               char *err);

/* The identity of stage i of r (see above) from the previous enabled
** stage's (prev, "" for the first), which becomes this one's. */
int run_stage_identity(const rcp_recipe *r, int i, char prev[HASH_HEX_LEN],
                       char identity[HASH_HEX_LEN], char *err);

/* The tokenizer directory: tokenize.model, else model.from when it has
** tokenizer files (tok_dir_has()), else NULL (the bundled GPT-2 tokenizer). */
const char *run_tok_dir(const rcp_recipe *r);

/* The store a recipe (r, or none) runs against: --db / $QUILL_DB when
** given, else the recipe's store key, else quill.db; opened as mode says
** (cli_store()). */
store *run_store(cli *c, const rcp_recipe *r, store_mode mode);

/* Hash of the files under paths (names relative to each path, and
** contents; directories recursively in sorted order). */
int run_inputs_hash(char *const *paths, size_t n, char out[HASH_HEX_LEN], char *err);

#endif
