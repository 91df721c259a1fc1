/*
** Blocked, packed single-precision GEMM (see matmul.h).
**
** One operand is packed once per call (in blocks if huge) and shared by all
** threads, the other is packed per thread, one tile and KC slice at a time.
** Usually op(A) is shared, in MR-row micro-panels, and threads take column
** tiles of C; for tall products (M >= 4N) op(B) is shared, in NR-column
** micro-panels, and threads take row tiles.  Either way the micro-kernel
** runs an MR x NR block over a B micro-panel (KC x NR) while the A
** micro-panels stream past it.  Slices are deep (the B micro-panel lives in
** L2, not L1): measured on the training step's shapes, KC 512 beat 128 by
** about 5%, with fewer passes over C and less packing per flop.  It
** accumulates in registers starting from C (or
** zero on the first slice when not accumulating), one fused multiply-add
** per k in order, so the order of additions for each element depends only
** on K.
*/
#include "matmul.h"

#include "err.h"
#include "mem.h"
#include "pool.h"

#include <assert.h>
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef MC
#define MC 256
#endif
#ifndef NC
#define NC 512
#endif
#ifndef KC
#define KC 512
#endif
#define MAXR 8   /* largest MR of any kernel */
#define MAXNR 48 /* largest NR of any kernel */

/* Products of fewer multiply-adds than this run on one thread: waking the
** others costs more than it saves. */
#define MM_PAR_FLOPS 2e5

/* kc steps of an mr x nr block: c[i*ldc+j] = (load ? c : 0) + sum_k a[k*mr+i]*b[k*nr+j] */
typedef void (*mm_kernel_fn)(int kc, const float *a, const float *b, float *c, int ldc, int load);

typedef struct mm_kernel {
    const char *name;
    int mr, nr;
    mm_kernel_fn fn;
} mm_kernel;

/* Portable: plain loops the compiler vectorises for whatever -march it has. */
static void kernel_portable(int kc, const float *a, const float *b, float *c, int ldc, int load) {
    float acc[4][16];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 16; j++)
            acc[i][j] = load ? c[i * ldc + j] : 0.0f;
    for (int k = 0; k < kc; k++)
        _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++)
#pragma omp simd
            for (int j = 0; j < 16; j++) acc[i][j] = fmaf(a[k * 4 + i], b[k * 16 + j], acc[i][j]);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 16; j++)
            c[i * ldc + j] = acc[i][j];
}

/* AVX2 + FMA: 6 rows x 16 columns, 12 ymm accumulators. */
__attribute__((target("avx2,fma"))) static void kernel_avx2(int kc, const float *a, const float *b,
                                                            float *c, int ldc, int load) {
    __m256 acc[6][2];
    _Pragma("GCC unroll 8") for (int i = 0; i < 6; i++)
        _Pragma("GCC unroll 8") for (int j = 0; j < 2; j++) acc[i][j] =
            load ? _mm256_loadu_ps(c + i * ldc + 8 * j) : _mm256_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(b + k * 16), b1 = _mm256_loadu_ps(b + k * 16 + 8);
        _Pragma("GCC unroll 8") for (int i = 0; i < 6; i++) {
            __m256 ai = _mm256_broadcast_ss(a + k * 6 + i);
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
    }
    _Pragma("GCC unroll 8") for (int i = 0; i < 6; i++)
        _Pragma("GCC unroll 8") for (int j = 0; j < 2; j++)
            _mm256_storeu_ps(c + i * ldc + 8 * j, acc[i][j]);
}

/* AVX-512: 8 rows x 48 columns, 24 of the 32 zmm registers accumulate. */
__attribute__((target("avx512f"))) static void kernel_avx512(int kc, const float *a, const float *b,
                                                             float *c, int ldc, int load) {
    __m512 acc[8][3];
    _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++)
        _Pragma("GCC unroll 3") for (int j = 0; j < 3; j++) acc[i][j] =
            load ? _mm512_loadu_ps(c + i * ldc + 16 * j) : _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(b + k * 48), b1 = _mm512_loadu_ps(b + k * 48 + 16),
               b2 = _mm512_loadu_ps(b + k * 48 + 32);
        _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) {
            __m512 ai = _mm512_set1_ps(a[k * 8 + i]);
            acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
            acc[i][2] = _mm512_fmadd_ps(ai, b2, acc[i][2]);
        }
    }
    _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++)
        _Pragma("GCC unroll 3") for (int j = 0; j < 3; j++)
            _mm512_storeu_ps(c + i * ldc + 16 * j, acc[i][j]);
}

static const mm_kernel kernels[] = {
    [MM_PORTABLE] = {"portable", 4, 16, kernel_portable},
    [MM_AVX2] = {"avx2", 6, 16, kernel_avx2},
    [MM_AVX512] = {"avx512", 8, 48, kernel_avx512},
};
static int active; /* 0 until first use */

static int best_supported(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return MM_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return MM_AVX2;
    return MM_PORTABLE;
}

int mm_set_kernel(int which) {
    int best = best_supported();
    active = (which == MM_AUTO || which > best) ? best : which;
    return active;
}

const char *mm_kernel_name(void) {
    if (!active) mm_set_kernel(MM_AUTO);
    return kernels[active].name;
}

