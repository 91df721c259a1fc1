/*
** AdamW and gradient clipping (see adamw.h).
*/
#include "adamw.h"

#include "err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void adamw_defaults(adamw_hparams *h) {
    h->lr = 5e-5f;
    h->beta1 = 0.9f;
    h->beta2 = 0.999f;
    h->eps = 1e-8f;
    h->weight_decay = 0.0f;
    h->grad_scale = 1.0f;
}

int adamw_create(const gpt_config *cfg, adamw **out, char *err) {
    *out = NULL;
    if (gpt_config_check(cfg, err)) return err_prefix(err, "optimizer");
    adamw *a = calloc(1, sizeof *a);
    if (!a) return err_set(err, "optimizer: out of memory");
    a->ntensors = gpt_layout_count(cfg);
    a->tensors = calloc((size_t)a->ntensors, sizeof *a->tensors);
    a->n = a->tensors ? gpt_layout(cfg, a->tensors) : 0;
    a->m = calloc(a->n, sizeof(float));
    a->v = calloc(a->n, sizeof(float));
    if (!a->tensors || !a->m || !a->v) {
        adamw_free(a);
        return err_set(err, "optimizer: out of memory");
    }
    *out = a;
    return 0;
}

void adamw_free(adamw *a) {
    if (!a) return;
    free(a->m);
    free(a->v);
    free(a->tensors);
    free(a);
}

void adamw_step(adamw *a, float *params, const float *grads, const adamw_hparams *h) {
    a->step++;
    /* scalars as torch computes them (Python floats, i.e. double) */
    const double bc1 = 1.0 - pow(h->beta1, (double)a->step);
    const double bc2 = 1.0 - pow(h->beta2, (double)a->step);
    /* torch divides by sqrt(bc2); multiplying by its reciprocal differs by at
    ** most an ulp and spares a division per element */
    const float step_size = (float)(h->lr / bc1), inv_bc2_sqrt = (float)(1.0 / sqrt(bc2));
    const float b1 = h->beta1, b2 = h->beta2, eps = h->eps, gs = h->grad_scale;
    for (int t = 0; t < a->ntensors; t++) {
        const size_t lo = a->tensors[t].offset, hi = lo + a->tensors[t].numel;
        /* p *= 1 - lr * wd: multiplying by exactly 1 when not decayed */
        const float decay_mul =
            a->tensors[t].decay ? (float)(1.0 - (double)h->lr * h->weight_decay) : 1.0f;
        float *m = a->m, *v = a->v;
#pragma omp parallel for simd schedule(static)
        for (size_t i = lo; i < hi; i++) {
            float g = gs == 1.0f ? grads[i] : grads[i] * gs;
            m[i] = m[i] * b1 + g * (1.0f - b1);
            v[i] = v[i] * b2 + g * g * (1.0f - b2);
            float denom = sqrtf(v[i]) * inv_bc2_sqrt + eps;
            params[i] = params[i] * decay_mul - step_size * (m[i] / denom);
        }
    }
}

/* Fixed chunks so the partial sums (and their order) do not depend on the
** thread count. */
#define CHUNK 65536

float adamw_grad_norm(const float *grads, size_t n) {
    enum { MAXCHUNKS = 8192 }; /* 512M parameters; more share the last chunk */
    double part[MAXCHUNKS];
    size_t nchunks = (n + CHUNK - 1) / CHUNK;
    if (nchunks > MAXCHUNKS) nchunks = MAXCHUNKS;
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < nchunks; c++) {
        size_t lo = c * CHUNK, hi = c + 1 == nchunks ? n : lo + CHUNK;
        double s = 0;
        for (size_t i = lo; i < hi; i++)
            s += (double)grads[i] * grads[i];
        part[c] = s;
    }
    double total = 0;
    for (size_t c = 0; c < nchunks; c++)
        total += part[c];
    return (float)sqrt(total);
}

float adamw_clip_coef(float norm, float max_norm) {
    if (max_norm <= 0) return 1.0f;
    float coef = max_norm / (norm + 1e-6f);
    return coef < 1.0f ? coef : 1.0f;
}

float adamw_clip_grad_norm(float *grads, size_t n, float max_norm) {
    float norm = adamw_grad_norm(grads, n), coef = adamw_clip_coef(norm, max_norm);
    if (coef < 1.0f)
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; i++)
            grads[i] *= coef;
    return norm;
}
