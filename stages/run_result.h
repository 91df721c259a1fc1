/*
** What each stage of a recipe made (its result), as C structs: the recipe
** runner (run.h) passes them to the later stages, and records them in
** stage_runs.result_json so that a skipped stage's result comes back from
** the store.  The JSON is written and read here only, each key typed; a
** recorded result missing a required key is an error naming the stage and
** the key, never a silent zero.
**
** Adding a stage's result: a struct here, a member of run_result's union,
** its fields in run_result.c's table.
*/
#ifndef QUILL_RUN_RESULT_H
#define QUILL_RUN_RESULT_H

#include "hash.h"

#include <stddef.h>
#include <stdint.h>

typedef struct run_ingest_out {
    int64_t added, duplicates, skipped;
    char content_hash[HASH_HEX_LEN];
    /* the recipe's documents in its order (malloc'd); has_doc_ids 0: not
    ** recorded (a run before doc ids were), the group stage takes every
    ** document */
    int has_doc_ids;
    int64_t *doc_ids;
    size_t n_doc_ids;
} run_ingest_out;

typedef struct run_tokenize_out {
    int64_t tokenizer_id, n_done;
} run_tokenize_out;

typedef struct run_group_out {
    int64_t block_set_id;
    int created; /* 0: the set was already in the store */
    int64_t n_train, n_eval;
} run_group_out;

typedef struct run_train_out {
    int64_t checkpoint_id, run_id, steps;
    double final_loss;
    double eval_loss; /* NAN: the block set has no eval blocks (not recorded) */
} run_train_out;

typedef struct run_generate_out {
    int64_t n_outputs;
} run_generate_out;

/* One stage's result; stage (RCP_*) says which member holds it. */
typedef struct run_result {
    int stage;
    union {
        run_ingest_out ingest;
        run_tokenize_out tokenize;
        run_group_out group;
        run_train_out train;
        run_generate_out generate;
    };
} run_result;

/* An empty result of stage (zeroes, no eval loss). */
void run_result_init(run_result *r, int stage);

/* The JSON object of r (sorted keys, compact), malloc'd in *json. */
int run_result_json(const run_result *r, char **json, char *err);

/* r (of stage) from its recorded JSON; an error naming the key when a
** required one is missing or has the wrong type.  Free with
** run_result_free. */
int run_result_parse(int stage, const char *json, run_result *r, char *err);

/* Free what r holds (the ingest stage's doc ids); r stays a valid empty
** result. */
void run_result_free(run_result *r);

#endif
