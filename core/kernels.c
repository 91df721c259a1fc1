/*
** Row-wise and elementwise kernels (see kernels.h).  Loops that reduce are
** written with `omp simd reduction` so they vectorise; the order of the
** additions is fixed by the compiled code, never by the thread count.
*/
#include "kernels.h"

#include "matmul.h"
#include "mm_bf16.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

/* exp(x) by Cody-Waite range reduction x = n ln2 + r, |r| <= ln2/2, then a
** degree-6 polynomial for exp(r) and 2^n built in the exponent bits.  Inlined
** into the loops and free of floorf, fmaxf and branches: under strict ISO C
** GCC vectorises none of those (floorf may trap "inexact"), and a scalar exp
** made the softmax over the vocabulary cost a tenth of a training step.
** Adding then subtracting 1.5 * 2^23 rounds to the nearest integer. */
static inline float kern_expf(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    const float shift = 12582912.0f;
    float n = (x * 1.44269504088896341f + shift) - shift;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* NaN (a diverged model) stays NaN through p, without the undefined
    ** conversion of NaN to an integer */
    const int32_t k = n == n ? (int32_t)n : 0;
    const int32_t bits = (k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

void kern_layernorm(float *out, float *mean, float *rstd, const float *x, const float *w,
                    const float *b, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)N * C > KERN_SERIAL_MAX)
    for (int r = 0; r < N; r++) {
        const float *xr = x + (size_t)r * C;
        float *o = out + (size_t)r * C;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int i = 0; i < C; i++)
            s += xr[i];
        float m = s / C, v = 0.0f;
#pragma omp simd reduction(+ : v)
        for (int i = 0; i < C; i++)
            v += (xr[i] - m) * (xr[i] - m);
        float rs = 1.0f / sqrtf(v / C + eps);
#pragma omp simd
        for (int i = 0; i < C; i++)
            o[i] = (xr[i] - m) * rs * w[i] + b[i];
        mean[r] = m;
        rstd[r] = rs;
    }
}

/* Columns are split in fixed blocks of COLS for the dw/db sums. */
#define COLS 64

void kern_layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                             const float *w, const float *mean, const float *rstd, int N, int C) {
#pragma omp parallel if ((size_t)N * C > KERN_SERIAL_MAX)
    {
#pragma omp for schedule(static)
        for (int r = 0; r < N; r++) {
            const float *d = dout + (size_t)r * C, *xr = x + (size_t)r * C;
            const float m = mean[r], rs = rstd[r];
            float sd = 0.0f, sdx = 0.0f;
#pragma omp simd reduction(+ : sd, sdx)
            for (int i = 0; i < C; i++) {
                float dn = d[i] * w[i];
                sd += dn;
                sdx += dn * (xr[i] - m) * rs;
            }
            sd /= C;
            sdx /= C;
            float *o = dx + (size_t)r * C;
#pragma omp simd
            for (int i = 0; i < C; i++)
                o[i] += (d[i] * w[i] - sd - (xr[i] - m) * rs * sdx) * rs;
        }
#pragma omp for schedule(static)
        for (int c0 = 0; c0 < C; c0 += COLS) {
            int c1 = c0 + COLS < C ? c0 + COLS : C;
            for (int r = 0; r < N; r++) {
                const float *d = dout + (size_t)r * C, *xr = x + (size_t)r * C;
                const float m = mean[r], rs = rstd[r];
#pragma omp simd
                for (int i = c0; i < c1; i++) {
                    dw[i] += d[i] * (xr[i] - m) * rs;
                    db[i] += d[i];
                }
            }
        }
    }
}

void kern_matmul(int bf16, int M, int N, int K, const float *A, int lda, int ta, const float *B,
                 int ldb, int tb, float *C, int ldc, int acc) {
    if (bf16)
        mm_bgemm(M, N, K, A, lda, ta, B, ldb, tb, C, ldc, acc);
    else
        mm_sgemm(M, N, K, A, lda, ta, B, ldb, tb, C, ldc, acc);
}

