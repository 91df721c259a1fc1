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
** (trn_params_json).  Running the same stage again resumes the run with
** that identity from its last checkpoint, or returns the final checkpoint
** of a finished run without training.  Resumed runs end bit-identical to
** uninterrupted ones (state: AdamW moments and step, dropout rng, logging
** accumulators; the data position follows from the step).
**
** Writes: train_runs, train_logs (db/trainruns.h), checkpoints (via
** stages/ckpt.h), each checkpoint (with its pruning) in its own
** transaction.  The loop itself is core/trainer.h's; this stage reads its
** inputs, shares them between processes and stores what it writes.
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
#include "trainer.h"

#include <signal.h>
#include <stdint.h>

/* The parameters, their defaults and the loop are the engine's:
** core/trainer.h (trn_params, trn_params_default ...). */

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

/* Set by the caller (a SIGINT handler) to stop at the next step boundary
** after saving a checkpoint; stage_train then fails with "interrupted". */
extern volatile sig_atomic_t train_stop;

/* Run (or resume) the stage on block set block_set_id (0: the newest). */
int stage_train(store *st, const trn_params *p, int64_t block_set_id, const train_source *src,
                train_result *res, char *err);

#endif
