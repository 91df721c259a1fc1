/*
** The one writer of a generate job: the engine's sink (core/gen.h) that
** takes each output as it finishes, puts the outputs back in the request's
** order, and stores them (db/outputs.h) in batched transactions while the
** decoding goes on, prints them (a callback), counts why they ended, and
** moves the progress bar.
**
** Why the main loop between steps and not a thread: the store is one
** SQLite connection (not shared between threads), an insert costs tens of
** microseconds against a decode step's tens of milliseconds, and a commit
** happens at most every GWR_BATCH outputs or GWR_MS milliseconds, so the
** writer takes a few percent of the run (bench/bulk_store measures it).
**
** Order: output k is written only after outputs 0..k-1 (or skipped), so a
** job killed at any moment has stored a prefix of its outputs, in order,
** and a resumed job (skipping the stored ones) continues it: the store
** ends with the rows, ids included, of an uninterrupted job.
*/
#ifndef QUILL_GEN_WRITER_H
#define QUILL_GEN_WRITER_H

#include "gen.h"
#include "hash.h"
#include "progress.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

#define GWR_BATCH 512 /* outputs per transaction at most */
#define GWR_MS 200    /* milliseconds a transaction stays open at most */
#define GWR_REASONS 8 /* distinct finish reasons counted */

/* Called with each output in order (r's prompts); non-zero (err set) stops
** the job. */
typedef int (*gwr_print_fn)(void *ctx, const gen_request *r, const gen_output *o, char *err);

typedef struct gen_writer {
    store *st; /* NULL: nothing stored */
    const gen_request *r;
    const char *model_source, *model_key, *recipe_name;
    int64_t checkpoint_id, recipe_run_id;
    gwr_print_fn print;
    void *print_ctx;
    /* state */
    size_t n, next;   /* outputs, the next one to write */
    gen_output *held; /* finished outputs waiting for an earlier one */
    uint8_t *have;    /* per output: held[k] is there */
    int in_txn;
    size_t txn_n; /* outputs in the open transaction */
    double txn_t; /* when it began */
    char *params, *id_params;
    size_t params_of; /* the prompt params and id_params are of (SIZE_MAX: none) */
    progress bar;
    /* counts */
    size_t written, stored_new;
    const char *reason[GWR_REASONS];
    size_t reason_n[GWR_REASONS];
} gen_writer;

/* Start w for request r (its n = gen_n_outputs outputs; the ones r->skip
** marks are not written); the caller has filled st, the model and recipe
** fields and print.  bar: show a progress bar (a terminal only). */
int gwr_init(gen_writer *w, const gen_request *r, int bar, char *err);

/* The sink's functions: output(ctx = w, k, o) and step(ctx = w). */
int gwr_output(void *ctx, size_t k, const gen_output *o, char *err);
int gwr_step(void *ctx, char *err);

/* After the run: every output written, the last transaction committed. */
int gwr_finish(gen_writer *w, char *err);

/* Free w; an open transaction (the job failed) is rolled back. */
void gwr_free(gen_writer *w);

/* Store one output o of r (its prompt's parameters), inside the caller's
** transaction; *created as outputs_insert. */
int gwr_store(gen_writer *w, const gen_output *o, int *created, char *err);

/* The parameters (identity 0) or the identity parameters (1) of prompt i
** of r as JSON (malloc'd), or NULL with err. */
char *gwr_params(const gen_request *r, size_t i, int identity, char *err);

#endif