float kern_bf16(float x) {
    const uint32_t u = (uint32_t)mm_bround(x) << 16;
    float r;
    memcpy(&r, &u, sizeof r);
    return r;
}

void kern_round_bf16(float *x, size_t n) {
    const size_t chunk = 16384;
#pragma omp parallel for schedule(static) if (n > KERN_SERIAL_MAX)
    for (size_t c = 0; c < n; c += chunk)
        mm_bround_floats(x + c, n - c < chunk ? n - c : chunk);
}

void kern_linear(float *out, const float *inp, const float *w, const float *b, int N, int IC,
                 int OC, int bf16) {
#pragma omp parallel for schedule(static) if ((size_t)N * OC > KERN_SERIAL_MAX)
    for (int r = 0; r < N; r++)
        memcpy(out + (size_t)r * OC, b, sizeof(float) * OC);
    kern_matmul(bf16, N, OC, IC, inp, IC, 0, w, OC, 0, out, OC, 1);
}

void kern_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                          const float *w, int N, int IC, int OC, int bf16) {
    kern_matmul(bf16, N, IC, OC, dout, OC, 0, w, OC, 1, dinp, IC, 0);
    kern_matmul(bf16, IC, OC, N, inp, IC, 1, dout, OC, 0, dw, OC, 0);
#pragma omp parallel for schedule(static) if ((size_t)N * OC > KERN_SERIAL_MAX)
    for (int c0 = 0; c0 < OC; c0 += COLS) {
        int c1 = c0 + COLS < OC ? c0 + COLS : OC;
        for (int r = 0; r < N; r++) {
            const float *d = dout + (size_t)r * OC;
#pragma omp simd
            for (int i = c0; i < c1; i++)
                db[i] += d[i];
        }
    }
}

#define GELU_S 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_A 0.044715f

/* tanh(u) = 1 - 2 / (exp(2u) + 1) */
static inline float tanh_fast(float u) {
    return 1.0f - 2.0f / (kern_expf(2.0f * u) + 1.0f);
}

/* gelu(v): the exact erf form, or the tanh approximation ("gelu_new") */
static inline float gelu_exact(float v) {
    return 0.5f * v * (1.0f + erff(v * (float)M_SQRT1_2));
}
static inline float gelu_tanh(float v) {
    return 0.5f * v * (1.0f + tanh_fast(GELU_S * (v + GELU_A * v * v * v)));
}

void kern_gelu(float *out, const float *x, size_t n, int exact) {
    if (exact) {
#pragma omp parallel for schedule(static) if (n > KERN_SERIAL_MAX)
        for (size_t i = 0; i < n; i++)
            out[i] = gelu_exact(x[i]);
        return;
    }
    /* if (parallel: ...): a plain if on "parallel for simd" turns the simd
    ** off too, and small calls (generation steps) ran scalar, 5x slower */
#pragma omp parallel for simd schedule(static) if (parallel : n > KERN_SERIAL_MAX)
    for (size_t i = 0; i < n; i++)
        out[i] = gelu_tanh(x[i]);
}

void kern_gelu_block(float *x, size_t ldx, int rows, int cols, int exact) {
    for (int r = 0; r < rows; r++) {
        float *xr = x + (size_t)r * ldx;
        if (exact)
            for (int i = 0; i < cols; i++)
                xr[i] = gelu_exact(xr[i]);
        else
#pragma omp simd
            for (int i = 0; i < cols; i++)
                xr[i] = gelu_tanh(xr[i]);
    }
}

