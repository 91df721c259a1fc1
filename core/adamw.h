/*
** AdamW exactly as torch.optim.AdamW (amsgrad off) with Hugging Face
** Trainer's parameter groups, and global-norm gradient clipping as
** torch.nn.utils.clip_grad_norm_.  State is plain arrays so checkpoints can
** save and restore it (m, v: nparams floats each; step).
**
** One step, per parameter p with gradient g (t = step after increment):
**     if decay(p): p -= lr * weight_decay * p
**     m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
**     p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
** decay(p) is gpt_tensor.decay of the tensor holding p: like Trainer, no
** decay on biases and LayerNorm parameters, decay on the weight matrices
** and the embeddings.
*/
#ifndef QUILL_ADAMW_H
#define QUILL_ADAMW_H

#include "gpt_layout.h"

#include <stddef.h>

typedef struct adamw_hparams {
    float lr;           /* learning rate of this step (the caller's schedule) */
    float beta1, beta2; /* 0.9, 0.999 */
    float eps;          /* 1e-8 */
    float weight_decay; /* Trainer default 0.0 */
    float grad_scale;   /* gradients are multiplied by this first (1: none), so
                           clipping can be fused: adamw_clip_coef */
} adamw_hparams;

typedef struct adamw {
    size_t n;     /* parameters */
    float *m, *v; /* moments, n each, zero at create */
    long step;    /* steps taken */
    int ntensors; /* the layout, for the decay groups */
    gpt_tensor *tensors;
} adamw;

/* Trainer's defaults: lr 5e-5, betas (0.9, 0.999), eps 1e-8, decay 0,
** grad_scale 1. */
void adamw_defaults(adamw_hparams *h);

/* Optimizer state for the parameter layout of cfg; 0 or -1 with err. */
int adamw_create(const gpt_config *cfg, adamw **out, char *err);
void adamw_free(adamw *a);

/* One AdamW step of params (a->n floats) with grads: one parallel pass over
** all the parameters, the same bytes whatever the thread count. */
void adamw_step(adamw *a, float *params, const float *grads, const adamw_hparams *h);

/* Global L2 norm of grads (n floats), summed in a fixed order whatever the
** thread count. */
float adamw_grad_norm(const float *grads, size_t n);

/* grads (n floats) = 0, the threads sharing the memory traffic (a step's
** first write to the gradients). */
void adamw_zero_grads(float *grads, size_t n);

/* torch.nn.utils.clip_grad_norm_'s factor: min(1, max_norm / (norm + 1e-6)),
** or 1 when max_norm <= 0. */
float adamw_clip_coef(float norm, float max_norm);

/* clip_grad_norm_ in place: scales grads by adamw_clip_coef; returns the
** norm before clipping.  (Faster, same bytes: hp.grad_scale =
** adamw_clip_coef(adamw_grad_norm(...), max_norm) before adamw_step.) */
float adamw_clip_grad_norm(float *grads, size_t n, float max_norm);

#endif
