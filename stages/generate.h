/*
** The generate stage: the engine (core/gen.h) with a model loaded from a
** directory or the store's checkpoints, and its outputs recorded.
**
** Outputs go to the store's outputs table (db/outputs.h) with status
** 'pending', as they finish, in batched transactions (gen_writer.h); an
** output already stored (same model, prompt, parameters and seed) is
** reused, not copied, and a resumed job does not generate it again.
*/
#ifndef QUILL_STAGE_GENERATE_H
#define QUILL_STAGE_GENERATE_H

#include "gen.h"
#include "gen_writer.h"
#include "hash.h"
#include "outputs.h"
#include "store.h"

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

/* The longest gen_model_key(), with its NUL. */
#define GEN_KEY_LEN 48

/* The key that names a model's weights and tokenizer exactly, for output
** identities (db/outputs.h): "checkpoint:ID" for a checkpoint of the store,
** else "dir:" and the content hash of model_dir (a model rewritten in the
** same directory is another model).  Exactly one of model_dir and
** checkpoint_id is given. */
int gen_model_key(const char *model_dir, int64_t checkpoint_id, char out[GEN_KEY_LEN], char *err);

/* The identities of the gen_n_outputs(r) outputs r asks for, in
** gen_run's order, into ids[] (that many), without generating. */
int gen_identities(const gen_request *r, const char *model_key, outputs_ident *ids, char *err);

/* Store the outputs (inside the caller's transaction), each identified by
** model_key (gen_model_key), its prompt, its prompt's parameters and its
** seed; an output already stored is kept as it is (its review state too).
** recipe_run_id and checkpoint_id 0 mean none; *n_new = rows added. */
int gen_store_outputs(store *st, const gen_request *r, const gen_output *o, size_t n,
                      const char *model_source, const char *model_key, int64_t checkpoint_id,
                      int64_t recipe_run_id, const char *recipe_name, size_t *n_new, char *err);

/* A generate job: the model (model_dir, or checkpoint spec from the store:
** an id or "latest"), the request, and what to do with the outputs. */
typedef struct gen_job {
    store *st;  /* NULL: no store */
    int record; /* store the outputs (st given) */
    int resume; /* do not generate the outputs the store holds already */
    int bar;    /* a progress bar on a terminal */
    const char *model_dir, *checkpoint;
    const gen_request *r;
    int64_t recipe_run_id; /* 0: none */
    const char *recipe_name;
    gwr_print_fn print; /* each output, in order (NULL: none) */
    void *print_ctx;
} gen_job;

/* What a job did. */
typedef struct gen_summary {
    size_t outputs;    /* the request's */
    size_t known;      /* stored already, not generated (resume) */
    size_t written;    /* generated */
    size_t stored_new; /* of those, rows added to the store */
    gen_stats stats;
    const char *reason[GWR_REASONS]; /* why the generated ones ended, how many each */
    size_t reason_n[GWR_REASONS];
} gen_summary;

/* Load the model, generate and hand each output, as it finishes and in
** order, to the writer (gen_writer.h): stored in batched transactions
** (record), printed (print).  sum may be NULL. */
int stage_generate(const gen_job *j, gen_summary *sum, char *err);

/* A job's summary, one line on f: outputs (with record: new in the store,
** already stored), speed, constraint cost and why the outputs ended. */
void gen_print_summary(FILE *f, const gen_summary *s, int record);

/* Load the prompts file path into *f (pfile.h); when it has bad lines,
** print each one listed to report (and how many more) and return -1 with
** err saying how many.  Free *f with pfile_free in both cases. */
struct pfile;
int gen_load_prompts(const char *path, struct pfile *f, FILE *report, char *err);

/* The recipe runner's generate stage (run.h's run_stage_fn): every job of
** r->generate, with the model of the train stage's checkpoint when the
** recipe trains, else r->model.from; a job whose outputs are all stored is
** not generated again.  Result: n_outputs. */
struct rcp_recipe;
struct stage_ctx;
int run_generate(store *st, const struct rcp_recipe *r, struct stage_ctx *ctx, char *err);

/* Recipes under mpirun: process 0 runs the recipe (its generate stage
** tells the others each job) and calls gen_recipe_end when it is done; the
** others call gen_recipe_worker, which takes part in each job (st: the store
** read-only, for a checkpoint model; may be NULL when the recipe does not
** train) until then. */
int gen_recipe_end(char *err);
int gen_recipe_worker(store *st, const struct rcp_recipe *r, char *err);

#endif