void kern_gelu_backward(float *d, const float *x, size_t n, int exact) {
    if (exact) {
#pragma omp parallel for schedule(static) if (n > KERN_SERIAL_MAX)
        for (size_t i = 0; i < n; i++) {
            float v = x[i];
            float cdf = 0.5f * (1.0f + erff(v * (float)M_SQRT1_2));
            float pdf = expf(-0.5f * v * v) * 0.3989422804014327f;
            d[i] *= cdf + v * pdf;
        }
        return;
    }
#pragma omp parallel for simd schedule(static) if (parallel : n > KERN_SERIAL_MAX)
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float th = tanh_fast(GELU_S * (v + GELU_A * v * v * v));
        float g = 0.5f * (1.0f + th) +
                  0.5f * v * (1.0f - th * th) * GELU_S * (1.0f + 3.0f * GELU_A * v * v);
        d[i] *= g;
    }
}

void kern_residual_dropout(float *out, const float *x, const float *y, const unsigned char *mask,
                           float p, size_t n) {
    const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for simd schedule(static) if (parallel : n > KERN_SERIAL_MAX)
    for (size_t i = 0; i < n; i++) {
        float v = mask ? (mask[i] ? y[i] * scale : 0.0f) : y[i];
        out[i] = (x ? x[i] : 0.0f) + v;
    }
}

void kern_dropout_backward(float *dst, const float *src, const unsigned char *mask, float p,
                           size_t n) {
    const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for simd schedule(static) if (parallel : n > KERN_SERIAL_MAX)
    for (size_t i = 0; i < n; i++)
        dst[i] = mask ? (mask[i] ? src[i] * scale : 0.0f) : src[i];
}

void kern_logsumexp(float *lse, const float *logits, int N, int V) {
#pragma omp parallel for schedule(static) if ((size_t)N * V > KERN_SERIAL_MAX)
    for (int r = 0; r < N; r++) {
        const float *l = logits + (size_t)r * V;
        float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
        for (int j = 0; j < V; j++)
            mx = l[j] > mx ? l[j] : mx;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int j = 0; j < V; j++)
            s += kern_expf(l[j] - mx);
        lse[r] = mx + logf(s);
    }
}

void kern_xent_backward(float *logits, const float *lse, const int32_t *target, int N, int V,
                        float scale) {
#pragma omp parallel for schedule(static) if ((size_t)N * V > KERN_SERIAL_MAX)
    for (int r = 0; r < N; r++) {
        float *l = logits + (size_t)r * V;
        if (target[r] < 0) {
            memset(l, 0, sizeof(float) * V);
            continue;
        }
        const float m = lse[r];
#pragma omp simd
        for (int j = 0; j < V; j++)
            l[j] = kern_expf(l[j] - m) * scale;
        l[target[r]] -= scale;
    }
}

void kern_softmax_rows(float *p, size_t ps, int nr, int n) {
    for (int r = 0; r < nr; r++) {
        float *x = p + (size_t)r * ps, mx = -INFINITY, sum = 0.0f;
#pragma omp simd reduction(max : mx)
        for (int s = 0; s < n; s++)
            mx = x[s] > mx ? x[s] : mx;
#pragma omp simd reduction(+ : sum)
        for (int s = 0; s < n; s++) {
            x[s] = kern_expf(x[s] - mx);
            sum += x[s];
        }
        const float inv = 1.0f / sum;
#pragma omp simd
        for (int s = 0; s < n; s++)
            x[s] *= inv;
    }
}

void kern_softmax_nll(float *logits, float *nll, const int32_t *target, int N, int V) {
#pragma omp parallel for schedule(static) if ((size_t)N * V > KERN_SERIAL_MAX)
    for (int r = 0; r < N; r++) {
        float *l = logits + (size_t)r * V;
        if (target[r] < 0) {
            memset(l, 0, sizeof(float) * V);
            nll[r] = 0.0f;
            continue;
        }
        float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
        for (int j = 0; j < V; j++)
            mx = l[j] > mx ? l[j] : mx;
        const float lt = l[target[r]];
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int j = 0; j < V; j++) {
            l[j] = kern_expf(l[j] - mx);
            s += l[j];
        }
        nll[r] = mx + logf(s) - lt;
        const float inv = 1.0f / s;
#pragma omp simd
        for (int j = 0; j < V; j++)
            l[j] *= inv;
    }
}

