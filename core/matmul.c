/*
** Blocked, packed single-precision GEMM (see matmul.h).
**
** op(A) is packed once per call (in row blocks if huge) into MR-row
** micro-panels, k-major, KC-deep slices, shared by all threads.  C is cut
** into column tiles (at least one per thread, NC wide at most); for each
** KC slice a thread packs its B block into NR-column micro-panels and runs
** the MR x NR micro-kernel over (B micro-panel, A micro-panel) pairs: the
** B micro-panel (KC x NR) stays in L1 while the A slice streams from L2.  The micro-kernel
*accumulates in registers starting from C (or zero
** on the first slice when not accumulating), one fused multiply-add per k
** in order, so the order of additions for each element depends only on K.
*/
#include "matmul.h"

#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#ifndef MC
#define MC 256
#endif
#ifndef NC
#define NC 512
#endif
#ifndef KC
#define KC 128
#endif
#define MAXR 8   /* largest MR of any kernel */
#define MAXNR 48 /* largest NR of any kernel */

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
            for (int j = 0; j < 16; j++) acc[i][j] += a[k * 4 + i] * b[k * 16 + j];
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

/* Pack rows [i0, i0+mc) x cols [k0, k0+kc) of op(A) into mr-row panels,
** k-major, zero-padding the last panel. */
static void pack_a(const float *A, int lda, int ta, int i0, int mc, int k0, int kc, int mr,
                   float *pa) {
    for (int s = 0; s < mc; s += mr) {
        float *p = pa + (size_t)s * kc;
        int rows = mc - s < mr ? mc - s : mr;
        for (int k = 0; k < kc; k++) {
            for (int i = 0; i < rows; i++) {
                size_t r = (size_t)(i0 + s + i), col = (size_t)(k0 + k);
                p[k * mr + i] = ta ? A[col * lda + r] : A[r * lda + col];
            }
            for (int i = rows; i < mr; i++)
                p[k * mr + i] = 0.0f;
        }
    }
}

