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
}

int adamw_create(const gpt_config *cfg, adamw **out, char *err) {
    *out = NULL;
    if (gpt_config_check(cfg, err)) return err_prefix(err, "optimizer");
    int nt = gpt_layout_count(cfg);
    gpt_tensor *t = calloc((size_t)nt, sizeof *t);
    adamw *a = calloc(1, sizeof *a);
    if (!t || !a) {
        free(t);
        free(a);
        return err_set(err, "optimizer: out of memory");
    }
    a->n = gpt_layout(cfg, t);
    a->m = calloc(a->n, sizeof(float));
    a->v = calloc(a->n, sizeof(float));
    a->decay = malloc(a->n);
    if (!a->m || !a->v || !a->decay) {
        size_t n = a->n;
        free(t);
        adamw_free(a);
        return err_set(err, "optimizer: out of memory for %zu parameters", n);
    }
    for (int i = 0; i < nt; i++) memset(a->decay + t[i].offset, t[i].decay, t[i].numel);
    free(t);
    *out = a;
    return 0;
}

void adamw_free(adamw *a) {
    if (!a) return;
    free(a->m);
    free(a->v);
    free(a->decay);
    free(a);
}

void adamw_step(adamw *a, float *params, const float *grads, const adamw_hparams *h) {
    a->step++;
    /* scalars as torch computes them (Python floats, i.e. double) */
    const double bc1 = 1.0 - pow(h->beta1, (double)a->step);
    const double bc2 = 1.0 - pow(h->beta2, (double)a->step);
    const float step_size = (float)(h->lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    const float decay_mul = (float)(1.0 - (double)h->lr * h->weight_decay);
    const float b1 = h->beta1, b2 = h->beta2, eps = h->eps;
    float *m = a->m, *v = a->v;
    const unsigned char *dec = a->decay;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < a->n; i++) {
        float p = params[i], g = grads[i];
        if (dec[i]) p *= decay_mul;
        m[i] = m[i] * b1 + g * (1.0f - b1);
        v[i] = v[i] * b2 + g * g * (1.0f - b2);
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        params[i] = p - step_size * (m[i] / denom);
    }
}

/* Fixed chunks so the partial sums (and their order) do not depend on the
** thread count. */
#define CHUNK 65536

float adamw_clip_grad_norm(float *grads, size_t n, float max_norm) {
    size_t nchunks = (n + CHUNK - 1) / CHUNK;
    double *part = malloc(sizeof(double) * (nchunks ? nchunks : 1));
    double total = 0;
    if (!part) { /* serial fallback, same value up to rounding */
        for (size_t i = 0; i < n; i++) total += (double)grads[i] * grads[i];
    } else {
#pragma omp parallel for schedule(static)
        for (size_t c = 0; c < nchunks; c++) {
            size_t lo = c * CHUNK, hi = lo + CHUNK < n ? lo + CHUNK : n;
            double s = 0;
            for (size_t i = lo; i < hi; i++) s += (double)grads[i] * grads[i];
            part[c] = s;
        }
        for (size_t c = 0; c < nchunks; c++) total += part[c];
        free(part);
    }
    float norm = (float)sqrt(total);
    if (max_norm > 0) {
        float coef = max_norm / (norm + 1e-6f);
        if (coef < 1.0f)
#pragma omp parallel for simd schedule(static)
            for (size_t i = 0; i < n; i++) grads[i] *= coef;
    }
    return norm;
}