void kern_softmax_backward(float *probs, const int32_t *target, int N, int V, float scale) {
#pragma omp parallel for schedule(static) if ((size_t)N * V > KERN_SERIAL_MAX)
    for (int r = 0; r < N; r++) {
        if (target[r] < 0) continue; /* already zero */
        float *l = probs + (size_t)r * V;
#pragma omp simd
        for (int j = 0; j < V; j++)
            l[j] *= scale;
        l[target[r]] -= scale;
    }
}

/* ---------------------------------------------------------------------- */
/* Attention products, fp32 and bf16 (kern_bscores, kern_bwsum)          */

/* KERN_BATTN_* in use; 0 until the first call.  Atomic: the pool's
** threads may make the first call together. */
static _Atomic int battn_path;

int kern_battn_set_path(int which) {
    __builtin_cpu_init();
    int best = KERN_BATTN_PORTABLE;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = KERN_BATTN_AVX2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        best = KERN_BATTN_AVX512;
    battn_path = which == KERN_BATTN_AUTO || which > best ? best : which;
    return battn_path;
}

/* out[l] = element i + l of x as fp32 (bf16 widened when xb) for l < cnt,
** zero up to 16. */
static inline void bload_c(float *out, const void *x, int xb, size_t i, int cnt) {
    if (xb) {
        uint32_t u[16];
        for (int l = 0; l < 16; l++)
            u[l] = l < cnt ? (uint32_t)((const uint16_t *)x)[i + l] << 16 : 0;
        memcpy(out, u, sizeof u);
    } else
        for (int l = 0; l < 16; l++)
            out[l] = l < cnt ? ((const float *)x)[i + l] : 0.0f;
}

/* The portable kern_bscores: 16 lanes written out (see kernels.h). */
static void bscores_c(float *p, size_t ps, const float *q, const void *k, int kb, size_t ld, int nk,
                      int nh, int n, float scale) {
    for (int s = 0; s < nk; s++)
        for (int h = 0; h < nh; h++) {
            float a[16] = {0}, qq[16], kk[16];
            for (int i0 = 0; i0 < n; i0 += 16) {
                bload_c(qq, q, 0, (size_t)h * n + i0, n - i0);
                bload_c(kk, k, kb, s * ld + (size_t)h * n + i0, n - i0);
                for (int l = 0; l < 16; l++)
                    a[l] = fmaf(qq[l], kk[l], a[l]);
            }
            for (int w = 8; w; w >>= 1)
                for (int l = 0; l < w; l++)
                    a[l] = a[l] + a[l + w];
            p[h * ps + s] = a[0] * scale;
        }
}

/* The portable kern_bwsum: the same chains, key by key. */
static void bwsum_c(float *o, const float *w, size_t ws, const void *v, int vb, size_t ld, int nk,
                    int nh, int n) {
    memset(o, 0, sizeof(float) * nh * n);
    for (int s = 0; s < nk; s++)
        for (int h = 0; h < nh; h++)
            for (int i0 = 0; i0 < n; i0 += 16) {
                float vv[16];
                const int cnt = n - i0 < 16 ? n - i0 : 16;
                bload_c(vv, v, vb, s * ld + (size_t)h * n + i0, cnt);
                float *oo = o + h * n + i0;
                for (int l = 0; l < cnt; l++)
                    oo[l] = fmaf(w[h * ws + s], vv[l], oo[l]);
            }
}

#define KB_512 __attribute__((target("avx512f,avx512bw,avx512vl")))

