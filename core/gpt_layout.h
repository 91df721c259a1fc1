/*
** GPT-2 configuration and the layout of its parameters in one flat fp32
** array.  This is the contract between the model (gpt.c), checkpoint I/O
** (Hugging Face directories, the store) and the optimizer.
**
** Tensor names are Hugging Face's without the "transformer." prefix, and
** shapes are as Hugging Face stores them (Conv1D weights [in, out]):
**   wte.weight [V,C]  wpe.weight [P,C]
**   per layer l: h.l.ln_1.weight [C], h.l.ln_1.bias [C],
**     h.l.attn.c_attn.weight [C,3C], h.l.attn.c_attn.bias [3C],
**     h.l.attn.c_proj.weight [C,C], h.l.attn.c_proj.bias [C],
**     h.l.ln_2.weight [C], h.l.ln_2.bias [C],
**     h.l.mlp.c_fc.weight [C,4C], h.l.mlp.c_fc.bias [4C],
**     h.l.mlp.c_proj.weight [4C,C], h.l.mlp.c_proj.bias [C]
**   ln_f.weight [C], ln_f.bias [C]
** in exactly this order, each tensor contiguous and row-major.
** lm_head.weight is tied to wte.weight and has no storage of its own.
*/
#ifndef QUILL_GPT_LAYOUT_H
#define QUILL_GPT_LAYOUT_H

#include <stddef.h>

typedef struct gpt_config {
    int n_layer, n_head, n_embd, n_positions, vocab_size;
    float layer_norm_epsilon;                  /* 1e-5 */
    float embd_pdrop, attn_pdrop, resid_pdrop; /* 0.1 each in GPT-2 */
    int bos_token_id, eos_token_id;            /* 50256 */
    char activation_function[32];              /* "gelu_new" */
} gpt_config;

typedef struct gpt_tensor {
    char name[64]; /* e.g. "h.3.attn.c_attn.weight" */
    int ndim;      /* 1 or 2 */
    int shape[2];  /* shape[1] is 1 when ndim == 1 */
    size_t offset; /* in floats, from the start of the flat array */
    size_t numel;
    int decay; /* 1 when Trainer applies weight decay (not biases, not LayerNorm) */
} gpt_tensor;

/* Where each tensor sits in gpt_layout's array: wte, wpe, then
** GPT_PER_LAYER tensors for each layer (in the order of gpt_layer_tensor),
** then ln_f's two. */
enum { GPT_T_WTE = 0, GPT_T_WPE = 1, GPT_T_LAYERS = 2 };

/* A layer's tensors, as offsets from its first (see GPT_T_LAYER). */
typedef enum gpt_layer_tensor {
    GPT_LN1_W,
    GPT_LN1_B,
    GPT_ATTN_W, /* c_attn: q, k and v */
    GPT_ATTN_B,
    GPT_ATTN_PROJ_W,
    GPT_ATTN_PROJ_B,
    GPT_LN2_W,
    GPT_LN2_B,
    GPT_FC_W,
    GPT_FC_B,
    GPT_FC_PROJ_W,
    GPT_FC_PROJ_B,
    GPT_PER_LAYER
} gpt_layer_tensor;

/* Index of tensor k (a gpt_layer_tensor) of layer l; GPT_T_LAYER(n_layer,
** 0) and the next are ln_f.weight and ln_f.bias. */
#define GPT_T_LAYER(l, k) (GPT_T_LAYERS + GPT_PER_LAYER * (l) + (k))
#define GPT_T_LNF_W(n_layer) GPT_T_LAYER(n_layer, 0)
#define GPT_T_LNF_B(n_layer) (GPT_T_LAYER(n_layer, 0) + 1)

/* GPT-2 small's values for every field (12 layers, 12 heads, 768 wide,
** 1024 positions, 50257 tokens). */
void gpt_config_default(gpt_config *cfg);

/* Check that a config is usable (positive sizes, n_embd divisible by
** n_head, supported activation); err names the bad field. */
int gpt_config_check(const gpt_config *cfg, char *err);

/* The number of tensors in the layout: 2 + GPT_PER_LAYER * n_layer + 2. */
int gpt_layout_count(const gpt_config *cfg);

/* Fill out[0 .. gpt_layout_count-1]; returns the total number of floats. */
size_t gpt_layout(const gpt_config *cfg, gpt_tensor *out);

/* Check params (n floats) against cfg: n must be the layout's size, and
** when params is not NULL every value must be finite (a NaN or infinity
** would make every output empty and every loss NaN).  Returns 0, or -1 with
** err saying what (e.g. a file or checkpoint) and naming the first tensor
** holding a non-finite value. */
int gpt_params_check(const gpt_config *cfg, const float *params, size_t n, const char *what,
                     char *err);

/* Index of the tensor with this name (with or without the "transformer."
** prefix), or -1. */
int gpt_layout_find(const gpt_tensor *t, int n, const char *name);

#endif
