/*
** Row-wise and elementwise kernels of the GPT-2 forward and backward
** (LayerNorm, linear layers over matmul.h, GELU, dropout, softmax /
** cross-entropy).  Rows are split across OpenMP threads; each row or
** column is reduced by one thread in a fixed order, so results do not
** depend on the thread count.
*/
#ifndef QUILL_KERNELS_H
#define QUILL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Below this many elements a loop runs on the calling thread: waking the
** others would cost more (generation steps on a single token). */
#define KERN_SERIAL_MAX 32768

/* sum_i a[i]*b[i] and y += alpha*x over n floats; inline, since the
** attention backward calls them per key on a head's few dozen floats (the
** forward uses kern_bscores and kern_bwsum). */
static inline float kern_dot(const float *a, const float *b, int n) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static inline void kern_axpy(float *y, float alpha, const float *x, int n) {
#pragma omp simd
    for (int i = 0; i < n; i++)
        y[i] += alpha * x[i];
}

/* out[N,C] = LayerNorm(x) * w + b; mean/rstd [N] saved for the backward. */
void kern_layernorm(float *out, float *mean, float *rstd, const float *x, const float *w,
                    const float *b, int N, int C, float eps);

/* dx[N,C] += d LayerNorm input; dw, db [C] += (each column summed over rows
** in order). */
void kern_layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                             const float *w, const float *mean, const float *rstd, int N, int C);

/* mm_sgemm (core/matmul.h), or with bf16 set mm_bgemm (core/mm_bf16.h:
** the operands rounded to bfloat16, products accumulated in fp32), same
** arguments: mixed-precision training's matrix products. */
void kern_matmul(int bf16, int M, int N, int K, const float *A, int lda, int ta, const float *B,
                 int ldb, int tb, float *C, int ldc, int acc);

/* out[N,OC] = inp[N,IC] @ w[IC,OC] + b[OC] (the product by kern_matmul) */
void kern_linear(float *out, const float *inp, const float *w, const float *b, int N, int IC,
                 int OC, int bf16);

/* dinp[N,IC] = dout @ w^T and dw[IC,OC] = inp^T @ dout (both
** overwritten); db[OC] += column sums of dout (in fp32).  Products by
** kern_matmul. */
void kern_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                          const float *w, int N, int IC, int OC, int bf16);

/* x[i] = x[i] rounded to bfloat16 (mm_bround), kept as fp32, over n floats:
** what a bf16 product would read, for products done outside kern_matmul
** (attention). */
void kern_round_bf16(float *x, size_t n);

/* x rounded to bfloat16, as an fp32. */
float kern_bf16(float x);

/* The attention products over nh heads of n elements, fp32 and bf16
** attention's.  The keys k and values v are bfloat16 (uint16) when kb / vb
** is set, else fp32 (any values: fp32 attention; or bf16 values, the same
** numbers as the uint16); head h of row s starts at element s*ld + h*n.
** The queries q ([nh][n]) and weights w (head h's at w + h*ws) are fp32
** (bf16 values in bf16 attention).
** kern_bscores: p[h*ps + s] = scale * (q_h . k_{s,h}) for s < nk, each dot
** in 16 lanes (lane l sums the i = l mod 16, zero-padded to a multiple of
** 16, by fused multiply-adds, i ascending), the lanes then summed by
** halves: l + (l+8), l + (l+4), l + (l+2), l + (l+1).
** kern_bwsum: o[h*n + i] = sum over s ascending of w_h[s] * v_{s,h}[i],
** fused multiply-adds from 0.
** Both read the rows in order (one stream) and run on AVX-512 or AVX2 when
** the CPU has it, else in portable C, with the same bits on every path. */
void kern_bscores(float *p, size_t ps, const float *q, const void *k, int kb, size_t ld, int nk,
                  int nh, int n, float scale);
void kern_bwsum(float *o, const float *w, size_t ws, const void *v, int vb, size_t ld, int nk,
                int nh, int n);

/* The path kern_bscores and kern_bwsum take (for tests and benchmarks):
** AUTO picks the best the CPU has (AVX-512F/BW/VL, else AVX2 with FMA,
** else portable); a path the CPU lacks falls back to the best below it.
** Returns the path set. */
enum { KERN_BATTN_AUTO, KERN_BATTN_PORTABLE, KERN_BATTN_AVX2, KERN_BATTN_AVX512 };
int kern_battn_set_path(int which);

/* out = gelu(x) over n floats: tanh approximation ("gelu_new"), or the exact
** erf form when exact is set.  kern_gelu_backward: d *= gelu'(x). */
void kern_gelu(float *out, const float *x, size_t n, int exact);
void kern_gelu_backward(float *d, const float *x, size_t n, int exact);

/* x = gelu(x) in place over rows x cols floats (row stride ldx), on the
** calling thread: a product's epilogue on one block of its output (no
** OpenMP region per call).  The same values as kern_gelu. */
void kern_gelu_block(float *x, size_t ldx, int rows, int cols, int exact);

/* out = (x ? x : 0) + dropout(y): y[i] / (1-p) where mask[i], 0 where not;
** mask NULL means no dropout.  out may alias x or y. */
void kern_residual_dropout(float *out, const float *x, const float *y, const unsigned char *mask,
                           float p, size_t n);

/* dst = d(dropout)/d input applied to src (mask NULL: copy). */
void kern_dropout_backward(float *dst, const float *src, const unsigned char *mask, float p,
                           size_t n);

/* lse[r] = log(sum_j exp(logits[r][j])) for N rows of V. */
void kern_logsumexp(float *lse, const float *logits, int N, int V);

/* In place: logits[r] = (softmax(logits[r]) - onehot(target[r])) * scale
** where target[r] >= 0, and zero where target[r] < 0. */
void kern_xent_backward(float *logits, const float *lse, const int32_t *target, int N, int V,
                        float scale);

/* Training's cross-entropy in one exp pass, in place: rows with
** target[r] >= 0 become softmax(logits[r]) and nll[r] = -log softmax at the
** target; other rows become zero (nll 0). */
void kern_softmax_nll(float *logits, float *nll, const int32_t *target, int N, int V);

/* In place, on the calling thread: each of the nr rows of n floats (row to
** row ps apart) becomes its softmax, by kern_softmax_nll's exp (a
** vectorised polynomial, not libm's): attention's scores, a few dozen a
** head. */
void kern_softmax_rows(float *p, size_t ps, int nr, int n);

/* In place after kern_softmax_nll: probs[r] = (probs[r] - onehot(target[r]))
** * scale for the scored rows (the others stay zero). */
void kern_softmax_backward(float *probs, const int32_t *target, int N, int V, float scale);

#endif
