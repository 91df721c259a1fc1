/*
** The training engine: Hugging Face Trainer's loop over a block set in
** memory (the semantics are stages/train.h's), with no store.  What the
** loop writes (log lines, checkpoints with the run's status) goes to a
** trn_sink the caller provides; where the blocks and the initial model
** come from, and how a data-parallel job shares them before training, is
** the caller's too (stages/train.c).  The in-step reductions of a
** data-parallel job go through core/dist.h (no-ops alone).
**
** Use: fill a trn (p, blocks, cfg, params, n, rank, stop), trn_plan(),
** trn_alloc(), optionally trn_state_unpack() a saved state, trn_loop(),
** trn_free().
*/
#ifndef QUILL_TRAINER_H
#define QUILL_TRAINER_H

#include "adamw.h"
#include "gpt.h"
#include "recipe.h"
#include "rng.h"

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { TRN_LINEAR, TRN_CONSTANT, TRN_COSINE, TRN_N_SCHED } trn_sched;

/* The scheduler's name ("linear", "constant", "cosine"). */
const char *trn_sched_name(trn_sched s);

/* The scheduler called name into *out; -1 when name is none of them. */
int trn_sched_parse(const char *name, trn_sched *out);

/* The defaults (in comments) are Trainer's, defined once in the recipe's
** train table (core/recipe.c): see trn_params_default(). */
typedef struct trn_params {
    double epochs;                               /* 3 (num_train_epochs) */
    int64_t max_steps;                           /* -1: from epochs */
    int batch_size;                              /* 8 */
    int grad_accum;                              /* 1 */
    double learning_rate;                        /* 5e-5 */
    trn_sched scheduler;                         /* linear */
    int64_t warmup_steps;                        /* 0 */
    double weight_decay;                         /* 0 */
    double adam_beta1, adam_beta2, adam_epsilon; /* 0.9, 0.999, 1e-8 */
    double max_grad_norm;                        /* 1.0; 0 turns clipping off */
    uint64_t seed;                               /* 42 */
    int shuffle;                                 /* 1 */
    double dropout;                              /* -1: the config's */
    int bf16;              /* 0; mixed precision (gpt_model_set_bf16: Trainer's bf16=True) */
    int64_t logging_steps; /* 500 */
    int64_t save_steps;    /* 500; 0: only at the end */
    int save_total_limit;  /* 0: keep every checkpoint */
    int verbose;           /* print each log line to stderr (not part of the identity) */
    /* data-parallel processes (mpirun -np W, see core/dist.h), 1 alone:
    ** each optimizer step takes grad_accum micro-batches on each process,
    ** as DDP does; only process 0 touches the store */
    int processes;
} trn_params;

/* Fill p with the defaults: a recipe's train section that sets nothing
** (rcp_train_defaults), verbose off, one process. */
void trn_params_default(trn_params *p);

/* p from a recipe's (checked) train section; verbose off, one process. */
void trn_params_of_recipe(const rcp_train *t, trn_params *p);

/* Check values (positive sizes, known ranges, every real finite); err
** names the parameter. */
int trn_params_check(const trn_params *p, char *err);

/* The JSON of every parameter that changes the result (sorted keys); part
** of the run identity.  Malloc'd, or NULL with err naming the parameter
** that cannot be written (a number that is not finite). */
char *trn_params_json(const trn_params *p, char *err);

/* Scheduler multiplier lambda(step) for total steps (get_scheduler's). */
double trn_lr_lambda(const trn_params *p, int64_t step, int64_t total);

/* Everything a resume needs beyond the parameters and AdamW's moments. */
typedef struct trn_state {
    int64_t step;      /* optimizer steps done */
    rng dropout;       /* the dropout rng after them */
    double log_loss;   /* sum of step losses since the last log */
    int64_t log_count; /* steps since the last log */
    double eval_loss;  /* last eval loss or NAN */
} trn_state;

/* The packed state blob: this header (native byte order), then AdamW's m
** and v (n_moments floats each). */
#define TRN_STATE_MAGIC "QTRAIN01"
typedef struct trn_state_header {
    char magic[8];      /* TRN_STATE_MAGIC, no NUL */
    int64_t step;       /* trn_state */
    uint64_t rng[4];    /* trn_state.dropout */
    double log_loss;    /* trn_state */
    int64_t log_count;  /* trn_state */
    double eval_loss;   /* trn_state */
    int64_t adam_step;  /* adamw.step */
    uint64_t n_moments; /* adamw.n */
} trn_state_header;

/* The blocks trained on: n_train (n_eval) blocks of T ids (not owned). */
typedef struct trn_blocks {
    int T;
    int64_t n_train, n_eval;
    int32_t *train, *eval;
} trn_blocks;

/* One training run in memory.  The caller fills the inputs; trn_plan and
** trn_alloc the rest. */
typedef struct trn {
    /* inputs */
    const trn_params *p;
    trn_blocks b;
    gpt_config cfg;
    float *params; /* n floats, owned (freed by trn_free) */
    size_t n;
    int rank;                          /* this process (dist_rank()) */
    const volatile sig_atomic_t *stop; /* set: stop at the next step, saving */
    /* trn_plan */
    int64_t nb;    /* micro-batches per epoch */
    int64_t mbs;   /* micro-batches per optimizer step: grad_accum * processes */
    int64_t spe;   /* optimizer steps per epoch */
    int64_t total; /* optimizer steps in all */
    /* trn_alloc */
    float *grads, *tmp;
    gpt_model *m;
    gpt_batch *batch;
    adamw *opt;
    int32_t *ids;  /* batch_size * T */
    int64_t *perm; /* n_train */
    int64_t perm_epoch;
    trn_state s;
} trn;

/* Steps per epoch and in total from p and the blocks (n_train >= 1). */
void trn_plan(trn *t);

/* Buffers, model, batch and optimizer for t's config, parameters and
** blocks; the dropout stream starts from the seed, no eval loss yet. */
int trn_alloc(trn *t, char *err);

/* Free what trn_alloc allocated and t->params (not the blocks). */
void trn_free(trn *t);

/* The state blob of t (malloc'd, *len bytes), NULL when out of memory. */
void *trn_state_pack(const trn *t, size_t *len);

/* Restore t's state and AdamW moments from a blob of trn_state_pack();
** an error when it is not one or is for another parameter count. */
int trn_state_unpack(trn *t, const void *blob, size_t len, char *err);

/* One log line (see db/trainruns.h): kind "train" or "eval". */
typedef struct trn_log {
    const char *kind;
    int64_t step;
    double epoch, loss, learning_rate, grad_norm, tokens_per_s;
} trn_log;

/* Where the loop's writes go (process 0 only: the others never call it). */
typedef struct trn_sink {
    void *ctx;
    int (*log)(void *ctx, const trn_log *l, char *err);
    /* Save a checkpoint of t at t->s.step with the run's new status
    ** ("running", "done" or "interrupted"); its id in *id. */
    int (*save)(void *ctx, const trn *t, const char *status, int64_t *id, char *err);
} trn_sink;

/* Train from t->s.step to t->total.  *final_loss gets the mean loss of
** each logging window as it ends, *checkpoint each saved checkpoint's id.
** A diverged step stops with an error before it is applied; a stop request
** saves a checkpoint and fails with "interrupted at step ...". */
int trn_loop(trn *t, const trn_sink *sink, double *final_loss, int64_t *checkpoint, char *err);

#endif