/* Pack rows [k0, k0+kc) x cols [j0, j0+nc) of op(B) into nr-column panels. */
static void pack_b(const float *B, int ldb, int tb, int k0, int kc, int j0, int nc, int nr,
                   float *pb) {
    for (int s = 0; s < nc; s += nr) {
        float *p = pb + (size_t)s * kc;
        int cols = nc - s < nr ? nc - s : nr;
        if (!tb) {
            for (int k = 0; k < kc; k++) {
                memcpy(p + k * nr, B + (size_t)(k0 + k) * ldb + j0 + s, sizeof(float) * cols);
                for (int j = cols; j < nr; j++)
                    p[k * nr + j] = 0.0f;
            }
        } else {
            for (int j = 0; j < cols; j++) {
                const float *src = B + (size_t)(j0 + s + j) * ldb + k0;
                for (int k = 0; k < kc; k++)
                    p[k * nr + j] = src[k];
            }
            for (int j = cols; j < nr; j++)
                for (int k = 0; k < kc; k++)
                    p[k * nr + j] = 0.0f;
        }
    }
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

/* Few rows (token-by-token generation): packing B would cost as much as
** the product, so read B in place.  Without transposes, each element is the
** same k-ascending chain of fused multiply-adds as the micro-kernels, so
** results match the blocked path; with op(B) transposed, rows of B are
** contiguous and the dot products are vectorised along k. */
#define SMALL_M 16
#define SMALL_COLS 64
#ifdef __FMA__
#define MADD(a, b, c) fmaf(a, b, c)
#else
#define MADD(a, b, c) ((a) * (b) + (c))
#endif

static void sgemm_small(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                        int tb, float *C, int ldc, int acc) {
    const int nchunks = (N + SMALL_COLS - 1) / SMALL_COLS;
#pragma omp parallel for schedule(dynamic, 1) if ((double)M * N * K > 2e5)
    for (int ch = 0; ch < nchunks; ch++) {
        const int j0 = ch * SMALL_COLS, nc = N - j0 < SMALL_COLS ? N - j0 : SMALL_COLS;
        if (tb) {
            for (int j = j0; j < j0 + nc; j++) {
                const float *b = B + (size_t)j * ldb;
                for (int i = 0; i < M; i++) {
                    const float *a = A + (size_t)i * lda;
                    float s = 0.0f;
#pragma omp simd reduction(+ : s)
                    for (int k = 0; k < K; k++)
                        s += a[k] * b[k];
                    float *c = C + (size_t)i * ldc + j;
                    *c = acc ? *c + s : s;
                }
            }
            continue;
        }
        float t[SMALL_M][SMALL_COLS];
        for (int i = 0; i < M; i++)
            for (int j = 0; j < nc; j++)
                t[i][j] = acc ? C[(size_t)i * ldc + j0 + j] : 0.0f;
        for (int k = 0; k < K; k++) {
            const float *b = B + (size_t)k * ldb + j0;
            for (int i = 0; i < M; i++) {
                const float a = A[(size_t)i * lda + k];
#pragma omp simd
                for (int j = 0; j < nc; j++)
                    t[i][j] = MADD(a, b[j], t[i][j]);
            }
        }
        for (int i = 0; i < M; i++)
            memcpy(C + (size_t)i * ldc + j0, t[i], sizeof(float) * nc);
    }
}

void mm_sgemm(int M, int N, int K, const float *A, int lda, int ta, const float *B, int ldb, int tb,
              float *C, int ldc, int acc) {
    if (M <= 0 || N <= 0) return;
    if (!active) mm_set_kernel(MM_AUTO);
    const mm_kernel kern = kernels[active];
    const int mr = kern.mr, nr = kern.nr;
    if (K <= 0) {
        if (!acc)
            for (int i = 0; i < M; i++)
                memset(C + (size_t)i * ldc, 0, sizeof(float) * N);
        return;
    }
    if (M <= SMALL_M && !ta) {
        sgemm_small(M, N, K, A, lda, B, ldb, tb, C, ldc, acc);
        return;
    }
    /* column tiles, whole micro-panels wide; which thread computes a tile
    ** does not change its result, so they can be handed out dynamically */
    const int par = (double)M * N * K > 2e5;
    const int nth = par ? omp_get_max_threads() : 1;
    int ntn = (N + NC - 1) / NC;
    if (ntn < 4 * nth) ntn = 4 * nth; /* several per thread, handed out dynamically */
    int tw = ((N + ntn - 1) / ntn + nr - 1) / nr * nr;
    ntn = (N + tw - 1) / tw;
    /* row superblocks whose packed A fits the budget */
    size_t ms = a_pack_max / (size_t)K / mr * mr;
    if (ms < (size_t)mr) ms = mr;
    if (ms > (size_t)M) ms = M;
    const size_t msp = (ms + mr - 1) / mr * mr;
    const int mcb = MC / mr * mr; /* L2 row blocks start on a micro-panel */
    static _Thread_local float *pa_buf;
    static _Thread_local size_t pa_cap;
    float *pa = grow(&pa_buf, &pa_cap, msp * K);
    if (!pa) abort(); /* out of memory in the hot path: nothing sane to return */
    for (int i0 = 0; i0 < M; i0 += (int)ms) {
        const int mc = M - i0 < (int)ms ? M - i0 : (int)ms;
#pragma omp parallel num_threads(nth)
        {
            /* pack every micro-panel of this row block, for every k slice */
#pragma omp for schedule(static)
            for (int s = 0; s < mc; s += mr)
                for (int k0 = 0; k0 < K; k0 += KC) {
                    int kc = K - k0 < KC ? K - k0 : KC;
                    pack_a(A, lda, ta, i0 + s, mc - s < mr ? mc - s : mr, k0, kc, mr,
                           pa + (size_t)k0 * msp + (size_t)s * kc);
                }
            static _Thread_local float *pb_buf;
            static _Thread_local size_t pb_cap;
            float *pb = grow(&pb_buf, &pb_cap, (size_t)(tw + nr) * KC);
            float edge[MAXR * MAXNR];
#pragma omp for schedule(dynamic, 1)
            for (int t = 0; t < ntn; t++) {
                int j0 = t * tw, nc = N - j0 < tw ? N - j0 : tw;
                for (int k0 = 0; k0 < K; k0 += KC) {
                    int kc = K - k0 < KC ? K - k0 : KC;
                    int load = acc || k0 > 0;
                    pack_b(B, ldb, tb, k0, kc, j0, nc, nr, pb);
                    const float *pak = pa + (size_t)k0 * msp;
                    /* MC rows of the A slice at a time stay in L2 */
                    for (int ic = 0; ic < mc; ic += mcb)
                        for (int jr = 0; jr < nc; jr += nr) {
                            int cols = nc - jr < nr ? nc - jr : nr;
                            for (int ir = ic; ir < mc && ir < ic + mcb; ir += mr) {
                                int rows = mc - ir < mr ? mc - ir : mr;
                                float *c = C + (size_t)(i0 + ir) * ldc + j0 + jr;
                                const float *a = pak + (size_t)ir * kc, *b = pb + (size_t)jr * kc;
                                if (rows == mr && cols == nr) {
                                    kern.fn(kc, a, b, c, ldc, load);
                                    continue;
                                }
                                /* edge: compute into a full-size scratch tile */
                                memset(edge, 0, sizeof edge);
                                for (int i = 0; i < rows; i++)
                                    for (int j = 0; j < cols; j++)
                                        edge[i * nr + j] = load ? c[(size_t)i * ldc + j] : 0.0f;
                                kern.fn(kc, a, b, edge, nr, 1);
                                for (int i = 0; i < rows; i++)
                                    memcpy(c + (size_t)i * ldc, edge + i * nr,
                                           sizeof(float) * cols);
                            }
                        }
                }
            }
        }
    }
}