/* 16 elements of x from element i (mask m: the rest zero), as fp32; the
** full chunks by plain loads (a masked 16-bit load stalled the widening:
** half the speed). */
KB_512 static inline __m512 bload16(const void *x, int xb, size_t i, __mmask16 m) {
    if (!xb)
        return m == 0xFFFF ? _mm512_loadu_ps((const float *)x + i)
                           : _mm512_maskz_loadu_ps(m, (const float *)x + i);
    const __m256i h = m == 0xFFFF ? _mm256_loadu_si256((const __m256i *)((const uint16_t *)x + i))
                                  : _mm256_maskz_loadu_epi16(m, (const uint16_t *)x + i);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* Mask of the first n (<= 16) lanes. */
static inline __mmask16 lanes(int n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

/* kern_bscores on AVX-512: a register is the 16 lanes. */
KB_512 static void bscores_512(float *p, size_t ps, const float *q, const void *k, int kb,
                               size_t ld, int nk, int nh, int n, float scale) {
    for (int s = 0; s < nk; s++) /* key rows in order: one stream, prefetched */
        for (int h = 0; h < nh; h++) {
            const size_t at = s * ld + (size_t)h * n;
            __m512 a = _mm512_setzero_ps();
            for (int i0 = 0; i0 < n; i0 += 16) {
                const __mmask16 m = lanes(n - i0);
                a = _mm512_fmadd_ps(bload16(q, 0, (size_t)h * n + i0, m),
                                    bload16(k, kb, at + i0, m), a);
            }
            /* lanes l + l^8, then l^4, l^2, l^1: bscores_c's halves */
            a = _mm512_add_ps(a, _mm512_shuffle_f32x4(a, a, _MM_SHUFFLE(1, 0, 3, 2)));
            a = _mm512_add_ps(a, _mm512_shuffle_f32x4(a, a, _MM_SHUFFLE(2, 3, 0, 1)));
            a = _mm512_add_ps(a, _mm512_permute_ps(a, _MM_SHUFFLE(1, 0, 3, 2)));
            a = _mm512_add_ps(a, _mm512_permute_ps(a, _MM_SHUFFLE(2, 3, 0, 1)));
            p[h * ps + s] = _mm512_cvtss_f32(a) * scale;
        }
}

/* kern_bwsum on AVX-512: key by key, each head's outputs in o (in L1),
** 16 at a time. */
KB_512 static void bwsum_512(float *o, const float *w, size_t ws, const void *v, int vb, size_t ld,
                             int nk, int nh, int n) {
    memset(o, 0, sizeof(float) * nh * n);
    for (int s = 0; s < nk; s++)
        for (int h = 0; h < nh; h++) {
            const __m512 wv = _mm512_set1_ps(w[h * ws + s]);
            const size_t at = s * ld + (size_t)h * n;
            for (int i0 = 0; i0 < n; i0 += 16) {
                const __mmask16 m = lanes(n - i0);
                float *oo = o + h * n + i0;
                const __m512 r =
                    _mm512_fmadd_ps(wv, bload16(v, vb, at + i0, m), bload16(oo, 0, 0, m));
                if (m == 0xFFFF)
                    _mm512_storeu_ps(oo, r);
                else
                    _mm512_mask_storeu_ps(oo, m, r);
            }
        }
}

#define KB_AVX2 __attribute__((target("avx2,fma")))

/* The 16 lanes as two AVX2 registers: elements i .. i+15 of x as fp32
** (cnt < 16: the rest zero, through bload_c). */
KB_AVX2 static inline void bload8x2(__m256 *lo, __m256 *hi, const void *x, int xb, size_t i,
                                    int cnt) {
    if (cnt < 16) {
        float t[16];
        bload_c(t, x, xb, i, cnt);
        *lo = _mm256_loadu_ps(t);
        *hi = _mm256_loadu_ps(t + 8);
    } else if (xb) {
        const __m256i u = _mm256_loadu_si256((const __m256i *)((const uint16_t *)x + i));
        *lo = _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm256_castsi256_si128(u)), 16));
        *hi = _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm256_extracti128_si256(u, 1)), 16));
    } else {
        *lo = _mm256_loadu_ps((const float *)x + i);
        *hi = _mm256_loadu_ps((const float *)x + i + 8);
    }
}

