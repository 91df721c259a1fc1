/*
** AdamW and gradient clipping (see adamw.h).
*/
#include "adamw.h"

#include "err.h"
#include "mem.h"

#include <assert.h>
#include <immintrin.h>
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
    a->m = mem_huge_calloc(a->n * sizeof(float));
    a->v = mem_huge_calloc(a->n * sizeof(float));
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

/* The update of n elements.  (GCC does not vectorise it: sqrtf may set
** errno; hence the AVX-512 twin below, same operations in the same order,
** so the same bytes.) */
typedef struct adam_k {
    float b1, b2, eps, gs, step_size, inv_bc2_sqrt, decay_mul;
} adam_k;

static void adam_range(float *restrict p, const float *restrict g, float *restrict m,
                       float *restrict v, size_t n, const adam_k *k) {
    const float b1 = k->b1, b2 = k->b2, eps = k->eps, gs = k->gs, ss = k->step_size,
                ib = k->inv_bc2_sqrt, dm = k->decay_mul;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] * gs; /* exact when gs is 1 */
        m[i] = m[i] * b1 + gi * (1.0f - b1);
        v[i] = v[i] * b2 + gi * gi * (1.0f - b2);
        float denom = sqrtf(v[i]) * ib + eps;
        p[i] = p[i] * dm - ss * (m[i] / denom);
    }
}

__attribute__((target("avx512f"))) static void
adam_range_avx512(float *p, const float *g, float *m, float *v, size_t n, const adam_k *k) {
    const __m512 b1 = _mm512_set1_ps(k->b1), b2 = _mm512_set1_ps(k->b2),
                 c1 = _mm512_set1_ps(1.0f - k->b1), c2 = _mm512_set1_ps(1.0f - k->b2),
                 eps = _mm512_set1_ps(k->eps), gs = _mm512_set1_ps(k->gs),
                 ss = _mm512_set1_ps(k->step_size), ib = _mm512_set1_ps(k->inv_bc2_sqrt),
                 dm = _mm512_set1_ps(k->decay_mul);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 gi = _mm512_mul_ps(_mm512_loadu_ps(g + i), gs);
        __m512 mi = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(m + i), b1), _mm512_mul_ps(gi, c1));
        __m512 vi = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(v + i), b2),
                                  _mm512_mul_ps(_mm512_mul_ps(gi, gi), c2));
        __m512 den = _mm512_add_ps(_mm512_mul_ps(_mm512_sqrt_ps(vi), ib), eps);
        __m512 pi = _mm512_sub_ps(_mm512_mul_ps(_mm512_loadu_ps(p + i), dm),
                                  _mm512_mul_ps(ss, _mm512_div_ps(mi, den)));
        _mm512_storeu_ps(m + i, mi);
        _mm512_storeu_ps(v + i, vi);
        _mm512_storeu_ps(p + i, pi);
    }
    adam_range(p + i, g + i, m + i, v + i, n - i, k);
}

#define STEP_CHUNK 32768

typedef void (*adam_fn)(float *, const float *, float *, float *, size_t, const adam_k *);

/* The update of the flat elements [lo, hi), tensor by tensor (the decay
** factor is the tensor's); first is the tensor holding lo.  The layout's
** tensors are contiguous and in order (gpt_layout). */
static void step_span(const adamw *a, int first, size_t lo, size_t hi, float *params,
                      const float *grads, adam_k k, float decay_mul, adam_fn fn) {
    for (int t = first; t < a->ntensors && lo < hi; t++) {
        const gpt_tensor *x = &a->tensors[t];
        const size_t end = x->offset + x->numel < hi ? x->offset + x->numel : hi;
        assert(x->offset <= lo && lo <= end);
        k.decay_mul = x->decay ? decay_mul : 1.0f; /* p *= 1: exact when not decayed */
        fn(params + lo, grads + lo, a->m + lo, a->v + lo, end - lo, &k);
        lo = end;
    }
}

/* The index of the tensor holding flat element i (binary search). */
static int tensor_at(const adamw *a, size_t i) {
    int lo = 0, hi = a->ntensors - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (a->tensors[mid].offset <= i)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

void adamw_step(adamw *a, float *params, const float *grads, const adamw_hparams *h) {
    a->step++;
    /* scalars as torch computes them (Python floats, i.e. double); torch
    ** divides by sqrt(bc2), multiplying by its reciprocal differs by at most
    ** an ulp and spares a division per element */
    const double bc1 = 1.0 - pow(h->beta1, (double)a->step);
    const double bc2 = 1.0 - pow(h->beta2, (double)a->step);
    const adam_k k = {
        h->beta1, h->beta2, h->eps, h->grad_scale, (float)(h->lr / bc1), (float)(1.0 / sqrt(bc2)),
        1.0f};
    const float decay_mul = (float)(1.0 - (double)h->lr * h->weight_decay);
    __builtin_cpu_init();
    const adam_fn fn = __builtin_cpu_supports("avx512f") ? adam_range_avx512 : adam_range;
    /* one pass over all parameters in fixed chunks, whatever the tensors
    ** (element-wise: the same bytes for any split and thread count) */
    const long nch = (long)((a->n + STEP_CHUNK - 1) / STEP_CHUNK);
#pragma omp parallel for schedule(static) if (nch > 1)
    for (long c = 0; c < nch; c++) {
        const size_t lo = (size_t)c * STEP_CHUNK,
                     hi = lo + STEP_CHUNK < a->n ? lo + STEP_CHUNK : a->n;
        step_span(a, tensor_at(a, lo), lo, hi, params, grads, k, decay_mul, fn);
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
#pragma omp simd reduction(+ : s)
        for (size_t i = lo; i < hi; i++)
            s += (double)grads[i] * grads[i];
        part[c] = s;
    }
    double total = 0;
    for (size_t c = 0; c < nchunks; c++)
        total += part[c];
    return (float)sqrt(total);
}

void adamw_zero_grads(float *grads, size_t n) {
    const size_t nch = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if (nch > 1)
    for (size_t c = 0; c < nch; c++)
        memset(grads + c * CHUNK, 0,
               sizeof(float) * (n - c * CHUNK < CHUNK ? n - c * CHUNK : CHUNK));
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
