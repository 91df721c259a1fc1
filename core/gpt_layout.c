/*
** GPT-2 configuration defaults and parameter layout (see gpt_layout.h).
*/
#include "gpt_layout.h"

#include "err.h"

#include <stdint.h>
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gpt_config_default(gpt_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->n_layer = 12;
    cfg->n_head = 12;
    cfg->n_embd = 768;
    cfg->n_positions = 1024;
    cfg->vocab_size = 50257;
    cfg->layer_norm_epsilon = 1e-5f;
    cfg->embd_pdrop = cfg->attn_pdrop = cfg->resid_pdrop = 0.1f;
    cfg->bos_token_id = cfg->eos_token_id = 50256;
    strcpy(cfg->activation_function, "gelu_new");
}

int gpt_config_check(const gpt_config *c, char *err) {
    if (c->n_layer < 1 || c->n_layer > 1000)
        return err_set(err, "n_layer %d out of range", c->n_layer);
    if (c->n_head < 1) return err_set(err, "n_head %d must be positive", c->n_head);
    if (c->n_embd < 1 || c->n_embd % c->n_head)
        return err_set(err, "n_embd %d must be a positive multiple of n_head %d", c->n_embd,
                       c->n_head);
    if (c->n_positions < 1) return err_set(err, "n_positions %d must be positive", c->n_positions);
    if (c->vocab_size < 1) return err_set(err, "vocab_size %d must be positive", c->vocab_size);
    if (!(c->layer_norm_epsilon > 0)) return err_set(err, "layer_norm_epsilon must be positive");
    const float p[3] = {c->embd_pdrop, c->attn_pdrop, c->resid_pdrop};
    for (int i = 0; i < 3; i++)
        if (!(p[i] >= 0 && p[i] < 1)) return err_set(err, "dropout %g must be in [0, 1)", p[i]);
    if (strcmp(c->activation_function, "gelu_new") && strcmp(c->activation_function, "gelu") &&
        strcmp(c->activation_function, "gelu_pytorch_tanh"))
        return err_set(err,
                       "activation_function '%s' is not supported (gelu_new, gelu, "
                       "gelu_pytorch_tanh)",
                       c->activation_function);
    return 0;
}

int gpt_layout_count(const gpt_config *cfg) {
    return GPT_T_LNF_B(cfg->n_layer) + 1;
}

/* Append tensor name of rows x cols (cols 0: a vector) at t[*i] and offset
** *off, advancing both. */
static void put(gpt_tensor *t, int *i, size_t *off, const char *name, int rows, int cols,
                int decay) {
    gpt_tensor *x = &t[(*i)++];
    snprintf(x->name, sizeof x->name, "%s", name);
    x->ndim = cols ? 2 : 1;
    x->shape[0] = rows;
    x->shape[1] = cols ? cols : 1;
    x->numel = (size_t)rows * (size_t)x->shape[1];
    x->offset = *off;
    x->decay = decay;
    *off += x->numel;
}

size_t gpt_layout(const gpt_config *cfg, gpt_tensor *t) {
    const int C = cfg->n_embd;
    int i = 0;
    size_t off = 0;
    char name[64];
    put(t, &i, &off, "wte.weight", cfg->vocab_size, C, 1);
    put(t, &i, &off, "wpe.weight", cfg->n_positions, C, 1);
    for (int l = 0; l < cfg->n_layer; l++) {
        static const struct {
            const char *suffix;
            int rows, cols, decay; /* in multiples of C; cols 0 = vector */
        } per_layer[GPT_PER_LAYER] = {
            {"ln_1.weight", 1, 0, 0},        {"ln_1.bias", 1, 0, 0},
            {"attn.c_attn.weight", 1, 3, 1}, {"attn.c_attn.bias", 3, 0, 0},
            {"attn.c_proj.weight", 1, 1, 1}, {"attn.c_proj.bias", 1, 0, 0},
            {"ln_2.weight", 1, 0, 0},        {"ln_2.bias", 1, 0, 0},
            {"mlp.c_fc.weight", 1, 4, 1},    {"mlp.c_fc.bias", 4, 0, 0},
            {"mlp.c_proj.weight", 4, 1, 1},  {"mlp.c_proj.bias", 1, 0, 0},
        };
        for (int k = 0; k < GPT_PER_LAYER; k++) {
            snprintf(name, sizeof name, "h.%d.%s", l, per_layer[k].suffix);
            put(t, &i, &off, name, per_layer[k].rows * C, per_layer[k].cols * C,
                per_layer[k].decay);
        }
    }
    put(t, &i, &off, "ln_f.weight", C, 0, 0);
    put(t, &i, &off, "ln_f.bias", C, 0, 0);
    assert(i == gpt_layout_count(cfg));
    return off;
}

int gpt_layout_find(const gpt_tensor *t, int n, const char *name) {
    if (!strncmp(name, "transformer.", 12)) name += 12;
    for (int i = 0; i < n; i++)
        if (!strcmp(t[i].name, name)) return i;
    return -1;
}

/* Whether p[0..n-1] holds no NaN or infinity: an exponent of all ones.  A
** branch-free OR over the bits, so the compiler vectorises it. */
static int all_finite(const float *p, size_t n) {
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &p[i], sizeof u);
        bad |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
    }
    return !bad;
}

int gpt_params_check(const gpt_config *cfg, const float *params, size_t n, const char *what,
                     char *err) {
    int n_t = gpt_layout_count(cfg);
    gpt_tensor *t = malloc((size_t)n_t * sizeof *t);
    if (!t) return err_set(err, "%s: out of memory", what);
    size_t total = gpt_layout(cfg, t);
    int rc = 0;
    if (total != n)
        rc = err_set(err,
                     "%s: the config (n_layer %d, n_embd %d, vocab_size %d, n_positions %d) "
                     "needs %zu parameters but the tensors hold %zu",
                     what, cfg->n_layer, cfg->n_embd, cfg->vocab_size, cfg->n_positions, total, n);
    for (int i = 0; params && !rc && i < n_t; i++)
        if (!all_finite(params + t[i].offset, t[i].numel))
            rc = err_set(err, "%s: tensor '%s' holds NaN or infinite values", what, t[i].name);
    free(t);
    return rc;
}
