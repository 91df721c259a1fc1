/*
** GPT-2 language model: the math of Hugging Face's GPT2LMHeadModel over the
** flat fp32 parameter array of gpt_layout.h (learned positions, pre-LN
** blocks, causal attention scaled by 1/sqrt(head_dim), gelu_new (tanh) or
** exact gelu, final LayerNorm, lm_head tied to wte).
**
** Three ways to run it, sharing one code path for the math of a block:
**
**   training / scoring     gpt_batch: forward over B x T token ids with
**                          labels (mean cross-entropy over shifted labels,
**                          -100 ignored, like GPT2LMHeadModel(input_ids,
**                          labels=...).loss), optional dropout from a seeded
**                          rng, logits for every position, and backward
**                          into a gradient array with the parameter layout.
**   generation             gpt_kv: a KV cache for up to max_seqs sequences;
**                          gpt_kv_step appends any number of tokens to each
**                          of a set of live sequences (a prompt prefill,
**                          then one token each) and returns the logits of
**                          each sequence's last new token.
**   optimisation           core/adamw.h.
**
** Threads: OpenMP over all cores.  Every result is bit-identical whatever
** OMP_NUM_THREADS is (work is split in fixed chunks, reductions run in a
** fixed order).
**
** Typical training step (Trainer-like; see bench/train_step/train_step.c):
**     gpt_model *m; gpt_batch *b; adamw *opt; adamw_hparams hp;
**     gpt_model_create(&cfg, params, &m, err);   // params: gpt_layout floats
**     gpt_batch_create(m, B, T, &b, err);
**     adamw_create(&cfg, &opt, err); adamw_defaults(&hp);
**     rng r; rng_seed(&r, seed);
**     per step:
**       gpt_forward(b, ids, ids, B, T, &r, &loss, err);  // labels = ids; dropout
**       gpt_backward(b, grads, err);
**       norm = adamw_grad_norm(grads, n);           // clip_grad_norm_, fused:
**       hp.grad_scale = adamw_clip_coef(norm, max_grad_norm);
**       hp.lr = schedule(step);
**       adamw_step(opt, params, grads, &hp);        // updates params in place
** Scoring: gpt_forward(b, ids, labels, B, T, NULL, &loss, err) (eval mode,
** logits kept).
** Generation:
**     gpt_kv_create(m, max_seqs, max_len, &kv, err);
**     gpt_kv_step(kv, n, slots, prompt_lens, prompt_tokens, logits, err);
**     then repeatedly gpt_kv_step(kv, n, slots, ones, next_tokens, logits, err)
**     (logits: n x vocab_size floats); gpt_kv_reset(kv, slot) frees a slot.
*/
#ifndef QUILL_GPT_H
#define QUILL_GPT_H

#include "gpt_layout.h"
#include "rng.h"

#include <stddef.h>
#include <stdint.h>

#define GPT_IGNORE_INDEX (-100) /* a label that takes no part in the loss */

typedef struct gpt_model gpt_model;

/* A model over params (gpt_layout(cfg) floats).  The model borrows params:
** the caller keeps ownership, must keep it alive for the model's lifetime,
** and may update it in place between calls (the optimizer does).  The
** config is copied and checked (gpt_config_check).  Returns 0, or -1 with
** err set. */
int gpt_model_create(const gpt_config *cfg, float *params, gpt_model **out, char *err);
void gpt_model_free(gpt_model *m);

/* Lay the weights out for generation, a snapshot of params that
** gpt_kv_step then reads (call again after changing params; training and
** scoring, gpt_forward, always read params).  Each layer's matrices and
** the tied lm_head (wte transposed) are packed once for a GEMM over the
** step's rows (mm_sgemm_packed; with bf16 set, quill generate --dtype
** bf16, mm_bgemm_packed: weights and the rows they multiply rounded to
** bfloat16, accumulated in fp32, half the bytes to read), a copy of about
** all the parameters.  Every product then adds each element in one fixed
** order whatever the number of rows: a row's logits do not depend on the
** rest of the step.  Everything else stays fp32 (embeddings, biases,
** LayerNorm), but for attention, which in bf16 follows autocast like
** gpt_model_set_bf16's forward: q, k and v rounded to bf16 after c_attn
** (the KV cache keeps bf16, half the bytes), fp32 sums and softmax, the
** weights of the values rounded to bf16.  Without this call gpt_kv_step
** reads params as they are.  Returns 0, or -1 with err set (out of memory). */
int gpt_model_prepare_generation(gpt_model *m, int bf16, char *err);
/* Mixed precision for training and scoring (gpt_forward, gpt_backward;
** not generation), as PyTorch's CPU autocast to bfloat16 does it: every
** matrix product's inputs (weights and activations: the linear layers,
** attention's QK^T and AV, the tied lm_head, forward and backward) are
** rounded to bfloat16 and the products accumulated in fp32
** (core/mm_bf16.h).  The products' outputs, LayerNorm, softmax, GELU, the
** loss, the parameters and their gradients stay fp32 (autocast would round
** a product's output to bf16 too; here only attention's q, k, v and the
** gradient entering attention are, being inputs of bf16 products alone).
** Still bit-identical for any thread count.  Off by default. */
void gpt_model_set_bf16(gpt_model *m, int on);

