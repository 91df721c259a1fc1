/*
** The train stage: fine-tune (or train from scratch) a GPT-2 model on a
** block set with Hugging Face Trainer's semantics, checkpointing into the
** store so that a killed run resumes exactly.
**
** Semantics (Trainer / TrainingArguments / get_scheduler, transformers 4.x):
**   - batches: the block set's train blocks, in a seeded permutation per
**     epoch (rng_derive(seed, epoch), Fisher-Yates) or in order with
**     shuffle off; the last partial batch is kept (dataloader_drop_last
**     False).
**   - optimizer steps per epoch = ceil(batches / gradient_accumulation_steps);
**     total = max_steps when > 0 (the data cycles through further epochs),
**     else ceil(epochs * steps per epoch).
**   - the loss of an optimizer step is the mean over every predicted token
**     of its micro-batches (Trainer's num_items_in_batch weighting; with
**     equal blocks and full batches this is the mean of micro-batch losses).
**   - global-norm clipping to max_grad_norm (0: off), then AdamW (torch's,
**     Trainer's groups: no decay on biases and LayerNorm), then the
**     scheduler: step k (0-based) uses lr * lambda(k), so the first update
**     uses the full rate when warmup is 0 and linear reaches 0 after the
**     last step.  constant with warmup_steps > 0 is constant_with_warmup.
**   - dropout from the model's config unless dropout >= 0 overrides all
**     three probabilities; its masks come from an rng seeded with seed.
**   - a model from --init is GPT-2-initialised from seed.
**   - eval loss (mean over eval tokens) and perplexity at each epoch end
**     when the block set has eval blocks.
** Not Trainer's: the logged learning rate is the one the logged step used.
**
** Identity: hash of the block set's identity, the initial model (config and
** parameter bytes) and every parameter that changes the result
** (train_params_json).  Running the same stage again resumes the run with
** that identity from its last checkpoint, or returns the final checkpoint
** of a finished run without training.  Resumed runs end bit-identical to
** uninterrupted ones (state: AdamW moments and step, dropout rng, logging
** accumulators; the data position follows from the step).
**
** Writes: train_runs, train_logs, checkpoints (via stages/ckpt.h), each
** checkpoint (with its pruning) in its own transaction.
**
** Data parallel (processes W > 1, under mpirun): process 0 reads the
** inputs and resumes as above and sends the others the blocks, the model
** and the training state; every process then computes its share of each
** step's micro-batches (process k the k-th run of grad_accum of them), the
** gradients are summed in process order, and each applies the same AdamW
** step.  With grad_accum 1 the weights are bit-identical to one process
** accumulating W micro-batches.  The other processes never open the store:
** give them st NULL.
*/
#ifndef QUILL_TRAIN_H
#define QUILL_TRAIN_H

#include "gpt_layout.h"
#include "recipe.h"
#include "store.h"

#include <signal.h>
#include <stdint.h>

typedef enum { TRAIN_LINEAR, TRAIN_CONSTANT, TRAIN_COSINE } train_sched;

/* The defaults (in comments) are Trainer's, defined once in the recipe's
** train table (core/recipe.c): see train_params_default(). */
typedef struct train_params {
    double epochs;                               /* 3 (num_train_epochs) */
    int64_t max_steps;                           /* -1: from epochs */
    int batch_size;                              /* 8 */
    int grad_accum;                              /* 1 */
    double learning_rate;                        /* 5e-5 */
    train_sched scheduler;                       /* linear */
    int64_t warmup_steps;                        /* 0 */
    double weight_decay;                         /* 0 */
    double adam_beta1, adam_beta2, adam_epsilon; /* 0.9, 0.999, 1e-8 */
    double max_grad_norm;                        /* 1.0; 0 turns clipping off */
    uint64_t seed;                               /* 42 */
    int shuffle;                                 /* 1 */
    double dropout;                              /* -1: the config's */
    int64_t logging_steps;                       /* 500 */
    int64_t save_steps;                          /* 500; 0: only at the end */
    int save_total_limit;                        /* 0: keep every checkpoint */
    int verbose; /* print each log line to stderr (not part of the identity) */
    /* data-parallel processes (mpirun -np W, see core/dist.h), 1 alone:
    ** each optimizer step takes grad_accum micro-batches on each process,
    ** as DDP does; only process 0 touches the store */
    int processes;
} train_params;

/* Where the initial model comes from: exactly one of the three. */
typedef struct train_source {
    const char *model_dir;  /* a Hugging Face GPT-2 directory */
    int64_t checkpoint;     /* a checkpoint in the store */
    const gpt_config *init; /* a config, GPT-2-initialised from seed */
} train_source;

typedef struct train_result {
    int64_t run_id, checkpoint; /* the final checkpoint */
    int64_t steps;              /* optimizer steps in total */
    int resumed_from;           /* step resumed at (0: fresh) */
    int already_done;           /* the run had finished: nothing trained */
    double final_loss;          /* mean loss of the last logging window */
    double eval_loss;           /* last eval loss, NAN when no eval split */
} train_result;

/* Fill p with the defaults: a recipe's train section that sets nothing
** (rcp_train_defaults), verbose off, one process. */
void train_params_default(train_params *p);

/* p from a recipe's (checked) train section; verbose off, one process. */
void train_params_of_recipe(const rcp_train *t, train_params *p);

/* Check values (positive sizes, known ranges, every real finite); err
** names the parameter. */
int train_params_check(const train_params *p, char *err);

/* The JSON of every parameter that changes the result (sorted keys); part
** of the run identity.  Malloc'd, or NULL with err naming the parameter
** that cannot be written (a number that is not finite). */
char *train_params_json(const train_params *p, char *err);

/* Scheduler multiplier lambda(step) for total steps (get_scheduler's). */
double train_lr_lambda(const train_params *p, int64_t step, int64_t total);

/* Set by the caller (a SIGINT handler) to stop at the next step boundary
** after saving a checkpoint; stage_train then fails with "interrupted". */
extern volatile sig_atomic_t train_stop;

/* Run (or resume) the stage on block set block_set_id (0: the newest). */
int stage_train(store *st, const train_params *p, int64_t block_set_id, const train_source *src,
                train_result *res, char *err);

struct rcp_recipe;
struct stage_ctx;

/* The recipe runner's train stage: the recipe's train section on the group
** stage's block set, from model.from or model.init; result
** {"checkpoint_id", "run_id", "steps", "final_loss"[, "eval_loss"]}, and
** the final model written to train.export when set. */
int run_train(store *st, const struct rcp_recipe *r, struct stage_ctx *ctx, char *err);

#endif