/* kern_bscores on AVX2: lanes 0-7 and 8-15 in two registers. */
KB_AVX2 static void bscores_avx2(float *p, size_t ps, const float *q, const void *k, int kb,
                                 size_t ld, int nk, int nh, int n, float scale) {
    for (int s = 0; s < nk; s++)
        for (int h = 0; h < nh; h++) {
            const size_t at = s * ld + (size_t)h * n;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, q0, q1, k0, k1;
            for (int i0 = 0; i0 < n; i0 += 16) {
                bload8x2(&q0, &q1, q, 0, (size_t)h * n + i0, n - i0);
                bload8x2(&k0, &k1, k, kb, at + i0, n - i0);
                a0 = _mm256_fmadd_ps(q0, k0, a0);
                a1 = _mm256_fmadd_ps(q1, k1, a1);
            }
            /* lanes l + (l+8), + (l+4), + (l+2), + (l+1): bscores_c's halves */
            const __m256 t = _mm256_add_ps(a0, a1);
            __m128 x = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
            x = _mm_add_ps(x, _mm_movehl_ps(x, x));
            x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
            p[h * ps + s] = _mm_cvtss_f32(x) * scale;
        }
}

/* kern_bwsum on AVX2: 16 outputs at a time, the tail in scalar fmaf. */
KB_AVX2 static void bwsum_avx2(float *o, const float *w, size_t ws, const void *v, int vb,
                               size_t ld, int nk, int nh, int n) {
    memset(o, 0, sizeof(float) * nh * n);
    for (int s = 0; s < nk; s++)
        for (int h = 0; h < nh; h++) {
            const __m256 wv = _mm256_set1_ps(w[h * ws + s]);
            const size_t at = s * ld + (size_t)h * n;
            int i0 = 0;
            for (; i0 + 16 <= n; i0 += 16) {
                __m256 v0, v1;
                float *oo = o + h * n + i0;
                bload8x2(&v0, &v1, v, vb, at + i0, 16);
                _mm256_storeu_ps(oo, _mm256_fmadd_ps(wv, v0, _mm256_loadu_ps(oo)));
                _mm256_storeu_ps(oo + 8, _mm256_fmadd_ps(wv, v1, _mm256_loadu_ps(oo + 8)));
            }
            if (i0 < n) {
                float t[16];
                bload_c(t, v, vb, at + i0, n - i0);
                for (int l = 0; l < n - i0; l++)
                    o[h * n + i0 + l] = fmaf(w[h * ws + s], t[l], o[h * n + i0 + l]);
            }
        }
}

void kern_bscores(float *p, size_t ps, const float *q, const void *k, int kb, size_t ld, int nk,
                  int nh, int n, float scale) {
    if (!battn_path) kern_battn_set_path(KERN_BATTN_AUTO);
    if (battn_path == KERN_BATTN_AVX512)
        bscores_512(p, ps, q, k, kb, ld, nk, nh, n, scale);
    else if (battn_path == KERN_BATTN_AVX2)
        bscores_avx2(p, ps, q, k, kb, ld, nk, nh, n, scale);
    else
        bscores_c(p, ps, q, k, kb, ld, nk, nh, n, scale);
}

void kern_bwsum(float *o, const float *w, size_t ws, const void *v, int vb, size_t ld, int nk,
                int nh, int n) {
    if (!battn_path) kern_battn_set_path(KERN_BATTN_AUTO);
    if (battn_path == KERN_BATTN_AVX512)
        bwsum_512(o, w, ws, v, vb, ld, nk, nh, n);
    else if (battn_path == KERN_BATTN_AVX2)
        bwsum_avx2(o, w, ws, v, vb, ld, nk, nh, n);
    else
        bwsum_c(o, w, ws, v, vb, ld, nk, nh, n);
}