/* -1 when not prepared for generation, else 1 in bf16, 0 in fp32 */
int gpt_model_generation(const gpt_model *m);

const gpt_config *gpt_model_config(const gpt_model *m);
size_t gpt_model_nparams(const gpt_model *m); /* floats in params (and grads) */
float *gpt_model_params(const gpt_model *m);

/* ---- training and scoring ---- */

/* Activations for batches of up to B sequences of up to T tokens
** (T <= n_positions); reusable across steps. */
typedef struct gpt_batch gpt_batch;
int gpt_batch_create(gpt_model *m, int B, int T, gpt_batch **out, char *err);
void gpt_batch_free(gpt_batch *b);

/* Forward over ids[B*T] (row-major, B sequences of T tokens, B and T at
** most the sizes given at create).  labels[B*T] (may be ids itself, or NULL
** for no loss): position t of sequence b is scored against labels[b][t+1]
** unless that is GPT_IGNORE_INDEX; *loss is the mean over scored positions
** (0 when none).  dropout: NULL evaluates (no dropout); otherwise dropout
** with the config's embd/attn/resid probabilities draws its masks from it
** (one draw per forward; the masks do not depend on the thread count).
** Token ids outside [0, vocab_size) are an error.  The logits stay
** available through gpt_batch_logits until gpt_backward or the next
** forward, except in training (dropout given, with labels), where they are
** turned into what the backward needs right away. */
int gpt_forward(gpt_batch *b, const int32_t *ids, const int32_t *labels, int B, int T, rng *dropout,
                float *loss, char *err);

/* Logits of the last forward: [B][T][vocab_size] floats, or NULL when
** they are gone (after a training forward or a backward). */
const float *gpt_batch_logits(const gpt_batch *b);

/* 1 when gpt_forward with an rng draws from it (one number per call: the
** config has dropout), else 0. */
int gpt_batch_draws(const gpt_batch *b);

/* Backward of the last forward's loss (which needs labels): WRITES the
** gradient of every parameter into grads (gpt_model_nparams floats, same
** layout as params; whatever grads held before is gone, so there is
** nothing to zero first: the big matrices' gradients are their products'
** outputs).  Overwrites the logits. */
int gpt_backward(gpt_batch *b, float *grads, char *err);

/* ---- generation ---- */

/* KV cache for up to max_seqs sequences (slots 0 .. max_seqs-1) of up to
** max_len tokens each (max_len <= n_positions).  Every slot starts empty.
** It holds bf16 when the model's generation weights are bf16 at creation
** (gpt_model_prepare_generation first); gpt_kv_step fails if they change.
** gpt_kv_bytes: the bytes its keys and values take. */
typedef struct gpt_kv gpt_kv;
int gpt_kv_create(gpt_model *m, int max_seqs, int max_len, gpt_kv **out, char *err);
void gpt_kv_free(gpt_kv *kv);
size_t gpt_kv_bytes(const gpt_kv *kv);

/* Empty a slot (drop its sequence) so it can hold a new one. */
void gpt_kv_reset(gpt_kv *kv, int slot);

/* Keep only the first n cached tokens of a slot (n <= its length), so a
** sequence that backed out of a dead end can step again from there. */
void gpt_kv_truncate(gpt_kv *kv, int slot, int n);

/* Number of tokens a slot holds. */
int gpt_kv_len(const gpt_kv *kv, int slot);

/* Make slot dst hold the first n tokens of slot src (n <= its length),
** keys and values of every layer, as if they had been stepped into dst:
** many outputs of one prompt compute the prompt once.  Exact, since a
** row's keys and values do not depend on what else is in the step.
** Returns 0, or -1 with err set (bad slot or n; the cache is unchanged). */
int gpt_kv_copy(gpt_kv *kv, int dst, int src, int n, char *err);

/* Append tokens to nseq distinct slots at once: sequence i gets ntok[i] >= 1
** tokens at positions gpt_kv_len(slot[i]) ..., taken in order from tokens[]
** (all sequences' new tokens concatenated).  Writes the logits after each
** sequence's last new token to logits[i * vocab_size ...] (nseq rows).
** No dropout.  Errors (slot out of range or repeated, too many tokens for
** max_len, bad token id) leave the cache unchanged. */
int gpt_kv_step(gpt_kv *kv, int nseq, const int *slots, const int *ntok, const int32_t *tokens,
                float *logits, char *err);

#endif