/* dst[k*ldd + i] = src[i*lds + k] for 8 rows i and k < len, in 8 x 8
** blocks through AVX registers. */
__attribute__((target("avx2"))) static void transpose_rows8(const float *src, size_t lds, int len,
                                                            float *dst, int ldd) {
    int k = 0;
    for (; k + 8 <= len; k += 8) {
        __m256 r[8], t[8];
        for (int i = 0; i < 8; i++)
            r[i] = _mm256_loadu_ps(src + i * lds + k);
        for (int i = 0; i < 8; i += 2) {
            t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
            t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
        }
        for (int i = 0; i < 8; i += 4) {
            r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
            r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
            r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
            r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
        }
        for (int i = 0; i < 4; i++) {
            _mm256_storeu_ps(dst + (size_t)(k + i) * ldd,
                             _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
            _mm256_storeu_ps(dst + (size_t)(k + i + 4) * ldd,
                             _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
        }
    }
    for (; k < len; k++)
        for (int i = 0; i < 8; i++)
            dst[(size_t)k * ldd + i] = src[i * lds + k];
}

/* Pack a KC slice of an operand into micro-panels w wide: panel element
** [k][j] (k < kc, j < n, zero-padded to whole panels) is X[k0+k][j0+j] when
** the operand lies k-major in X (contiguous: op(A) with ta, op(B) without
** tb), else X[j0+j][k0+k] (a transpose, 8 x 8 blocks at a time). */
static void pack_panels(const float *X, int ldx, int contiguous, int k0, int kc, int j0, int n,
                        int w, float *dst) {
    for (int s = 0; s < n; s += w) {
        float *p = dst + (size_t)s * kc;
        const int cols = n - s < w ? n - s : w;
        if (contiguous && cols == 8) {
            /* a constant size is copied inline: a call per 32 bytes is not */
            for (int k = 0; k < kc; k++)
                memcpy(p + k * w, X + (size_t)(k0 + k) * ldx + j0 + s, sizeof(float) * 8);
        } else if (contiguous) {
            for (int k = 0; k < kc; k++)
                memcpy(p + k * w, X + (size_t)(k0 + k) * ldx + j0 + s, sizeof(float) * cols);
        } else {
            const float *src = X + (size_t)(j0 + s) * ldx + k0;
            int j = 0;
            if (active >= MM_AVX2)
                for (; j + 8 <= cols; j += 8)
                    transpose_rows8(src + (size_t)j * ldx, ldx, kc, p + j, w);
            for (; j < cols; j++)
                for (int k = 0; k < kc; k++)
                    p[k * w + j] = src[(size_t)j * ldx + k];
        }
        for (int k = 0; k < kc; k++)
            for (int j = cols; j < w; j++)
                p[k * w + j] = 0.0f;
    }
}

/* Rows [i0, i0+mc) x cols [k0, k0+kc) of op(A) into mr-row panels. */
static void pack_a(const float *A, int lda, int ta, int i0, int mc, int k0, int kc, int mr,
                   float *pa) {
    pack_panels(A, lda, ta, k0, kc, i0, mc, mr, pa);
}

/* Rows [k0, k0+kc) x cols [j0, j0+nc) of op(B) into nr-column panels. */
static void pack_b(const float *B, int ldb, int tb, int k0, int kc, int j0, int nc, int nr,
                   float *pb) {
    pack_panels(B, ldb, !tb, k0, kc, j0, nc, nr, pb);
}

/* A growing buffer owned by the calling thread (mm_sgemm may run in several
** user threads at once); kept between calls to avoid page faults. */
static float *grow(float **buf, size_t *cap, size_t n) {
    if (n > *cap) {
        free(*buf);
        *buf = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
        *cap = *buf ? n : 0;
    }
    return *buf;
}

/* Rows of A packed at once: all of them unless that is more than this many
** floats (the packed A slice is shared by every thread). */
static size_t a_pack_max = (size_t)32 << 20;

void mm_set_pack_limit(size_t floats) {
    a_pack_max = floats ? floats : (size_t)32 << 20;
}

/* ---------------------------------------------------------------------- */
/* Few rows: streaming matrix-vector products (token-by-token generation)  */

/* With few rows of A, packing B would cost as much as the product: B is
** read once, in place, for all rows at once.  The output is cut into fixed
** chunks of GV_COLS columns (tasks); each element is computed by one task
** in an order that depends only on K, so results do not depend on the
** thread count.  B is fp32 or bf16 (widened to fp32 on load: a bf16 is
** the top half of an fp32). */
#define GV_COLS 128 /* output columns per task */
#define GV_ROWS 8   /* rows of A per register tile */
#define GV_PF 96    /* rows of B prefetched ahead (op(B) = B) */
/* fp32 rows of B prefetched ahead (op(B) = B^T; bf16: twice as many),
** into L2: prefetching into L1 (T0) made the lm_head a third slower */
#define GV_TPF 8

typedef struct gv_args {
    int M, N, K, lda, ldb, tb, bf16, ldc, acc;
    const float *A;
    const void *B;
    float *C;
} gv_args;

static inline float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline float gv_b(const gv_args *g, size_t idx) {
    return g->bf16 ? bf16_to_f32(((const uint16_t *)g->B)[idx]) : ((const float *)g->B)[idx];
}

/* Portable task: columns [j0, j0+nc) of every row. */
static void gv_task_portable(const gv_args *g, int j0, int nc) {
    for (int i0 = 0; i0 < g->M; i0 += GV_ROWS) {
        const int mb = g->M - i0 < GV_ROWS ? g->M - i0 : GV_ROWS;
        float t[GV_ROWS][GV_COLS];
        for (int i = 0; i < mb; i++)
            for (int j = 0; j < nc; j++)
                t[i][j] = g->acc ? g->C[(size_t)(i0 + i) * g->ldc + j0 + j] : 0.0f;
        if (!g->tb) {
            for (int k = 0; k < g->K; k++) {
                float b[GV_COLS];
                for (int j = 0; j < nc; j++)
                    b[j] = gv_b(g, (size_t)k * g->ldb + j0 + j);
                for (int i = 0; i < mb; i++) {
                    const float a = g->A[(size_t)(i0 + i) * g->lda + k];
#pragma omp simd
                    for (int j = 0; j < nc; j++)
                        t[i][j] = fmaf(a, b[j], t[i][j]);
                }
            }
        } else {
            for (int j = 0; j < nc; j++)
                for (int i = 0; i < mb; i++) {
                    const float *a = g->A + (size_t)(i0 + i) * g->lda;
                    const size_t row = (size_t)(j0 + j) * g->ldb;
                    float s = 0.0f;
                    if (g->bf16) {
                        const uint16_t *b = (const uint16_t *)g->B + row;
#pragma omp simd reduction(+ : s)
                        for (int k = 0; k < g->K; k++)
                            s += a[k] * bf16_to_f32(b[k]);
                    } else {
                        const float *b = (const float *)g->B + row;
#pragma omp simd reduction(+ : s)
                        for (int k = 0; k < g->K; k++)
                            s += a[k] * b[k];
                    }
                    t[i][j] += s;
                }
        }
        for (int i = 0; i < mb; i++)
            memcpy(g->C + (size_t)(i0 + i) * g->ldc + j0, t[i], sizeof(float) * nc);
    }
}

/* AVX-512, op(B) = B: an MB x 16*NZ tile of C over rows [k0, k1) of B
** (accumulating into C after the first block), one k-ascending chain of
** fused multiply-adds per element (fp32 or bf16: BF16, MB and NZ are
** constants once inlined). */
#define GV_AVX512 __attribute__((always_inline, target("avx512f"))) static inline
GV_AVX512 __m512 gv_load512(const void *p, const int bf16) {
    if (!bf16) return _mm512_loadu_ps(p);
    __m256i h = _mm256_loadu_si256(p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

GV_AVX512 void gv_n512(const gv_args *g, int i0, const int MB, const int BF16, int j0, const int NZ,
                       int k0, int k1) {
    const size_t es = BF16 ? 2 : 4, rowb = (size_t)g->ldb * es;
    const char *b = (const char *)g->B + (size_t)k0 * rowb + (size_t)j0 * es;
    const float *A = g->A + (size_t)i0 * g->lda;
    float *C = g->C + (size_t)i0 * g->ldc + j0;
    const int load = g->acc || k0 > 0;
    __m512 acc[GV_ROWS][8];
    _Pragma("GCC unroll 8") for (int i = 0; i < MB; i++)
        _Pragma("GCC unroll 8") for (int h = 0; h < NZ; h++) acc[i][h] =
            load ? _mm512_loadu_ps(C + (size_t)i * g->ldc + 16 * h) : _mm512_setzero_ps();
    for (int k = k0; k < k1; k++, b += rowb) {
        if (k + GV_PF < g->K)
            _Pragma("GCC unroll 8") for (int l = 0; l < (int)(NZ * 16 * es / 64); l++)
                _mm_prefetch(b + GV_PF * rowb + 64 * l, _MM_HINT_T1);
        __m512 bz[8];
        _Pragma("GCC unroll 8") for (int h = 0; h < NZ; h++) bz[h] =
            gv_load512(b + 16 * h * es, BF16);
        _Pragma("GCC unroll 8") for (int i = 0; i < MB; i++) {
            const __m512 ai = _mm512_set1_ps(A[(size_t)i * g->lda + k]);
            _Pragma("GCC unroll 8") for (int h = 0; h < NZ; h++) acc[i][h] =
                _mm512_fmadd_ps(ai, bz[h], acc[i][h]);
        }
    }
    _Pragma("GCC unroll 8") for (int i = 0; i < MB; i++)
        _Pragma("GCC unroll 8") for (int h = 0; h < NZ; h++)
            _mm512_storeu_ps(C + (size_t)i * g->ldc + 16 * h, acc[i][h]);
}

/* AVX-512, op(B) = B^T (rows of B are contiguous: the lm_head over wte):
** MB rows of A against NJ rows of B at a time (more rows in flight for
** few rows of A), vectorised along k (a fixed 16-lane split and tree
** reduction, then the k tail in order: the same for any MB or NJ). */
GV_AVX512 void gv_t512_nj(const gv_args *g, int i0, const int MB, const int BF16, int j0, int nc,
                          const int NJ) {
    const size_t es = BF16 ? 2 : 4;
    const int K = g->K, kv = K / 16 * 16;
    const float *A = g->A + (size_t)i0 * g->lda;
    float *C = g->C + (size_t)i0 * g->ldc;
    const size_t ahead = (size_t)GV_TPF * (BF16 ? 2 : 1) * g->ldb * es; /* a hint: never faults */
    for (int j = j0; j < j0 + nc; j += NJ) {
        const char *b[4];
        int col[4];
        _Pragma("GCC unroll 4") for (int q = 0; q < NJ; q++) {
            col[q] = j + q < j0 + nc ? j + q : j0 + nc - 1; /* past the end: the last again */
            b[q] = (const char *)g->B + (size_t)col[q] * g->ldb * es;
        }
        __m512 acc[GV_ROWS][4];
        _Pragma("GCC unroll 8") for (int i = 0; i < MB; i++)
            _Pragma("GCC unroll 4") for (int q = 0; q < NJ; q++) acc[i][q] = _mm512_setzero_ps();
        for (int k = 0; k < kv; k += 16) {
            __m512 w[4];
            _Pragma("GCC unroll 4") for (int q = 0; q < NJ; q++) {
                if (!BF16 || !(k & 16)) _mm_prefetch(b[q] + ahead + k * es, _MM_HINT_T1);
                w[q] = gv_load512(b[q] + k * es, BF16);
            }
            _Pragma("GCC unroll 8") for (int i = 0; i < MB; i++) {
                const __m512 a = _mm512_loadu_ps(A + (size_t)i * g->lda + k);
                _Pragma("GCC unroll 4") for (int q = 0; q < NJ; q++) acc[i][q] =
                    _mm512_fmadd_ps(a, w[q], acc[i][q]);
            }
        }
        _Pragma("GCC unroll 8") for (int i = 0; i < MB; i++) {
            float *c = C + (size_t)i * g->ldc;
            _Pragma("GCC unroll 4") for (int q = 0; q < NJ; q++) {
                if (q && col[q] == col[q - 1]) break;
                float s = _mm512_reduce_add_ps(acc[i][q]);
                for (int k = kv; k < K; k++)
                    s += A[(size_t)i * g->lda + k] * gv_b(g, (size_t)col[q] * g->ldb + k);
                c[col[q]] = g->acc ? c[col[q]] + s : s;
            }
        }
    }
}

/* Four rows of B at a time for up to four rows of A (measured 15% faster
** at one row, bf16), two for more (the accumulators would not fit). */
GV_AVX512 void gv_t512(const gv_args *g, int i0, const int MB, const int BF16, int j0, int nc) {
    if (MB <= 4)
        gv_t512_nj(g, i0, MB, BF16, j0, nc, 4);
    else
        gv_t512_nj(g, i0, MB, BF16, j0, nc, 2);
}

/* The last columns [j, j+nc) (nc <= 16) of rows [i0, i0+mb), op(B) = B:
** one vector per row through a zero-padded copy of the B row piece, with
** the same k-ascending chain of fused multiply-adds as the full strips
** (and as mm_sgemm), so no column rounds differently. */
__attribute__((target("avx512f"))) static void gv_tail512(const gv_args *g, int i0, int mb, int j,
                                                          int nc) {
    const __mmask16 mask = (__mmask16)((1u << nc) - 1);
    for (int i = 0; i < mb; i++) {
        const float *a = g->A + (size_t)(i0 + i) * g->lda;
        float *c = g->C + (size_t)(i0 + i) * g->ldc + j;
        __m512 acc = g->acc ? _mm512_maskz_loadu_ps(mask, c) : _mm512_setzero_ps();
        for (int k = 0; k < g->K; k++) {
            float w[16] = {0};
            for (int l = 0; l < nc; l++)
                w[l] = gv_b(g, (size_t)k * g->ldb + j + l);
            acc = _mm512_fmadd_ps(_mm512_set1_ps(a[k]), _mm512_loadu_ps(w), acc);
        }
        _mm512_mask_storeu_ps(c, mask, acc);
    }
}

/* F(m) with the constant m equal to mb (1 <= mb <= G <= 8, G a constant
** once inlined): the kernels want their row count at compile time, and no
** case above G is compiled. */
#define GV_ROWS_CONST(mb, G, F)                                                                    \
    do {                                                                                           \
        if ((mb) == (G))                                                                           \
            F(G);                                                                                  \
        else if ((mb) == 1)                                                                        \
            F(1);                                                                                  \
        else if ((G) > 2 && (mb) == 2)                                                             \
            F(2);                                                                                  \
        else if ((G) > 3 && (mb) == 3)                                                             \
            F(3);                                                                                  \
        else if ((G) > 4 && (mb) == 4)                                                             \
            F(4);                                                                                  \
        else if ((G) > 5 && (mb) == 5)                                                             \
            F(5);                                                                                  \
        else if ((G) > 6 && (mb) == 6)                                                             \
            F(6);                                                                                  \
        else if ((G) > 7 && (mb) == 7)                                                             \
            F(7);                                                                                  \
    } while (0)

/* Every row of A over columns [j, j+w) of C (w a multiple of 16*NZ), op(B)
** = B: for each block of GV_KB rows of B and each strip 16*NZ wide, the
** rows in groups of G (constants once inlined), so the block comes from
** memory once and from L1 for the other groups.  Partial sums wait in C:
** each element is still one k-ascending chain. */
#define GV_KB 64
GV_AVX512 void gv_rows_n512(const gv_args *g, int j, int w, const int NZ, const int G,
                            const int BF16) {
    for (int k0 = 0; w && k0 < g->K; k0 += GV_KB) {
        const int k1 = k0 + GV_KB < g->K ? k0 + GV_KB : g->K;
        for (int s = j; s < j + w; s += 16 * NZ)
            for (int i0 = 0; i0 < g->M; i0 += G) {
                const int mb = g->M - i0 < G ? g->M - i0 : G;
#define GV_N(m) gv_n512(g, i0, m, BF16, s, NZ, k0, k1)
                GV_ROWS_CONST(mb, G, GV_N);
#undef GV_N
            }
    }
}

/* Columns [j0, j0+nc) of every row, op(B) = B: strips as wide as the
** registers allow (128 columns for one or two rows, 64 for groups of
** four), then 32-column strips, then the last few columns. */
GV_AVX512 void gv_cols_n512(const gv_args *g, int j0, int nc, const int BF16) {
    int j = j0, w;
    if (g->M <= 2) {
        w = nc / 128 * 128;
        gv_rows_n512(g, j, w, 8, 2, BF16);
    } else {
        w = nc / 64 * 64;
        gv_rows_n512(g, j, w, 4, 4, BF16);
    }
    j += w;
    w = (j0 + nc - j) / 32 * 32;
    gv_rows_n512(g, j, w, 2, 8, BF16);
    for (j += w; j < j0 + nc; j += 16)
        gv_tail512(g, 0, g->M, j, j0 + nc - j < 16 ? j0 + nc - j : 16);
}

__attribute__((target("avx512f"))) static void gv_task_avx512(const gv_args *g, int j0, int nc) {
    if (!g->tb) {
        if (g->bf16)
            gv_cols_n512(g, j0, nc, 1);
        else
            gv_cols_n512(g, j0, nc, 0);
        return;
    }
    for (int i0 = 0; i0 < g->M; i0 += GV_ROWS) {
        const int mb = g->M - i0 < GV_ROWS ? g->M - i0 : GV_ROWS;
#define GV_T16(m) gv_t512(g, i0, m, 1, j0, nc)
#define GV_T32(m) gv_t512(g, i0, m, 0, j0, nc)
        if (g->bf16)
            GV_ROWS_CONST(mb, GV_ROWS, GV_T16);
        else
            GV_ROWS_CONST(mb, GV_ROWS, GV_T32);
#undef GV_T16
#undef GV_T32
    }
}

/* One task: GV_COLS output columns (a fixed split: see mm_gemv). */
static void gv_task(void *ctx, int t) {
    const gv_args *g = ctx;
    const int j0 = t * GV_COLS, nc = g->N - j0 < GV_COLS ? g->N - j0 : GV_COLS;
    if (active == MM_AVX512)
        gv_task_avx512(g, j0, nc);
    else
        gv_task_portable(g, j0, nc);
}

static void gv_run(gv_args *g) {
    const int ntask = (g->N + GV_COLS - 1) / GV_COLS;
    if ((double)g->M * g->N * g->K > MM_PAR_FLOPS)
        pool_for(ntask, gv_task, g);
    else
        for (int t = 0; t < ntask; t++)
            gv_task(g, t);
}

void mm_gemv(int M, int N, int K, const float *A, int lda, const void *B, int ldb, int tb, int bf16,
             float *C, int ldc, int acc) {
    if (M <= 0 || N <= 0) return;
    assert(ldc >= N && lda >= K && ldb >= (tb ? K : N));
    if (!active) mm_set_kernel(MM_AUTO);
    gv_args g = {M, N, K, lda, ldb, tb, bf16, ldc, acc, A, B, C};
    gv_run(&g);
}

/* One micro-tile of C at c (rows x cols of it, at most mr x nr) from an A
** micro-panel and a B micro-panel; an edge tile goes through a full-size
** scratch tile so the kernel always does the same work in the same order. */
static void micro_tile(const mm_kernel *kern, int kc, const float *a, const float *b, float *c,
                       int ldc, int rows, int cols, int load) {
    if (rows == kern->mr && cols == kern->nr) {
        kern->fn(kc, a, b, c, ldc, load);
        return;
    }
    float edge[MAXR * MAXNR];
    memset(edge, 0, sizeof edge);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            edge[i * kern->nr + j] = load ? c[(size_t)i * ldc + j] : 0.0f;
    kern->fn(kc, a, b, edge, kern->nr, 1);
    for (int i = 0; i < rows; i++)
        memcpy(c + (size_t)i * ldc, edge + i * kern->nr, sizeof(float) * cols);
}

/* C[mc, nc] (+)= packed A slice (mc rows in mr-row micro-panels, kc deep)
** times packed B slice (nc columns in nr-column micro-panels): each B
** micro-panel stays in cache while the A micro-panels stream past it. */
static void block_product(const mm_kernel *kern, int kc, const float *pa, int mc, const float *pb,
                          int nc, float *C, int ldc, int load) {
    for (int jr = 0; jr < nc; jr += kern->nr)
        for (int ir = 0; ir < mc; ir += kern->mr)
            micro_tile(kern, kc, pa + (size_t)ir * kc, pb + (size_t)jr * kc,
                       C + (size_t)ir * ldc + jr, ldc, mc - ir < kern->mr ? mc - ir : kern->mr,
                       nc - jr < kern->nr ? nc - jr : kern->nr, load);
}

/* Tiles handed out to threads along a dimension of n: several per thread so
** they balance dynamically, at most max wide, a multiple of unit.  Which
** thread computes a tile never changes its result. */
static int tile_width(int n, int max, int unit, int nth) {
    int nt = (n + max - 1) / max;
    if (nt < 4 * nth) nt = 4 * nth;
    return ((n + nt - 1) / nt + unit - 1) / unit * unit;
}

/* The shared pack covers this many rows (by_cols: of op(A)) or columns
** (by_rows: of op(B)) at once: all unless over the budget of floats. */
static int pack_span(int n, int K, int unit) {
    size_t span = a_pack_max / (size_t)K / unit * unit;
    if (span < (size_t)unit) span = unit;
    return span > (size_t)n ? n : (int)span;
}

/* The shared pack: rows or columns [j0, j0+n) of an operand (see
** pack_panels) in panels w wide, every KC slice (slice k0 at dst + k0*np,
** panel s of it at + s*kc), the panels split among the threads of the
** enclosing parallel region. */
static void pack_shared(const float *X, int ldx, int contiguous, int K, int j0, int n, int w,
                        size_t np, float *dst) {
#pragma omp for schedule(static)
    for (int s = 0; s < n; s += w)
        for (int k0 = 0; k0 < K; k0 += KC) {
            const int kc = K - k0 < KC ? K - k0 : KC;
            pack_panels(X, ldx, contiguous, k0, kc, j0 + s, n - s < w ? n - s : w, w,
                        dst + (size_t)k0 * np + (size_t)s * kc);
        }
}

/* Wide products (the usual case): op(A) is packed once, shared, and threads
** take column tiles of C, packing their own B block per KC slice. */
static void sgemm_by_cols(const mm_kernel *kern, int nth, int M, int N, int K, const float *A,
                          int lda, int ta, const float *B, int ldb, int tb, float *C, int ldc,
                          int acc) {
    const int mr = kern->mr, nr = kern->nr;
    const int tw = tile_width(N, NC, nr, nth), ntn = (N + tw - 1) / tw;
    const int ms = pack_span(M, K, mr), msp = (ms + mr - 1) / mr * mr;
    const int mcb = MC / mr * mr; /* L2 row blocks start on a micro-panel */
    static _Thread_local float *pa_buf;
    static _Thread_local size_t pa_cap;
    float *pa = grow(&pa_buf, &pa_cap, (size_t)msp * K);
    if (!pa) abort(); /* out of memory in the hot path: nothing sane to return */
    for (int i0 = 0; i0 < M; i0 += ms) {
        const int mc = M - i0 < ms ? M - i0 : ms;
#pragma omp parallel num_threads(nth)
        {
            pack_shared(A, lda, ta, K, i0, mc, mr, msp, pa);
            static _Thread_local float *pb_buf;
            static _Thread_local size_t pb_cap;
            float *pb = grow(&pb_buf, &pb_cap, (size_t)(tw + nr) * KC);
            if (!pb) abort();
#pragma omp for schedule(dynamic, 1)
            for (int t = 0; t < ntn; t++) {
                const int j0 = t * tw, nc = N - j0 < tw ? N - j0 : tw;
                for (int k0 = 0; k0 < K; k0 += KC) {
                    const int kc = K - k0 < KC ? K - k0 : KC;
                    pack_b(B, ldb, tb, k0, kc, j0, nc, nr, pb);
                    for (int ic = 0; ic < mc; ic += mcb)
                        block_product(kern, kc, pa + (size_t)k0 * msp + (size_t)ic * kc,
                                      mc - ic < mcb ? mc - ic : mcb, pb, nc,
                                      C + (size_t)(i0 + ic) * ldc + j0, ldc, acc || k0 > 0);
                }
            }
        }
    }
}

/* Tall products (M well above N, like the gradient of the tied embedding
** over the whole vocabulary): op(B) is packed once, shared, and threads take
** row tiles of C, packing their own A block per KC slice, so no thread
** streams all of a huge packed A once per column tile. */
static void sgemm_by_rows(const mm_kernel *kern, int nth, int M, int N, int K, const float *A,
                          int lda, int ta, const float *B, int ldb, int tb, float *C, int ldc,
                          int acc) {
    const int mr = kern->mr, nr = kern->nr;
    const int th = tile_width(M, MC, mr, nth), ntm = (M + th - 1) / th;
    const int ns = pack_span(N, K, nr), nsp = (ns + nr - 1) / nr * nr;
    static _Thread_local float *pb_buf;
    static _Thread_local size_t pb_cap;
    float *pb = grow(&pb_buf, &pb_cap, (size_t)nsp * K);
    if (!pb) abort();
    for (int j0 = 0; j0 < N; j0 += ns) {
        const int nc = N - j0 < ns ? N - j0 : ns;
#pragma omp parallel num_threads(nth)
        {
            pack_shared(B, ldb, !tb, K, j0, nc, nr, nsp, pb);
            static _Thread_local float *pa_buf;
            static _Thread_local size_t pa_cap;
            float *pa = grow(&pa_buf, &pa_cap, (size_t)(th + mr) * KC);
            if (!pa) abort();
#pragma omp for schedule(dynamic, 1)
            for (int t = 0; t < ntm; t++) {
                const int i0 = t * th, mc = M - i0 < th ? M - i0 : th;
                for (int k0 = 0; k0 < K; k0 += KC) {
                    const int kc = K - k0 < KC ? K - k0 : KC;
                    pack_a(A, lda, ta, i0, mc, k0, kc, mr, pa);
                    block_product(kern, kc, pa, mc, pb + (size_t)k0 * nsp, nc,
                                  C + (size_t)i0 * ldc + j0, ldc, acc || k0 > 0);
                }
            }
        }
    }
}

/* ---------------------------------------------------------------------- */
/* Prepacked right-hand operand (generation's weights)                     */

struct mm_packed {
    int N, K, kern; /* kern: the kernels[] entry the panels are laid out for */
    float *p;       /* panel s (columns s*nr ..): K x nr floats from p + s*K*nr */
};

/* Packing one panel (all K) per task. */
typedef struct pk_job {
    mm_packed *pk;
    const float *B;
    int ldb, tb;
} pk_job;

static void pack_task(void *ctx, int s) {
    const pk_job *j = ctx;
    const int nr = kernels[j->pk->kern].nr, K = j->pk->K, j0 = s * nr;
    float *dst = j->pk->p + (size_t)s * K * nr;
    for (int k0 = 0; k0 < K; k0 += KC) {
        const int kc = K - k0 < KC ? K - k0 : KC;
        pack_b(j->B, j->ldb, j->tb, k0, kc, j0, j->pk->N - j0 < nr ? j->pk->N - j0 : nr, nr,
               dst + (size_t)k0 * nr);
    }
}

int mm_pack(int N, int K, const float *B, int ldb, int tb, mm_packed **out, char *err) {
    assert(N > 0 && K > 0 && ldb >= (tb ? K : N));
    if (!active) mm_set_kernel(MM_AUTO);
    *out = NULL;
    mm_packed *pk = calloc(1, sizeof *pk);
    const int nr = kernels[active].nr, np = (N + nr - 1) / nr;
    const size_t bytes = ((size_t)np * nr * K * sizeof(float) + 63) / 64 * 64;
    if (pk) pk->p = mem_huge_alloc(bytes);
    if (!pk || !pk->p) {
        free(pk);
        return err_set(err, "matmul: out of memory packing %d x %d (%zu MB)", K, N, bytes >> 20);
    }
    pk->N = N;
    pk->K = K;
    pk->kern = active;
    pk_job j = {pk, B, ldb, tb};
    pool_for(np, pack_task, &j);
    *out = pk;
    return 0;
}

void mm_packed_free(mm_packed *p) {
    if (!p) return;
    free(p->p);
    free(p);
}

/* One product's arguments, a task per run of `run` B panels: A as given
** and, but for the AVX-512 kernel, in mr-row panels (slice k0 at pa +
** k0*mp, row panel ir of it at + ir*kc). */
typedef struct pp_job {
    const mm_packed *pk;
    const float *A, *pa; /* pa: NULL for the AVX-512 kernel, which reads A in place */
    int M, lda, mp, acc, ldc;
    float *C;
    const mm_epilogue *e; /* NULL: none */
    int run, np;          /* panels per task, in all */
} pp_job;

#ifndef PK_KC
#define PK_KC 256
#endif
#define PK_TASKS 8 /* tasks per thread: runs of panels, for balance */

/* AVX-512, the kernel's own layout (panels 48 wide): MB rows of A, read in
** place (a broadcast per k), against one panel's rows [0, kc) of b, into
** the first cols columns of c (masked), each sum starting from c (load),
** else from bias (cols floats, not NULL) or zero: one fused multiply-add
** per k in order, as kernel_avx512.  No packing of A and no edge tiles, so
** few rows (token-by-token steps) cost what they read.  One line of [pf,
** pf_end) is asked into the cache per k (none when both are NULL). */
__attribute__((target("avx512f"), always_inline)) static inline void
pk512(const float *A, int lda, const float *b, int kc, float *c, int ldc, int cols, int load,
      const float *bias, const int MB, const char *pf, const char *pf_end) {
    __mmask16 mk[3];
    for (int h = 0; h < 3; h++) {
        const int n = cols - 16 * h;
        mk[h] = n >= 16 ? 0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
    }
    __m512 acc[8][3], start[3];
    _Pragma("GCC unroll 3") for (int h = 0; h < 3; h++) start[h] =
        bias ? _mm512_maskz_loadu_ps(mk[h], bias + 16 * h) : _mm512_setzero_ps();
    _Pragma("GCC unroll 8") for (int i = 0; i < MB; i++)
        _Pragma("GCC unroll 3") for (int h = 0; h < 3; h++) acc[i][h] =
            load ? _mm512_maskz_loadu_ps(mk[h], c + (size_t)i * ldc + 16 * h) : start[h];
    for (int k = 0; k < kc; k++) {
        if (pf < pf_end) { /* a line per step: see mem_ahead_part */
            _mm_prefetch(pf, _MM_HINT_T0);
            pf += 64;
        }
        const __m512 b0 = _mm512_load_ps(b + k * 48), b1 = _mm512_load_ps(b + k * 48 + 16),
                     b2 = _mm512_load_ps(b + k * 48 + 32);
        _Pragma("GCC unroll 8") for (int i = 0; i < MB; i++) {
            const __m512 ai = _mm512_set1_ps(A[(size_t)i * lda + k]);
            acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
            acc[i][2] = _mm512_fmadd_ps(ai, b2, acc[i][2]);
        }
    }
    _Pragma("GCC unroll 8") for (int i = 0; i < MB; i++)
        _Pragma("GCC unroll 3") for (int h = 0; h < 3; h++)
            _mm512_mask_storeu_ps(c + (size_t)i * ldc + 16 * h, mk[h], acc[i][h]);
}

/* Columns of B panel s for every row, AVX-512: per slice of PK_KC rows of
** the panel (it stays in L1), the rows of A in groups of 8, each group
** asking for its part of the next slice (panels lie one after the other:
** the next panel's first slice follows the last).  Not for one group (8
** rows or fewer): bound by memory, not by the kernel, those products are
** best left to the hardware prefetcher (a whole slice asked at once slowed
** batch 1 down). */
__attribute__((target("avx512f"))) static void packed_task512(const pp_job *j, int s) {
    const int K = j->pk->K, j0 = s * 48, cols = j->pk->N - j0 < 48 ? j->pk->N - j0 : 48;
    const float *b = j->pk->p + (size_t)s * K * 48;
    const float *end = j->pk->p + (size_t)(j->pk->N + 47) / 48 * K * 48;
    const int groups = (j->M + 7) / 8;
    const float *bias = j->e && j->e->bias ? j->e->bias + j0 : NULL;
    for (int k0 = 0; k0 < K; k0 += PK_KC) {
        const int kc = K - k0 < PK_KC ? K - k0 : PK_KC, load = j->acc || k0 > 0;
        const float *next = b + (size_t)(k0 + kc) * 48;
        const size_t ahead = next + PK_KC * 48 < end ? PK_KC * 48 : (size_t)(end - next);
        for (int i0 = 0; i0 < j->M; i0 += 8) {
            const int mb = j->M - i0 < 8 ? j->M - i0 : 8;
            const char *pf = NULL, *pf_end = NULL;
            if (groups > 1)
                mem_ahead_part(next, ahead * sizeof(float), i0 / 8, groups, &pf, &pf_end);
            const float *a = j->A + (size_t)i0 * j->lda + k0;
            float *c = j->C + (size_t)i0 * j->ldc + j0;
#define PK(m) pk512(a, j->lda, b + (size_t)k0 * 48, kc, c, j->ldc, cols, load, bias, m, pf, pf_end)
            GV_ROWS_CONST(mb, 8, PK);
#undef PK
        }
    }
}

/* Columns of B panel s for every row: per KC slice, the slice of the B
** panel stays in cache while the row panels of A stream past it. */
static void packed_task_kern(const pp_job *j, int s) {
    const mm_kernel *kern = &kernels[j->pk->kern];
    const int mr = kern->mr, nr = kern->nr, K = j->pk->K, j0 = s * nr;
    const int cols = j->pk->N - j0 < nr ? j->pk->N - j0 : nr;
    const float *b = j->pk->p + (size_t)s * K * nr;
    for (int k0 = 0; k0 < K; k0 += KC) {
        const int kc = K - k0 < KC ? K - k0 : KC;
        for (int ir = 0; ir < j->M; ir += mr)
            micro_tile(kern, kc, j->pa + (size_t)k0 * j->mp + (size_t)ir * kc, b + (size_t)k0 * nr,
                       j->C + (size_t)ir * j->ldc + j0, j->ldc, j->M - ir < mr ? j->M - ir : mr,
                       cols, j->acc || k0 > 0);
    }
}

/* Columns of B panel s (nr wide) for every row, with the epilogue: each
** sum starts from the bias (the AVX-512 kernel loads it itself; for the
** others it is copied into the panel's columns of C first, and j->acc is
** set), the post call once they are final. */
static void packed_task(void *ctx, int s) {
    const pp_job *j = ctx;
    const int nr = kernels[j->pk->kern].nr, j0 = s * nr;
    const int cols = j->pk->N - j0 < nr ? j->pk->N - j0 : nr;
    if (j->pk->kern == MM_AVX512) {
        packed_task512(j, s);
    } else {
        if (j->e && j->e->bias)
            for (int i = 0; i < j->M; i++)
                memcpy(j->C + (size_t)i * j->ldc + j0, j->e->bias + j0, sizeof(float) * cols);
        packed_task_kern(j, s);
    }
    if (j->e && j->e->post) j->e->post(j->e->ctx, 0, j->M, j0, cols);
}

/* Panels [t*run, (t+1)*run): one thread's consecutive panels, since a
** panel's kernel asks for the next panel's first slice. */
static void packed_run_task(void *ctx, int t) {
    const pp_job *j = ctx;
    for (int s = t * j->run; s < j->np && s < (t + 1) * j->run; s++)
        packed_task(ctx, s);
}

void mm_sgemm_packed_epi(int M, const float *A, int lda, const mm_packed *p, float *C, int ldc,
                         int acc, const mm_epilogue *e) {
    if (M <= 0) return;
    assert(lda >= p->K && ldc >= p->N);
    const mm_kernel *kern = &kernels[p->kern];
    const int mr = kern->mr, nr = kern->nr, K = p->K, mp = (M + mr - 1) / mr * mr;
    /* with a bias, the AVX-512 kernel starts from it, the others from C
    ** that holds copies (packed_task), whatever acc says */
    const int from_c = e && e->bias ? p->kern != MM_AVX512 : acc;
    const int np = (p->N + nr - 1) / nr;
    pp_job j = {p, A, NULL, M, lda, mp, from_c, ldc, C, e, 1, np};
    if (p->kern != MM_AVX512) {
        static _Thread_local float *pa_buf;
        static _Thread_local size_t pa_cap;
        float *pa = grow(&pa_buf, &pa_cap, (size_t)mp * K);
        if (!pa) abort(); /* out of memory in the hot path: nothing sane to return */
        for (int k0 = 0; k0 < K; k0 += KC) {
            const int kc = K - k0 < KC ? K - k0 : KC;
            pack_a(A, lda, 0, 0, M, k0, kc, mr, pa + (size_t)k0 * mp);
        }
        j.pa = pa;
    }
    if ((double)M * p->N * K > MM_PAR_FLOPS) {
        const int tasks = PK_TASKS * omp_get_max_threads();
        j.run = (np + tasks - 1) / tasks;
        pool_for((np + j.run - 1) / j.run, packed_run_task, &j);
    } else
        for (int s = 0; s < np; s++)
            packed_task(&j, s);
}

void mm_sgemm_packed(int M, const float *A, int lda, const mm_packed *p, float *C, int ldc,
                     int acc) {
    mm_sgemm_packed_epi(M, A, lda, p, C, ldc, acc, NULL);
}

void mm_sgemm(int M, int N, int K, const float *A, int lda, int ta, const float *B, int ldb, int tb,
              float *C, int ldc, int acc) {
    if (M <= 0 || N <= 0) return;
    /* each stored row holds its whole width: a short stride would read and
    ** write other rows' elements */
    assert(ldc >= N && lda >= (ta ? M : K) && ldb >= (tb ? K : N));
    if (!active) mm_set_kernel(MM_AUTO);
    const mm_kernel *kern = &kernels[active];
    if (K <= 0) {
        if (!acc)
            for (int i = 0; i < M; i++)
                memset(C + (size_t)i * ldc, 0, sizeof(float) * N);
        return;
    }
    if (M <= MM_GEMV_ROWS && !ta) {
        mm_gemv(M, N, K, A, lda, B, ldb, tb, 0, C, ldc, acc);
        return;
    }
    const int nth = (double)M * N * K > MM_PAR_FLOPS ? omp_get_max_threads() : 1;
    /* both orders give every element the same chain of additions */
    if (M >= 4 * N)
        sgemm_by_rows(kern, nth, M, N, K, A, lda, ta, B, ldb, tb, C, ldc, acc);
    else
        sgemm_by_cols(kern, nth, M, N, K, A, lda, ta, B, ldb, tb, C, ldc, acc);
}
