/*
** Blocked, packed single-precision GEMM (see matmul.h).
**
** C is cut into MC x NC tiles, one OpenMP task each.  For a tile, K is
** walked in KC slices; each slice packs the A block into MR-row
** micro-panels (k-major) and the B block into NR-column micro-panels, then
** runs the MR x NR micro-kernel over every (micro-panel of A, micro-panel
** of B) pair: the A micro-panel stays in L1 while the B block streams from
** L2.  The micro-kernel accumulates in registers starting from C (or zero
** on the first slice when not accumulating), one fused multiply-add per k
** in order, so the order of additions for each element depends only on K.
*/
#include "matmul.h"

#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define MC 128
#define NC 512
#define KC 256
#define MAXR 8  /* largest MR of any kernel */
#define MAXNR 32 /* largest NR of any kernel */

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
        for (int j = 0; j < 16; j++) acc[i][j] = load ? c[i * ldc + j] : 0.0f;
    for (int k = 0; k < kc; k++)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 16; j++) acc[i][j] += a[k * 4 + i] * b[k * 16 + j];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 16; j++) c[i * ldc + j] = acc[i][j];
}

/* AVX2 + FMA: 6 rows x 16 columns, 12 ymm accumulators. */
__attribute__((target("avx2,fma"))) static void kernel_avx2(int kc, const float *a,
                                                             const float *b, float *c, int ldc,
                                                             int load) {
    __m256 acc[6][2];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 2; j++)
            acc[i][j] = load ? _mm256_loadu_ps(c + i * ldc + 8 * j) : _mm256_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(b + k * 16), b1 = _mm256_loadu_ps(b + k * 16 + 8);
        for (int i = 0; i < 6; i++) {
            __m256 ai = _mm256_broadcast_ss(a + k * 6 + i);
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
    }
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 2; j++) _mm256_storeu_ps(c + i * ldc + 8 * j, acc[i][j]);
}

/* AVX-512: 8 rows x 32 columns, 16 zmm accumulators. */
__attribute__((target("avx512f"))) static void kernel_avx512(int kc, const float *a,
                                                              const float *b, float *c, int ldc,
                                                              int load) {
    __m512 acc[8][2];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 2; j++)
            acc[i][j] = load ? _mm512_loadu_ps(c + i * ldc + 16 * j) : _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(b + k * 32), b1 = _mm512_loadu_ps(b + k * 32 + 16);
        for (int i = 0; i < 8; i++) {
            __m512 ai = _mm512_set1_ps(a[k * 8 + i]);
            acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
        }
    }
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 2; j++) _mm512_storeu_ps(c + i * ldc + 16 * j, acc[i][j]);
}

static const mm_kernel kernels[] = {
    [MM_PORTABLE] = {"portable", 4, 16, kernel_portable},
    [MM_AVX2] = {"avx2", 6, 16, kernel_avx2},
    [MM_AVX512] = {"avx512", 8, 32, kernel_avx512},
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
            for (int i = rows; i < mr; i++) p[k * mr + i] = 0.0f;
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
                for (int j = cols; j < nr; j++) p[k * nr + j] = 0.0f;
            }
        } else {
            for (int j = 0; j < cols; j++) {
                const float *src = B + (size_t)(j0 + s + j) * ldb + k0;
                for (int k = 0; k < kc; k++) p[k * nr + j] = src[k];
            }
            for (int j = cols; j < nr; j++)
                for (int k = 0; k < kc; k++) p[k * nr + j] = 0.0f;
        }
    }
}

void mm_sgemm(int M, int N, int K, const float *A, int lda, int ta, const float *B, int ldb,
              int tb, float *C, int ldc, int acc) {
    if (M <= 0 || N <= 0) return;
    if (!active) mm_set_kernel(MM_AUTO);
    const mm_kernel kern = kernels[active];
    const int mr = kern.mr, nr = kern.nr;
    if (K <= 0) {
        if (!acc)
            for (int i = 0; i < M; i++) memset(C + (size_t)i * ldc, 0, sizeof(float) * N);
        return;
    }
    const int mt = (M + MC - 1) / MC, nt = (N + NC - 1) / NC;
    const int ntiles = mt * nt;
#pragma omp parallel if (ntiles > 1 && (double)M * N * K > 1e5)
    {
        /* per-thread packing buffers, padded to whole micro-panels */
        float *pa = aligned_alloc(64, sizeof(float) * (MC + MAXR) * KC);
        float *pb = aligned_alloc(64, sizeof(float) * (NC + MAXNR) * KC);
        float edge[MAXR * MAXNR];
#pragma omp for schedule(static)
        for (int t = 0; t < ntiles; t++) {
            /* walk N-tiles outermost so consecutive tiles share a B block */
            int i0 = (t % mt) * MC, j0 = (t / mt) * NC;
            int mc = M - i0 < MC ? M - i0 : MC, nc = N - j0 < NC ? N - j0 : NC;
            for (int k0 = 0; k0 < K; k0 += KC) {
                int kc = K - k0 < KC ? K - k0 : KC;
                int load = acc || k0 > 0;
                pack_a(A, lda, ta, i0, mc, k0, kc, mr, pa);
                pack_b(B, ldb, tb, k0, kc, j0, nc, nr, pb);
                for (int ir = 0; ir < mc; ir += mr) {
                    int rows = mc - ir < mr ? mc - ir : mr;
                    for (int jr = 0; jr < nc; jr += nr) {
                        int cols = nc - jr < nr ? nc - jr : nr;
                        float *c = C + (size_t)(i0 + ir) * ldc + j0 + jr;
                        const float *a = pa + (size_t)ir * kc, *b = pb + (size_t)jr * kc;
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
                            memcpy(c + (size_t)i * ldc, edge + i * nr, sizeof(float) * cols);
                    }
                }
            }
        }
        free(pa);
        free(pb);
    }
}
